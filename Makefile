# Marketing Workbench: `make run` starts the app, `make test` type-checks core/ and runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-spark sample-data bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

sample_data/customers.csv: | $(STAMP)
	$(PY) sample_data/generate.py

sample-data: $(STAMP)
	$(PY) sample_data/generate.py

run: $(STAMP) sample_data/customers.csv
	$(PY) serve.py --server.port=8501

# mypy first (core/, settings in mypy.ini): a type error fails the run before any test.
# The suite runs in TEST_WORKERS processes (pytest-xdist), each test file in one of them (module
# fixtures such as a running app stay in one process); TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m mypy
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

SPARK_STAMP := $(VENV)/.installed-spark

$(SPARK_STAMP): $(STAMP) requirements-spark.txt
	$(PY) -m pip install --quiet -r requirements-spark.txt
	touch $(SPARK_STAMP)

# The Spark suite (tests/spark: the Spark workspace and DuckDB-vs-Spark parity); needs Java 17.
test-spark: $(SPARK_STAMP)
	MW_SPARK_TESTS=1 $(PY) -m pytest tests/spark

bench: $(STAMP)
	$(PY) bench/ingest.py
	$(PY) bench/segments.py
	$(PY) bench/models.py
	$(PY) bench/experiments.py
	$(PY) bench/concurrency.py
	$(PY) bench/interactive.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache
