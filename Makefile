# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast test-soak lint format bench bench-quick bench-webhooks clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev,spark,bench]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/countonce demo

test: $(STAMP) lint
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow' -x

# Every crash point of one batch, both ways (SIGKILL, connection severed), then random fault
# schedules, 10-30 seconds each: COUNTONCE_SOAK=N picks how many (at least 200 for a soak).
test-soak: $(STAMP)
	COUNTONCE_SOAK=$${COUNTONCE_SOAK:-200} $(BIN)/python -m pytest -q -s -p no:cacheprovider \
		tests/integration/test_reliability_crash_points.py \
		tests/integration/test_reliability_faults.py

lint: $(STAMP)
	$(BIN)/ruff check countonce ingest expectations scheduler tests bench
	$(BIN)/countonce dbt parse
	cd dbt_project && ../$(BIN)/sqlfluff lint models macros tests analyses

format: $(STAMP)
	$(BIN)/ruff format countonce ingest expectations scheduler tests bench
	cd dbt_project && ../$(BIN)/sqlfluff fix models macros tests analyses

# Figures measured side by side in one run, printed and written to bench/results.json.
bench: $(STAMP)
	rm -f bench/results.json
	$(BIN)/python -m bench.bench_ingest --rows 1000000
	$(BIN)/python -m bench.bench_ingest --size-gb 2 --skip-psql
	$(BIN)/python -m bench.bench_models --sizes 100000 1000000 10000000
	$(BIN)/python -m bench.bench_checks --history 1000000,10000000
	$(BIN)/python -m bench.bench_pipeline --events 10000
	$(BIN)/python -m bench.bench_webhooks
	$(BIN)/python -m bench.bench_spark --events 100000
	$(BIN)/python -m bench.bench_peers --sizes 1000000 10000000 --batches 10000 100000
	$(BIN)/python -m bench.bench_scale --sizes 1000000 10000000 30000000 --batches 10000 100000 \
		--curve-size 10000000 --curve-batches 1000 10000 100000 1000000
	$(BIN)/python -m bench.bench_stream --size 10000000 --rates 5000 10000 20000 30000 40000 \
		--seconds 60 --every 2
	$(BIN)/python -m bench.summary

# The webhook endpoint on 127.0.0.1: events/s, acknowledgement latency, a database restart.
bench-webhooks: $(STAMP)
	$(BIN)/python -m bench.bench_webhooks

bench-quick: $(STAMP)
	rm -f bench/results.json
	$(BIN)/python -m bench.bench_ingest --rows 300000
	$(BIN)/python -m bench.bench_models --sizes 100000 1000000
	$(BIN)/python -m bench.bench_checks --history 100000,1000000 --repeats 2
	$(BIN)/python -m bench.bench_pipeline --events 10000 --repeat 2
	$(BIN)/python -m bench.bench_peers --sizes 1000000 --batches 10000 --repeat 2
	$(BIN)/python -m bench.summary

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs .pytest_cache
