# airgap-signer: `make test` and `make demo` set up everything they need from scratch.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := softhsm2 opensc-pkcs11 gcc libzbar0 zbar-tools openssl libengine-pkcs11-openssl python3-venv chromium
STAMP := $(VENV)/.installed

.PHONY: test demo deps system venv lint bench clean

system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

deps: system venv

test: deps
	$(VENV)/bin/ruff check signer hsm transfer tests bench fuzz
	$(VENV)/bin/mypy --strict signer hsm transfer
	$(PY) -m pytest -q

demo: deps
	@bash scripts/demo.sh

lint: venv
	$(VENV)/bin/ruff check signer hsm transfer tests bench fuzz
	$(VENV)/bin/mypy --strict signer hsm transfer

clean:
	rm -rf $(VENV) demo .pytest_cache
