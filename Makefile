# Everything a developer or CI needs, in a few targets. Each target creates the virtual
# environment it needs (idempotently: it is rebuilt only when the dependency files change).
#
#   make demo        run anker demo: a small cloud on anker, driven through a scenario
#   make test        quality gates + the whole test suite (what CI runs)
#   make bench       side-by-side benchmarks against the anchors (NAME=import to pick one)
#   make docs        the documentation site from docs/ into site/ (warnings are errors)
#   make services    find or start every server the integration tests use (needs root for apt)

PYTHON ?= python3
VENV := .venv
BENCH_VENV := .venv-bench
OPENSTACK_VENV := .venv-openstack
STAMP := $(VENV)/.installed
BENCH_STAMP := $(BENCH_VENV)/.installed
OPENSTACK_STAMP := $(OPENSTACK_VENV)/.installed
PIP := python -m pip --disable-pip-version-check --quiet
PYTEST_ARGS ?=
NAME ?= --all

.DEFAULT_GOAL := help
.PHONY: help demo test check docs unit integration bench bench-env openstack-env services lock clean

help:
	@sed -n 's/^#   //p' Makefile

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "anker needs Python 3.11+; run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/$(PIP) install --upgrade 'pip>=25.1'
	$(VENV)/bin/$(PIP) install --constraint constraints.txt --editable '.[all]' --group dev
	@touch $@

$(BENCH_STAMP): pyproject.toml bench/requirements.txt bench/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "anker needs Python 3.11+; run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/$(PIP) install --upgrade 'pip>=25.1'
	$(BENCH_VENV)/bin/$(PIP) install --constraint bench/constraints.txt --editable '.[all]' \
		--requirement bench/requirements.txt
	@touch $@

# Real OpenStack services (nova, keystonemiddleware) with anker, for the tests that validate
# deployed files against their own option declarations (tests/openstack).
$(OPENSTACK_STAMP): pyproject.toml tests/openstack/requirements.txt tests/openstack/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "anker needs Python 3.11+; run make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(OPENSTACK_VENV)
	$(OPENSTACK_VENV)/bin/$(PIP) install --upgrade 'pip>=25.1'
	$(OPENSTACK_VENV)/bin/$(PIP) install --constraint tests/openstack/constraints.txt \
		--editable '.[openstack]' --requirement tests/openstack/requirements.txt
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/anker demo

check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --strict src/

# Sphinx with MyST (why: CONTRIBUTING.md); docs/conf.py generates the API and option reference
# pages into docs/_generated when it builds. -E: every page read afresh, so every warning of
# every page shows on every build, and -W makes each one an error (a broken link, a bad
# docstring).
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -b html -W --keep-going -E -q -d build/docs-doctrees docs site

# The benchmarks' smoke test runs in the bench environment, and the tests of real OpenStack
# files in the OpenStack one, so `test` builds both; CI builds the documentation site too.
test: check docs $(BENCH_STAMP) $(OPENSTACK_STAMP)
	ANKER_BENCH_PYTHON=$(abspath $(BENCH_VENV))/bin/python \
	ANKER_OPENSTACK_PYTHON=$(abspath $(OPENSTACK_VENV))/bin/python \
		$(VENV)/bin/pytest $(PYTEST_ARGS)

# Every test that needs no server: tests/unit, and the conformance suites on the embedded
# drivers (memory://, sqlite://, file://, local://); the rest are marked `integration`.
unit: $(STAMP)
	$(VENV)/bin/pytest -m "not integration" $(PYTEST_ARGS)

integration: $(STAMP)
	$(VENV)/bin/pytest -m integration $(PYTEST_ARGS)

bench-env: $(BENCH_STAMP)

openstack-env: $(OPENSTACK_STAMP)

bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m bench $(NAME)

services:
	scripts/services

# Re-pin every dependency to what resolves today (then commit the two constraints files).
lock:
	rm -rf $(VENV) $(BENCH_VENV) $(OPENSTACK_VENV)
	echo > constraints.txt && echo > bench/constraints.txt && echo > tests/openstack/constraints.txt
	$(MAKE) $(STAMP) $(BENCH_STAMP) $(OPENSTACK_STAMP)
	$(VENV)/bin/$(PIP) freeze --exclude-editable > constraints.txt
	$(BENCH_VENV)/bin/$(PIP) freeze --exclude-editable > bench/constraints.txt
	$(OPENSTACK_VENV)/bin/$(PIP) freeze --exclude-editable > tests/openstack/constraints.txt
	touch $(STAMP) $(BENCH_STAMP) $(OPENSTACK_STAMP)

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(OPENSTACK_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist site docs/_generated
