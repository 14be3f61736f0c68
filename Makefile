# High Peaks ML Platform. `make demo` runs the whole loop on embedded defaults;
# `make test` runs the test suite against PostgreSQL, an S3 endpoint and Redis.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 5000
MLFLOW_PORT ?= 5001
ARGS ?=

export PORT MLFLOW_PORT

.PHONY: help install demo stop test lint check migrate

help:
	@echo "make demo    install, start the portal, a worker and the MLflow UI, run the whole loop"
	@echo "make stop    stop what make demo started"
	@echo "make test    run the tests (ARGS='-k name' to pick some)"
	@echo "make lint    ruff"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the dependency files change.
$(VENV)/.installed: requirements.txt requirements-dev.txt requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c requirements.lock
	touch $@

install: $(VENV)/.installed

demo: install
	scripts/demo.sh

stop:
	scripts/stop.sh

test: install
	$(BIN)/python scripts/run_tests.py $(ARGS)

lint: install
	$(BIN)/ruff check .

check: install
	$(BIN)/python manage.py check
