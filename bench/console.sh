#!/usr/bin/env bash
# console.sh - issue 15's performance check: does an open web console slow
# the streaming jobs down, and how much memory does its history take?
#
# A backlog of EVENTS events in a 4-partition topic on the local real Kafka
# (kafka/local-kafka.sh); `archive --once` and `aggregate --once` drain it
# into Parquet (fresh output, checkpoint and --group every run), each with
# its metrics endpoint, and so the console's sampler, on. Three modes:
#   none    nobody connects (the baseline)
#   page    bench/console_poll.py polls like one open page (every 2 s:
#           status, the history since the last sample, recent batches)
#   page10  the same every 200 ms asking for the whole history each time:
#           ten pages, each reloaded at every poll (a worst case)
# The modes are interleaved within every round, and their order rotates
# from round to round, so the drift of a machine that others share (2
# cores, their builds) falls on every mode alike. Each run's wall time and
# CPU time (user + system) are GNU time's of the whole process; events/s =
# EVENTS / wall seconds. On a loaded machine the wall time of one run
# varies by tens of percent with the neighbours; the CPU time the job
# spends varies far less, so the table gives both: what the console costs
# shows as CPU seconds, whatever the wall clock does.
#
# usage: bench/console.sh
# Settings (environment): EVENTS=2000000, ROUNDS=3, PORT=19492 (Kafka,
# controller PORT+1), KDATA=/tmp/kbench-console, WORK=/tmp/iotpipe-console-
# bench, IOTPIPE= (a built binary; default: build build-bench, Release),
# BENCH_TSV= (append rows there; bench/lib.sh).
# Output: a table on stdout; rows in $BENCH_TSV (stage console-archive and
# console-aggregate: side iotpipe = with the page, peer = without, so the
# summary's ratio is with/without and the goal is >= 0.95).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
. bench/lib.sh

EVENTS=${EVENTS:-2000000}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-19492}
KDATA=${KDATA:-/tmp/kbench-console}
WORK=${WORK:-/tmp/iotpipe-console-bench}
IOTPIPE=${IOTPIPE:-}
B=127.0.0.1:$PORT
PY=$ROOT/.venv/bin/python
OUTDIR=$(job_outdir iotpipe-console-bench "$WORK/out")

say() { echo "console.sh: $*" >&2; }
die() { say "$*"; exit 1; }
kafka() { KAFKA_PORT=$PORT KAFKA_CONTROLLER_PORT=$((PORT + 1)) KAFKA_DATA_DIR=$KDATA \
	bash kafka/local-kafka.sh "$@"; }
for t in java /usr/bin/time curl; do command -v "$t" >/dev/null || die "$t not found"; done

if [ -z "$IOTPIPE" ]; then
	cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_C_FLAGS=-Wno-error=maybe-uninitialized >/dev/null
	ninja -C build-bench iotpipe >/dev/null
	IOTPIPE=$ROOT/build-bench/iotpipe
fi

rm -rf "$WORK" "$OUTDIR"
mkdir -p "$WORK" "$OUTDIR"
kafka start --fresh >/dev/null
POLLER=
cleanup() {
	[ -n "$POLLER" ] && kill "$POLLER" 2>/dev/null || true
	kafka stop >/dev/null 2>&1 || true
	rm -rf "$KDATA" "$WORK" "$OUTDIR"
}
trap cleanup EXIT

kafka run-class org.apache.kafka.tools.TopicCommand --bootstrap-server "$B" --create \
	--topic console --partitions 4 --replication-factor 1 >/dev/null
step=$(awk -v n="$EVENTS" 'BEGIN { printf "%.9f", 1000 / n }')
say "producing $EVENTS events"
"$IOTPIPE" produce --bootstrap-servers "$B" --topic console --count "$EVENTS" --rate 0 \
	--devices 1000 --seed 1 --start-time 2026-01-01T00:00:00Z --time-step "$step" \
	--metrics-addr off --log-level warn

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run JOB MODE ROUND: one drain, wall seconds into $WORK/results
run() {
	local job=$1 mode=$2 round=$3 tag=$1-$2-$3 mport secs rss usr sys poll=""
	mport=$(free_port)
	case $mode in
	page) "$PY" bench/console_poll.py "127.0.0.1:$mport" 2000 --out "$WORK/$tag.poll" &
		POLLER=$! ;;
	page10) "$PY" bench/console_poll.py "127.0.0.1:$mport" 200 --fresh --out "$WORK/$tag.poll" &
		POLLER=$! ;;
	esac
	local load
	load=$(load_note)
	/usr/bin/time -f '%e %M %U %S' -o "$WORK/$tag.time" "$IOTPIPE" "$job" --bootstrap-servers "$B" \
		--topic console --output "$OUTDIR/$tag/out" --checkpoint "$OUTDIR/$tag/ckpt" \
		--group "bench-$tag" --once --metrics-addr "127.0.0.1:$mport" --log-level warn \
		>"$WORK/$tag.out" 2>"$WORK/$tag.err" || { tail -5 "$WORK/$tag.err" >&2; die "$tag failed"; }
	if [ -n "$POLLER" ]; then
		kill "$POLLER"; wait "$POLLER" 2>/dev/null || true; POLLER=
		poll=$(cat "$WORK/$tag.poll" 2>/dev/null || echo '{}')
	fi
	read -r secs rss usr sys <"$WORK/$tag.time"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$job" "$mode" "$round" "$secs" "$((rss / 1024))" \
		"$load" "${poll:--}" "$(awk -v u="$usr" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" \
		>>"$WORK/results"
	rm -rf "${OUTDIR:?}/$tag"
}

MODES=(none page page10)
for round in $(seq 1 "$ROUNDS"); do
	for job in archive aggregate; do
		# rotate the order: none,page,page10 / page,page10,none / ...
		for k in 0 1 2; do
			mode=${MODES[$(((k + round - 1) % 3))]}
			say "round $round: $job, $mode"
			run "$job" "$mode" "$round"
		done
	done
done

# the table, and TSV rows (median per job and mode)
"$PY" - "$WORK/results" "$EVENTS" <<'PY'
import json, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
events = int(sys.argv[2])
print(f"{'job':10} {'mode':7} {'runs':>4} {'median s':>9} {'events/s':>10} {'vs none':>8} "
      f"{'CPU s':>6} {'CPU vs none':>11} {'peak RSS MB':>11}  polls/requests/bytes")
med = {}
for job in ("archive", "aggregate"):
    for mode in ("none", "page", "page10"):
        rs = [r for r in rows if r[0] == job and r[1] == mode]
        secs = statistics.median(float(r[3]) for r in rs)
        cpu = statistics.median(float(r[7]) for r in rs)
        med[job, mode] = secs
        med[job, mode, "cpu"] = cpu
        rss = max(int(r[4]) for r in rs)
        polls = [json.loads(r[6]) for r in rs if r[6] not in ("", "-")]
        p = (f"{sum(x.get('polls', 0) for x in polls)}/{sum(x.get('requests', 0) for x in polls)}/"
             f"{sum(x.get('bytes', 0) for x in polls)}") if polls else "-"
        ratio = med[job, "none"] / secs
        print(f"{job:10} {mode:7} {len(rs):>4} {secs:>9.2f} {events / secs:>10.0f} "
              f"{ratio:>7.3f}x {cpu:>6.2f} {cpu / med[job, 'none', 'cpu']:>10.3f}x {rss:>11}  {p}")
print()
print("job\tmode\tround\twall s\tpeak RSS MB\tload\tCPU s")
for r in rows:
    print("\t".join(r[:6] + [r[7]]))
PY
if [ -n "${BENCH_TSV:-}" ]; then
	while IFS=$'\t' read -r job mode round secs rss load poll cpu; do
		side=peer; tool="iotpipe $job --once, console not polled"
		case $mode in
		page) side=iotpipe; tool="iotpipe $job --once, one page polling" ;;
		page10) side=other; tool="iotpipe $job --once, ten pages reloading every 200 ms" ;;
		esac
		tsv_row "console-$job" "$tool" "$side" "$EVENTS" events "$secs" "$rss" \
			"bash bench/console.sh (EVENTS=$EVENTS ROUNDS=$ROUNDS)" "round $round; CPU $cpu s; $load"
	done <"$WORK/results"
fi
