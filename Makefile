# Build, test and demo the Redis charm. Everything a fresh Debian or Ubuntu
# machine lacks is installed by the targets themselves (as root).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHARM := build/redis
# Host packages: the unit's Python modules from the archive (the local model's
# units use the host's Python), Redis itself, what the local model runs on (gcc
# builds its hook-tool client; pip vendors the ops test charm).
APT_PACKAGES := python3 python3-venv python3-yaml python3-jinja2 redis-server redis-tools \
	util-linux procps iproute2 git make gcc libc6-dev python3-pip python3-cryptography openssl \
	prometheus-redis-exporter nagios-nrpe-server nagios-nrpe-plugin
BUILD_ENV := CHARM_LAYERS_DIR=$(CURDIR)/layers CHARM_INTERFACES_DIR=$(CURDIR)/interfaces \
	CHARM_HIDE_METRICS=1 LAYER_PATH=$(CURDIR)/layers INTERFACE_PATH=$(CURDIR)/interfaces

.PHONY: all build charm-tree pack test test-shuffle unit lint demo clean deps mutation mutation-report

all: build

$(BIN)/.installed: requirements/dev.txt requirements/dev-constraints.txt
	tools/ensure-apt-packages $(APT_PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements/dev.txt -c requirements/dev-constraints.txt
	touch $@

deps: $(BIN)/.installed

# What a unit needs, and all the charm carries from this repository: charm-build
# copies whatever sits at the top of the layer it builds, so it builds from a
# staged copy of these (without bytecode) and caches, venvs or notes lying in
# the repository never reach the charm. The layers and interfaces come from
# layers/ and interfaces/ through BUILD_ENV.
CHARM_SOURCES := README.md copyright config.yaml metadata.yaml layer.yaml reactive lib templates \
	$(wildcard actions.yaml actions hooks)

build: deps
	$(MAKE) --no-print-directory charm-tree
	$(BIN)/python tools/build_wheelhouse.py requirements/wheelhouse.txt $(CHARM)/wheelhouse

# The built charm without its wheelhouse. charm-build refuses an output
# directory inside the source tree, so it builds in a temporary directory and
# the result is moved to build/redis.
charm-tree:
	rm -rf $(CHARM) && mkdir -p build
	out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && mkdir "$$out/redis" && \
	  tar --exclude=__pycache__ --exclude='*.pyc' -cf - $(CHARM_SOURCES) | tar -xf - -C "$$out/redis" && \
	  (cd "$$out/redis" && $(BUILD_ENV) $(abspath $(BIN))/charm-build --log-level WARNING -o "$$out/build" .) && \
	  mv "$$out/build/redis" $(CHARM)
	# charm-build copies the base layers' directories whole, bytecode included.
	find $(CHARM) \( -name __pycache__ -o -name '*.pyc' \) -prune -exec rm -rf {} +
	git rev-parse --short HEAD > $(CHARM)/version 2>/dev/null || rm -f $(CHARM)/version

# A .charm archive (with manifest.yaml) for `juju deploy ./build/redis.charm`.
pack: build
	$(BIN)/python tools/pack.py $(CHARM) build/redis.charm

# The unit tests on the Pythons of Ubuntu 22.04 and 24.04 (3.10, 3.12; on .venv's where one is
# missing), then every other test on .venv's Python.
test: build lint
	tools/test-unit-pythons
	$(BIN)/pytest -q tests --ignore=tests/unit

# The integration tests with every model's hooks in an order drawn from SEED (LOCALJUJU_SHUFFLE):
# `make test-shuffle SEED=3`.
SEED ?= 1
test-shuffle: build
	$(BIN)/pytest -q tests/integration --shuffle=$(SEED)

unit: deps
	$(BIN)/pytest -q tests/unit

# Mutation testing: mutmut changes the charm's code (lib/, reactive/, interfaces/,
# layers/) one small change at a time, in place, and runs the unit tests that
# cover the changed file (mutmut_config.py). Prints every surviving mutant and
# the score; fails below 90 % killed or when a survivor is not explained in
# mutmut-equivalent.txt. Do not interrupt it with SIGKILL: the file being
# mutated is restored only when mutmut ends.
# Mutation testing by MUTATION_JOBS parallel workers, each in its own copy of the
# tree; PATHS (files or directories) picks a subset, e.g.
#   make mutation PATHS="lib/charms/layer/redis/cluster/plan.py reactive"
# Results are kept per file in .mutation-cache/; FRESH=1 starts from nothing.
MUTATION_JOBS ?= 4
PATHS ?=
FRESH ?=
mutation: deps
	$(BIN)/python tools/mutation_run.py --jobs $(MUTATION_JOBS) $(if $(FRESH),--fresh) $(PATHS)

# The report of the results kept in .mutation-cache/, running nothing: one score for the whole code
# after runs that each measured a part of it.
mutation-report: deps
	$(BIN)/python tools/mutation_run.py --report $(PATHS)

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: build
	tests/localjuju/demo.sh $(CURDIR)/$(CHARM) $(CURDIR)/tests/charms/redis-client

clean:
	rm -rf build .cache $(VENV) .localjuju .mutation-cache
