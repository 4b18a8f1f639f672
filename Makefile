# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv on first use and reinstall requirements.txt only when it
# has changed since the last install.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed
# Extra pytest arguments: make test ARGS="tests/test_launcher.py -x"
ARGS ?=

.PHONY: run test lint bench venv chromium

run: $(STAMP)
	$(BIN)/python manage.py up

test: $(STAMP) chromium
	$(BIN)/pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Every bench/bench_*.py is a script that prints its figures.
bench: $(STAMP)
	@set -e; for script in bench/bench_*.py; do \
		[ -e "$$script" ] || { echo "no benchmarks in bench/"; exit 0; }; \
		echo "== $$script"; \
		PYTHONPATH=. $(BIN)/python "$$script"; \
	done

venv: $(STAMP)

# Browser tests drive Debian's chromium (Playwright cannot fetch its own).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing chromium for the browser tests"; \
			DEBIAN_FRONTEND=noninteractive apt-get update -q && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
		else \
			echo "warning: /usr/bin/chromium is missing; browser tests will fail" \
				"(sudo apt-get install -y chromium)"; \
		fi; \
	fi

$(STAMP): requirements.txt
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -r requirements.txt
	@touch $(STAMP)

