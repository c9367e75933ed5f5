# cdsapi: `make demo` to try it, `make test` to check it. Python 3.11+ on PATH as python3.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
DEMO_FILE ?= var/demo.json
HOST ?= 127.0.0.1
PORT ?= 8000
# A local SECRET_KEY for demo, test, lint and bench, made once (production sets SECRET_KEY).
SECRET_KEY_FILE := var/secret_key
LOCAL_KEY = SECRET_KEY="$${SECRET_KEY:-$$(cat $(SECRET_KEY_FILE))}"

.PHONY: port-free install demo demo-data serve serve-key test lint format bench bench-import clean

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

$(SECRET_KEY_FILE):
	mkdir -p $(dir $@)
	umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(50))" > $@

demo-data: install $(DEMO_FILE) $(SECRET_KEY_FILE)
	$(LOCAL_KEY) $(PY) manage.py migrate --noinput
	$(LOCAL_KEY) $(PY) manage.py cds_import $(DEMO_FILE)

demo: port-free demo-data
	@echo
	@echo "Demo data loaded: Cascade Valley Power & Gas (3 customers, 6 accounts, 2 years of intervals)."
	@echo "A demo client with one grant of each type; paste these while the server runs:"
	@echo
	@$(LOCAL_KEY) $(PY) manage.py cds_demo_grants --base-url http://$(HOST):$(PORT)
	@echo "Health checks: curl http://$(HOST):$(PORT)/healthz  and  curl http://$(HOST):$(PORT)/readyz"
	@echo
	$(LOCAL_KEY) DEBUG=1 $(PY) manage.py runserver $(HOST):$(PORT)

# Before anything is loaded or replaced: a second `make demo` must not touch the running one.
port-free:
	@$(PYTHON) -c "import socket, sys; s = socket.socket(); busy = s.connect_ex(('$(HOST)', $(PORT))) == 0; sys.exit('port $(PORT) on $(HOST) is in use (another make demo?); try make demo PORT=8001' if busy else 0)"

# Production serving: gunicorn (cdsapi/gunicorn.conf.py: CDS_BIND, default $(HOST):$(PORT) here,
# CDS_WORKERS, ...), DEBUG off, JSON logs, static files collected for WhiteNoise. SECRET_KEY
# must be set. HTTPS is required (plain HTTP is redirected): for a local plain-HTTP run,
# SECRET_KEY=... SECURE_SSL_REDIRECT=0 make serve
SERVE_ENV = DEBUG=0 CDS_REQUIRE_SECRET_KEY=1
serve: install serve-key
	$(SERVE_ENV) $(PY) manage.py collectstatic --noinput --verbosity 0
	$(SERVE_ENV) $(PY) manage.py migrate --noinput
	$(SERVE_ENV) CDS_BIND="$${CDS_BIND:-$(HOST):$(PORT)}" $(VENV)/bin/gunicorn -c cdsapi/gunicorn.conf.py

serve-key:
	@test -n "$$SECRET_KEY" || { echo "make serve: set SECRET_KEY (50+ random characters, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(50))'); make demo runs without one" >&2; exit 1; }

test: install $(SECRET_KEY_FILE)
	$(LOCAL_KEY) $(VENV)/bin/pytest

# Usage serving speed against raw SQL; DATABASE_URL picks the server (a *_bench database is used).
# The test client speaks plain HTTP; the per-client rate limit is counted (its cost is part of
# every request) but set too high to refuse the benchmark's own client.
bench: install $(SECRET_KEY_FILE)
	$(LOCAL_KEY) SECURE_SSL_REDIRECT=0 CDS_THROTTLE_CLIENT_RATE=1000000/min LOG_LEVEL=WARNING $(PY) bench/usage_bench.py

# Import speed and peak memory of `manage.py cds_import` on generated usage-heavy documents of
# about 10 MB and 200 MB (1 GB too with BENCH_IMPORT_HUGE=1), each into a fresh *_bench_import
# database; on PostgreSQL also the ratio to a warm COPY of the same usage rows.
bench-import: install $(SECRET_KEY_FILE)
	$(LOCAL_KEY) SECURE_SSL_REDIRECT=0 LOG_LEVEL=WARNING $(PY) bench/import_bench.py

lint: install $(SECRET_KEY_FILE)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(LOCAL_KEY) $(PY) manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var staticfiles db.sqlite3 db.sqlite3-* db-accesslog.sqlite3* .pytest_cache .ruff_cache .hypothesis
