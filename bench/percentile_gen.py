"""Generates the percentile benchmark's raw dataset with DuckDB: DEVICES
devices x DAYS days of events in the raw layout (device_id=<id>/*.parquet,
columns as `iotpipe archive` writes them), event_duration ~ normal(10, 2)
with 2 decimals (Box-Muller over hashed row numbers: the same data every
run), temperature uniform [20, 30), status ok or
warning, about 1% duplicate sends (the same event at another offset).

usage: percentile_gen.py OUT_DIR [EVENTS] [DEVICES] [DAYS]
       (defaults 100000000 1000 30)
"""
import os
import sys
import time

import duckdb

out = sys.argv[1]
events = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000_000
devices = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
days = int(sys.argv[4]) if len(sys.argv) > 4 else 30
per_device = events // devices
step_us = days * 86_400_000_000 // per_device

if os.path.exists(out):
    sys.exit(f"{out} exists: remove it first")
con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
con.execute(f"SET threads={os.cpu_count()}")
con.execute("SET preserve_insertion_order=false")
t0 = time.time()
con.execute(f"""
COPY (
  WITH base AS (
    -- uniform [0, 1) from a hash of the row number: reproducible, and the
    -- duplicate rows below get the very same values
    SELECT i // {per_device} AS d, i % {per_device} AS k,
           CAST(hash(i * 4) >> 11 AS DOUBLE) / 9007199254740992 AS u1,
           CAST(hash(i * 4 + 1) >> 11 AS DOUBLE) / 9007199254740992 AS u2,
           CAST(hash(i * 4 + 2) >> 11 AS DOUBLE) / 9007199254740992 AS u3,
           CAST(hash(i * 4 + 3) >> 11 AS DOUBLE) / 9007199254740992 AS u4
    FROM range({per_device * devices}) t(i)
  )
  SELECT 'device_id_' || (d + 1) AS device_id,
         make_timestamptz(1735689600000000 + k * {step_us} + CAST(floor(u3 * {step_us}) AS BIGINT))
           AS event_time,
         round(20 + 10 * u4, 2) AS temperature,
         round(10 + 2 * sqrt(-2 * ln(1 - u1)) * cos(2 * pi() * u2), 2) AS event_duration,
         CASE WHEN u4 * 1000 % 1 < 0.5 THEN 'ok' ELSE 'warning' END AS status,
         CAST(d % 4 AS INTEGER) AS kafka_partition,
         CAST(k AS BIGINT) AS kafka_offset
  FROM base
  UNION ALL
  SELECT 'device_id_' || (d + 1),
         make_timestamptz(1735689600000000 + k * {step_us} + CAST(floor(u3 * {step_us}) AS BIGINT)),
         round(20 + 10 * u4, 2),
         round(10 + 2 * sqrt(-2 * ln(1 - u1)) * cos(2 * pi() * u2), 2),
         CASE WHEN u4 * 1000 % 1 < 0.5 THEN 'ok' ELSE 'warning' END,
         CAST(d % 4 AS INTEGER), CAST(k + 1000000000 AS BIGINT)
  FROM base WHERE k % 100 = 7
) TO '{out}' (FORMAT parquet, PARTITION_BY (device_id), COMPRESSION snappy)
""")
print(f"wrote {out} in {time.time() - t0:.1f} s")
