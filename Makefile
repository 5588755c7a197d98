# Every target builds on .venv, created on first use, so a fresh clone needs nothing else.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# uv installs the project and its dependencies in seconds where pip takes a minute and a half (measured from a
# fresh clone: `make test`'s budget is 4 minutes on 2 cores); pip only bootstraps it. `--compile-bytecode` does what
# pip does by default: without it, and with PYTHONDONTWRITEBYTECODE set (as on the CI machines), every process
# compiled every module it imported from source, ~1 s of each app start (bench/bench_app.py, first paint).
UV := $(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY)

.PHONY: install test test-integration prometheus lint bench soak demo screenshots clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install --upgrade pip uv

# Installing builds the recorder's C hot path (smythtop/recorder/_hotpath.c, with the machine's gcc) into the source
# tree; the stamps depend on it so that an edit rebuilds it.
$(VENV)/.installed: pyproject.toml smythtop/recorder/_hotpath.c | $(PY)
	$(UV) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml smythtop/recorder/_hotpath.c | $(PY)
	$(UV) -e '.[test]'
	touch $@

$(VENV)/.installed-bench: pyproject.toml smythtop/recorder/_hotpath.c | $(PY)
	$(UV) -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Two workers, one per core; a test file stays on one worker (module fixtures such as the wheel are built once).
test: lint
	$(PY) -m pytest -n 2 --dist loadfile

# The node program that feeds `smythtop serve` (tests/integration/test_node_otlp.py): its own folder, exact versions
# from the committed package-lock.json.
NODE_OTLP := tests/integration/node
$(NODE_OTLP)/node_modules/.installed: $(NODE_OTLP)/package.json $(NODE_OTLP)/package-lock.json
	npm ci --prefix $(NODE_OTLP) --no-audit --no-fund
	touch $@

# Debian's prometheus package (it brings promtool) for tests/integration/test_prometheus.py. Without apt, or
# without root or passwordless sudo, it is not installed (one line says so) and that test skips saying so.
prometheus:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
		command -v apt-get >/dev/null || { echo "no apt-get: prometheus not installed, its test will skip"; exit 0; }; \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo -n); \
		$$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends prometheus \
		|| echo "prometheus could not be installed; its test will skip"; }

# Real servers and other languages (tests/integration): longer than `make test`'s budget; .ci/run runs both.
test-integration: $(VENV)/.installed-test $(NODE_OTLP)/node_modules/.installed prometheus
	$(PY) -m pytest -n 2 --dist loadfile -m integration

soak: $(VENV)/.installed-test
	SMYTHTOP_KILLS=200 $(PY) -m pytest -m soak -q

bench: $(VENV)/.installed-bench
	$(PY) -m bench

# The first run backfills half an hour of history, so the dashboard is full at once; later runs go on live.
DEMO_STORE ?= $(CURDIR)/.demo-store
demo: $(VENV)/.installed
	$(VENV)/bin/smythtop demo --store $(DEMO_STORE) $$(test -d $(DEMO_STORE) || echo --backfill 0.5)

screenshots: $(VENV)/.installed-test
	@command -v rsvg-convert >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update && $$SUDO apt-get install -y librsvg2-bin fonts-firacode; }
	$(PY) screenshots/generate.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
