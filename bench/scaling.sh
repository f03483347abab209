#!/usr/bin/env bash
# scaling.sh - archive and aggregate (--once) events/s and peak RSS against
# the number of devices and the number of partitions, on the local real
# Kafka, with kcat reading the same topic as the consume ceiling of every
# point (the reference line of the charts): the faster of kcat as shipped
# and kcat on mimalloc, the allocator iotpipe links (bench/lib.sh).
#
#   devices axis     DEVICES (10 1000 10000 100000) on a 4-partition topic;
#                    archive, aggregate, and both with --partition-by date
#   partitions axis  PARTITIONS (1 4 16) at 1,000 devices
# Every point has the same event count (EVENTS), produced as streaming.sh
# does: `iotpipe produce --count N --rate 0 --devices D --seed 1
# --start-time 2026-01-01T00:00:00Z --time-step 1000/N`, so the topic spans
# 1000 s of event time and windows close under --once.
#
# usage: bench/scaling.sh [OUT_TSV]      (default bench/results/scaling.tsv)
# Settings (environment):
#   EVENTS=1000000        events per point
#   EVENTS_100000=        events for the 100,000-device point only (default:
#                         EVENTS); the aggregate writes one file per
#                         device-minute there, see bench/README.md
#   DEVICES="10 1000 10000 100000"   PARTITIONS="1 4 16"
#   PORT=19492            Kafka port (controller PORT+1); data in KDATA
#   KDATA=/tmp/benchrep-kafka  WORK=/tmp/benchrep-scaling   (both wiped)
#   OUTDIR=               the jobs' output and checkpoints (wiped); default:
#                         tmpfs when there is room, else $WORK/out
#                         (job_outdir in bench/lib.sh says why)
#   IOTPIPE=build-bench/iotpipe
#   POINT_TIMEOUT=600     seconds one job may take; a job that takes longer
#                         is stopped, noted, and its whole point is measured
#                         again with a tenth of the events (noted in the row)
# Output: one TSV row per tool and point (header in the first line):
#   axis devices partitions events tool seconds rate rss_mb files command note
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

OUT=${1:-$ROOT/bench/results/scaling.tsv}
EVENTS=${EVENTS:-1000000}
DEVICES=${DEVICES:-10 1000 10000 100000}
PARTITIONS=${PARTITIONS:-1 4 16}
PORT=${PORT:-19492}
KDATA=${KDATA:-/tmp/benchrep-kafka}
WORK=${WORK:-/tmp/benchrep-scaling}
IOTPIPE=${IOTPIPE:-$ROOT/build-bench/iotpipe}
POINT_TIMEOUT=${POINT_TIMEOUT:-600}
. "$ROOT/bench/lib.sh"
OUTDIR=$(job_outdir iotpipe-scaling-bench "$WORK/out")
B=127.0.0.1:$PORT
START_TIME=2026-01-01T00:00:00Z
SPAN=1000

say() { echo "scaling.sh: $*" >&2; }
die() { say "$*"; exit 1; }
kafka() { KAFKA_PORT=$PORT KAFKA_CONTROLLER_PORT=$((PORT + 1)) KAFKA_DATA_DIR=$KDATA \
	bash kafka/local-kafka.sh "$@"; }
for t in kcat java /usr/bin/time "$IOTPIPE"; do command -v "$t" >/dev/null || die "$t not found"; done

rm -rf "$WORK" "$OUTDIR"
mkdir -p "$WORK" "$OUTDIR" "$(dirname "$OUT")"
say "job output and checkpoints on $(stat -f -c %T "$OUTDIR") ($OUTDIR)"
kafka start --fresh >/dev/null
cleanup() {
	kafka stop >/dev/null 2>&1 || true
	rm -rf "$KDATA" "$WORK" "$OUTDIR"
}
trap cleanup EXIT

TMP_OUT=$WORK/scaling.tsv
printf 'axis\tdevices\tpartitions\tevents\ttool\tseconds\trate\trss_mb\tfiles\tcommand\tnote\n' >"$TMP_OUT"
echo "# iotpipe $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo '+dirty src'), $(nproc) cores, $(date -u +%FT%TZ)" >&2

# timed NAME CMD... -> SECS, RSS_MB (GNU time, one process); returns 124
# when the command ran longer than POINT_TIMEOUT seconds
timed() {
	local name=$1 rc=0; shift
	# timeout inside time: the job itself gets the SIGTERM; %M still counts it
	/usr/bin/time -f '%e %M' -o "$WORK/$name.time" timeout "$POINT_TIMEOUT" "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
	[ "$rc" = 124 ] && return 124
	[ "$rc" = 0 ] || { tail -5 "$WORK/$name.err" >&2; die "$name failed"; }
	read -r SECS RSS_KB <"$WORK/$name.time"
	RSS_MB=$((RSS_KB / 1024))
}

# point AXIS DEVICES PARTITIONS EVENTS NOTE; returns 1 when a job timed out
point() {
	local axis=$1 d=$2 p=$3 n=$4 note=$5 topic step
	topic=s-d$d-p$p-n$n
	if [ ! -f "$WORK/$topic.made" ]; then
		kafka run-class org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --create \
			--topic "$topic" --partitions "$p" --replication-factor 1 >/dev/null
		step=$(awk -v n="$n" -v s="$SPAN" 'BEGIN { printf "%.9f", s / n }')
		say "producing $n events, $d devices, $p partitions"
		"$IOTPIPE" produce --bootstrap-servers "$B" --topic "$topic" --count "$n" --rate 0 \
			--devices "$d" --seed 1 --start-time "$START_TIME" --time-step "$step" \
			--metrics-addr off --log-level warn
		touch "$WORK/$topic.made"
	fi
	local load
	load=$(uptime | sed 's/.*load average: //')
	say "point $axis: $d devices, $p partitions, $n events (load $load)"
	# the ceiling is the faster of kcat as shipped and kcat on mimalloc
	# (bench/lib.sh, MIMALLOC_SO)
	local kpre="" knote=""
	timed "kcat-$topic" kcat -C -b "$B" -t "$topic" -o beginning -e -q -f ''
	if [ -n "$MIMALLOC_SO" ]; then
		local plain=$SECS plain_rss=$RSS_MB
		timed "kcatmi-$topic" env LD_PRELOAD="$MIMALLOC_SO" kcat -C -b "$B" -t "$topic" -o beginning -e -q -f ''
		knote="kcat as shipped $plain s, on mimalloc $SECS s"
		if awk -v a="$plain" -v b="$SECS" 'BEGIN { exit !(a <= b) }'; then
			SECS=$plain RSS_MB=$plain_rss
		else
			kpre="LD_PRELOAD=$MIMALLOC_SO "
		fi
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\n' "$axis" "$d" "$p" "$n" kcat "$SECS" \
		"$(awk -v n="$n" -v s="$SECS" 'BEGIN { print n / (s > 0 ? s : 0.001) }')" "$RSS_MB" 0 \
		"${kpre}kcat -C -b \$B -t $topic -o beginning -e -q -f ''" "load $load${note:+; $note}${knote:+; $knote}" >>"$TMP_OUT"
	local job tag files status jobs="archive aggregate" flags
	# the devices axis also runs both jobs with --partition-by date, the
	# layout for many devices (one file per partition and day)
	[ "$axis" = devices ] && jobs+=" archive-date aggregate-date"
	for job in $jobs; do
		tag=$job-$topic-$axis
		flags=()
		[ "${job%-date}" != "$job" ] && flags=(--partition-by date)
		if ! timed "$tag" "$IOTPIPE" "${job%-date}" --bootstrap-servers "$B" --topic "$topic" \
			--output "$OUTDIR/$tag/out" --checkpoint "$OUTDIR/$tag/ckpt" --group "scaling-$tag" \
			--once --metrics-addr off --log-level info "${flags[@]}"; then
			files=$(find "$OUTDIR/$tag/out" -name '*.parquet' | wc -l)
			say "  $job: stopped after $POINT_TIMEOUT s ($files files written)"
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$axis" "$d" "$p" "$n" "$job" \
				"$POINT_TIMEOUT" "" "" "$files" "iotpipe ${job%-date} --topic $topic --once ${flags[*]}" \
				"TIMEOUT: stopped after $POINT_TIMEOUT s with $files files written" >>"$TMP_OUT"
			rm -rf "${OUTDIR:?}/$tag"
			return 1
		fi
		files=$(find "$OUTDIR/$tag/out" -name '*.parquet' | wc -l)
		status=$(grep -o 'status: .*' "$WORK/$tag.err" | tail -1 || true)
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\n' "$axis" "$d" "$p" "$n" "$job" "$SECS" \
			"$(awk -v n="$n" -v s="$SECS" 'BEGIN { print n / (s > 0 ? s : 0.001) }')" "$RSS_MB" "$files" \
			"iotpipe ${job%-date} --topic $topic --once ${flags[*]} (produce --count $n --devices $d, $p partitions)" \
			"load $load${note:+; $note}" >>"$TMP_OUT"
		say "  $job: $SECS s, $RSS_MB MB, $files files"
		rm -rf "${OUTDIR:?}/$tag"
	done
}

# measure AXIS DEVICES PARTITIONS: EVENTS, or a tenth of it after a timeout
measure() {
	local n=$EVENTS
	if [ "$2" = 100000 ] && [ -n "${EVENTS_100000:-}" ]; then n=$EVENTS_100000; fi
	local note=""
	[ "$n" = "$EVENTS" ] || note="N reduced to $n (EVENTS_100000)"
	while ! point "$1" "$2" "$3" "$n" "$note"; do
		local m=$((n / 10))
		note="N reduced from $n to $m: a job took over $POINT_TIMEOUT s at $n"
		n=$m
		[ "$n" -ge 1000 ] || die "point $2 devices, $3 partitions: too slow even at 10x fewer events"
	done
}
for d in $DEVICES; do measure devices "$d" 4; done
for p in $PARTITIONS; do measure partitions 1000 "$p"; done

cp "$TMP_OUT" "$OUT"
column -t -s $'\t' "$OUT" | cut -c1-160
say "wrote $OUT"
