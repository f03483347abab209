# mk/fuzz.mk - fuzzing (included by the top Makefile).
#   make fuzz            every libFuzzer target in turn, FUZZ_SECONDS each:
#                        fuzz-parquet (mk/parquet.mk), fuzz-decode, fuzz-config,
#                        fuzz-hive
#   make fuzz-decode     the JSON event decoder (fuzz/fuzz_decode.c)
#   make fuzz-config     the YAML config loader (fuzz/fuzz_config.c)
#   make fuzz-hive       the key -> Hive path -> key round trip (fuzz/fuzz_hive.c)
# All run under ASan+UBSan in a clang build in $(BUILD_FUZZ). Seeds come from
# fuzz/corpus/<target>/ (small, committed); what the fuzzer learns goes to
# $(BUILD_FUZZ)/corpus-<target>/ and crashes to $(BUILD_FUZZ)/artifacts-<target>/.
# A crash file replays with: $(BUILD_FUZZ)/fuzz_decode FILE. The committed
# corpora are also replayed by every `make test` (ctest fuzz_replay).
# FUZZ_SECONDS and BUILD_FUZZ are shared with fuzz-parquet (mk/parquet.mk).
FUZZ_SECONDS ?= 300
BUILD_FUZZ ?= build-fuzz
FUZZ_FLAGS ?= -rss_limit_mb=2048 -timeout=10 -print_final_stats=1

.PHONY: fuzz fuzz-build fuzz-decode fuzz-config fuzz-hive

## fuzz: every fuzz target (parquet, decode, config, hive), FUZZ_SECONDS (default 300) each, ASan+UBSan
fuzz: fuzz-parquet fuzz-decode fuzz-config fuzz-hive

fuzz-build:
	bash scripts/deps.sh fuzz
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DIOTPIPE_FUZZ=ON -DIOTPIPE_SANITIZE=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_C_FLAGS=-Wno-unknown-warning-option >/dev/null
	cmake --build $(BUILD_FUZZ) --target fuzz_decode fuzz_config fuzz_hive -j$$(nproc)

# $(1): target name (decode, config); $(2): extra libFuzzer flags
define fuzz_run
	mkdir -p $(BUILD_FUZZ)/corpus-$(1) $(BUILD_FUZZ)/artifacts-$(1)/
	$(BUILD_FUZZ)/fuzz_$(1) -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) $(2) \
		-artifact_prefix=$(BUILD_FUZZ)/artifacts-$(1)/ \
		$(BUILD_FUZZ)/corpus-$(1) fuzz/corpus/$(1)
endef

## fuzz-decode: the JSON event decoder under libFuzzer+ASan+UBSan for FUZZ_SECONDS
fuzz-decode: fuzz-build
	$(call fuzz_run,decode,-max_len=4096 -dict=fuzz/json.dict)

## fuzz-config: the YAML config loader under libFuzzer+ASan+UBSan for FUZZ_SECONDS
fuzz-config: fuzz-build
	$(call fuzz_run,config,-max_len=8192 -dict=fuzz/yaml.dict)

## fuzz-hive: the key -> Hive path -> key round trip under libFuzzer+ASan+UBSan for FUZZ_SECONDS
# (keys are at most a few hundred bytes; longer inputs only slow it down)
fuzz-hive: fuzz-build
	$(call fuzz_run,hive,-max_len=1024)
