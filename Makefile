# The two commands a new user needs: `make run` and `make test`. Everything else is their plumbing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
DATA   ?= var

.PHONY: run test lint typecheck unit bench clean postgres-binaries chromium

$(VENV)/.python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "callrec needs Python 3.11 or newer"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	touch $@

$(VENV)/.runtime: $(VENV)/.python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev: $(VENV)/.python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.runtime

run: $(VENV)/.runtime
	$(BIN)/callrec serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.dev
	$(BIN)/mypy

# Two workers (pytest-xdist), a test file each at a time: most tests wait on real servers,
# sockets and the clock, so two run in little more than the time of one.
unit: $(VENV)/.dev postgres-binaries chromium
	$(BIN)/pytest -q -n 2 --dist loadfile

# The suite runs on SQLite and on a PostgreSQL cluster it starts itself (or on the server that
# CALLREC_TEST_DATABASE_URL names): it needs the server binaries, Debian's `postgresql` package.
postgres-binaries:
	@[ -n "$$CALLREC_TEST_DATABASE_URL" ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 \
		|| [ -x "$$(pg_config --bindir 2>/dev/null)/postgres" ] \
		|| { echo "make test needs PostgreSQL's server binaries: apt-get install postgresql"\
		          " (or set CALLREC_TEST_DATABASE_URL to a server to use)"; exit 1; }

# The console's tests drive a real browser: Debian's Chromium, through Playwright.
chromium:
	@[ -x "$${CALLREC_TEST_CHROMIUM:-/usr/bin/chromium}" ] \
		|| { echo "make test needs Chromium for the console's tests: apt-get install chromium"\
		          " (or set CALLREC_TEST_CHROMIUM to a Chromium to use)"; exit 1; }

test: lint typecheck unit

bench: $(VENV)/.dev
	$(BIN)/python bench/update_recording.py --prism
	$(BIN)/python bench/streams.py
	$(BIN)/python bench/media.py
	$(BIN)/python bench/callbacks.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
