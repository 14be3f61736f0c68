# High Peaks ML Platform. `make demo` runs the whole loop on embedded defaults;
# `make test` runs the test suite against PostgreSQL, an S3 endpoint and Redis.

PYTHON ?= python3
VENV ?= .venv
JAX_VENV ?= .venv-jax
BIN := $(VENV)/bin
PORT ?= 5000
MLFLOW_PORT ?= 5001
ARGS ?=

export PORT MLFLOW_PORT

.PHONY: help install demo stop test test-jax lint check migrate fuzz

help:
	@echo "make demo    install, start the portal, a worker and the MLflow UI, run the whole loop"
	@echo "make stop    stop what make demo started"
	@echo "make test    run the tests (ARGS='-k name' to pick some)"
	@echo "make test-jax  run the training core's tests on the JAX backend, without Django"
	@echo "make fuzz    fuzz the API through its OpenAPI schema with a token of each role"
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

# The training core must stay plain Keras: its tests also run on the JAX backend, in a small
# virtualenv of their own with no Django, TensorFlow or services (and without tests/conftest.py).
# The pyproject's warning filters name modules not installed there: they are replaced, and the
# warning about its DJANGO_SETTINGS_MODULE option (no pytest-django there) is silenced.
$(JAX_VENV)/.installed: requirements-jax.txt requirements.lock
	rm -rf $(JAX_VENV)
	$(PYTHON) -m venv $(JAX_VENV)
	$(JAX_VENV)/bin/python -m pip install --quiet -r requirements-jax.txt -c requirements.lock
	touch $@

test-jax: $(JAX_VENV)/.installed
	KERAS_BACKEND=jax $(JAX_VENV)/bin/python -m pytest tests/experiments/test_training.py \
		-p no:cacheprovider --noconftest -o filterwarnings=ignore::DeprecationWarning \
		-W ignore::pytest.PytestConfigWarning $(ARGS)

# The API fuzzed through its OpenAPI schema (tests/fuzz/run.py): a portal on loopback with a
# token of each role; fails on any 5xx or answer the schema does not describe.
fuzz: install
	$(BIN)/python -m tests.fuzz.run $(ARGS)

lint: install
	$(BIN)/ruff check .

check: install
	$(BIN)/python manage.py check
