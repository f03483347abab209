#!/usr/bin/env bash
# run.sh - `make run`: the pipeline on embedded defaults, until Ctrl-C.
# Starts the embedded development broker and the simulated devices, and the
# streaming jobs once the binary has them (`iotpipe run` when present).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${IOTPIPE_BIN:-build/iotpipe}

if "$BIN" --help | grep -q '^    run '; then
  exec "$BIN" run "$@"
fi

workdir=$(mktemp -d)
cleanup() {
  [ -n "${producer:-}" ] && kill "$producer" 2>/dev/null || true
  [ -n "${broker:-}" ] && kill "$broker" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

"$BIN" broker --bootstrap-file "$workdir/bootstrap" --metrics-addr 127.0.0.1:9104 > "$workdir/broker.out" &
broker=$!
for _ in $(seq 100); do [ -s "$workdir/bootstrap" ] && break; sleep 0.1; done
bootstrap=$(cat "$workdir/bootstrap")
echo "embedded broker (in memory, development only) at $bootstrap"
echo "devices: iotpipe produce -> topic device_topic; metrics on http://127.0.0.1:9101/metrics"
echo "press Ctrl-C to stop"
"$BIN" produce --bootstrap-servers "$bootstrap" "$@" &
producer=$!
wait "$producer"
