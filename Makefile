# Two commands on a fresh machine: `make demo` (the main job on a built-in lab) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_HOSTS ?= 5
APT_PACKAGES := openssh-server openssh-client sudo iproute2 procps util-linux postgresql \
                krb5-kdc krb5-admin-server krb5-user libkrb5-dev gcc \
                cron unzip openssl curl ca-certificates

.PHONY: deps system-deps demo test bench clean

# Debian packages the lab and the tests need (sshd; sudo for become tests; PostgreSQL for the shared
# journal tests; an MIT KDC, and libkrb5-dev + gcc to build the Kerberos extras, for WinRM Kerberos
# tests; crontab, unzip, openssl, curl and update-ca-certificates for the system step kinds and repair
# tasks). Root installs what is missing; anybody else must already have them.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing Debian packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else \
	  echo "missing Debian packages: $$missing (ask an admin for 'apt-get install $$missing')"; exit 1; \
	fi

$(BIN)/remote-support: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

deps: system-deps $(BIN)/remote-support

demo: deps
	$(BIN)/remote-support lab up $(DEMO_HOSTS)
	$(BIN)/remote-support exec all -i "$$($(BIN)/remote-support lab inventory)" -- 'uname -n; uptime'
	$(BIN)/remote-support exec all -i "$$($(BIN)/remote-support lab inventory)" --become --group -- 'id -un'
	$(BIN)/remote-support run diagnose -i "$$($(BIN)/remote-support lab inventory)" --ticket DEMO-1
	$(BIN)/remote-support runs list --limit 3

test: deps
	$(BIN)/python -m pytest -q

bench: deps
	$(BIN)/python benchmarks/run.py

clean:
	-$(BIN)/remote-support lab down
	rm -rf $(VENV) build *.egg-info
