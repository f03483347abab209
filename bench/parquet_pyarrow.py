"""pyarrow side of the Parquet benchmark (see bench/bench_parquet.c and
bench/results/parquet.md): the same 10M rows of the raw-event schema
(docs/design.md §4), the same formulas, written with pq.write_table (snappy, pyarrow's
defaults otherwise) and read back with pq.read_table(use_threads=False).
Data generation is not timed; rates come from CPU time (process_time),
wall time is printed too. MB/s counts the same 36 bytes of fixed-width
data per row as the C benchmark.

    .venv/bin/python bench/parquet_pyarrow.py [--rows N] [--dir D]
"""
import argparse
import os
import time

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def mod(x, m):
    return pc.subtract(x, pc.multiply(pc.divide(x, m), m))


def table(n):
    i = pa.array(range(n), pa.int64())
    et = pc.add(pc.add(1732525200000000, pc.multiply(i, 1000)),
                mod(pc.multiply(i, 7919), 1000))
    temp = pc.add(20.0, pc.divide(pc.cast(mod(pc.multiply(i, 37), 1000), pa.float64()), 100.0))
    dur = pc.add(10.0, pc.divide(pc.cast(pc.subtract(mod(pc.multiply(i, 53), 801), 400),
                                         pa.float64()), 100.0))
    status = pc.take(pa.array(["ok", "warning", "error"]), mod(i, 3))
    schema = pa.schema([
        pa.field("event_time", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("temperature", pa.float64(), nullable=False),
        pa.field("event_duration", pa.float64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("kafka_partition", pa.int32(), nullable=False),
        pa.field("kafka_offset", pa.int64(), nullable=False),
    ])
    return pa.table([et.cast(pa.timestamp("us", tz="UTC")), temp, dur, status,
                     pc.cast(mod(i, 8), pa.int32()), pc.divide(i, 8)], schema=schema)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--dir", default="/tmp")
    a = ap.parse_args()
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    t = table(a.rows)
    path = os.path.join(a.dir, "pyarrow_bench.parquet")
    raw_mb = a.rows * 36 / 1e6
    # pyarrow's defaults (dictionary on every column), then the encodings
    # iotpipe writes (dictionary for the string column only)
    for label, dic in (("defaults", True), ("dict=status", ["status"])):
        run(t, path, raw_mb, a.rows, label, dic)


def run(t, path, raw_mb, rows, label, dic):
    t0, c0 = time.perf_counter(), time.process_time()
    pq.write_table(t, path, compression="snappy", use_dictionary=dic)
    tw, cw = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    back = pq.read_table(path, use_threads=False)
    tr, cr = time.perf_counter() - t0, time.process_time() - c0
    assert back.num_rows == rows
    del back
    size = os.path.getsize(path) / 1e6
    print(f"pyarrow {pa.__version__} {label:11s} codec=SNAPPY rows={rows} file={size:.1f} MB  "
          f"write {tw:.3f} s wall, {cw:.3f} s cpu ({rows / cw / 1e6:.2f} Mrows/s, "
          f"{raw_mb / cw:.0f} MB/s)  read {tr:.3f} s wall, {cr:.3f} s cpu "
          f"({rows / cr / 1e6:.2f} Mrows/s, {raw_mb / cr:.0f} MB/s)")
    os.remove(path)


if __name__ == "__main__":
    main()
