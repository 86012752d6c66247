# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The suite runs in one process per core (pytest-xdist); PYTEST_ARGS="-n 0" runs it in one.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?= -n $(PYTEST_WORKERS)
BENCH_ARGS ?=

.PHONY: demo test lint bench venv venv-dev web clean

$(VENV)/.python-ok:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
	  { echo "liveshop needs Python >= 3.11 (found: $$($(PYTHON) --version)); set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@touch $@

# Reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml $(VENV)/.python-ok
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.python-ok
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev

# The pages' front-end libraries (hls.js, uPlot) from npm, copied to /static/vendor: nothing
# is loaded from a CDN. Without npm the pages still work, without video playback and charts.
# The dev dependency axe-core stays in node_modules: the browser tests' accessibility audit.
VENDOR := src/liveshop/web/static/vendor
$(VENDOR)/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then \
	  npm ci --no-audit --no-fund --loglevel=error && mkdir -p $(VENDOR) && \
	  cp node_modules/hls.js/dist/hls.min.js node_modules/uplot/dist/uPlot.iife.min.js \
	     node_modules/uplot/dist/uPlot.min.css $(VENDOR)/ && touch $@; \
	else echo "npm not found: the pages run without hls.js and uPlot (apt-get install npm)"; fi
web: $(VENDOR)/.installed

demo: venv web
	@mkdir -p var
	$(VENV)/bin/liveshop demo

test: venv-dev web
	@$(PY) -m pytest $(PYTEST_ARGS); code=$$?; \
	  if [ $$code -eq 5 ]; then echo "pytest collected no tests: failing"; fi; \
	  exit $$code

lint: venv-dev
	$(VENV)/bin/ruff check src tests migrations
	$(VENV)/bin/mypy src

# The room fan-out benchmark (docs/performance.md), batched hub then naive hub: ~2 minutes.
# More: make bench BENCH_ARGS="--viewers 5000 --json"
bench: venv
	$(VENV)/bin/liveshop bench room $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
