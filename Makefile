# iotpipe - top-level targets. `make run` and `make test` work on a fresh
# machine: both install what is missing first (make deps).
# Subsystem targets live in mk/*.mk, included below.
SHELL := /bin/bash
BUILD ?= build
BUILD_ASAN ?= build-asan
VENV ?= .venv
IOTPIPE := $(BUILD)/iotpipe
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: all build deps test test-unit clean
all: build

-include mk/*.mk
