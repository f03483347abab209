#!/usr/bin/env bash
# collect.sh - writes bench/RESULTS.md and bench/charts/*.png from
# bench/results/*.tsv (the machine-readable results of `make bench`);
# the hand-written bench/results/*.md are linked from it. Kept for habit:
# the same as `make bench-report` or `.venv/bin/python bench/report.py`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python bench/report.py "$@"
