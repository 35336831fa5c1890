# gptoss-images: `make help` lists the targets.
PYTHON ?= python3
BUILD := $(PYTHON) build.py
# Build inputs, empty by default (the profile's base image, PyPI, no extra CA):
#   make image-h100 BASE_IMAGE=mirror.local/nvidia/cuda:12.8.1-devel-ubuntu24.04 CA_BUNDLE=corp.pem
BASE_IMAGE ?=
CA_BUNDLE ?=
INDEX_URL ?=
# What `make demo` uses on a machine without registry access: the debootstrap stand-in
# base and the host's CA bundle (containers here need it for PyPI's TLS).
DEMO_INPUTS = BASE_IMAGE=cuda-current=gptoss-test/cuda:13.0.2-base CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
BUILD_FLAGS = $(if $(BASE_IMAGE),--base-image $(BASE_IMAGE)) $(if $(CA_BUNDLE),--ca-bundle $(CA_BUNDLE)) \
	$(if $(INDEX_URL),--index-url $(INDEX_URL))
FAMILY ?= cuda
LINE ?= current
PROFILES = $(shell $(BUILD) list --names --family $(FAMILY) --line $(LINE))

.DEFAULT_GOAL := help
.PHONY: help setup deps compose-cli engine bases render check-render validate lint test unit fuzz runner-space demo images bench nightly

help: ## list the targets
	@grep -hE '^[a-z%-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

deps: ## install the Python dependencies (pip install -e '.[dev]')
	$(PYTHON) -m pip install -q -e '.[dev]'

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
compose-cli: ## Debian's docker-compose, if missing (the compose files' checks; engine installs it too)
	command -v docker-compose >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq docker-compose; }

engine: ## install and start the Docker engine, registry and debootstrap (Debian)
	scripts/start-docker.sh

bases: engine ## make the local stand-in base image (debootstrap + docker import)
	scripts/test-bases.sh

setup: deps bases ## everything the images and tests need, on a fresh Debian machine

render: ## regenerate docker/<profile>/ from profiles/ and templates/
	$(BUILD) render

check-render: ## fail if docker/ is out of date
	$(BUILD) render --check

validate: ## validate every profile
	$(BUILD) validate

lint: ## ruff, hadolint on every Dockerfile, render --check
	$(PYTHON) -m ruff check gptoss_images tests build.py bench
	hadolint docker/*/Dockerfile docker/stacks/*/Dockerfile docker/family/*/Dockerfile
	$(BUILD) render --check

test: setup ## the whole suite: real Docker builds, the pinned vLLM's parser, a real registry
	$(PYTHON) -m pytest -v

GPTOSS_NIGHTLY_EXAMPLES ?= 5000
fuzz: ## the generated-input tests with 5x the suite's examples (the nightly's), not derandomized
	GPTOSS_EXAMPLES=$(GPTOSS_NIGHTLY_EXAMPLES) $(PYTHON) -m pytest -q tests/test_generated_input.py

unit: ## the tests that need no Docker engine and no registry (CI on pull requests)
	$(PYTHON) -m pytest -v -m "not docker and not registry"

runner-space: ## free disk on a hosted CI runner (toolchains this project does not use)
	rm -rf /usr/share/dotnet /usr/local/lib/android /opt/ghc /opt/hostedtoolcache/CodeQL || sudo rm -rf \
	    /usr/share/dotnet /usr/local/lib/android /opt/ghc /opt/hostedtoolcache/CodeQL
	df -h /

NIGHTLY_SETUP ?= setup
nightly: $(NIGHTLY_SETUP) ## the nightly pipeline here: release, GPU check (if a GPU), promote, summary to a local registry
	scripts/nightly.sh

image-%: ## build and smoke-test one image, e.g. make image-b200
	$(BUILD) build $* $(BUILD_FLAGS)

images: ## build and smoke-test every image of FAMILY and LINE (default cuda, current)
	$(BUILD) build $(PROFILES) $(BUILD_FLAGS)

demo: setup ## on this machine: build and smoke-test the h100 image, then run it (command, machine check)
	$(MAKE) image-h100 $(DEMO_INPUTS)
	docker run --rm gptoss-images:gptoss-h100 --dry-run --scenario max-throughput
	-docker run --rm gptoss-images:gptoss-h100 --check

bench: bases ## before/after in one run: cold push, pull and build, the line's CPU, layer sizes; render, launcher
	$(PYTHON) bench/run.py
