"""The percentile job's logic in DuckDB, for the benchmark, in several SQL
formulations of the same job (the benchmark runs each and reports the
fastest as the peer). Every formulation: the same files read with
hive_partitioning (device_id from the path), the given thread count,
date = UTC date of event_time, num_events = distinct events over the event
columns (event_time, event_duration, temperature, status; not the Kafka
offsets: docs/percentile.md), mean and sample deviation over all rows, the
strict 3-sigma filter (all rows when the deviation is 0), and the
nearest-rank p95, the value at 1-based rank ceil(0.95 * n) with 0.95 * n in
double precision (computed here, not quantile_disc, which picks another
element for some n, duckdb#5366), CSV sorted by device_id and date.

  join    count(DISTINCT (struct)) per group, a join back to the rows for
          the filter, list_sort(list(x))[rank] (the first formulation)
  window  distinct events counted by SELECT DISTINCT then GROUP BY; one
          window pass for count/avg/stddev_samp per group; filter; then
          row_number() in the group = rank (QUALIFY)
  list    distinct events as in window; one GROUP BY collecting the values
          with count/avg/stddev_samp; the filter and the rank on the list
          (list_sort(list_filter(...))[rank]), no join back to the rows
  dedup   one GROUP BY over the event columns gives each distinct event with
          its number of copies; a GROUP BY per (device, date) counts them
          and rebuilds the group's values with the copies
          (flatten(list(list_resize([x], copies, x)))); list_avg,
          list_stddev_samp, the filter and the rank on that list: one scan,
          no join
  single  one GROUP BY per (device, date) over the scan with everything
          in it: count(DISTINCT (struct)), list(x), avg, stddev_samp; the
          filter and the rank on the list: one scan, no join, no second
          aggregation

usage: percentile_duckdb.py RAW_DIR OUT_CSV [THREADS] [THRESHOLD] [FORMULATION]
       percentile_duckdb.py --list          (the formulation names)
       percentile_duckdb.py --sql NAME      (print a formulation's SQL)
"""
import sys
import time

FORMULATIONS = ["join", "window", "list", "dedup", "single"]


def lam(var, body, new_syntax):
    """A lambda in the syntax of the DuckDB at hand: `lambda x: ...` since
    1.3 (2.0 refuses the old arrow), `x -> ...` before."""
    return f"lambda {var}: {body}" if new_syntax else f"{var} -> {body}"


def sql(name, raw, out, threshold, new_lambda=True):
    keep = lam("x", "x > {m} - 3 * {sd} AND x < {m} + 3 * {sd}", new_lambda)
    src = f"read_parquet('{raw}/*/*.parquet', hive_partitioning = true)"
    rank = "greatest(1, CAST(ceil(CAST(0.95 AS DOUBLE) * {n}) AS BIGINT))"
    # distinct events per group: a DISTINCT over the event columns, then a
    # count; the date is a function of event_time, so it is left out of the
    # DISTINCT
    distinct = f"""
  events AS (
    SELECT device_id, CAST(event_time AS DATE) AS date, count(*) AS num_events
    FROM (SELECT DISTINCT device_id, event_time, event_duration, temperature, status
          FROM {src})
    GROUP BY device_id, date
    HAVING count(*) > {threshold}
  )"""
    def filter_and_rank(frm):
        """the end of `dedup` and `single`: FRM has device_id, date, the
        group's values xs, their mean m and deviation sd"""
        return f"""  kept AS (
    SELECT device_id, date,
           CASE WHEN sd = 0 THEN xs
                ELSE list_filter(xs, {keep.format(m='m', sd='sd')}) END AS xs
    FROM {frm}
  )
  SELECT device_id, date,
         list_sort(xs)[{rank.format(n='len(xs)')}] AS event_duration_p95
  FROM kept ORDER BY device_id, date"""

    if name == "join":
        body = f"""
  WITH raw AS (
    SELECT device_id, event_time, event_duration, temperature, status,
           CAST(event_time AS DATE) AS date
    FROM {src}
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
         list_sort(list(event_duration))[{rank.format(n='count(*)')}] AS event_duration_p95
  FROM kept GROUP BY device_id, date ORDER BY device_id, date"""
    elif name == "window":
        body = f"""
  WITH {distinct.strip()},
  stats AS (
    SELECT device_id, CAST(event_time AS DATE) AS date, event_duration,
           avg(event_duration) OVER g AS m, stddev_samp(event_duration) OVER g AS sd
    FROM {src}
    WINDOW g AS (PARTITION BY device_id, CAST(event_time AS DATE))
  ),
  kept AS (
    SELECT s.device_id, s.date, s.event_duration
    FROM stats s SEMI JOIN events e USING (device_id, date)
    WHERE s.sd = 0 OR (s.event_duration > s.m - 3 * s.sd AND s.event_duration < s.m + 3 * s.sd)
  )
  SELECT device_id, date, event_duration AS event_duration_p95
  FROM kept
  QUALIFY row_number() OVER (PARTITION BY device_id, date ORDER BY event_duration)
        = {rank.format(n='count(*) OVER (PARTITION BY device_id, date)')}
  ORDER BY device_id, date"""
    elif name == "list":
        body = f"""
  WITH {distinct.strip()},
  groups AS (
    SELECT device_id, CAST(event_time AS DATE) AS date, list(event_duration) AS xs,
           avg(event_duration) AS m, stddev_samp(event_duration) AS sd
    FROM {src}
    GROUP BY device_id, date
  ),
  kept AS (
    SELECT g.device_id, g.date,
           CASE WHEN g.sd = 0 THEN g.xs
                ELSE list_filter(g.xs, {keep.format(m='g.m', sd='g.sd')}) END AS xs
    FROM groups g SEMI JOIN events e USING (device_id, date)
  )
  SELECT device_id, date,
         list_sort(xs)[{rank.format(n='len(xs)')}] AS event_duration_p95
  FROM kept ORDER BY device_id, date"""
    elif name == "dedup":
        body = f"""
  WITH events AS (
    -- one row per distinct event, with the number of its copies
    SELECT device_id, CAST(event_time AS DATE) AS date, event_duration AS x, count(*) AS c
    FROM {src}
    GROUP BY device_id, event_time, event_duration, temperature, status
  ),
  groups AS (
    SELECT device_id, date, flatten(list(list_resize([x], c, x))) AS xs
    FROM events GROUP BY device_id, date
    HAVING count(*) > {threshold}
  ),
  stats AS (
    SELECT device_id, date, xs, list_avg(xs) AS m, list_stddev_samp(xs) AS sd FROM groups
  ),
{filter_and_rank("stats")}"""
    elif name == "single":
        body = f"""
  WITH groups AS (
    SELECT device_id, CAST(event_time AS DATE) AS date,
           count(DISTINCT (event_time, event_duration, temperature, status)) AS num_events,
           list(event_duration) AS xs,
           avg(event_duration) AS m, stddev_samp(event_duration) AS sd
    FROM {src}
    GROUP BY device_id, date
    HAVING count(DISTINCT (event_time, event_duration, temperature, status)) > {threshold}
  ),
{filter_and_rank("groups")}"""
    else:
        sys.exit(f"unknown formulation {name}: one of {', '.join(FORMULATIONS)}")
    return f"COPY ({body}\n) TO '{out}' (HEADER, DELIMITER ',')"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--list"]:
        print(" ".join(FORMULATIONS))
        sys.exit(0)
    if sys.argv[1:2] == ["--sql"]:
        print(sql(sys.argv[2], "RAW_DIR", "OUT_CSV", 200))
        sys.exit(0)
    import duckdb

    raw, out = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    threshold = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    name = sys.argv[5] if len(sys.argv) > 5 else "join"
    major, minor = (int(v) for v in duckdb.__version__.split(".")[:2])
    new_lambda = (major, minor) >= (1, 3)
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    con.execute(f"SET threads={threads}")
    t0 = time.time()
    con.execute(sql(name, raw, out, threshold, new_lambda))
    print(f"duckdb {name}: {time.time() - t0:.1f} s")
