# Two entry points: `make demo` and `make test`. Both create .venv if missing and
# install the core and every plugin editable, each with its own -e.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := fake http websocket ccxt-common ccxt-spot ccxt-futures ccxt-stream
EDITABLES := -e '.[dev]' $(foreach p,$(PLUGINS),-e 'plugins/$(p)[testing]') -e examples/third_party_plugin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench docs install clean

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml) examples/third_party_plugin/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(EDITABLES)
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/qmtl-connectors demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest

test: lint typecheck unit

# docs/configuration.md: the reference of this repository's own plugins (not of whatever
# else is installed, such as the example third-party plugin).
PLUGIN_NAMES := fake,http,websocket,ccxt-spot,ccxt-futures,ccxt-stream
docs: install
	QMTL_LOAD_PLUGINS=$(PLUGIN_NAMES) $(BIN)/qmtl-connectors config-reference > docs/configuration.md

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
