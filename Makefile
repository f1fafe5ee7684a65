# Marketing Workbench: `make run` starts the app, `make test` type-checks core/ and runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test sample-data bench clean

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
test: $(STAMP)
	$(PY) -m mypy
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/ingest.py
	$(PY) bench/segments.py
	$(PY) bench/models.py
	$(PY) bench/experiments.py
	$(PY) bench/concurrency.py
	$(PY) bench/interactive.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache
