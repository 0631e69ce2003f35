# edudesk: `make demo` starts the Chinese demo institution; `make test` installs everything and runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
APT_STAMP := $(VENV)/.apt-ok
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint install services bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

# Debian packages the browser tests need (Chromium for Playwright, CJK fonts for readable screenshots).
$(APT_STAMP): | $(STAMP)
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then \
		echo "apt-get: installing chromium and fonts-noto-cjk"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi
	@touch $(APT_STAMP)

demo: $(STAMP)
	$(VENV)/bin/edudesk demo --host $(HOST) --port $(PORT)

# PostgreSQL and Redis are started by this machine kind before a session; start them again if they stopped.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || (pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start && sleep 2)
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || (redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log && sleep 1)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

test: $(STAMP) $(APT_STAMP) services lint
	$(VENV)/bin/pytest -n 2 --dist loadgroup -q

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/run.py

clean:
	rm -rf $(VENV) demo-data .pytest_cache .ruff_cache
