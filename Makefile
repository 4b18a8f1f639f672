# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv on first use and reinstall requirements.txt only when it
# has changed since the last install.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed
# Extra pytest arguments: make test ARGS="tests/test_launcher.py -x"
ARGS ?=

.PHONY: run test lint format bench venv

run: $(STAMP)
	$(BIN)/python manage.py up

test: $(STAMP)
	$(BIN)/pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every bench/bench_*.py is a script that prints its figures.
bench: $(STAMP)
	@set -e; for script in bench/bench_*.py; do \
		[ -e "$$script" ] || { echo "no benchmarks in bench/"; exit 0; }; \
		echo "== $$script"; \
		PYTHONPATH=. $(BIN)/python "$$script"; \
	done

venv: $(STAMP)

$(STAMP): requirements.txt
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -r requirements.txt
	@touch $(STAMP)

