#!/usr/bin/env bash
# valgrind/memcheck.sh - `make memcheck`: every unit test, then a short
# end-to-end run of the real binary, under valgrind memcheck. Passes only
# with zero errors and zero definite, indirect or possible leaks.
#
#   bash valgrind/memcheck.sh [BUILD_DIR]     (default build-memcheck)
#
# 1. A Debug build without sanitizers (valgrind and ASan do not mix) in
#    BUILD_DIR, configured with valgrind as CMAKE_CROSSCOMPILING_EMULATOR,
#    so that ctest runs every test executable (and the fuzz corpus
#    replays) through it; valgrind's exit status 1 on any error or leak
#    fails the test.
# 2. valgrind/e2e.sh: broker, produce, archive --once, aggregate --once,
#    percentile, validate and inspect, each process under valgrind.
# Third-party suppressions (never our own code): valgrind/iotpipe.supp.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-memcheck}
start=$(date +%s)
command -v valgrind >/dev/null || { echo "memcheck: valgrind is not installed (make deps)" >&2; exit 1; }

# The one valgrind command line, shared with e2e.sh.
VG=(valgrind --error-exitcode=1 --leak-check=full
    --errors-for-leak-kinds=definite,indirect,possible
    --show-leak-kinds=definite,indirect,possible
    --suppressions="$PWD/valgrind/iotpipe.supp" --gen-suppressions=all
    --num-callers=40 --quiet)
launcher=$(IFS=';'; echo "${VG[*]}")

gen=$(command -v ninja >/dev/null && echo Ninja || echo "Unix Makefiles")
cmake -S . -B "$B" -G "$gen" -DCMAKE_BUILD_TYPE=Debug -DIOTPIPE_SANITIZE=OFF -DIOTPIPE_MIMALLOC=OFF \
      "-DCMAKE_CROSSCOMPILING_EMULATOR=$launcher" >/dev/null
cmake --build "$B" -j"$(nproc)"

echo "== memcheck: unit tests under valgrind ($B)"
(cd "$B" && ctest --output-on-failure -j"$(nproc)" --timeout 1800)
echo "== memcheck: unit tests clean after $(( $(date +%s) - start )) s"

echo "== memcheck: end-to-end run under valgrind"
VG_CMD="${VG[*]}" bash valgrind/e2e.sh "$B/iotpipe"
echo "== memcheck: PASSED in $(( $(date +%s) - start )) s (0 errors, 0 leaks)"
