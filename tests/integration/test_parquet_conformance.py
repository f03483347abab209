"""Conformance: every file of ../shared/parquet-testing/ (files written by
parquet-mr, parquet-cpp/pyarrow, parquet-rs and Impala; see its INDEX.md)
is read by `iotpipe inspect --json --head all` with values equal to what
pyarrow reads, or refused with a clear error for what we deliberately do
not support (listed in REFUSED and in docs/parquet.md). The suite skips
when the folder is absent; the files are never copied into the repo.
"""
import csv
import pathlib

import pytest

pq = pytest.importorskip("pyarrow.parquet")

from test_parquet_interop import assert_rows_match  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
SUITE = ROOT.parent / "shared" / "parquet-testing"
FILES = sorted(p.name for p in SUITE.glob("*.parquet")) if SUITE.is_dir() else []

# file -> words our error message must contain (we refuse on purpose)
REFUSED = {}


def reference_table(path):
    """What pyarrow reads; DuckDB's reading where pyarrow refuses the file
    (pyarrow 18 rejects unknown-logical-type.parquet, which DuckDB, arrow-rs
    and hyparquet read)."""
    try:
        return pq.read_table(path)
    except Exception:
        duckdb = pytest.importorskip("duckdb")
        return duckdb.sql(f"SELECT * FROM read_parquet('{path}')").arrow()


@pytest.mark.skipif(not FILES, reason=f"{SUITE} not present")
@pytest.mark.parametrize("name", FILES)
def test_conformance(iotpipe, name):
    path = SUITE / name
    if name in REFUSED:
        cp = iotpipe("inspect", "--json", "--head", "all", path, check=False)
        assert cp.returncode == 1, cp.stdout[:500]
        assert str(path) in cp.stderr and REFUSED[name] in cp.stderr, cp.stderr
        assert len(cp.stderr.strip().splitlines()) == 1
        return
    cp = iotpipe("inspect", "--json", "--head", "all", path)
    import json
    doc = json.loads(cp.stdout)
    table = reference_table(path)
    assert_rows_match(doc, table, name)
    assert [c["name"] for c in doc["schema"]] == table.column_names


@pytest.mark.skipif(not FILES, reason=f"{SUITE} not present")
@pytest.mark.parametrize("name", [f for f in FILES if (SUITE / f.replace(
    ".parquet", "_expect.csv")).exists()])
def test_delta_expected_csv(iotpipe, name):
    """The delta_* files come with the values parquet-mr wrote, as CSV."""
    import json
    path = SUITE / name
    doc = json.loads(iotpipe("inspect", "--json", "--head", "all", path).stdout)
    with open(SUITE / name.replace(".parquet", "_expect.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(doc["rows"])
    for i, (want, got) in enumerate(zip(rows, doc["rows"])):
        # delta_encoding_required_column names its columns "name:"
        got = {k.rstrip(":").strip(): v for k, v in got.items()}
        for k, v in want.items():
            k, v = k.strip(), v.strip()
            g = got[k]
            if g is None:
                assert v in ("", "null"), (i, k, v)
            elif isinstance(g, int) and not isinstance(g, bool):
                assert int(v) == g, (i, k, v, g)
            elif isinstance(g, float):
                assert float(v) == g, (i, k, v, g)
            else:
                assert str(g) == v, (i, k, v, g)


