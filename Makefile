# airgap-signer: `make test` and `make demo` set up everything they need from scratch.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The appliance's Debian packages (one list: the offline bundle carries the same; `make demo`
# needs nothing more), and what only tests add: chromium (renders the HTML audit report), gcc
# (builds a PIN-pad shim), poppler-utils (reads printed PDFs back: pdftotext, pdftoppm).
APPLIANCE_DEBS := $(shell grep -v '^\#' scripts/offline/debian-packages.txt)
TEST_DEBS := chromium gcc poppler-utils
STAMP := $(VENV)/.installed
# requirements.lock: the appliance (runtime dependencies); requirements-test.lock: what only
# the tests add, layered on it. Both hold every file's SHA-256; `make lock` writes them.
LOCKS := requirements.lock requirements-test.lock
OFFLINE ?= dist/offline
UV_VERSION := 0.13.9
LOCK_TOOL := build/lock-tool
# Resolved for the appliance (CPython 3.11 on Debian 12, x86_64), wheels only; the hashes of
# every published wheel of each pinned version, no source archives (nothing is built at install).
UV_COMPILE := $(LOCK_TOOL)/bin/uv pip compile --no-config --quiet --generate-hashes \
  --python-version 3.11 --python-platform x86_64-manylinux_2_36 --only-binary :all: \
  --preview-features artifact-hash-filtering --custom-compile-command "make lock" $(LOCK_FLAGS)

.PHONY: test demo deps test-deps system test-system venv lint lock cli-docs offline-bundle bench clean

# Installs whichever of PACKAGES are missing (apt-get, as root or with sudo).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
endef

system:
	$(call apt_install,$(APPLIANCE_DEBS))

test-system:
	$(call apt_install,$(APPLIANCE_DEBS) $(TEST_DEBS))

# The virtualenv is exactly the lock files: rebuilt from scratch whenever they (or
# pyproject.toml, or the version) change, so nothing left over from an earlier lock is tested.
$(STAMP): pyproject.toml signer/version.py $(LOCKS)
	$(PYTHON) -m venv --clear $(VENV)
	$(PY) -m pip install -q --require-hashes --only-binary=:all: -r requirements.lock -r requirements-test.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	@touch $(STAMP)

venv: $(STAMP)

deps: system venv

test-deps: test-system venv

test: test-deps
	$(VENV)/bin/ruff check signer hsm transfer tests bench fuzz scripts
	$(VENV)/bin/mypy --strict signer hsm transfer
	SIGNER_NO_SKIPS=1 $(PY) -m pytest -q

demo: deps
	@bash scripts/demo.sh

lint: venv
	$(VENV)/bin/ruff check signer hsm transfer tests bench fuzz scripts
	$(VENV)/bin/mypy --strict signer hsm transfer

# Regenerate the lock files from pyproject.toml, keeping the versions already pinned where they
# still fit; `make lock LOCK_FLAGS=--upgrade` moves everything to the newest versions.
lock: $(LOCK_TOOL)/bin/uv
	$(UV_COMPILE) pyproject.toml -o requirements.lock
	$(UV_COMPILE) pyproject.toml --extra test -c requirements.lock \
	  $$(sed -n 's/^\([A-Za-z0-9._-]*\)==.*/--no-emit-package \1/p' requirements.lock) \
	  -o requirements-test.lock

$(LOCK_TOOL)/bin/uv:
	$(PYTHON) -m venv $(LOCK_TOOL)
	$(LOCK_TOOL)/bin/python -m pip install -q uv==$(UV_VERSION)

# The man page and bash completion, made from the parser: build/signer.1, build/signer.bash
# (`make offline-bundle` makes its own copies; install.sh installs them).
cli-docs: venv
	$(PY) scripts/cli_docs.py --out build

# The air-gapped machine's install, in one directory (OFFLINE): wheels, lock, Debian packages,
# install.sh, README and SHA256SUMS. Run on a networked Debian 12 machine; see README.md.
offline-bundle: venv
	$(PY) scripts/offline_bundle.py --out $(OFFLINE)

clean:
	rm -rf $(VENV) demo .pytest_cache build/lock-tool
