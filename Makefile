# iotpipe - top-level targets. `make run` and `make test` work on a fresh
# machine: both install what is missing first (make deps). Subsystem
# targets (Kafka, S3, Parquet fuzzing, ...) live in mk/*.mk, included below.
SHELL := /bin/bash
BUILD ?= build
BUILD_ASAN ?= build-asan
VENV ?= .venv
IOTPIPE := $(BUILD)/iotpipe
PYTEST ?= $(VENV)/bin/python -m pytest
GENERATOR := $(shell command -v ninja >/dev/null && echo Ninja || echo "Unix Makefiles")
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: all deps build build-asan test test-unit test-asan test-integration \
        run generate_aws_env percentile_job clean kill_producer kill_processor \
        docs bench-decode bench-produce

all: build

## deps: Debian packages, the Python venv, Kafka and S3Proxy jars (idempotent)
deps:
	bash scripts/deps.sh all

$(BUILD)/build.ninja $(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

## build: the iotpipe binary, unit tests and benchmarks (RelWithDebInfo)
build: $(if $(filter Ninja,$(GENERATOR)),$(BUILD)/build.ninja,$(BUILD)/Makefile)
	cmake --build $(BUILD) -j2

## build-asan: the same under AddressSanitizer + UndefinedBehaviorSanitizer
build-asan:
	cmake -S . -B $(BUILD_ASAN) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=Debug -DIOTPIPE_SANITIZE=ON >/dev/null
	cmake --build $(BUILD_ASAN) -j2

## test-unit: the fast unit tests only (no services)
test-unit: build
	cd $(BUILD) && ctest --output-on-failure -j2

## test-asan: the unit tests under ASan+UBSan
test-asan: build-asan
	cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j2

## test-integration: pytest against real Kafka and S3-compatible servers
test-integration: build
	IOTPIPE_BIN=$(CURDIR)/$(IOTPIPE) $(PYTEST) tests/integration -q -ra $(PYTEST_ARGS)

## test: everything: deps, unit tests (plain and sanitized), integration tests
test: deps
	$(MAKE) test-unit
	$(MAKE) test-asan
	$(MAKE) test-integration

## run: the pipeline on embedded defaults until Ctrl-C (see README)
run: deps build
	bash scripts/run.sh

## generate_aws_env: s3/.env with placeholder values (as the reference)
generate_aws_env:
	@mkdir -p s3
	@if [ -f s3/.env ]; then echo "s3/.env exists; not overwriting"; else \
	  printf '%s\n' \
	    '# S3 settings for iotpipe (AWS conventions). Replace the placeholders.' \
	    'AWS_ACCESS_KEY_ID=your-access-key-id' \
	    'AWS_SECRET_ACCESS_KEY=your-secret-access-key' \
	    'AWS_DEFAULT_REGION=us-east-1' \
	    '# For an S3-compatible server (path-style addressing):' \
	    'AWS_ENDPOINT_URL_S3=http://127.0.0.1:9000' \
	    'BUCKET_NAME=my-parametric-bucket' > s3/.env; \
	  echo "wrote s3/.env (placeholders: edit it)"; fi

## percentile_job: the batch p95 job with the configured locations
percentile_job: build
	@set -a; [ -f s3/.env ] && . s3/.env; set +a; $(IOTPIPE) percentile

## clean: build trees, local output, local services
clean: kill_producer kill_processor
	-bash kafka/local-kafka.sh stop >/dev/null 2>&1
	-[ -f s3/local-s3.sh ] && bash s3/local-s3.sh stop >/dev/null 2>&1
	rm -rf $(BUILD) $(BUILD_ASAN) build-* data

kill_producer:
	@pids=$$(pgrep -f '[i]otpipe produce' || true); \
	if [ -n "$$pids" ]; then echo "stopping iotpipe produce ($$pids)"; kill $$pids; \
	else echo "no iotpipe produce process found"; fi

kill_processor:
	@pids=$$(pgrep -f '[i]otpipe (archive|aggregate|run)' || true); \
	if [ -n "$$pids" ]; then echo "stopping iotpipe streaming jobs ($$pids)"; kill $$pids; \
	else echo "no iotpipe streaming job found"; fi

## docs: regenerate docs/configuration.md from the settings table
docs: build
	$(IOTPIPE) debug config-doc > docs/configuration.md

## bench-decode: decoder ns/event, ours vs jsmn on the same events
bench-decode: build
	$(BUILD)/bench_decode

## bench-produce: iotpipe produce vs Kafka's ProducerPerformance (real Kafka)
bench-produce: deps build
	bash bench/produce.sh

-include mk/*.mk
