# The two commands a fresh machine needs: `make run` (the service on embedded defaults) and
# `make test` (provision what the tests need, then lint, type-check and run every test).
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PYTEST_ARGS ?=

.PHONY: help uv sync run setup lint typecheck check pytest test fuzz bench fmt

help:
	@echo "make run    - run the API on 127.0.0.1:8080 (in-memory stores, bundled emulator)"
	@echo "make test   - provision (Postgres, Redis, Docker, Nix tools), lint, type-check, test"
	@echo "make check  - ruff + mypy only;  make pytest - tests only (no provisioning)"

uv:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv

sync: uv
	uv sync --frozen

run: sync
	uv run --frozen agent serve

setup: sync
	bash .ci/provision-services.sh
	bash .ci/provision-nix.sh
	bash .ci/provision-docker.sh

fmt: sync
	uv run --frozen ruff format .
	uv run --frozen ruff check --fix .

lint: sync
	uv run --frozen ruff format --check .
	uv run --frozen ruff check .

typecheck: sync
	uv run --frozen mypy

check: lint typecheck

pytest: sync
	set -a; [ -f .ci/images.env ] && . .ci/images.env; set +a; \
	uv run --frozen pytest -ra --timeout=900 $(PYTEST_ARGS)

test: setup check pytest

# The container fuzzing alone (the stack must be buildable: run `make setup` once).
fuzz: sync
	set -a; [ -f .ci/images.env ] && . .ci/images.env; set +a; \
	uv run --frozen pytest -ra -m fuzz tests/contract $(PYTEST_ARGS)

# Fault-injection tests against the compose stack.
chaos: sync
	set -a; [ -f .ci/images.env ] && . .ci/images.env; set +a; \
	uv run --frozen pytest -ra tests/chaos $(PYTEST_ARGS)

bench: sync
	set -a; [ -f .ci/images.env ] && . .ci/images.env; set +a; \
	uv run --frozen --group bench python -m benchmarks.run $(BENCH_ARGS)
