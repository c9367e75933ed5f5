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

.PHONY: port-free install demo demo-data serve serve-key test lint format bench bench-import bench-scale loadtest clean

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

# Every endpoint's speed against raw SQL on the same rows; DATABASE_URL picks the server (a
# *_bench database is used); BENCH_ARGS=--explain prints the SQL and plans. The test client
# speaks plain HTTP; the per-client rate limit is counted (its cost is part of every request)
# but set too high to refuse the benchmark's own client.
bench: install $(SECRET_KEY_FILE)
	$(LOCAL_KEY) SECURE_SSL_REDIRECT=0 CDS_THROTTLE_CLIENT_RATE=1000000/min LOG_LEVEL=WARNING $(PY) bench/api_bench.py $(BENCH_ARGS)

# Import speed and peak memory of `manage.py cds_import` on generated usage-heavy documents of
# about 10 MB and 200 MB (1 GB too with BENCH_IMPORT_HUGE=1), each into a fresh *_bench_import
# database; on PostgreSQL also the ratio to a warm COPY of the same usage rows.
bench-import: install $(SECRET_KEY_FILE)
	$(LOCAL_KEY) SECURE_SSL_REDIRECT=0 LOG_LEVEL=WARNING $(PY) bench/import_bench.py

# Usage serving at scale (PostgreSQL only; not run in CI): the usage page, a month's window and
# two years of monthly aggregates on a two-year meter, in the 50-meter data set of `make bench`
# and in 1,000 meters x 2 years of 15-minute data (70 M value sets, generated under var/ and
# loaded by cds_import), each in a *_bench_scale* database of its own; scale_ratio = large /
# small. BENCH_SCALE_METERS=50 for a quick run, BENCH_SCALE_REUSE=1 to time the kept large
# database again, BENCH_ARGS=--explain for the plans.
bench-scale: install $(SECRET_KEY_FILE)
	$(LOCAL_KEY) SECURE_SSL_REDIRECT=0 CDS_THROTTLE_CLIENT_RATE=1000000/min LOG_LEVEL=WARNING DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}" $(PY) bench/scale_bench.py $(BENCH_ARGS)

# Load test (PostgreSQL only; not run in CI; about 4 minutes): gunicorn (LOADTEST_WORKERS=2 sync
# workers) under a mixed workload of every Customer Data endpoint at 32 requests in flight from
# an aiohttp client pinned to one CPU, bodies checked against a first fetch, in databases
# cds_loadtest and cds_loadtest_baseline (dropped and made anew); the same comparable mix
# against the baseline revision LOADTEST_BASELINE (0ce94ac, a git worktree under
# var/loadtest/). LOADTEST_SECONDS (60) per phase; LOADTEST_SECONDS=10 for a quick check.
loadtest: install $(SECRET_KEY_FILE)
	$(LOCAL_KEY) DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}" $(PY) bench/loadtest.py

lint: install $(SECRET_KEY_FILE)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(LOCAL_KEY) $(PY) manage.py makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var staticfiles db.sqlite3 db.sqlite3-* db-accesslog.sqlite3* .pytest_cache .ruff_cache .hypothesis
