# The README's commands. Python 3.11+ is all they need; no cluster, no Pulumi CLI.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# Local mirror of Flux install manifests (<dir>/<version>/gotk-components.yaml), used when present;
# otherwise the manifests are downloaded from the Flux release and cached. Absolute, as `pulumi`
# runs the program from other directories (the e2e tests' and the bench's project copies).
SHARED_FLUX := $(abspath $(wildcard ../shared/flux))
export FLUXBOOT_MANIFESTS_DIR ?= $(SHARED_FLUX)

.PHONY: quickstart test lint setup clean bench toolchain e2e ci-local

$(BIN)/fluxboot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade 'pip>=24.3.1,<26'  # the range the Pulumi SDK requires
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

setup: $(BIN)/fluxboot

QUICKSTART := .quickstart/gitops.git

## Create a local bare GitOps repository, commit both clusters' files into it (built-in
## defaults, no cluster, no Pulumi CLI), and show the resulting tree.
quickstart: setup
	rm -rf .quickstart
	git init --quiet --bare --initial-branch=main $(QUICKSTART)
	$(BIN)/fluxboot push k8s-01 --repo $(QUICKSTART) --create-branch
	$(BIN)/fluxboot push k8s-02 --repo $(QUICKSTART)
	@echo "== $(QUICKSTART), branch main:"
	@git --git-dir=$(QUICKSTART) log --oneline main
	@git --git-dir=$(QUICKSTART) ls-tree -r --name-only main

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## Lint, type-check and run the whole test suite: unit, Git, integration and the real-engine
## end-to-end tests (the toolchain below is built first where Go is installed). PYTEST_ARGS
## narrows it (the local run of the CI pipeline's `test` job sets it: README, "Preview in CI").
test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Build the real-engine toolchain from Go modules into ~/.cache/flux-gitops/toolchain/ (cached
## by its pins: seconds when built; the first build is long). Prints the bin directory.
toolchain:
	python3 tests/e2e/toolchain/toolchain.py build

## Only the tests that need the toolchain: integration and end-to-end (pulumi preview/up/refresh/
## destroy against local Kubernetes 1.34 control planes).
e2e: setup toolchain
	$(BIN)/python -m pytest -m "e2e or integration" $(PYTEST_ARGS)

## Run the CI templates on this machine: the GitLab merge-request and default-branch pipelines
## with gitlab-ci-local (shell executor, toolchain on PATH, a local control plane and backend),
## actionlint and one job of the GitHub workflow's matrix (README, "Preview in CI").
ci-local: setup toolchain
	$(BIN)/python -m pytest tests/e2e/test_ci_pipelines.py $(PYTEST_ARGS)

## What a stack and a fleet cost (README, "Performance"); not part of `make test`.
bench: setup
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .quickstart .pytest_cache .mypy_cache .ruff_cache
