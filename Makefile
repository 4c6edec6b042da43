# Turnaround: `make run` starts the app, `make test` runs every test. Both are safe to rerun.
SHELL := /bin/bash
# Django 6.1 needs Python >= 3.12: take pyenv's 3.13 or 3.12 where the default python3 is older.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13 $(HOME)/.pyenv/versions/3.12*/bin/python3.12) $(shell command -v python3.13 python3.12 2>/dev/null))
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: chromium run dev worker test test-scale test-fast lint bench bench-quick load install migrate demo clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 or newer is needed (pyenv install 3.13)."; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,scale]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

# Serves a team safely: debug off, loopback hosts, a secret key made once in var/, static files
# from WhiteNoise. Stop it with Ctrl-C or SIGTERM: both the web server and the workers stop.
run: migrate
	$(PY) manage.py demo
	$(PY) manage.py serve

# Development: debug on (Django's detailed error pages) and the web server reloads on edits.
dev: migrate
	$(PY) manage.py demo
	DJANGO_DEBUG=1 $(PY) manage.py serve --reload

# Only the background workers, every lane (LANES="--lane video" for one).
worker: migrate
	$(PY) manage.py worker $(LANES)

# Debian's chromium for the browser tests: installed here when missing and running as root.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "== installing Debian's chromium"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core >/dev/null; \
	  else echo "Chromium is needed for the browser tests: sudo apt-get install chromium"; exit 1; fi; }

test: install chromium
	CHROMIUM_PATH=$$(command -v chromium chromium-browser | head -n1) $(PY) -m pytest -n 2 --dist loadgroup -m "not worker" $(PYTEST_ARGS)
	@# Tests that start qcluster processes load every core: run them alone, so the
	@# timing-sensitive provider tests above never share the CPU with them.
	CHROMIUM_PATH=$$(command -v chromium chromium-browser | head -n1) $(PY) -m pytest -m worker $(PYTEST_ARGS)

# The same suite on PostgreSQL + the Redis broker, with the scale-only fault tests enabled.
# The database is created by pytest-django (one per xdist worker); nothing here touches data.
SCALE_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/turnaround
SCALE_REDIS_URL ?= redis://127.0.0.1:6379/1
test-scale: install chromium
	DATABASE_URL=$(SCALE_DATABASE_URL) REDIS_URL=$(SCALE_REDIS_URL) CHROMIUM_PATH=$$(command -v chromium chromium-browser | head -n1) \
		$(PY) -m pytest -n 2 --dist loadgroup -m "not worker" $(PYTEST_ARGS)
	DATABASE_URL=$(SCALE_DATABASE_URL) REDIS_URL=$(SCALE_REDIS_URL) CHROMIUM_PATH=$$(command -v chromium chromium-browser | head -n1) \
		$(PY) -m pytest -m worker $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not browser and not worker" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Each bench ends with `BENCH <name> <value> <unit> goal <op> <number> <ok|missed>` lines.
# bench_waits.py takes ~5 minutes (fakes as slow as the real services); bench-quick is ~2.
bench: install
	@for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || true; done

bench-quick: install
	$(PY) bench/bench_waits.py --quick || true

load: install
	$(PY) bench/load.py $(LOAD_ARGS)

clean:
	rm -rf $(VENV) var
