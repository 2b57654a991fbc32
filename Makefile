# One-command entry points. `make run` and `make test` create .venv and install on first use;
# the install is skipped afterwards until pyproject.toml or constraints.txt change.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export RUNTIME__DLTHUB_TELEMETRY := false
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home

.PHONY: install run test bench dagster clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/invsync demo

# The suite runs on TEST_WORKERS processes (pytest-xdist; a file's tests stay on one worker, so
# its module fixtures are built once; the longest files first, tests/conftest.py LONGEST_FIRST)
# and ends with the 25 slowest tests.
TEST_WORKERS ?= 2
test: install
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

dagster: install
	mkdir -p $(DAGSTER_HOME)
	ln -sf $(CURDIR)/dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	# Started from DAGSTER_HOME (the code from -d): run from the project folder, dagster dev warns
	# that ./dagster.yaml "will not be used" although the link above makes it the one it loads.
	cd $(DAGSTER_HOME) && $(CURDIR)/$(BIN)/dagster dev -m orchestration.definitions -d $(CURDIR) -h 127.0.0.1 -p 3000

clean:
	rm -rf data/*.duckdb data/.dlt-* data/dagster_home dbt_project/target dbt_project/logs
