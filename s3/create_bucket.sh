#!/usr/bin/env bash
# create_bucket.sh - creates the pipeline's bucket if it is missing (the
# reference's script of the same name), waiting up to 60 s for the
# endpoint. Same as `make bucket`; reads s3/.env when present.
#   s3/create_bucket.sh [BUCKET]   (default: $BUCKET_NAME or my-parametric-bucket)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
set -a; [ -f "$ROOT/s3/.env" ] && . "$ROOT/s3/.env"; set +a
BUCKET=${1:-${BUCKET_NAME:-my-parametric-bucket}}
exec "${IOTPIPE_BIN:-$ROOT/build/iotpipe}" mb --wait "${WAIT_SECONDS:-60}" "s3://$BUCKET"
