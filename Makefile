# The README's commands. Python 3.11+ is all they need; no cluster, no Pulumi CLI.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# Local mirror of Flux install manifests (<dir>/<version>/gotk-components.yaml), used when present;
# otherwise the manifests are downloaded from the Flux release and cached.
SHARED_FLUX := $(wildcard ../shared/flux)
export FLUXBOOT_MANIFESTS_DIR ?= $(SHARED_FLUX)

.PHONY: quickstart test lint setup clean

$(BIN)/fluxboot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

setup: $(BIN)/fluxboot

## Render both clusters' GitOps files on the built-in defaults into ./out and show the tree.
quickstart: setup
	rm -rf out
	$(BIN)/fluxboot render --all --out out
	@cd out && find . -type f | sort | sed 's|^\./||'

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Lint, type-check and run the whole test suite.
test: lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
