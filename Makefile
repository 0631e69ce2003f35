# edudesk: `make demo` starts the Chinese demo institution; `make test` installs everything and runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3
# The locks pin every package with its hashes (docs/dependencies.md); the venv is rebuilt when they or pyproject change.
LOCKS := requirements/runtime.txt requirements/test.txt
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml $(LOCKS) | sha1sum | cut -c1-12)
# pip-compile and pip-audit ask PyPI alone: no local index, wheel folder or constraints file of this machine, so the
# lock names only releases (and hashes) that any machine can fetch.
PYPI_ONLY := env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL -u PIP_CONSTRAINT -u PIP_NO_INDEX \
	PIP_CONFIG_FILE=/dev/null CUSTOM_COMPILE_COMMAND="make lock"
COMPILE := $(PYPI_ONLY) $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host
APT_STAMP := $(VENV)/.apt-ok
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint install services bench bench-deps clean lock audit

# Every package from the test lock (the runtime lock plus the test tools), each checked against its hashes; then
# edudesk itself with --no-deps, so nothing unpinned slips in through pyproject.
$(STAMP): pyproject.toml $(LOCKS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# The locked pip first (hashed too): the pip a new venv comes with (23.2) refuses, in --require-hashes mode, an
	@# extra that a dependency asks for (pip-audit's CacheControl[filecache]) as soon as PyPI has a newer release.
	@sed -n '/^pip==/,/^ *#/p' requirements/test.txt | grep -v '^ *#' > $(VENV)/pip-lock.txt
	$(PIP) install -q --require-hashes --no-deps -r $(VENV)/pip-lock.txt
	$(PIP) install -q --require-hashes -r requirements/test.txt
	$(PIP) install -q --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

# Regenerates both locks from pyproject.toml after a dependency was added or changed, e.g. after a merge (needs PyPI;
# pip-tools comes from the current test lock). The test lock is constrained by the runtime lock, so both pin a shared
# package at one version. Review the diff (docs/dependencies.md). ARGS="--upgrade-package NAME" or ARGS=--upgrade
# lifts pins; without it every pin that still fits is kept.
lock: $(STAMP)
	$(COMPILE) $(ARGS) --output-file requirements/runtime.txt pyproject.toml
	$(COMPILE) $(ARGS) --extra test --constraint requirements/runtime.txt --output-file requirements/test.txt pyproject.toml
	$(PY) scripts/check_lock.py

# Known vulnerabilities in the pinned packages, from the PyPI advisory database. It needs that service: where it
# cannot be reached this fails and says it could not audit (no result is not a clean result). Not part of make test.
audit: $(STAMP)
	$(PY) scripts/audit_lock.py $(LOCKS)

# Debian packages the tests need: Chromium for Playwright, CJK fonts for readable screenshots, espeak-ng (the
# voice robot's text-to-speech), sip-tester (sipp, the SIP peer of the telephony tests) and haproxy (the load
# balancer of deploy/haproxy.cfg, checked with haproxy -c by tests/test_deployment_config.py).
$(APT_STAMP): | $(STAMP)
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto sans cjk" \
		|| ! command -v espeak-ng >/dev/null 2>&1 || ! command -v sipp >/dev/null 2>&1 \
		|| ! command -v haproxy >/dev/null 2>&1; then \
		echo "apt-get: installing chromium, fonts-noto-cjk, espeak-ng, sip-tester and haproxy"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk \
			espeak-ng sip-tester haproxy >/dev/null; \
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
	$(PY) scripts/check_lock.py

test: $(STAMP) $(APT_STAMP) services lint
	$(VENV)/bin/pytest -n 2 --dist loadgroup -q

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/run.py

# What benchmarks/scaleout.py needs besides the venv: Debian's haproxy, the load balancer in front of the instances
# (installed only when missing; the rest of the benchmarks need nothing from apt).
bench-deps:
	@command -v haproxy >/dev/null 2>&1 || (echo "apt-get: installing haproxy"; apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null)
	@haproxy -v | head -1

clean:
	rm -rf $(VENV) demo-data .pytest_cache .ruff_cache
