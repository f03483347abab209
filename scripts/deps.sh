#!/usr/bin/env bash
# deps.sh - installs everything iotpipe needs to build, test and benchmark,
# idempotently: Debian packages, a Python venv with the test tools, and the
# Java services' jars from Maven Central (Kafka, S3Proxy) into .cache/.
#
#   scripts/deps.sh            all of it
#   scripts/deps.sh system     only the Debian packages
#   scripts/deps.sh python     only the venv
#   scripts/deps.sh jars       only the Maven jars
#   scripts/deps.sh fuzz       what `make fuzz` needs: clang's libFuzzer runtime
#   scripts/deps.sh bench      what `make bench` needs on top of `all`:
#                              gnuplot-nox (charts) and pyspark in the venv
#                              (not installed by `all`: `make test` needs neither)
# Runs as root (CI, the dev machine) or through sudo when available.
#
# Debian 12 is the reference; Ubuntu 22.04 and 24.04 (GitHub's runners,
# .github/workflows/ci.yml) carry every package below under the same name
# (kcat since 22.04, openjdk-17-jre-headless, prometheus with promtool, all
# in universe), so the lists are shared. Where a name does differ, the
# function says so and asks distro(). Versions do differ: librdkafka-dev is
# 2.0.2 on Debian 12, 1.8.0 on Ubuntu 22.04 and 2.3.0 on Ubuntu 24.04;
# python3 is 3.12 on Ubuntu 24.04, on which the pinned kafka-python 2.0.2
# does not import (the workflow sets up 3.11, as Debian 12's).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config clang
  librdkafka-dev libcurl4-openssl-dev libssl-dev libyaml-dev libmicrohttpd-dev
  libzstd-dev libsnappy-dev zlib1g-dev libxml2-dev libjsmn-dev libcmocka-dev
  liblz4-dev
  python3 python3-venv openjdk-17-jre-headless maven kcat prometheus valgrind
  curl ca-certificates procps bc time
)
# The console's browser test (tests/integration/test_console.py) drives
# Debian's chromium headless through chromium-driver. Ubuntu ships chromium
# only as a snap (the deb is a stub that installs it), which does not run
# in containers or CI; GitHub's Ubuntu runners have Google Chrome and its
# driver instead, and the test finds those.
BROWSER_APT_PACKAGES=(chromium chromium-driver)
# mimalloc, the binary's allocator (CMakeLists.txt), is optional: where the
# package cannot be installed the build uses libc's malloc, slower but the
# same behaviour (`iotpipe version` says which)
OPTIONAL_APT_PACKAGES=(libmimalloc-dev)

# "ID-VERSION_ID" from /etc/os-release (debian-12, ubuntu-22.04, ...), in a
# subshell: the file's other variables (NAME, VERSION) stay out of ours
distro() {
  ( . /etc/os-release 2>/dev/null && echo "${ID:-unknown}-${VERSION_ID:-}" ) || echo unknown-
}

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi

system() {
  local missing=() want=("${APT_PACKAGES[@]}")
  case "$(distro)" in
    ubuntu-*) ;;
    *) want+=("${BROWSER_APT_PACKAGES[@]}") ;;
  esac
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # a JDK from elsewhere (e.g. Temurin) satisfies java
  if command -v java >/dev/null; then
    local keep=()
    for p in "${missing[@]}"; do [ "$p" = openjdk-17-jre-headless ] || keep+=("$p"); done
    missing=("${keep[@]+"${keep[@]}"}")
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  for p in "${OPTIONAL_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" && continue
    echo "deps: installing $p (optional)"
    [ "${#missing[@]}" -gt 0 ] || $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null ||
      echo "deps: $p is not available here; the build uses libc's malloc"
  done
}

python() {
  local venv=${VENV:-.venv}
  if [ ! -x "$venv/bin/python" ]; then
    echo "deps: creating $venv"
    python3 -m venv "$venv"
  fi
  local stamp="$venv/.requirements.sha"
  local want
  want=$(sha256sum requirements-test.txt | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "deps: installing Python test tools into $venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r requirements-test.txt
    echo "$want" > "$stamp"
  fi
}

BENCH_APT_PACKAGES=(gnuplot-nox)
PYSPARK_VERSION=4.3.0
BENCH_DUCKDB_VERSION=2.0.1

bench() {
  local missing=()
  for p in "${BENCH_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps: installing Debian packages for benchmarks: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  local venv=${VENV:-.venv}
  if ! "$venv/bin/python" -c 'import pyspark' 2>/dev/null; then
    echo "deps: installing pyspark $PYSPARK_VERSION into $venv (Spark peers of the benchmarks)"
    "$venv/bin/pip" install -q "pyspark==$PYSPARK_VERSION"
  fi
  # the DuckDB peer runs the newest release (2.0 is 1.4-1.7x faster than the
  # 1.1 the tests pin as a reader), in a venv of its own
  local dvenv=${DUCKDB_VENV:-.cache/bench/duckdb-venv}
  if ! "$dvenv/bin/python" -c "import duckdb, sys; sys.exit(duckdb.__version__ != '$BENCH_DUCKDB_VERSION')" 2>/dev/null; then
    echo "deps: installing duckdb $BENCH_DUCKDB_VERSION into $dvenv (the DuckDB peer of the benchmarks)"
    python3 -m venv "$dvenv"
    "$dvenv/bin/pip" install -q "duckdb==$BENCH_DUCKDB_VERSION"
  fi
}

jars() {
  bash kafka/local-kafka.sh fetch
  if [ -f s3/local-s3.sh ]; then bash s3/local-s3.sh fetch; fi
}

# make fuzz: clang's libFuzzer and sanitizer runtimes come in their own
# package, named after clang's major version (libclang-rt-14-dev on Debian 12,
# libclang-rt-18-dev on Ubuntu 24.04). Ubuntu 22.04's LLVM 14 predates that
# package: the runtimes are in libclang-common-14-dev, which clang depends on.
fuzz() {
  system
  local major pkg
  major=$(clang --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -n 1)
  pkg="libclang-rt-${major}-dev"
  if [ "$(distro)" = ubuntu-22.04 ]; then pkg="libclang-common-${major}-dev"; fi
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    echo "deps: installing $pkg (libFuzzer, sanitizer runtimes)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
  fi
}

case "${1:-all}" in
  system) system ;;
  python) python ;;
  jars) jars ;;
  all) system; python; jars ;;
  bench) bench ;;
  fuzz) fuzz ;;
  *) echo "usage: $0 [system|python|jars|all|bench|fuzz]" >&2; exit 2 ;;
esac
