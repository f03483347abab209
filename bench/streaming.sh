#!/usr/bin/env bash
# streaming.sh - issue 5's performance section: drain a backlog of events in
# a 4-partition topic on the local real Kafka (kafka/local-kafka.sh) and
# compare, in one run on this machine:
#   ceiling    kcat -C -e reading the whole topic and doing nothing else (as
#              shipped, and with mimalloc preloaded: bench/lib.sh), and
#              Kafka's own ConsumerPerformance
#   iotpipe    `archive --once` and `aggregate --once` into Parquet on local
#              disk (fresh output, checkpoint and --group every run)
#   spark      Spark Structured Streaming on local[2], trigger availableNow,
#              the reference's logic (bench/spark_streaming.py), raw and
#              aggregate
#   rss        iotpipe's peak RSS with 10,000 devices (goal: <= 200 MB)
# and print one table: stage, tool, events, seconds, events/s, peak RSS MB,
# ratio to the consume ceiling and to Spark.
#
# usage: bench/streaming.sh            (everything, defaults below)
# Settings (environment):
#   EVENTS=10000000       events in the main topic
#   SPARK_EVENTS=1000000  events in the topic Spark and iotpipe also run on
#                         (Spark on 10M events runs far longer than 15 min on
#                         2 loaded cores; SPARK_EVENTS=$EVENTS to try anyway,
#                         SPARK_EVENTS=0 for no Spark)
#   RSS_EVENTS=3000000    events in the 10,000-device topic (0: skip)
#   RUNS=2                repetitions of every measurement
#   PORT=19392            Kafka port (controller PORT+1), data in KDATA
#   KDATA=/tmp/kbench     Kafka data directory (wiped at start and at the end)
#   WORK=/tmp/iotpipe-streaming-bench   logs and timings (wiped)
#   OUTDIR=               where the jobs (ours and Spark's) write their Parquet
#                         output and checkpoints; default: tmpfs when there is
#                         room, else $WORK/out (job_outdir in bench/lib.sh says
#                         why)
#   KEEP=0                1: leave Kafka running and the data in place
#   IOTPIPE=              a built binary; default: build build-bench (Release)
#   BENCH_TSV=            also append one row per measurement to this file
#                         (bench/lib.sh; make bench)
#
# Event times: the topics are produced with --start-time and a time step so
# that every topic spans 1000 s of event time (about 17 one-minute windows
# per device) whatever its size. With the default wall-clock event times a
# backlog produced in under a minute closes no window, and both `aggregate
# --once` and Spark's availableNow would write nothing at all.
#
# Needs: java 17, mvn (jars), kcat, cmake+ninja, .venv with pyspark
# (`.venv/bin/pip install pyspark`), GNU time (/usr/bin/time).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. bench/lib.sh

EVENTS=${EVENTS:-10000000}
SPARK_EVENTS=${SPARK_EVENTS:-1000000}
RSS_EVENTS=${RSS_EVENTS:-3000000}
RUNS=${RUNS:-2}
PORT=${PORT:-19392}
KDATA=${KDATA:-/tmp/kbench}
WORK=${WORK:-/tmp/iotpipe-streaming-bench}
KEEP=${KEEP:-0}
IOTPIPE=${IOTPIPE:-}
B=127.0.0.1:$PORT
PY=$ROOT/.venv/bin/python
JARDIR=$ROOT/.cache/spark-jars
START_TIME=2026-01-01T00:00:00Z
SPAN=1000 # seconds of event time per topic
RESULTS=$WORK/results.tsv
OUTDIR=$(job_outdir iotpipe-streaming-bench "$WORK/out")

say() { echo "streaming.sh: $*" >&2; }
die() { say "$*"; exit 1; }
kafka() { KAFKA_PORT=$PORT KAFKA_CONTROLLER_PORT=$((PORT + 1)) KAFKA_DATA_DIR=$KDATA \
	bash kafka/local-kafka.sh "$@"; }

for t in kcat java mvn /usr/bin/time; do command -v "$t" >/dev/null || die "$t not found"; done

# --- build -------------------------------------------------------------------
REV="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' + uncommitted src changes')"
if [ -z "$IOTPIPE" ]; then
	# -Wno-error=maybe-uninitialized: gcc -O3 false positives must not stop a
	# benchmark build (the Debug and CI builds keep -Werror whole)
	cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_C_FLAGS=-Wno-error=maybe-uninitialized >/dev/null
	ninja -C build-bench iotpipe >/dev/null
	IOTPIPE=$ROOT/build-bench/iotpipe
fi

# --- Spark's Kafka connector ---------------------------------------------------
# The connector of the installed pyspark's version, from Maven Central, minus
# what pyspark already ships. If that version is not on Maven Central (pyspark
# 4.3.0's is not), the newest 4.x that is (4.2.0) is used: the
# connector's API towards Spark did not change between them.
SPARK_VERSION=
if [ "$SPARK_EVENTS" != 0 ]; then
	SPARK_VERSION=$("$PY" -c 'import pyspark; print(pyspark.__version__)') ||
		die "pyspark is not installed in .venv (.venv/bin/pip install pyspark)"
	if ! ls "$JARDIR"/spark-sql-kafka-0-10_*.jar >/dev/null 2>&1; then
		mkdir -p "$JARDIR" "$WORK/pom"
		SCALA=2.13; case "$SPARK_VERSION" in 3.*) SCALA=2.12 ;; esac
		for v in "$SPARK_VERSION" 4.2.0; do
			cat >"$WORK/pom/pom.xml" <<-EOF
			<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
			<groupId>bench</groupId><artifactId>spark-kafka-jars</artifactId><version>1</version>
			<dependencies><dependency><groupId>org.apache.spark</groupId>
			<artifactId>spark-sql-kafka-0-10_$SCALA</artifactId><version>$v</version>
			</dependency></dependencies></project>
			EOF
			rm -rf "$WORK/pom/all"
			if mvn -q -B -f "$WORK/pom/pom.xml" dependency:copy-dependencies \
				-DoutputDirectory="$WORK/pom/all" -DincludeScope=runtime >"$WORK/pom/mvn.log" 2>&1; then
				break
			fi
			say "spark-sql-kafka $v: $(grep -m1 ERROR "$WORK/pom/mvn.log" || true)"
		done
		ls "$WORK/pom/all"/spark-sql-kafka*.jar >/dev/null 2>&1 || die "could not fetch spark-sql-kafka"
		cp "$WORK/pom/all"/spark-sql-kafka-*.jar "$WORK/pom/all"/spark-token-provider-kafka-*.jar \
			"$WORK/pom/all"/kafka-clients-*.jar "$WORK/pom/all"/commons-pool2-*.jar "$JARDIR/"
	fi
fi

# --- Kafka and the topics --------------------------------------------------------
rm -rf "$WORK" "$OUTDIR"
mkdir -p "$WORK" "$OUTDIR"
say "job output and checkpoints on $(stat -f -c %T "$OUTDIR") ($OUTDIR)"
kafka start --fresh >/dev/null
cleanup() {
	[ "$KEEP" = 1 ] && return
	kafka stop >/dev/null 2>&1 || true
	rm -rf "$KDATA" "$WORK" "$OUTDIR"
}
trap cleanup EXIT

# make_topic NAME EVENTS DEVICES
make_topic() {
	kafka run-class org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --create \
		--topic "$1" --partitions 4 --replication-factor 1 >/dev/null
	local step
	step=$(awk -v n="$2" -v s="$SPAN" 'BEGIN { printf "%.9f", s / n }')
	say "producing $2 events ($3 devices) to $1"
	"$IOTPIPE" produce --bootstrap-servers "$B" --topic "$1" --count "$2" --rate 0 \
		--devices "$3" --seed 1 --start-time "$START_TIME" --time-step "$step" \
		--metrics-addr off --log-level warn
}

TOPICS=("t$EVENTS")
make_topic "t$EVENTS" "$EVENTS" 1000
if [ "$SPARK_EVENTS" != 0 ] && [ "$SPARK_EVENTS" != "$EVENTS" ]; then
	TOPICS+=("t$SPARK_EVENTS")
	make_topic "t$SPARK_EVENTS" "$SPARK_EVENTS" 1000
fi
[ "$RSS_EVENTS" != 0 ] && make_topic "d10k" "$RSS_EVENTS" 10000
say "Kafka data: $(du -sh "$KDATA" | cut -f1); disk: $(df -h "$KDATA" | awk 'NR==2 { print $4 }') free"

# --- measurements ----------------------------------------------------------------
# record STAGE TOOL EVENTS SECONDS RSS_MB RUN NOTE
record() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
	local side=peer cmd topic=t$3
	[ "$3" = "$RSS_EVENTS" ] && [ "$3" != "$EVENTS" ] && [ "$3" != "$SPARK_EVENTS" ] && topic=d10k
	case $2 in
	iotpipe) side=iotpipe; cmd="iotpipe $1 --topic $topic --once" ;;
	kcat) cmd="kcat -C -t $topic -o beginning -e -q -f ''" ;;
	"kcat (mimalloc)") cmd="LD_PRELOAD=$MIMALLOC_SO kcat -C -t $topic -o beginning -e -q -f ''" ;;
	ConsumerPerformance) cmd="ConsumerPerformance --topic $topic --messages $3" ;;
	spark*) cmd="python bench/spark_streaming.py $([ "$1" = archive ] && echo raw || echo aggregate) \$B $topic ..." ;;
	esac
	local devices=1000
	[ "$topic" = d10k ] && devices=10000
	tsv_row "$1" "$2" "$side" "$3" events "$4" "$5" "$cmd" \
		"run $6, $devices devices, 4 partitions; $7; ${LOAD_NOW:-}"
}
LOADS=()

# timed NAME CMD... : wall seconds and peak RSS (MB) of one process via GNU time
timed() {
	local name=$1; shift
	/usr/bin/time -f '%e %M' -o "$WORK/$name.time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
		{ tail -5 "$WORK/$name.err" >&2; die "$name failed"; }
	read -r SECS RSS_KB <"$WORK/$name.time"
	RSS_MB=$((RSS_KB / 1024))
}

events_in() { # number after the t in the topic name
	case "$1" in d10k) echo "$RSS_EVENTS" ;; *) echo "${1#t}" ;; esac
}

iotpipe_job() { # JOB TOPIC RUN
	local job=$1 topic=$2 run=$3 n tag
	n=$(events_in "$topic")
	tag=$job-$topic-$run
	timed "$tag" "$IOTPIPE" "$job" --bootstrap-servers "$B" --topic "$topic" \
		--output "$OUTDIR/$tag/out" --checkpoint "$OUTDIR/$tag/ckpt" --group "bench-$tag" \
		--once --metrics-addr off --log-level info
	local files
	files=$(find "$OUTDIR/$tag/out" -name '*.parquet' | wc -l)
	record "$job" iotpipe "$n" "$SECS" "$RSS_MB" "$run" "$files files; $(grep -o 'status: .*' "$WORK/$tag.err" | tail -1)"
	rm -rf "${OUTDIR:?}/$tag"
}

for run in $(seq 1 "$RUNS"); do
	for topic in "${TOPICS[@]}"; do
		n=$(events_in "$topic")
		LOADS+=("run $run $topic: $(uptime | sed 's/.*load/load/')")
		LOAD_NOW=$(load_note)
		say "run $run, topic $topic ($n events)"
		timed "kcat-$topic-$run" kcat -C -b "$B" -t "$topic" -o beginning -e -q -f ''
		record consume kcat "$n" "$SECS" "$RSS_MB" "$run" ""
		if [ -n "$MIMALLOC_SO" ]; then
			timed "kcatmi-$topic-$run" env LD_PRELOAD="$MIMALLOC_SO" \
				kcat -C -b "$B" -t "$topic" -o beginning -e -q -f ''
			record consume "kcat (mimalloc)" "$n" "$SECS" "$RSS_MB" "$run" \
				"LD_PRELOAD=$MIMALLOC_SO, the allocator iotpipe links"
		fi
		timed "cperf-$topic-$run" bash kafka/local-kafka.sh run-class \
			org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$B" --topic "$topic" \
			--messages "$n" --group "bench-cperf-$topic-$run" --timeout 30000
		# its own fetch-loop rate, without JVM start and group join
		own=$(awk -F', *' 'NR == 2 { printf "%s s fetching, %.0f events/s", $8 / 1000, $10 }' \
			"$WORK/cperf-$topic-$run.out")
		record consume ConsumerPerformance "$n" "$SECS" "$RSS_MB" "$run" "$own"
		iotpipe_job archive "$topic" "$run"
		iotpipe_job aggregate "$topic" "$run"
		# Spark once (its runs take minutes; its spread is not the question)
		if [ "$SPARK_EVENTS" != 0 ] && [ "$n" = "$SPARK_EVENTS" ] && [ "$run" = 1 ]; then
			for mode in raw aggregate; do
				tag=spark-$mode-$topic-$run
				jars=$(ls "$JARDIR"/*.jar | paste -sd,)
				PYSPARK_SUBMIT_ARGS="--driver-memory 2g --conf spark.ui.showConsoleProgress=false --jars $jars pyspark-shell" \
					"$PY" bench/percentile_rss.py "$PY" bench/spark_streaming.py "$mode" "$B" \
					"$topic" "$OUTDIR/$tag/out" "$OUTDIR/$tag/ckpt" >"$WORK/$tag.out" 2>"$WORK/$tag.err" ||
					{ tail -20 "$WORK/$tag.err" >&2; die "$tag failed"; }
				# the peer's time is its query's (spark: query X s, from
				# start() to the end: the JVM and session start-up are
				# outside, as Spark users amortise them); the whole process
				# (tree: wall X s, peak tree RSS Y MB) goes in the note
				SECS=$(sed -n 's/^spark: query \([0-9.]*\) s.*/\1/p' "$WORK/$tag.err")
				whole=$(sed -n 's/^tree: wall \([0-9.]*\) s.*/\1/p' "$WORK/$tag.err")
				RSS_MB=$(sed -n 's/.*peak tree RSS \([0-9]*\) MB.*/\1/p' "$WORK/$tag.err")
				files=$(find "$OUTDIR/$tag/out" -name '*.parquet' | wc -l)
				stage=$mode; [ "$mode" = raw ] && stage=archive
				record "$stage" "spark local[2]" "$n" "$SECS" "$RSS_MB" "$run" \
					"$files files; seconds: the query only, without JVM and session start-up; whole process $whole s; $(grep -o 'spark: query .*' "$WORK/$tag.err")"
				rm -rf "${OUTDIR:?}/$tag"
			done
		fi
	done
	if [ "$RSS_EVENTS" != 0 ]; then
		LOADS+=("run $run d10k: $(uptime | sed 's/.*load/load/')")
		LOAD_NOW=$(load_note)
		iotpipe_job archive d10k "$run"
		iotpipe_job aggregate d10k "$run"
	fi
done

# --- the table ---------------------------------------------------------------------
# ratio columns: x ceiling = events/s over the best consume events/s of the
# same topic and run (kcat or ConsumerPerformance, wall clock); x spark =
# events/s over Spark's events/s of the same stage, topic and run.
echo
echo "iotpipe $REV (at start), pyspark ${SPARK_VERSION:-none}, Kafka 3.9.1, $(nproc) cores, output on $(stat -f -c %T "$OUTDIR")"
for l in "${LOADS[@]}"; do echo "  $l"; done
awk -F'\t' '
{ stage[NR]=$1; tool[NR]=$2; n[NR]=$3; s[NR]=$4; rss[NR]=$5; run[NR]=$6; note[NR]=$7
  r[NR] = $3 / ($4 > 0 ? $4 : 0.001)
  k = $3 SUBSEP $6
  if ($1 == "consume" && r[NR] > ceil[k]) ceil[k] = r[NR]
  if ($2 ~ /^spark/) spark[$1 SUBSEP k] = r[NR] }
END {
  printf "| %-9s | %-19s | %3s | %10s | %8s | %10s | %7s | %9s | %7s | %s\n", "stage", "tool", "run", "events", "seconds", "events/s", "RSS MB", "x ceiling", "x spark", "notes"
  printf "|-----------|---------------------|-----|------------|----------|------------|---------|-----------|---------|------\n"
  for (i = 1; i <= NR; i++) {
    k = n[i] SUBSEP run[i]
    xc = (k in ceil) ? sprintf("%.2f", r[i] / ceil[k]) : "-"
    xs = ((stage[i] SUBSEP k) in spark) ? sprintf("%.1f", r[i] / spark[stage[i] SUBSEP k]) : "-"
    printf "| %-9s | %-19s | %3s | %10s | %8.2f | %10.0f | %7s | %9s | %7s | %s\n", stage[i], tool[i], run[i], n[i], s[i], r[i], rss[i], xc, xs, note[i]
  }
}' "$RESULTS"
