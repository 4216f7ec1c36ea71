# Two commands a newcomer needs: `make demo` and `make test`. Both build the virtual
# environment from nothing on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv tools browser screenshots demo test lint unit e2e bench bench-small clean

venv: $(STAMP)

# An editable install from setuptools puts an import hook in front of every process (it
# costs each `kitaru` command and run about 10 ms to load). A plain path file does the
# same job here, sdk/ and operator/ on sys.path, for nothing.
PLAIN_PATHS = $(PY) -c "import pathlib, sysconfig; site = pathlib.Path(sysconfig.get_paths()['purelib']); \
	[hook.unlink() for hook in site.glob('__editable___kitaru_*_finder.py')]; \
	[pth.write_text('$(CURDIR)/sdk\n$(CURDIR)/operator\n') for pth in site.glob('__editable__.kitaru-*.pth')]"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,s3,gcs,azure,operator,llm,anthropic,openai-agents,pydantic-ai,mcp,cluster,ui]'
	$(PLAIN_PATHS)
	touch $(STAMP) $(DEMO_STAMP)

# The demo needs the SDK alone (pydantic and jsonschema), not the operator, the cloud
# clients or the test tools; `make test` installs those into the same environment.
DEMO_STAMP := $(VENV)/.demo-stamp
$(DEMO_STAMP): pyproject.toml
	@echo "[demo] installing the Kitaru SDK into $(VENV) (once; about half a minute)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -e .
	@$(PLAIN_PATHS)
	@touch $(DEMO_STAMP)

# The main job on the embedded default: an agent flow runs locally against ./.kitaru,
# waits, is answered through the CLI, finishes, and is replayed from a middle checkpoint.
demo: $(DEMO_STAMP)
	$(PY) examples/demo.py

lint: venv
	$(VENV)/bin/ruff check $(wildcard sdk operator tests bench examples e2e)
	$(VENV)/bin/mypy

# Azurite (the Azure Blob emulator) comes from npm; the others come with the dev extra.
AZURITE := .tools/node_modules/.bin/azurite-blob
$(AZURITE):
	npm install --silent --no-audit --no-fund --prefix .tools azurite@3.37.0

# The dashboard's browser tests drive Debian's Chromium (no browser download).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	@echo "[browser] installing Debian's chromium (once per machine)"
	$(SUDO) apt-get install -y -q chromium > /dev/null || \
		($(SUDO) apt-get update -q > /dev/null && $(SUDO) apt-get install -y -q chromium > /dev/null)

browser: $(CHROMIUM)

tools: $(AZURITE) browser

# The README's pictures of the dashboard, taken from real runs in a fresh store.
screenshots: venv browser
	$(PY) -m tests.ui.screenshots

unit: venv tools
	$(VENV)/bin/pytest tests

# Benchmarks print ratios against baselines measured in the same run. `make test` runs
# them once at a small size to prove they work; `make bench` runs the full sizes.
bench: venv tools
	$(PY) -m bench

bench-small: venv tools
	$(PY) -m bench --small

# e2e: builds the pinned control plane into ~/.cache/kitaru-e2e (once per machine, many
# minutes cold), starts it, runs e2e/ (operator scenarios included) and tears it down.
e2e: venv tools
	e2e/run

test: lint unit bench-small e2e

clean:
	rm -rf $(VENV) .kitaru
