#!/usr/bin/env bash
# run.sh - every benchmark in one go (make bench), each stage side by side
# with its peer in the same run, then bench/report.py writes
# bench/RESULTS.md and bench/charts/*.png.
#
#   bench/run.sh                  all stages, full sizes (45-60 min)
#   QUICK=1 bench/run.sh          small sizes, no Spark (< 10 min)
#   bench/run.sh decode parquet   only these stages (then the report)
#
# Stages and their peers (details: bench/README.md):
#   produce     iotpipe produce            vs Kafka ProducerPerformance
#   decode      ev_decode                  vs jsmn + strtod
#   parquet     Parquet write/read         vs pyarrow
#   s3          S3 upload/download         vs boto3 (local S3Proxy)
#   percentile  iotpipe percentile         vs DuckDB, Spark local[2]
#   streaming   archive/aggregate --once   vs kcat, ConsumerPerformance, Spark
#   scaling     archive/aggregate vs devices and partitions, kcat per point
# Each stage writes bench/results/<stage>.tsv (machine-readable, bench/lib.sh)
# and bench/results/<stage>.log (its console output). A failed stage is
# reported and the others still run; the exit status is then 1.
#
# Settings (environment; QUICK=1 changes the defaults in brackets):
#   PRODUCE_N=2000000 [200000]  PRODUCE_ROUNDS=3 [1]
#   DECODE_ROUNDS=20 [5]
#   PARQUET_ROWS=10000000 [1000000]
#   S3_SIZES_MB="8x(8 16 32 64) 64" (1 GiB) [8 8 16 32]  S3_ROUNDS=2 [1]
#   PCT_EVENTS=10000000 [1000000]  PCT_SPARK=spark [nospark]
#   PCT_ROUNDS=3 [1]  PCT_DUCKDB_FORMS= (all DuckDB formulations; the fastest
#                      by median is the peer: bench/percentile.sh)
#   PCT_BIG_EVENTS=100000000 [0]  PCT_BIG_FORMS="list single dedup" (the
#                      fastest three at 10M with DuckDB 2.0.1)  PCT_BIG_SPARK=spark [nospark]:
#                      the second, larger dataset
#   STREAM_EVENTS=10000000 [200000]  STREAM_SPARK_EVENTS=1000000 [0]
#   STREAM_RSS_EVENTS=3000000 [0]  STREAM_RUNS=3 [1] (interleaved rounds;
#                      Spark runs in the first only)
#   SCALING_EVENTS=1000000 [5000]  SCALING_EVENTS_100000= (a smaller N for
#                      the 100,000-device point only; default: try SCALING_EVENTS,
#                      and a tenth of it if a job takes over 600 s)
#   BENCH_PORT=19492   Kafka port of every stage (controller +1); one at a time
#   IOTPIPE_BUILD=build-bench   the Release build measured (rebuilt first,
#                      unless BENCH_NO_BUILD=1: then its binaries as they are)
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. bench/lib.sh

QUICK=${QUICK:-0}
q() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }
PRODUCE_N=${PRODUCE_N:-$(q 2000000 200000)}
PRODUCE_ROUNDS=${PRODUCE_ROUNDS:-$(q 3 1)}
DECODE_ROUNDS=${DECODE_ROUNDS:-$(q 20 5)}
PARQUET_ROWS=${PARQUET_ROWS:-$(q 10000000 1000000)}
S3_SIZES_MB=${S3_SIZES_MB:-$(q "" "8 8 16 32")}
S3_ROUNDS=${S3_ROUNDS:-$(q 2 1)}
PCT_EVENTS=${PCT_EVENTS:-$(q 10000000 1000000)}
PCT_SPARK=${PCT_SPARK:-$(q spark nospark)}
PCT_ROUNDS=${PCT_ROUNDS:-$(q 3 1)}
PCT_DUCKDB_FORMS=${PCT_DUCKDB_FORMS:-}
PCT_BIG_EVENTS=${PCT_BIG_EVENTS:-$(q 100000000 0)}
PCT_BIG_FORMS=${PCT_BIG_FORMS:-list single dedup}
PCT_BIG_SPARK=${PCT_BIG_SPARK:-$(q spark nospark)}
STREAM_EVENTS=${STREAM_EVENTS:-$(q 10000000 200000)}
STREAM_SPARK_EVENTS=${STREAM_SPARK_EVENTS:-$(q 1000000 0)}
STREAM_RSS_EVENTS=${STREAM_RSS_EVENTS:-$(q 3000000 0)}
STREAM_RUNS=${STREAM_RUNS:-$(q 3 1)}
SCALING_EVENTS=${SCALING_EVENTS:-$(q 1000000 5000)}
BENCH_PORT=${BENCH_PORT:-19492}
IOTPIPE_BUILD=${IOTPIPE_BUILD:-build-bench}
PY=$ROOT/.venv/bin/python
RES=$ROOT/bench/results
SCRATCH=${SCRATCH:-/tmp/iotpipe-bench-$$}
STAGES=("$@")
[ "${#STAGES[@]}" -gt 0 ] || STAGES=(produce decode parquet s3 percentile streaming scaling)

say() { echo "bench: $*" >&2; }

# --- the measured build (Release, as streaming.sh) ----------------------------
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
	cmake -S . -B "$IOTPIPE_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_C_FLAGS=-Wno-error=maybe-uninitialized >/dev/null || exit 1
	ninja -C "$IOTPIPE_BUILD" iotpipe bench_decode bench_parquet bench_store >/dev/null || exit 1
fi
BIN=$ROOT/$IOTPIPE_BUILD/iotpipe
mkdir -p "$RES" "$SCRATCH"
trap 'rm -rf "$SCRATCH"' EXIT

# --- stages: each writes $BENCH_TSV (fresh) and prints its log ---------------------
stage_produce() {
	N=$PRODUCE_N ROUNDS=$PRODUCE_ROUNDS IOTPIPE_BIN=$BIN BENCH_KAFKA_PORT=$BENCH_PORT \
		bash bench/produce.sh
}

stage_decode() {
	/usr/bin/time -f %M -o "$SCRATCH/decode.time" "$IOTPIPE_BUILD/bench_decode" "$DECODE_ROUNDS" \
		| tee "$SCRATCH/decode.out" || return 1
	local n rss ours theirs
	n=$(awk '/^events:/ { print $2 * $4 }' "$SCRATCH/decode.out")
	rss=$(($(cat "$SCRATCH/decode.time") / 1024))
	ours=$(sed -n 's/^iotpipe ev_decode.* \([0-9.]*\) ns\/event.*/\1/p' "$SCRATCH/decode.out")
	theirs=$(sed -n 's/^jsmn.* \([0-9.]*\) ns\/event.*/\1/p' "$SCRATCH/decode.out")
	local cmd="$IOTPIPE_BUILD/bench_decode $DECODE_ROUNDS" note
	note="same events in one process ($rss MB peak for both), $ours vs $theirs ns/event; $(load_note)"
	tsv_row decode "iotpipe ev_decode (validating)" iotpipe "$n" events \
		"$(awk -v n="$n" -v ns="$ours" 'BEGIN { print n * ns / 1e9 }')" "$rss" "$cmd" "$note"
	tsv_row decode "jsmn + strtod" peer "$n" events \
		"$(awk -v n="$n" -v ns="$theirs" 'BEGIN { print n * ns / 1e9 }')" "$rss" "$cmd" "$note"
}

stage_parquet() {
	/usr/bin/time -f %M -o "$SCRATCH/pq.time" "$IOTPIPE_BUILD/bench_parquet" bench \
		--rows "$PARQUET_ROWS" --codec snappy --dir "$SCRATCH" | tee "$SCRATCH/pq.out" || return 1
	/usr/bin/time -f %M -o "$SCRATCH/pa.time" "$PY" bench/parquet_pyarrow.py \
		--rows "$PARQUET_ROWS" --dir "$SCRATCH" | tee "$SCRATCH/pa.out" || return 1
	local rss_pq rss_pa load
	rss_pq=$(($(cat "$SCRATCH/pq.time") / 1024))
	rss_pa=$(($(cat "$SCRATCH/pa.time") / 1024))
	load=$(load_note)
	# "... write W s wall, C s cpu (...)  read W s wall, C s cpu (...)": cpu seconds
	local line tool side cmd variant
	while read -r line; do
		case $line in
		"iotpipe row-api"*) tool="iotpipe Parquet (row API)"; side=iotpipe; variant=iotpipe ;;
		"iotpipe batch-api"*) tool="iotpipe Parquet (batch API)"; side=other; variant=iotpipe ;;
		pyarrow*defaults*) tool="pyarrow $(awk '{print $2}' <<<"$line") (defaults)"; side=peer; variant=pyarrow ;;
		pyarrow*dict=status*) tool="pyarrow (dictionary on status only)"; side=other; variant=pyarrow ;;
		*) continue ;;
		esac
		if [ "$variant" = iotpipe ]; then
			cmd="$IOTPIPE_BUILD/bench_parquet bench --rows $PARQUET_ROWS --codec snappy"
			rss=$rss_pq
		else
			cmd="python bench/parquet_pyarrow.py --rows $PARQUET_ROWS"
			rss=$rss_pa
		fi
		local wcpu rcpu
		wcpu=$(sed -n 's/.* write [0-9.]* s wall, \([0-9.]*\) s cpu.*/\1/p' <<<"$line")
		rcpu=$(sed -n 's/.* read [0-9.]* s wall, \([0-9.]*\) s cpu.*/\1/p' <<<"$line")
		tsv_row parquet-write "$tool" "$side" "$PARQUET_ROWS" rows "$wcpu" "$rss" "$cmd" \
			"cpu seconds, 1 thread, snappy, raw-event schema; RSS of the whole write+read process; $load"
		tsv_row parquet-read "$tool" "$side" "$PARQUET_ROWS" rows "$rcpu" "$rss" "$cmd" \
			"cpu seconds, 1 thread, every column; RSS of the whole write+read process; $load"
	done < <(cat "$SCRATCH/pq.out" "$SCRATCH/pa.out")
}

stage_s3() {
	BUILD=$IOTPIPE_BUILD ROUNDS=$S3_ROUNDS SIZES_MB=$S3_SIZES_MB bash bench/s3_bench.sh
}

# percentile_size EVENTS FORMS SPARK: one dataset size (generated once)
percentile_size() {
	local n=$1 raw=$ROOT/.cache/bench/pct-$1 devices days=30
	devices=$((n / 100000))
	[ "$devices" -ge 1 ] || devices=1
	if [ ! -f "$raw/.complete" ]; then
		rm -rf "$raw"
		say "generating $n events ($devices devices x $days days) into $raw"
		"$PY" bench/percentile_gen.py "$raw" "$n" "$devices" "$days" || return 1
		touch "$raw/.complete"
	fi
	local rows
	rows=$("$PY" -c 'import sys, glob, pyarrow.parquet as pq
print(sum(pq.ParquetFile(f).metadata.num_rows for f in glob.glob(sys.argv[1] + "/*/*.parquet")))' "$raw")
	ROWS=$rows IOTPIPE_BIN=$BIN ROUNDS=$PCT_ROUNDS DUCKDB_FORMS=$2 \
		bash bench/percentile.sh "$raw" 2 "$3"
}

stage_percentile() {
	percentile_size "$PCT_EVENTS" "$PCT_DUCKDB_FORMS" "$PCT_SPARK" || return 1
	if [ "$PCT_BIG_EVENTS" != 0 ]; then
		percentile_size "$PCT_BIG_EVENTS" "$PCT_BIG_FORMS" "$PCT_BIG_SPARK"
	fi
}

stage_streaming() {
	EVENTS=$STREAM_EVENTS SPARK_EVENTS=$STREAM_SPARK_EVENTS RSS_EVENTS=$STREAM_RSS_EVENTS \
		RUNS=$STREAM_RUNS PORT=$BENCH_PORT KDATA=$SCRATCH/kafka WORK=$SCRATCH/streaming \
		IOTPIPE=$BIN bash bench/streaming.sh
}

stage_scaling() {
	# its own table format (bench/scaling.sh), not lib.sh's
	EVENTS=$SCALING_EVENTS EVENTS_100000=${SCALING_EVENTS_100000:-} PORT=$BENCH_PORT KDATA=$SCRATCH/kafka WORK=$SCRATCH/scaling \
		IOTPIPE=$BIN bash bench/scaling.sh "$BENCH_TSV"
}

FAILED=()
for s in "${STAGES[@]}"; do
	declare -F "stage_$s" >/dev/null || { say "unknown stage $s"; exit 2; }
	tsv=$RES/$s.tsv
	rm -f "$tsv.new"
	say "stage $s ($(date -u +%T) UTC, $(uptime | sed 's/.*load average: /load /'))"
	start=$(date +%s)
	{
		echo "# bench/run.sh stage $s, QUICK=$QUICK, $(date -u +%FT%TZ), iotpipe" \
			"$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' + uncommitted src changes')," \
			"$(nproc) cores, $(uptime | sed 's/.*load average: /load /')"
		BENCH_TSV=$tsv.new "stage_$s" 2>&1
	} > >(tee "$RES/$s.log") 2>&1
	rc=$?
	wait
	if [ "$rc" = 0 ] && [ -s "$tsv.new" ]; then
		mv "$tsv.new" "$tsv"
		say "stage $s done in $(($(date +%s) - start)) s"
	else
		rm -f "$tsv.new"
		FAILED+=("$s")
		say "stage $s FAILED (exit $rc; see bench/results/$s.log); its previous results are kept"
	fi
done

"$PY" bench/report.py || FAILED+=(report)
if [ "${#FAILED[@]}" -gt 0 ]; then
	say "failed: ${FAILED[*]}"
	exit 1
fi
