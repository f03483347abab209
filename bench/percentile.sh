#!/usr/bin/env bash
# The percentile benchmark: iotpipe percentile, DuckDB (the same logic in
# one query) and Spark local[N] (the reference's logic) on the same files,
# with the same thread count, one after the other in one run; wall time and
# peak RSS from /usr/bin/time -v. Results go to bench/results/ by hand.
#
# usage: bench/percentile.sh RAW_DIR [THREADS] [spark|nospark]
#   RAW_DIR: made by bench/percentile_gen.py (e.g. .cache/bench/raw)
# With BENCH_TSV=FILE and ROWS=<rows in RAW_DIR>, also appends one row per
# tool (bench/lib.sh): wall time and peak RSS of the whole process tree.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROWS=${ROWS:-0}
RAW=${1:?usage: bench/percentile.sh RAW_DIR [THREADS] [spark|nospark]}
THREADS=${2:-2}
SPARK=${3:-spark}
BIN=${IOTPIPE_BIN:-build/iotpipe}
PY=.venv/bin/python
OUT=.cache/bench/out
mkdir -p "$OUT"

measure() { # name, side, command...
	local name=$1 side=$2; shift 2
	/usr/bin/time -v "$PY" bench/percentile_rss.py "$@" > "$OUT/$name.log" 2>&1 ||
		{ tail -20 "$OUT/$name.log"; exit 1; }
	local wall rss tree
	wall=$(grep 'Elapsed (wall clock)' "$OUT/$name.log" | awk '{print $NF}')
	rss=$(grep 'Maximum resident set size' "$OUT/$name.log" | awk '{print $NF}')
	tree=$(grep '^tree:' "$OUT/$name.log" | sed 's/.*peak tree RSS \([0-9]*\) MB.*/\1/')
	# time -v: the largest single process; tree: the sum over the process
	# tree (PySpark's JVM is a grandchild that time -v does not see)
	printf '%-8s wall %10s   peak RSS %6d MB (largest process), %6s MB (process tree)\n' \
		"$name" "$wall" $((rss / 1024)) "$tree"
	local secs tool
	secs=$(sed -n 's/^tree: wall \([0-9.]*\) s.*/\1/p' "$OUT/$name.log")
	case $name in
	iotpipe) tool="iotpipe percentile" ;;
	duckdb) tool="DuckDB $("$PY" -c 'import duckdb; print(duckdb.__version__)')" ;;
	spark) tool="Spark local[$THREADS]" ;;
	esac
	tsv_row percentile "$tool" "$side" "$ROWS" rows "$secs" "$tree" \
		"$(basename "$1") ${*:2}" \
		"$THREADS threads, $(find -L "$RAW" -name '*.parquet' | wc -l) files; RSS of the process tree; $(load_note)"
}

echo "dataset: $RAW ($(du -shL "$RAW" | cut -f1), $(find -L "$RAW" -name '*.parquet' | wc -l) files), threads $THREADS, $(nproc) cores"
cat "$RAW"/*/*.parquet > /dev/null  # warm the page cache for everyone alike
measure iotpipe iotpipe "$BIN" percentile --input "$RAW" --output "$OUT/iotpipe.csv" \
	--threads "$THREADS" --metrics-addr off --log-level warn
measure duckdb peer "$PY" bench/percentile_duckdb.py "$RAW" "$OUT/duckdb.csv" "$THREADS"
if [ "$SPARK" = spark ]; then
	rm -rf "$OUT/spark"
	measure spark peer "$PY" bench/percentile_spark.py "$RAW" "$OUT/spark" "$THREADS"
fi
"$PY" bench/percentile_compare.py "$OUT/iotpipe.csv" "$OUT/duckdb.csv" \
	$([ "$SPARK" = spark ] && echo "$OUT/spark")
