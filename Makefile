# Two commands on a fresh machine: `make demo` (the main job on a built-in lab) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_HOSTS ?= 5
LAB_NETWORK ?= 127.42.0.0
# What the demo needs: sshd for the lab hosts, sudo for --become.
DEMO_APT := openssh-server openssh-client sudo iproute2 procps util-linux
# What the tests need on top: PostgreSQL for the shared journal, an MIT KDC and libkrb5-dev + gcc to
# build the Kerberos extras for the WinRM Kerberos tests; crontab, unzip, openssl, curl and
# update-ca-certificates for the system step kinds and the repair tasks; RabbitMQ and Redis for the
# site-worker tests (started by the tests on loopback; the install must not start them as services:
# see policy-rc.d below); tmux drives the recorded-session
# tests; Debian's chromium and its driver for the web view's browser tests (Selenium; nothing downloaded).
TEST_APT := $(DEMO_APT) postgresql krb5-kdc krb5-admin-server krb5-user libkrb5-dev gcc \
            cron unzip openssl curl ca-certificates rabbitmq-server redis-server tmux \
            chromium chromium-driver

.PHONY: demo-deps test-deps demo test test-all bench clean

# Root installs what is missing (waiting for a dpkg lock another installer holds); anybody else must
# already have the packages.
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "== installing Debian packages: $$missing"; \
	  apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	  made_policy=; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && made_policy=1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $$missing >/dev/null; \
	  status=$$?; if [ -n "$$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; [ $$status = 0 ]; \
	else \
	  echo "missing Debian packages: $$missing (ask an admin for 'apt-get install $$missing')"; exit 1; \
	fi
endef

$(BIN)/python:
	@echo "== creating the virtual environment $(VENV)"
	$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip

$(VENV)/.demo: setup.cfg pyproject.toml setup.py | $(BIN)/python
	@echo "== installing remote-support into $(VENV)"
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.test: setup.cfg pyproject.toml setup.py | $(BIN)/python
	@echo "== installing remote-support with its test dependencies into $(VENV) (Kerberos extras compile: ~2 min)"
	$(BIN)/pip install -q -e '.[test]'
	@touch $@ $(VENV)/.demo

demo-deps:
	$(call apt_install,$(DEMO_APT))
	@$(MAKE) --no-print-directory $(VENV)/.demo

test-deps:
	$(call apt_install,$(TEST_APT))
	@$(MAKE) --no-print-directory $(VENV)/.test

demo: demo-deps
	@echo "== starting a practice lab of $(DEMO_HOSTS) sshd hosts on $(LAB_NETWORK)"
	$(BIN)/remote-support lab up $(DEMO_HOSTS) --network $(LAB_NETWORK)
	$(BIN)/remote-support exec all -i "$$($(BIN)/remote-support lab inventory)" -- 'uname -n; uptime'
	$(BIN)/remote-support exec all -i "$$($(BIN)/remote-support lab inventory)" --become --group -- 'id -un'
	$(BIN)/remote-support run diagnose -i "$$($(BIN)/remote-support lab inventory)" --ticket DEMO-1
	$(BIN)/remote-support runs list --limit 3

# `make test`: everything but the `slow` groups (the real-broker workers, the 300 MB outputs, the long
# fuzz runs), about 14 minutes on 2 idle cores; `make test-all`: everything (about 19 minutes), what CI
# runs. PYTEST_ARGS replaces the selection, e.g. PYTEST_ARGS='tests/test_api.py' or PYTEST_ARGS='-m slow'.
PYTEST_ARGS ?= -m "not slow"
test: test-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-all: test-deps
	$(BIN)/python -m pytest -q

bench: test-deps
	$(BIN)/python benchmarks/run.py; status=$$?; $(BIN)/python benchmarks/task.py || status=1; exit $$status

clean:
	-$(BIN)/remote-support lab down
	rm -rf $(VENV) build *.egg-info
