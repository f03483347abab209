#!/usr/bin/env bash
# collect.sh - writes bench/RESULTS.md: the summary below, then every
# bench/results/*.md (one per benchmark, each with its own commands and
# raw numbers). Run after any benchmark: bash bench/collect.sh
set -euo pipefail
cd "$(dirname "$0")"
{
  cat <<'MD'
# Benchmark results

Every number here was measured on this project's machine (2 cores, 24 GB,
Debian 12), side by side with its peer in the same run; each section below
gives the command that reproduces it. The machine was shared with other
builds and tests during most runs (the sections say the load), so compare
ratios, not absolute times.

| stage | iotpipe | peer | ratio | goal | section |
|---|---|---|---|---|---|
| produce, ~100 B events, acks=all, idempotent | 203-211k events/s, 26-32 MB | Kafka ProducerPerformance 56-58k/s, 565-578 MB | 3.6x | >= 1.0x | produce.md |
| JSON event decode (validating) | 192.5 ns/event, ~2,650 instructions | jsmn + strtod 346.8 ns, ~4,100 | 1.8x | 100-300 ns | produce.md |
| Parquet write, 10M raw rows, snappy, 1 thread | 13.4-17.3 M rows/s | pyarrow 8.8 M rows/s | 1.5-2.0x | >= 1.0x | parquet.md |
| Parquet read, same | 40.8 M rows/s | pyarrow 14.9 M rows/s | 2.7x | >= 1.0x | parquet.md |
| S3 upload, 1 GiB in 8-64 MB objects | 11.9 MB/s | boto3 12.4 MB/s | 0.96x (server-bound) | >= 1.0x | store.md |
| S3 download, same | 160.0 MB/s | boto3 139.9 MB/s | 1.14x | >= 1.0x | store.md |
| percentile, 100M rows, 2 threads | 26.2 s, 31 MB | DuckDB 536 s / Spark local[2] 1,072 s | 20.4x / 40.9x | >= 1.0x / >= 20x | percentile.md |
| archive --once, 1M events | 115-155k events/s | Spark availableNow 7.8-15.5k/s | 10-15x | >= 20x | streaming.md |
| aggregate --once, 1M events | 57-64k events/s | Spark availableNow 3.1-4.2k/s | 14-21x | >= 20x | streaming.md |
| archive / aggregate vs consume ceiling (kcat), 10M | 0.16-0.17x / 0.05-0.10x | kcat ~1.05M/s | | >= 0.5x | streaming.md |
| peak RSS, 10,000 devices | archive 181 MB, aggregate 90 MB | | | <= 200 MB | streaming.md |

MD
  for f in results/*.md; do
    printf '\n---\n\n'
    cat "$f"
  done
} > RESULTS.md
echo "wrote bench/RESULTS.md"
