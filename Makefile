# The README's commands. Each one installs what it needs: a virtualenv with the project
# (and its test extras) and, for the tests, the Debian packages and local control plane.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KILN_CACHE ?= $(HOME)/.cache/kiln
export KILN_CACHE

.PHONY: venv demo test lint unit bench controlplane images clean help

help:
	@echo "make demo   - the embedded default end to end (synthetic data, train, export, serve)"
	@echo "make test   - lint, type-check and the whole test suite"
	@echo "make bench  - training, inference and serving benchmarks (ratios vs baselines)"
	@echo "make images - build the container images (needs a container engine)"

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,dev]'
	touch $@

venv: $(BIN)/.installed

demo: venv
	$(BIN)/kiln demo --out demo-output

lint: venv
	$(BIN)/ruff check services operators tests
	$(BIN)/ruff format --check services operators tests
	$(BIN)/mypy services/kiln operators/kiln_operator
	$(BIN)/lint-imports

controlplane:
	bash infra/local/system-deps.sh
	bash infra/local/build-kube.sh

test: venv lint controlplane
	$(BIN)/python -m pytest tests

unit: venv
	$(BIN)/python -m pytest tests/unit

bench: venv
	$(BIN)/python -m tests.benchmarks

images:
	bash infra/docker/build.sh

clean:
	rm -rf $(VENV) demo-output .pytest_cache
