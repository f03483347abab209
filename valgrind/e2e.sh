#!/usr/bin/env bash
# valgrind/e2e.sh - a short end-to-end run with every iotpipe process under
# valgrind (called by valgrind/memcheck.sh, which sets VG_CMD):
#   broker (embedded, in memory) <- produce 3,000 records (with invalid,
#   late and duplicate ones) -> archive --once, aggregate --once (local
#   Parquet) -> percentile (CSV), validate, inspect.
# Each process must exit 0 with no valgrind error or leak (valgrind exits 1
# otherwise; its report is printed). The broker is stopped with SIGTERM
# and checked the same way.
#
#   VG_CMD="valgrind ..." bash valgrind/e2e.sh build-memcheck/iotpipe
set -euo pipefail
BIN=$(realpath "$1")
read -r -a VG <<< "${VG_CMD:?set VG_CMD to the valgrind command line}"
T=$(mktemp -d /tmp/iotpipe-memcheck.XXXXXX)
broker_pid=
cleanup() {
	if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
		kill -TERM "$broker_pid" 2>/dev/null || true
		wait "$broker_pid" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# run NAME CMD...: one process under valgrind; its log is shown on failure
run() {
	local name=$1 t0=$SECONDS rc=0
	shift
	"${VG[@]}" --log-file="$T/vg-$name.log" "$BIN" "$@" \
		>"$T/$name.out" 2>"$T/$name.err" || rc=$?
	if [ "$rc" != 0 ] || [ -s "$T/vg-$name.log" ]; then
		echo "memcheck e2e: '$name' failed (exit $rc): iotpipe $*" >&2
		cat "$T/$name.err" "$T/vg-$name.log" >&2
		exit 1
	fi
	echo "  $name: ok ($((SECONDS - t0)) s)"
}

export IOTPIPE_CONFIG_DIR=$PWD/config
common=(--topic memcheck --metrics-addr 127.0.0.1:0 --log-level warn)

"${VG[@]}" --log-file="$T/vg-broker.log" "$BIN" broker --topic memcheck \
	--partitions 2 --bootstrap-file "$T/bootstrap" --metrics-addr 127.0.0.1:0 \
	>"$T/broker.out" 2>"$T/broker.err" &
broker_pid=$!
for _ in $(seq 600); do
	[ -s "$T/bootstrap" ] && break
	kill -0 "$broker_pid" 2>/dev/null || { cat "$T/broker.err" "$T/vg-broker.log" >&2; exit 1; }
	sleep 0.1
done
[ -s "$T/bootstrap" ] || { echo "memcheck e2e: broker did not start" >&2; exit 1; }
bs=(--bootstrap-servers "$(cat "$T/bootstrap")")
echo "  broker: up on ${bs[1]}"

run produce produce "${bs[@]}" "${common[@]}" --count 3000 --rate 0 \
	--devices 10 --seed 7 --start-time 2024-11-25T09:00:00Z --time-step 0.05 \
	--invalid-fraction 0.02 --late-fraction 0.02 --duplicate-fraction 0.01
run archive archive "${bs[@]}" "${common[@]}" --once --output "$T/raw/" \
	--checkpoint "$T/ckpt-raw/" --group memcheck-raw
run aggregate aggregate "${bs[@]}" "${common[@]}" --once --output "$T/agg/" \
	--checkpoint "$T/ckpt-agg/" --group memcheck-agg --idle-timeout 0
run percentile percentile --input "$T/raw/" --output "$T/p95.csv" \
	--threshold 100 --percentiles 0.5,0.95 --threads 2
run validate validate --input "$T/agg/"
run inspect inspect --head 5 "$(find "$T/raw" -name '*.parquet' | sort | head -1)"

# the output is real: every device has a p95 row, archive wrote files
rows=$(($(wc -l < "$T/p95.csv") - 1))
files=$(find "$T/raw" "$T/agg" -name '*.parquet' | wc -l)
echo "  output: $files Parquet files, $rows percentile rows"
[ "$rows" = 10 ] || { echo "memcheck e2e: expected 10 percentile rows" >&2; cat "$T/p95.csv" >&2; exit 1; }

kill -TERM "$broker_pid"
rc=0
wait "$broker_pid" || rc=$?
broker_pid=
if [ "$rc" != 0 ] || [ -s "$T/vg-broker.log" ]; then
	echo "memcheck e2e: broker failed (exit $rc)" >&2
	cat "$T/broker.err" "$T/vg-broker.log" >&2
	exit 1
fi
echo "  broker: ok (stopped by SIGTERM)"
