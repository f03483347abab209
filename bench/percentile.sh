#!/usr/bin/env bash
# The percentile benchmark: iotpipe percentile, DuckDB (the same logic in
# SQL, every formulation in bench/percentile_duckdb.py) and Spark local[N]
# (the reference's logic) on the same files, with the same thread count,
# one after the other in one run; wall time and peak RSS of the process tree
# (bench/percentile_rss.py under /usr/bin/time -v).
#
# usage: bench/percentile.sh RAW_DIR [THREADS] [spark|nospark]
#   RAW_DIR: made by bench/percentile_gen.py (e.g. .cache/bench/raw)
# ROUNDS (3): rounds of iotpipe and every DuckDB formulation, interleaved
#   (round 1: iotpipe, join, window, ...; round 2: ...), so that a change of
#   the shared machine's load hits every tool alike; Spark runs once.
# DUCKDB_FORMS (all, `percentile_duckdb.py --list`): the formulations to run.
# The DuckDB peer is the formulation with the lowest median wall time; every
# formulation's output must equal iotpipe's (bench/percentile_compare.py),
# else the run fails.
# With BENCH_TSV=FILE and ROWS=<rows in RAW_DIR>, also appends one row per
# measurement (bench/lib.sh): side "iotpipe", "peer" for the fastest DuckDB
# formulation and Spark, "peer-other" for the other formulations (listed in
# RESULTS.md's measurements, not in its summary).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROWS=${ROWS:-0}
RAW=${1:?usage: bench/percentile.sh RAW_DIR [THREADS] [spark|nospark]}
THREADS=${2:-2}
SPARK=${3:-spark}
ROUNDS=${ROUNDS:-3}
BIN=${IOTPIPE_BIN:-build/iotpipe}
PY=.venv/bin/python
# the DuckDB peer: the newest release, in its own venv (scripts/deps.sh
# bench); the tests' pinned DuckDB when that venv is missing
DPY=${DUCKDB_PY:-.cache/bench/duckdb-venv/bin/python}
[ -x "$DPY" ] || DPY=$PY
OUT=${PCT_OUT:-.cache/bench/out}   # the outputs and logs of the tools
mkdir -p "$OUT"
FORMS=${DUCKDB_FORMS:-$("$PY" bench/percentile_duckdb.py --list)}
DUCKDB_VERSION=$("$DPY" -c 'import duckdb; print(duckdb.__version__)')
FILES=$(find -L "$RAW" -name '*.parquet' | wc -l)
MEAS=$OUT/measurements.tsv   # name, seconds, rss_mb, command, note
: >"$MEAS"

measure() { # name, command...
	local name=$1; shift
	/usr/bin/time -v "$PY" bench/percentile_rss.py "$@" > "$OUT/$name.log" 2>&1 ||
		{ tail -20 "$OUT/$name.log"; exit 1; }
	local wall rss tree secs
	wall=$(grep 'Elapsed (wall clock)' "$OUT/$name.log" | awk '{print $NF}')
	rss=$(grep 'Maximum resident set size' "$OUT/$name.log" | awk '{print $NF}')
	tree=$(grep '^tree:' "$OUT/$name.log" | sed 's/.*peak tree RSS \([0-9]*\) MB.*/\1/')
	# time -v: the largest single process; tree: the sum over the process
	# tree (PySpark's JVM is a grandchild that time -v does not see)
	printf '%-16s wall %10s   peak RSS %6d MB (largest process), %6s MB (process tree)\n' \
		"$name" "$wall" $((rss / 1024)) "$tree"
	secs=$(sed -n 's/^tree: wall \([0-9.]*\) s.*/\1/p' "$OUT/$name.log")
	local how=""
	if [ "$name" = spark ]; then
		# Spark's time is its job's (spark: X s), without the JVM and the
		# session start-up, which a Spark user pays once per cluster
		how="seconds: the job only, without JVM and session start-up; whole process $secs s; "
		# (not anchored: Spark's progress bar ends in \r on the same line)
		secs=$(sed -n 's/.*spark: \([0-9.]*\) s (excluding.*/\1/p' "$OUT/$name.log")
		[ -n "$secs" ] || { echo "no 'spark: N s' line in $OUT/$name.log" >&2; exit 1; }
	fi
	printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$secs" "$tree" "$(basename "$1") ${*:2}" \
		"$how$THREADS threads, $FILES files; RSS of the process tree; $(load_note)" >>"$MEAS"
}

median() { # name: median seconds of its rounds
	awk -F'\t' -v n="$1" '$1 == n { print $2 }' "$MEAS" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo "dataset: $RAW ($(du -shL "$RAW" | cut -f1), $FILES files, $ROWS rows), threads $THREADS, $(nproc) cores, $ROUNDS rounds, DuckDB $DUCKDB_VERSION formulations: $FORMS"
echo "load: $(uptime)"
cat "$RAW"/*/*.parquet > /dev/null  # warm the page cache for everyone alike
for r in $(seq 1 "$ROUNDS"); do
	echo "round $r"
	measure iotpipe "$BIN" percentile --input "$RAW" --output "$OUT/iotpipe.csv" \
		--threads "$THREADS" --metrics-addr off --log-level warn
	for f in $FORMS; do
		measure "duckdb-$f" "$DPY" bench/percentile_duckdb.py "$RAW" "$OUT/duckdb-$f.csv" "$THREADS" 200 "$f"
	done
done
if [ "$SPARK" = spark ]; then
	rm -rf "$OUT/spark"
	measure spark "$PY" bench/percentile_spark.py "$RAW" "$OUT/spark" "$THREADS"
fi

# every output must equal iotpipe's
bad=0
for f in $FORMS; do
	cmp=$("$PY" bench/percentile_compare.py "$OUT/iotpipe.csv" "$OUT/duckdb-$f.csv")
	echo "$cmp"
	case $cmp in *", 0 differ") ;; *) bad=1 ;; esac
done
if [ "$SPARK" = spark ]; then
	"$PY" bench/percentile_compare.py "$OUT/iotpipe.csv" "$OUT/spark"
fi
[ "$bad" = 0 ] || { echo "a DuckDB formulation differs from iotpipe: no peer chosen" >&2; exit 1; }

best= best_s=
echo "medians over $ROUNDS rounds:"
for n in iotpipe $(printf 'duckdb-%s ' $FORMS); do
	m=$(median "$n")
	printf '  %-16s %8.2f s\n' "$n" "$m"
	case $n in duckdb-*)
		if [ -z "$best" ] || awk -v a="$m" -v b="$best_s" 'BEGIN { exit !(a < b) }'; then
			best=${n#duckdb-} best_s=$m
		fi ;;
	esac
done
ours=$(median iotpipe)
echo "DuckDB peer: the fastest formulation, $best ($best_s s); iotpipe $ours s:" \
	"$(awk -v a="$best_s" -v b="$ours" 'BEGIN { printf "%.1fx", a / b }')"

while IFS=$'\t' read -r name secs rss cmd note; do
	case $name in
	iotpipe) tsv_row percentile "iotpipe percentile" iotpipe "$ROWS" rows "$secs" "$rss" "$cmd" "$note" ;;
	spark) tsv_row percentile "Spark local[$THREADS]" peer "$ROWS" rows "$secs" "$rss" "$cmd" "$note" ;;
	duckdb-"$best") tsv_row percentile "DuckDB $DUCKDB_VERSION ($best)" peer "$ROWS" rows "$secs" "$rss" "$cmd" \
		"fastest of the formulations ($FORMS) by median; $note" ;;
	duckdb-*) tsv_row percentile "DuckDB $DUCKDB_VERSION (${name#duckdb-})" peer-other "$ROWS" rows "$secs" "$rss" "$cmd" \
		"not the fastest formulation; $note" ;;
	esac
done <"$MEAS"
