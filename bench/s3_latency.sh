#!/usr/bin/env bash
# s3_latency.sh - issue 18: the jobs against S3 with realistic latency.
# Real S3 answers a small PUT in 20-100 ms, the local S3Proxy in about 1 ms;
# a proxy in front of S3Proxy (tests/integration/fixtures/faultproxy.py)
# adds a fixed latency to every request. In one run:
#   aggregate  `aggregate --once`, reference layout (one object per
#              device-minute), into S3 through the proxy at 0 ms and at
#              LATENCY_MS: objects written / wall seconds
#   archive    `archive --once` of the same topic, the same way
#   percentile `percentile --threads 2` over that archive, through the
#              proxy at 0 ms and at LATENCY_MS: files read / wall seconds
# Workload (the issue's): EVENTS events from DEVICES devices over SPAN
# seconds of event time, 4 partitions, on the local real Kafka.
# The row at LATENCY_MS is "iotpipe", the row at 0 ms its "peer", so the
# ratio in RESULTS.md is (rate at LATENCY_MS) / (rate at 0 ms): the goals
# are >= 0.8 for aggregate and archive, >= 0.5 for percentile.
#
# usage: bench/s3_latency.sh
# Settings (environment):
#   EVENTS=200000 DEVICES=2000 SPAN=600 LATENCY_MS=40 RUNS=1
#   PORT=19592            Kafka port (controller PORT+1), data in KDATA
#   KDATA=/tmp/kbench-s3lat  WORK=/tmp/iotpipe-s3lat-bench (both wiped)
#   IOTPIPE=build/iotpipe  BENCH_TSV= (bench/lib.sh)
#   IOTPIPE_S3_MAX_INFLIGHT  passed through (default 64)
#   JOBS="aggregate archive"  the streaming jobs to run (percentile reads
#                         the archive of the 0 ms run, so needs archive)
#   LOG_LEVEL=info        the jobs' --log-level (debug: commit round times)
#   KEEP=0                1: leave the logs in WORK
#   TRACE=0               1: each proxy writes one line per request to
#                         WORK/proxy-<ms>.trace (faultproxy.py --trace; with
#                         KEEP=1, for counting a job's round trips)
# Needs: java 17, kcat-free; GNU time (/usr/bin/time) for the peak RSS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. bench/lib.sh

EVENTS=${EVENTS:-200000}
DEVICES=${DEVICES:-2000}
SPAN=${SPAN:-600}
LATENCY_MS=${LATENCY_MS:-40}
RUNS=${RUNS:-1}
PORT=${PORT:-19592}
KDATA=${KDATA:-/tmp/kbench-s3lat}
WORK=${WORK:-/tmp/iotpipe-s3lat-bench}
IOTPIPE=${IOTPIPE:-$ROOT/build/iotpipe}
JOBS=${JOBS:-aggregate archive}
LOG_LEVEL=${LOG_LEVEL:-info}
KEEP=${KEEP:-0}
TRACE=${TRACE:-0}
PY=${PYTHON:-$ROOT/.venv/bin/python}
B=127.0.0.1:$PORT
TOPIC=lat
REV="$(git rev-parse --short HEAD)"

say() { echo "s3_latency.sh: $*" >&2; }
kafka() { KAFKA_PORT=$PORT KAFKA_CONTROLLER_PORT=$((PORT + 1)) KAFKA_DATA_DIR=$KDATA \
	bash kafka/local-kafka.sh "$@"; }
free_port() { "$PY" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

rm -rf "$WORK"
mkdir -p "$WORK"
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	kafka stop >/dev/null 2>&1 || true
	rm -rf "$KDATA"
	[ "$KEEP" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT

# --- S3Proxy and the latency proxies ----------------------------------------
S3PORT=$(free_port)
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
unset AWS_ENDPOINT_URL ENDPOINT_URL AWS_SESSION_TOKEN || true
S3PROXY_PORT=$S3PORT S3PROXY_DATA=$WORK/s3data S3PROXY_HEAP=1g \
	S3PROXY_CACHE=$ROOT/.cache/s3proxy bash s3/local-s3.sh props "$WORK/props"
S3PROXY_HEAP=1g bash s3/local-s3.sh run "$WORK/props" >"$WORK/s3proxy.log" 2>&1 &
PIDS+=($!)
declare -A EP
for ms in 0 "$LATENCY_MS"; do
	p=$(free_port)
	trace=()
	[ "$TRACE" = 1 ] && trace=(--trace "$WORK/proxy-$ms.trace")
	"$PY" tests/integration/fixtures/faultproxy.py --upstream "127.0.0.1:$S3PORT" \
		--latency-ms "$ms" --port "$p" "${trace[@]}" >"$WORK/proxy-$ms.log" 2>&1 &
	PIDS+=($!)
	EP[$ms]=http://127.0.0.1:$p
done
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$S3PORT "$IOTPIPE" mb --wait 90 s3://bench >/dev/null

# --- Kafka and the topic -------------------------------------------------------
kafka start --fresh >/dev/null
kafka run-class org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --create \
	--topic "$TOPIC" --partitions 4 --replication-factor 1 >/dev/null
STEP=$(awk -v n="$EVENTS" -v s="$SPAN" 'BEGIN { printf "%.9f", s / n }')
say "producing $EVENTS events ($DEVICES devices, $SPAN s of event time)"
"$IOTPIPE" produce --bootstrap-servers "$B" --topic "$TOPIC" --count "$EVENTS" --rate 0 \
	--devices "$DEVICES" --seed 1 --start-time 2026-01-01T00:00:00Z --time-step "$STEP" \
	--metrics-addr off --log-level warn

# mono TEXT: the proxies' clock (monotonic seconds) and TEXT, into
# WORK/marks: where each job starts and ends in the traces
mono() { "$PY" -c 'import sys,time;print("%.6f" % time.monotonic(), sys.argv[1])' "$1" \
	>>"$WORK/marks"; }

# timed TAG ENDPOINT CMD...: SECS and RSS_MB of the command
timed() {
	local tag=$1 ep=$2 t0 t1
	shift 2
	[ "$TRACE" = 1 ] && mono "$tag start"
	t0=$(date +%s.%N)
	AWS_ENDPOINT_URL_S3=$ep /usr/bin/time -f %M -o "$WORK/$tag.rss" "$@" \
		>"$WORK/$tag.out" 2>"$WORK/$tag.err" || { cat "$WORK/$tag.err" >&2; exit 1; }
	t1=$(date +%s.%N)
	[ "$TRACE" = 1 ] && mono "$tag end"
	SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	RSS_MB=$(( $(cat "$WORK/$tag.rss") / 1024 ))
}

count_objects() { # URI
	AWS_ENDPOINT_URL_S3=http://127.0.0.1:$S3PORT "$IOTPIPE" ls "$1" | grep -c '\.parquet$' || true
}

# row STAGE MS AMOUNT UNIT CMD NOTE
row() {
	local side=iotpipe
	[ "$2" = 0 ] && side=peer
	tsv_row "$1" "iotpipe, $2 ms per request" "$side" "$3" "$4" "$SECS" "$RSS_MB" "$5" \
		"$6; $DEVICES devices, 4 partitions, real Kafka, S3Proxy behind the latency proxy; iotpipe $REV; $(load_note)"
	printf '%-12s %4s ms  %7s %-8s %8.2f s  %9.1f %s/s  %5s MB\n' "$1" "$2" "$3" "$4" "$SECS" \
		"$(awk -v a="$3" -v s="$SECS" 'BEGIN { print a / s }')" "$4" "$RSS_MB"
}

for run in $(seq 1 "$RUNS"); do
	for ms in 0 "$LATENCY_MS"; do
		for job in $JOBS; do
			tag=$job-$ms-$run
			timed "$tag" "${EP[$ms]}" "$IOTPIPE" "$job" --bootstrap-servers "$B" \
				--topic "$TOPIC" --output "s3://bench/$tag/out/" \
				--checkpoint "s3://bench/$tag/ck/" --group "g-$tag" --once \
				--metrics-addr off --log-level "$LOG_LEVEL"
			n=$(count_objects "s3://bench/$tag/out/")
			row "s3lat-$job" "$ms" "$n" objects "iotpipe $job --once --output s3://... ($EVENTS events)" \
				"run $run, $n objects"
		done
	done
	case " $JOBS " in *" archive "*) ;; *) continue ;; esac
	for ms in 0 "$LATENCY_MS"; do
		tag=percentile-$ms-$run
		src=s3://bench/archive-0-1/out/
		n=$(count_objects "$src")
		timed "$tag" "${EP[$ms]}" "$IOTPIPE" percentile --input "$src" \
			--output "$WORK/$tag.csv" --threads 2 --metrics-addr off --log-level info
		row s3lat-percentile "$ms" "$n" files "iotpipe percentile --input s3://... --threads 2" \
			"run $run, $n files"
	done
done
