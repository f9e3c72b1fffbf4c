# Two commands for a new user: `make run` serves the app, `make test` runs every test. `make serve` is the
# public-host configuration (nginx in front of two app instances: docs/deployment.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8050
export CCG_SOURCES ?= $(abspath ../shared/data/raw)

.PHONY: run serve dev test lint bench atlas install install-dev chromium nginx poppler node js screenshots clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# pdftoppm and pdftotext: the print and PDF-slide tests read what Chromium and Kaleido print.
poppler:
	@if command -v pdftoppm >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's poppler-utils"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null; \
	else echo "warning: no pdftoppm; install it with: sudo apt-get install poppler-utils" >&2; fi

# Debian's Chromium renders slides (kaleido) and drives the browser tests; nothing else is downloaded.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium and chromium-driver"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-dejavu-core >/dev/null; \
	else echo "warning: no /usr/bin/chromium; install it with: sudo apt-get install chromium chromium-driver" >&2; fi

# Debian's nginx fronts `make serve` (and its tests). Installing the package does not start Debian's own site
# where services cannot start (containers); under systemd it does, on port 80: `systemctl disable --now nginx`
# if it is not wanted. `make serve` runs its own nginx, configured from deploy/nginx.conf.
nginx:
	@if [ -x /usr/sbin/nginx ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's nginx"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	else echo "warning: no /usr/sbin/nginx; install it with: sudo apt-get install nginx" >&2; fi

# The page's plotly.js: a partial bundle (only the traces it draws) built from the pinned npm packages
# (package.json, package-lock.json) into build/js/. Debian's nodejs and npm are installed when run as root and
# missing; without them the page falls back to Dash's full plotly.js (the log says so).
JS_BUNDLE := build/js/plotly-atlas.min.js

node:
	@if command -v node >/dev/null && command -v npm >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's nodejs and npm"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	else echo "warning: no node/npm; the page will load Dash's full plotly.js (install nodejs and npm)" >&2; fi

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(JS_BUNDLE): js/build.mjs $(wildcard js/*.js) node_modules/.package-lock.json | $(VENV)/.installed
	node js/build.mjs $@
	$(BIN)/python -m dashboard.hosting.compression $@

js: node
	@if command -v node >/dev/null && command -v npm >/dev/null; then $(MAKE) --no-print-directory $(JS_BUNDLE); fi

atlas: install
	$(BIN)/python -m geodata ensure
	$(BIN)/python -m dashboard.shares --ensure
	$(BIN)/python -m dashboard.robust.precompute --ensure

run: install chromium atlas js
	HOST=$(HOST) PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py app:server

# The public-host configuration on one machine: nginx on HOST:PORT, two gunicorn instances on unix sockets
# (deploy/serve.py; generated config, sockets, logs and temp files under build/serve/). Ctrl-C stops all of it.
serve: install chromium nginx atlas js
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python deploy/serve.py

dev: install atlas js
	$(BIN)/python app.py --debug --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .

# pytest exits 5 when it collects nothing; that alone is not a failure, any other non-zero is.
test: install-dev chromium nginx poppler atlas js lint
	$(BIN)/python -m pytest -q -p no:cacheprovider --doctest-modules dashboard geodata tests; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

bench: install-dev chromium nginx atlas js
	@for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

# The README's images (page, phone, slides) from a local server: docs/img/*.png.
screenshots: install-dev chromium atlas js
	$(BIN)/python docs/screenshots.py

clean:
	rm -rf build .pytest_cache node_modules
