# Two commands for a new user: `make run` serves the app, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8050
export CCG_SOURCES ?= $(abspath ../shared/data/raw)

.PHONY: run dev test lint bench atlas install install-dev chromium clean

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

# Debian's Chromium renders slides (kaleido) and drives the browser tests; nothing else is downloaded.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium and chromium-driver"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-dejavu-core >/dev/null; \
	else echo "warning: no /usr/bin/chromium; install it with: sudo apt-get install chromium chromium-driver" >&2; fi

atlas: install
	$(BIN)/python -m geodata ensure

run: install chromium atlas
	HOST=$(HOST) PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py app:server

dev: install atlas
	$(BIN)/python app.py --debug --port $(PORT)

lint: install-dev
	$(BIN)/ruff check .

# pytest exits 5 when it collects nothing; that alone is not a failure, any other non-zero is.
test: install-dev chromium atlas lint
	$(BIN)/python -m pytest -q -p no:cacheprovider tests; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

bench: install-dev chromium atlas
	@for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build .pytest_cache
