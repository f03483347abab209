# bench.mk - every benchmark in one go (included by the top Makefile).
#
#   make bench            all stages, each side by side with its peer in the
#                         same run (real Kafka, local S3Proxy, Spark), then
#                         bench/RESULTS.md and bench/charts/*.png (45-60 min)
#   make bench QUICK=1    small sizes, no Spark (< 10 min): for development
#   make bench BENCH_STAGES="decode parquet"   only these stages (+ report)
#   make bench-report     only regenerate RESULTS.md and the charts from
#                         bench/results/*.tsv
#   make bench-scaling    only the scaling curves (bench/scaling.sh)
# Stages, knobs and what each compares: bench/README.md and bench/run.sh.
QUICK ?= 0
BENCH_STAGES ?=

.PHONY: bench bench-deps bench-report bench-scaling

bench-deps: deps
	bash scripts/deps.sh bench

bench: bench-deps
	QUICK=$(QUICK) bash bench/run.sh $(BENCH_STAGES)

bench-scaling: bench-deps
	QUICK=$(QUICK) bash bench/run.sh scaling

bench-report:
	$(VENV)/bin/python bench/report.py
