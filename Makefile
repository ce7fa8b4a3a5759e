# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast test-soak lint format bench bench-quick clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/countonce demo

test: $(STAMP) lint
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow' -x

lint: $(STAMP)
	$(BIN)/ruff check countonce ingest expectations scheduler tests bench
	$(BIN)/countonce dbt parse
	cd dbt_project && ../$(BIN)/sqlfluff lint models macros tests analyses

format: $(STAMP)
	$(BIN)/ruff format countonce ingest expectations scheduler tests bench
	cd dbt_project && ../$(BIN)/sqlfluff fix models macros tests analyses

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs .pytest_cache
