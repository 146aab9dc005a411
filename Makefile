# tropesearch: `make run` serves the sample index on 127.0.0.1:8000; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
INDEX_DIR ?= var/index
SAMPLE := data/sample
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-all install index bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# The pinned CPU torch first, so nothing below can pull a CUDA build.
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

index: $(STAMP)
	$(VENV)/bin/tropesearch build $(SAMPLE) --index-dir $(INDEX_DIR)

run: index
	$(VENV)/bin/tropesearch serve --index-dir $(INDEX_DIR) --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(PY) -m pytest

test-all: $(STAMP)
	$(PY) -m pytest -m "slow or not slow"

bench: $(STAMP)
	$(PY) scripts/bench

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
