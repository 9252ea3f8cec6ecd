# The README's two commands: `make run` and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000

.PHONY: run test lint bench install-server install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-server: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[server]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed-server

install-server: $(VENV)/.installed-server
install-dev: $(VENV)/.installed-dev

run: $(VENV)/.installed-server
	$(BIN)/harvestgpu server --port $(PORT)

test: $(VENV)/.installed-dev
	$(BIN)/pytest -q -p no:cacheprovider

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.bench_routing
	$(BIN)/python -m bench.bench_api
	$(BIN)/python -m bench.bench_engine

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
