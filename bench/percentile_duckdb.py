"""The percentile job's logic as one DuckDB query, for the benchmark: the
same files, the same thread count, distinct events over the event columns,
mean and sample deviation over all rows, the strict 3-sigma filter (all
rows when the deviation is 0), and the nearest-rank p95 written as
list_sort(...)[ceil(0.95 * n)] (quantile_disc picks another element for
some n, duckdb#5366), CSV sorted by device_id and date.

usage: percentile_duckdb.py RAW_DIR OUT_CSV [THREADS] [THRESHOLD]
"""
import sys
import time

import duckdb

raw, out = sys.argv[1], sys.argv[2]
threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
threshold = int(sys.argv[4]) if len(sys.argv) > 4 else 200

con = duckdb.connect()
con.execute("SET TimeZone='UTC'")
con.execute(f"SET threads={threads}")
t0 = time.time()
con.execute(f"""
COPY (
  WITH raw AS (
    SELECT device_id, event_time, event_duration, temperature, status,
           CAST(event_time AS DATE) AS date
    FROM read_parquet('{raw}/*/*.parquet', hive_partitioning = true)
  ),
  stats AS (
    SELECT device_id, date,
           count(DISTINCT (event_time, event_duration, temperature, status)) AS num_events,
           avg(event_duration) AS m, stddev_samp(event_duration) AS sd
    FROM raw GROUP BY device_id, date
    HAVING count(DISTINCT (event_time, event_duration, temperature, status)) > {threshold}
  ),
  kept AS (
    SELECT r.device_id, r.date, r.event_duration
    FROM raw r JOIN stats s USING (device_id, date)
    WHERE s.sd = 0 OR (r.event_duration > s.m - 3 * s.sd AND r.event_duration < s.m + 3 * s.sd)
  )
  SELECT device_id, date,
         list_sort(list(event_duration))[
           greatest(1, least(count(*), CAST(ceil(0.95 * count(*)) AS BIGINT)))] AS event_duration_p95
  FROM kept GROUP BY device_id, date ORDER BY device_id, date
) TO '{out}' (HEADER, DELIMITER ',')
""")
print(f"duckdb: {time.time() - t0:.1f} s")
