# mk/parquet.mk - Parquet codec targets (included by the top Makefile).
#   make fuzz-parquet         libFuzzer + ASan + UBSan on the Parquet reader
#                             for FUZZ_SECONDS (default 300), clang build in
#                             $(BUILD_FUZZ); seeds: fuzz/corpus/parquet and,
#                             when present, ../shared/parquet-testing
#   make bench-parquet        C writer/reader vs pyarrow, 10M raw rows, snappy
# (`make fuzz`, every target, and the FUZZ_SECONDS and BUILD_FUZZ defaults
# are in mk/fuzz.mk.)
PQ_BENCH_ROWS ?= 10000000

.PHONY: fuzz-parquet bench-parquet

## fuzz-parquet: the Parquet reader under libFuzzer+ASan+UBSan for FUZZ_SECONDS
fuzz-parquet:
	bash scripts/deps.sh fuzz
	CC=clang cmake -S . -B $(BUILD_FUZZ) -DIOTPIPE_FUZZ=ON -DIOTPIPE_SANITIZE=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_C_FLAGS=-Wno-unknown-warning-option >/dev/null
	cmake --build $(BUILD_FUZZ) --target fuzz_parquet_reader -j$$(nproc)
	mkdir -p $(BUILD_FUZZ)/corpus-parquet $(BUILD_FUZZ)/artifacts-parquet/
	$(BUILD_FUZZ)/fuzz_parquet_reader -max_total_time=$(FUZZ_SECONDS) \
		-max_len=65536 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
		-artifact_prefix=$(BUILD_FUZZ)/artifacts-parquet/ \
		$(BUILD_FUZZ)/corpus-parquet fuzz/corpus/parquet \
		$(wildcard ../shared/parquet-testing)

bench-parquet: build
	$(BUILD)/bench_parquet bench --rows $(PQ_BENCH_ROWS) --codec snappy
	$(VENV)/bin/python bench/parquet_pyarrow.py --rows $(PQ_BENCH_ROWS)
