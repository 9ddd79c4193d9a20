# Two entry points: `make demo` and `make test`. Both create .venv if missing and
# install the core and every plugin editable, each with its own -e.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := fake http websocket ccxt-common ccxt-spot ccxt-futures ccxt-stream
EDITABLES := -e '.[dev]' $(foreach p,$(PLUGINS),-e 'plugins/$(p)[testing]') -e examples/third_party_plugin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench docs install clean dist

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
# else is installed, such as the example third-party plugin). Then the documentation
# site (mkdocs, Material theme, API reference from the docstrings) into site/, --strict:
# a broken link or a docstring mkdocstrings cannot read fails the build. Offline.
PLUGIN_NAMES := fake,http,websocket,ccxt-spot,ccxt-futures,ccxt-stream
docs: install
	QMTL_LOAD_PLUGINS=$(PLUGIN_NAMES) $(BIN)/qmtl-connectors config-reference > docs/configuration.md
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	@echo "site/index.html: the documentation site"

# Every distribution as a wheel and an sdist (the wheel built from the sdist), for
# `pip install --find-links dist qmtl-plugin-<name>` without the checkout. Built with
# this venv's setuptools (--no-isolation), so no build dependency is downloaded.
DIST ?= dist
DISTRIBUTIONS := . $(addprefix plugins/,$(PLUGINS))
dist: install
	rm -rf $(DIST)
	$(foreach d,$(DISTRIBUTIONS),$(BIN)/python -m build --no-isolation --outdir $(DIST) $(d) >/dev/null &&) true
	ls $(DIST)

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
