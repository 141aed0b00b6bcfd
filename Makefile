# Build, test and demo the Redis charm. Everything a fresh Debian or Ubuntu
# machine lacks is installed by the targets themselves (as root).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHARM := build/redis
# Host packages: the unit's Python modules from the archive (the local model's
# units use the host's Python), Redis itself, and what the local model runs on.
APT_PACKAGES := python3 python3-venv python3-yaml python3-jinja2 redis-server redis-tools \
	util-linux procps iproute2 git make
BUILD_ENV := CHARM_LAYERS_DIR=$(CURDIR)/layers CHARM_INTERFACES_DIR=$(CURDIR)/interfaces \
	CHARM_HIDE_METRICS=1 LAYER_PATH=$(CURDIR)/layers INTERFACE_PATH=$(CURDIR)/interfaces

.PHONY: all build pack test test-shuffle unit lint demo clean deps

all: build

$(BIN)/.installed: requirements/dev.txt requirements/dev-constraints.txt
	tools/ensure-apt-packages $(APT_PACKAGES)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements/dev.txt -c requirements/dev-constraints.txt
	touch $@

deps: $(BIN)/.installed

# charm-build refuses an output directory inside the source tree, so it builds
# in a temporary directory and the result is moved to build/redis.
build: deps
	rm -rf $(CHARM) && mkdir -p build
	out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	  $(BUILD_ENV) $(BIN)/charm-build --log-level WARNING -o "$$out" . && \
	  mv "$$out/redis" $(CHARM)
	$(BIN)/python tools/build_wheelhouse.py requirements/wheelhouse.txt $(CHARM)/wheelhouse

# A .charm archive (with manifest.yaml) for `juju deploy ./build/redis.charm`.
pack: build
	$(BIN)/python tools/pack.py $(CHARM) build/redis.charm

# The unit tests on the Pythons of Ubuntu 22.04 and 24.04 (3.10, 3.12), then everything.
test: build lint
	tools/test-unit-pythons
	$(BIN)/pytest -q tests

# The integration tests with every model's hooks in an order drawn from SEED (LOCALJUJU_SHUFFLE):
# `make test-shuffle SEED=3`.
SEED ?= 1
test-shuffle: build
	$(BIN)/pytest -q tests/integration --shuffle=$(SEED)

unit: deps
	$(BIN)/pytest -q tests/unit

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: build
	tests/localjuju/demo.sh $(CURDIR)/$(CHARM) $(CURDIR)/tests/charms/redis-client

clean:
	rm -rf build .cache $(VENV) .localjuju
