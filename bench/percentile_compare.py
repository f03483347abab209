"""Compares the benchmark's outputs: iotpipe's CSV with DuckDB's CSV and,
when given, Spark's folder of part files (sorted here: the reference does
not sort). Prints the number of groups and of differing values.

usage: percentile_compare.py IOTPIPE_CSV DUCKDB_CSV [SPARK_DIR]
"""
import csv
import glob
import sys


def load(path):
    files = sorted(glob.glob(path + "/part-*.csv")) if not path.endswith(".csv") else [path]
    rows = []
    for f in files:
        with open(f) as fh:
            rows += list(csv.reader(fh))[1:]
    return {(r[0], r[1]): float(r[2]) for r in rows}


ours = load(sys.argv[1])
for other in sys.argv[2:]:
    theirs = load(other)
    diff = [k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k)]
    print(f"iotpipe {len(ours)} groups, {other}: {len(theirs)} groups, {len(diff)} differ")
