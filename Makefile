# Quick start: `make demo` (main job on the embedded sandbox) and `make test` (lint, types, tests).
# Each target creates its own virtual environment in .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test lint docs bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/krakenwire demo

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests bench examples docs
	$(BIN)/mypy --strict src

test: lint
	$(BIN)/pytest

docs: $(BIN)/.installed
	$(BIN)/python docs/gen_api.py

bench: $(BIN)/.installed
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
