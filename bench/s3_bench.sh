#!/usr/bin/env bash
# s3_bench.sh - 1 GB up and down as objects of 8 to 64 MB, iotpipe's S3
# client (bench_store, through store.h) and boto3 side by side in the same
# run, against a local S3Proxy (filesystem back-end in a temporary
# directory, signature checking on) started for the run on a free port.
#
#   bench/s3_bench.sh            (make bench-s3)
#   BUILD=build THREADS=10 ROUNDS=4 bench/s3_bench.sh   (10 = boto3's default concurrency)
#   SIZES_MB="8 8" bench/s3_bench.sh   (other object sizes, MB; make bench QUICK=1)
# Prints a table in Markdown; copy it into bench/results/store.md. With
# BENCH_TSV=FILE, also appends one row per client, direction and round
# (bench/lib.sh), with the client's peak RSS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/bench/lib.sh"
BUILD=${BUILD:-build}
THREADS=${THREADS:-10}
ROUNDS=${ROUNDS:-4}
PY=${PYTHON:-$ROOT/.venv/bin/python}
PORT=$($PY -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
DATA=$(mktemp -d /tmp/iotpipe-s3bench.XXXXXX)
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_S3=http://127.0.0.1:$PORT
unset AWS_ENDPOINT_URL ENDPOINT_URL AWS_SESSION_TOKEN || true
# Same number of connections as boto3: THREADS objects at a time, one part
# in flight each (boto3: 10 transfer threads over all objects).
export IOTPIPE_S3_UPLOAD_CONCURRENCY=${IOTPIPE_S3_UPLOAD_CONCURRENCY:-1}

# 33 objects, 1024 MiB: 8 x (8 + 16 + 32 + 64 MB) + 64 MB
SIZES=()
for _ in 1 2 3 4 5 6 7 8; do SIZES+=(8 16 32 64); done
SIZES+=(64)
if [ -n "${SIZES_MB:-}" ]; then read -r -a SIZES <<<"$SIZES_MB"; fi

S3PROXY_PORT=$PORT S3PROXY_DATA=$DATA/store S3PROXY_HEAP=2g \
	S3PROXY_CACHE=$ROOT/.cache/s3proxy bash "$ROOT/s3/local-s3.sh" props "$DATA/props"
S3PROXY_HEAP=2g bash "$ROOT/s3/local-s3.sh" run "$DATA/props" >"$DATA/s3proxy.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
"$ROOT/$BUILD/iotpipe" mb --wait 90 s3://bench >/dev/null

# Warm the server's JIT first (untimed), so round 1 does not favour the
# client that runs second; rounds then alternate which client goes first.
"$ROOT/$BUILD/bench_store" --threads 4 --prefix warm s3://bench 8 8 8 8 >/dev/null

# record ROUND TOOL SIDE OUTPUT TIMEFILE COMMAND: two rows (upload, download)
record() {
	local rss dir line
	rss=$(($(cat "$5") / 1024))
	for dir in upload download; do
		line=$(grep "^$dir " <<<"$4")
		tsv_row "s3-$dir" "$2" "$3" "$(awk '{print $2}' <<<"$line")" bytes \
			"$(awk '{print $3}' <<<"$line")" "$rss" "$6" \
			"round $1, ${#SIZES[@]} objects (${SIZES[*]} MB), local S3Proxy; RSS of the whole up+down process; $(load_note)"
	done
}
run_iotpipe() {
	local out
	out=$(/usr/bin/time -f %M -o "$DATA/time.iot" "$ROOT/$BUILD/bench_store" --threads "$THREADS" \
		--prefix "c$1" s3://bench "${SIZES[@]}")
	echo "| $1 | iotpipe ($THREADS threads) | $(awk '/upload/{print $4}' <<<"$out") | $(awk '/download/{print $4}' <<<"$out") |"
	record "$1" "iotpipe store (bench_store)" iotpipe "$out" "$DATA/time.iot" \
		"$BUILD/bench_store --threads $THREADS s3://bench ${SIZES[*]}"
}
run_boto3() {
	local out
	out=$(BENCH_PREFIX="b$1" /usr/bin/time -f %M -o "$DATA/time.boto3" "$PY" "$ROOT/bench/s3_boto3.py" \
		bench "${SIZES[@]}")
	echo "| $1 | boto3 (TransferManager, 10 threads) | $(awk '/upload/{print $4}' <<<"$out") | $(awk '/download/{print $4}' <<<"$out") |"
	record "$1" "boto3 TransferManager" peer "$out" "$DATA/time.boto3" \
		"python bench/s3_boto3.py bench ${SIZES[*]}"
}

echo "| round | client | upload MB/s | download MB/s |"
echo "|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
	if [ $((r % 2)) -eq 1 ]; then run_iotpipe "$r"; run_boto3 "$r"
	else run_boto3 "$r"; run_iotpipe "$r"; fi
done
