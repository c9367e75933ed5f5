# cdsapi: `make demo` to try it, `make test` to check it. Python 3.11+ on PATH as python3.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_FILE ?= var/demo.json
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: port-free install demo demo-data serve test lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

# The demo document is generated, not committed (about 9 MB); it is rebuilt when the generator changes.
$(DEMO_FILE): cdsapi/demo/data.py | install
	mkdir -p $(dir $(DEMO_FILE))
	$(PY) manage.py cds_demo_data --out $(DEMO_FILE)

demo-data: install $(DEMO_FILE)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py cds_import $(DEMO_FILE)

demo: port-free demo-data
	@echo
	@echo "Demo data loaded: Cascade Valley Power & Gas (3 customers, 6 accounts, 2 years of intervals)."
	@echo "A demo client with one grant of each type; paste these while the server runs:"
	@echo
	@$(PY) manage.py cds_demo_grants --base-url http://$(HOST):$(PORT)
	@echo "Health checks: curl http://$(HOST):$(PORT)/healthz  and  curl http://$(HOST):$(PORT)/readyz"
	@echo
	DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

# Before anything is loaded or replaced: a second `make demo` must not touch the running one.
port-free:
	@$(PYTHON) -c "import socket, sys; s = socket.socket(); busy = s.connect_ex(('$(HOST)', $(PORT))) == 0; sys.exit('port $(PORT) on $(HOST) is in use (another make demo?); try make demo PORT=8001' if busy else 0)"

serve: install
	$(PY) manage.py migrate --noinput
	DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

test: install
	$(VENV)/bin/pytest

# Usage serving speed against raw SQL; DATABASE_URL picks the server (a *_bench database is used).
bench: install
	$(PY) bench/usage_bench.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var db.sqlite3 db.sqlite3-* db-accesslog.sqlite3* .pytest_cache .ruff_cache .hypothesis
