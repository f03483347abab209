"""Parquet interoperability, both directions, against independent readers and
writers (pyarrow and DuckDB).

1. Files WE write (bench_parquet gen: deterministic data whose formula is
   recomputed here) are read by pyarrow.parquet and by DuckDB: identical
   values, types, null positions and row-group statistics.
2. Files pyarrow and DuckDB write inside the test (each codec, dictionary on
   and off, data page v1 and v2, legacy format 1.0, nulls, INT96, DELTA and
   BYTE_STREAM_SPLIT encodings, many row groups and pages, the empty file)
   are read by us through `iotpipe inspect --json --head all` with values
   equal to what pyarrow reads.

The helpers that turn pyarrow values into inspect's JSON form (docs/design.md
§9) are shared with test_parquet_conformance.py.
"""
import datetime
import decimal
import json
import math
import os
import pathlib
import struct
import subprocess

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pc = pytest.importorskip("pyarrow.compute")
duckdb = pytest.importorskip("duckdb")

from fixtures.common import iotpipe_bin  # noqa: E402


def bench_bin():
    return str(pathlib.Path(iotpipe_bin()).parent / "bench_parquet")


def inspect_json(iotpipe, path, head="all"):
    cp = iotpipe("inspect", "--json", "--head", head, path)
    return json.loads(cp.stdout)


# ---- value normalisation: pyarrow -> inspect's JSON form -------------------

def _civil(days):
    """Days since 1970-01-01 to (y, m, d), also beyond datetime's range."""
    z = days + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + (m <= 2), m, d)


def iso_micros(us):
    days, rem = divmod(us, 86400_000_000)
    y, m, d = _civil(days)
    secs, frac = divmod(rem, 1_000_000)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (
        y, m, d, secs // 3600, secs // 60 % 60, secs % 60, frac)


def _bytes_form(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + b.hex()


def _float_form(x):
    if x is None:
        return None
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return x


def column_as_json(col):
    """A pyarrow ChunkedArray as the list inspect --json would print."""
    t = col.type
    if pa.types.is_timestamp(t):
        ints = pc.cast(col, pa.int64()).to_pylist()
        div = {"s": None, "ms": None, "us": 1, "ns": 1000}[t.unit]
        mul = {"s": 1_000_000, "ms": 1000, "us": 1, "ns": 1}[t.unit]
        out = []
        for v in ints:
            if v is None:
                out.append(None)
            elif div:
                out.append(iso_micros(v // div))
            else:
                out.append(iso_micros(v * mul))
        return out
    if pa.types.is_date32(t):
        return [None if v is None else v.isoformat() for v in col.to_pylist()]
    if pa.types.is_decimal(t):
        return [None if v is None else format(v, "f") for v in col.to_pylist()]
    if pa.types.is_float16(t):  # to_pylist() of halffloat crashes pyarrow 18
        return column_as_json(col.cast(pa.float32()))
    if pa.types.is_floating(t):
        return [_float_form(None if v is None else float(v))
                for v in col.to_pylist()]
    if pa.types.is_fixed_size_binary(t):
        return [None if v is None else "0x" + v.hex() for v in col.to_pylist()]
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return [None if v is None else _bytes_form(v) for v in col.to_pylist()]
    if pa.types.is_dictionary(t):
        return column_as_json(col.cast(t.value_type))
    return col.to_pylist()


def same_value(ours, theirs, arrow_type=None):
    if theirs is None or ours is None:
        return ours is None and theirs is None
    if isinstance(theirs, float) and not isinstance(ours, str):
        if arrow_type is not None and (pa.types.is_float32(arrow_type) or
                                       pa.types.is_float16(arrow_type)):
            return struct.pack("<f", ours) == struct.pack("<f", theirs)
        return struct.pack("<d", float(ours)) == struct.pack("<d", theirs)
    if isinstance(theirs, bool) or isinstance(ours, bool):
        return ours is theirs or ours == theirs and type(ours) is type(theirs)
    return ours == theirs


def assert_rows_match(doc, table, label=""):
    """inspect's rows equal pyarrow's table, column by column."""
    assert doc["num_rows"] == table.num_rows, label
    assert len(doc["rows"]) == table.num_rows, label
    for name in table.column_names:
        want = column_as_json(table.column(name))
        got = [row[name] for row in doc["rows"]]
        typ = table.schema.field(name).type
        for i, (g, w) in enumerate(zip(got, want)):
            if not same_value(g, w, typ):
                raise AssertionError(
                    f"{label} column {name} row {i}: ours {g!r} pyarrow {w!r}")


# ---- 1. our files read by pyarrow and DuckDB ------------------------------

def expected_all(n):
    """The 'all' schema of bench_parquet.c, row by row."""
    cols = {k: [] for k in ("b", "i32", "i64", "f", "d", "s_dict", "s_uniq",
                            "ts", "e")}
    for i in range(n):
        null5 = i % 5 == 2
        cols["b"].append(None if null5 else i % 3 == 0)
        v = (i * 2654435761) & 0xFFFFFFFF
        cols["i32"].append(v - (1 << 32) if v >= 1 << 31 else v)
        cols["i64"].append(None if null5 else i * 1000003 - 5000000000)
        cols["f"].append((i % 1000) * 0.5)
        d = i / 7.0
        if i % 97 == 5:
            d = float("nan")
        elif i % 89 == 3:
            d = -0.0
        cols["d"].append(d)
        cols["s_dict"].append(None if null5 else f"k{i % 20}")
        cols["s_uniq"].append(f"value-{i}-{i * 7:x}")
        cols["ts"].append(None if i % 7 == 3 else 1700000000000000 + i * 1000003)
        cols["e"].append("")
    return cols


def gen(tmp_path, name, *args, rows=20000):
    path = tmp_path / name
    subprocess.run([bench_bin(), "gen", str(path), "--schema", "all",
                    "--rows", str(rows), *args], check=True)
    return path


def same_list(got, want):
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        if isinstance(w, float):
            assert g is not None and struct.pack("<d", g) == struct.pack("<d", w) \
                or (math.isnan(w) and g is not None and math.isnan(g)), (i, g, w)
        else:
            assert g == w, (i, g, w)


def _minmax(values):
    vals = [v for v in values if v is not None and
            not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return None, None
    return min(vals), max(vals)


WRITE_CASES = [
    ("snappy-dict-v1", []),
    ("none", ["--codec", "none"]),
    ("gzip-nodict", ["--codec", "gzip", "--no-dict"]),
    ("zstd-v2", ["--codec", "zstd", "--v2"]),
    ("snappy-v2-nodict", ["--v2", "--no-dict"]),
    ("fallback-groups", ["--dict-bytes", "3000", "--rg-rows", "7000",
                         "--page-rows", "999"]),
]


@pytest.mark.parametrize("label,args", WRITE_CASES, ids=[c[0] for c in WRITE_CASES])
def test_our_file_read_by_pyarrow_and_duckdb(tmp_path, label, args):
    rows = 20000
    path = gen(tmp_path, f"{label}.parquet", *args, rows=rows)
    exp = expected_all(rows)

    # pyarrow: types, values, nulls
    t = pq.read_table(path)
    sch = t.schema
    assert sch.field("b").type == pa.bool_() and sch.field("b").nullable
    assert sch.field("i32").type == pa.int32() and not sch.field("i32").nullable
    assert sch.field("i64").type == pa.int64()
    assert sch.field("f").type == pa.float32()
    assert sch.field("d").type == pa.float64()
    assert sch.field("s_dict").type == pa.string()
    assert sch.field("ts").type == pa.timestamp("us", tz="UTC")
    for name in ("b", "i32", "i64", "s_dict", "s_uniq", "e"):
        assert t.column(name).to_pylist() == exp[name], name
    same_list(t.column("f").to_pylist(), exp["f"])
    same_list(t.column("d").to_pylist(), exp["d"])
    assert pc.cast(t.column("ts"), pa.int64()).to_pylist() == exp["ts"]
    assert t.schema.metadata[b"generator"] == b"bench_parquet"

    # pyarrow: row-group statistics (min, max, null count)
    md = pq.ParquetFile(path).metadata
    assert md.created_by.startswith("iotpipe version ")
    start = 0
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        n = rg.num_rows
        for c in range(rg.num_columns):
            cc = rg.column(c)
            name = cc.path_in_schema
            vals = exp[name][start:start + n]
            st = cc.statistics
            assert st is not None and st.has_null_count, name
            assert st.null_count == sum(v is None for v in vals), name
            lo, hi = _minmax(vals)
            if lo is None:
                assert not st.has_min_max
                continue
            assert st.has_min_max, name
            if name == "ts":
                to_us = lambda d: (d - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(microseconds=1)  # noqa: E731
                assert (to_us(st.min), to_us(st.max)) == (lo, hi)
            elif name == "d" and lo == 0:
                assert st.min == 0 and math.copysign(1, st.min) == -1
            else:
                assert (st.min, st.max) == (lo, hi), name
        start += n

    # DuckDB: values and types
    con = duckdb.connect()
    types = {r[0]: r[1] for r in con.execute(
        f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()}
    assert types["i32"] == "INTEGER" and types["i64"] == "BIGINT"
    assert types["f"] == "FLOAT" and types["d"] == "DOUBLE"
    assert types["s_uniq"] == "VARCHAR" and types["b"] == "BOOLEAN"
    assert types["ts"] == "TIMESTAMP WITH TIME ZONE"
    res = con.execute(
        f"SELECT b, i32, i64, f, d, s_dict, s_uniq, epoch_us(ts), e "
        f"FROM read_parquet('{path}')").fetchall()
    assert len(res) == rows
    cols = list(zip(*res))
    for k, name in enumerate(("b", "i32", "i64")):
        assert list(cols[k]) == exp[name], name
    same_list(list(cols[3]), exp["f"])
    same_list(list(cols[4]), exp["d"])
    assert list(cols[5]) == exp["s_dict"]
    assert list(cols[6]) == exp["s_uniq"]
    assert list(cols[7]) == exp["ts"]
    # DuckDB reads our statistics too
    meta = con.execute(
        f"SELECT row_group_id, path_in_schema, stats_null_count, stats_min_value, "
        f"stats_max_value FROM parquet_metadata('{path}') "
        f"WHERE path_in_schema IN ('i32', 'i64', 's_uniq')").fetchall()
    sizes = [md.row_group(g).num_rows for g in range(md.num_row_groups)]
    for rgid, name, nulls, lo, hi in meta:
        s0 = sum(sizes[:rgid])
        vals = exp[name][s0:s0 + sizes[rgid]]
        assert nulls == sum(v is None for v in vals)
        elo, ehi = _minmax(vals)
        assert (lo, hi) == (str(elo), str(ehi)), name


def test_our_raw_schema_batch_api(tmp_path, iotpipe):
    """The column-wise (batch) API writes what the row API writes."""
    a, b = tmp_path / "row.parquet", tmp_path / "batch.parquet"
    subprocess.run([bench_bin(), "gen", str(a), "--rows", "50000"], check=True)
    subprocess.run([bench_bin(), "gen", str(b), "--rows", "50000", "--batch"],
                   check=True)
    assert a.read_bytes() == b.read_bytes()
    t = pq.read_table(a)
    assert t.schema.field("event_time").type == pa.timestamp("us", tz="UTC")
    assert t.column("status").to_pylist()[:4] == ["ok", "warning", "error", "ok"]
    doc = inspect_json(iotpipe, a, head="3")
    assert doc["rows"][0]["event_time"] == "2024-11-25T09:00:00.000000Z"
    assert doc["rows"][1]["temperature"] == 20.37
    assert doc["schema"][0] == {"name": "event_time", "type": "INT64",
                                "logical_type": "TIMESTAMP(MICROS,UTC)",
                                "repetition": "REQUIRED"}


def test_deterministic_output(tmp_path):
    a = gen(tmp_path, "a.parquet", "--codec", "zstd")
    b = gen(tmp_path, "b.parquet", "--codec", "zstd")
    assert a.read_bytes() == b.read_bytes()


# ---- 2. files pyarrow and DuckDB write, read by us ------------------------

def sample_table(n=3000):
    rows = range(n)
    utc = datetime.timezone.utc
    base = datetime.datetime(2024, 2, 28, 23, 0, tzinfo=utc)
    return pa.table({
        "b": pa.array([None if i % 7 == 1 else i % 2 == 0 for i in rows]),
        "i8": pa.array([(i % 256) - 128 for i in rows], pa.int8()),
        "i16": pa.array([None if i % 11 == 0 else i * 3 - 5000 for i in rows], pa.int16()),
        "i32": pa.array([i * 7919 - 10**6 for i in rows], pa.int32()),
        "u32": pa.array([(i * 2654435761) % 2**32 for i in rows], pa.uint32()),
        "i64": pa.array([None if i % 5 == 0 else i * 10**12 + 7 for i in rows], pa.int64()),
        "f32": pa.array([i / 8 for i in rows], pa.float32()),
        "f64": pa.array([float("nan") if i % 13 == 0 else
                         (float("-inf") if i % 17 == 0 else
                          (-0.0 if i % 19 == 0 else i / 3 - 100)) for i in rows]),
        "s": pa.array([None if i % 3 == 0 else f"s{i % 40}-ünï" for i in rows]),
        "u": pa.array([f"unique-{i}" * (1 + i % 3) for i in rows]),
        "bin": pa.array([bytes([i % 256, 255, 0]) for i in rows], pa.binary()),
        "ts_us": pa.array([None if i % 9 == 4 else base + datetime.timedelta(seconds=i * 37, microseconds=i) for i in rows], pa.timestamp("us", tz="UTC")),
        "ts_ms": pa.array([base + datetime.timedelta(milliseconds=i * 1001) for i in rows], pa.timestamp("ms")),
        "ts_ns": pa.array([i * 1_000_000_007 + 1_700_000_000_000_000_000 for i in rows], pa.timestamp("ns", tz="UTC")),
        "date": pa.array([datetime.date(2020, 1, 1) + datetime.timedelta(days=i) for i in rows], pa.date32()),
        "dec": pa.array([decimal.Decimal(i * 37 - 5000) / 100 for i in rows], pa.decimal128(10, 2)),
    })


PYARROW_CASES = []
for codec in ("none", "snappy", "gzip", "zstd", "lz4", "brotli"):
    for dict_ in (True, False):
        for page in ("1.0", "2.0"):
            PYARROW_CASES.append((f"{codec}-{'dict' if dict_ else 'plain'}-v{page[0]}",
                                  dict(compression=codec, use_dictionary=dict_,
                                       data_page_version=page)))
PYARROW_CASES += [
    ("format-1.0", dict(version="1.0", coerce_timestamps="us",
                        allow_truncated_timestamps=True)),
    ("many-groups-pages", dict(row_group_size=97, data_page_size=512,
                               write_batch_size=50)),
    ("stats-off", dict(write_statistics=False)),
    ("page-index-crc", dict(write_page_index=True, write_page_checksum=True)),
]


@pytest.mark.parametrize("label,kw", PYARROW_CASES, ids=[c[0] for c in PYARROW_CASES])
def test_pyarrow_file_read_by_us(tmp_path, iotpipe, label, kw):
    t = sample_table()
    path = tmp_path / f"{label}.parquet"
    pq.write_table(t, path, **kw)
    if kw.get("compression") == "brotli":
        cp = iotpipe("inspect", "--json", path, check=False)
        assert cp.returncode == 1
        assert "BROTLI" in cp.stderr and str(path) in cp.stderr
        return
    doc = inspect_json(iotpipe, path)
    assert_rows_match(doc, pq.read_table(path), label)
    md = pq.ParquetFile(path).metadata
    assert len(doc["row_groups"]) == md.num_row_groups
    for g, rg in enumerate(doc["row_groups"]):
        assert rg["num_rows"] == md.row_group(g).num_rows
        for c, col in enumerate(rg["columns"]):
            cm = md.row_group(g).column(c)
            assert col["codec"] == cm.compression.upper().replace("LZ4", "LZ4_RAW") \
                or col["codec"] == cm.compression.upper()
            assert col["num_values"] == cm.num_values
            st = cm.statistics
            if st is not None and st.has_null_count:
                assert col["statistics"]["null_count"] == st.null_count


def test_pyarrow_int96_and_encodings(tmp_path, iotpipe):
    t = sample_table(2000)
    p96 = tmp_path / "int96.parquet"
    pq.write_table(t.select(["ts_us", "ts_ns", "i32"]), p96,
                   use_deprecated_int96_timestamps=True)
    assert pq.ParquetFile(p96).schema.column(0).physical_type == "INT96"
    doc = inspect_json(iotpipe, p96)
    assert doc["schema"][0]["type"] == "INT96"
    assert_rows_match(doc, pq.read_table(p96), "int96")

    penc = tmp_path / "encodings.parquet"
    sub = t.select(["i32", "i64", "u", "s", "f32", "f64", "dec"])
    pq.write_table(sub, penc, use_dictionary=False, column_encoding={
        "i32": "DELTA_BINARY_PACKED", "i64": "DELTA_BINARY_PACKED",
        "u": "DELTA_BYTE_ARRAY", "s": "DELTA_LENGTH_BYTE_ARRAY",
        "f32": "BYTE_STREAM_SPLIT", "f64": "BYTE_STREAM_SPLIT",
        "dec": "BYTE_STREAM_SPLIT"}, data_page_size=2048)
    doc = inspect_json(iotpipe, penc)
    encs = {c["name"]: c["encodings"] for c in doc["row_groups"][0]["columns"]}
    assert "DELTA_BINARY_PACKED" in encs["i64"]
    assert "DELTA_BYTE_ARRAY" in encs["u"]
    assert "BYTE_STREAM_SPLIT" in encs["f64"]
    assert_rows_match(doc, pq.read_table(penc), "encodings")


def test_pyarrow_empty_and_nulls(tmp_path, iotpipe):
    t = sample_table(10)
    empty = tmp_path / "empty.parquet"
    pq.write_table(t.slice(0, 0), empty)
    doc = inspect_json(iotpipe, empty)
    assert doc["num_rows"] == 0 and doc["rows"] == []
    assert len(doc["schema"]) == t.num_columns
    allnull = tmp_path / "allnull.parquet"
    pq.write_table(pa.table({"x": pa.array([None] * 100, pa.string()),
                             "y": pa.array([None] * 100, pa.float64())}), allnull)
    doc = inspect_json(iotpipe, allnull)
    assert [r["x"] for r in doc["rows"]] == [None] * 100
    assert doc["row_groups"][0]["columns"][0]["statistics"]["null_count"] == 100


DUCKDB_CASES = [("snappy", 122880), ("zstd", 1000), ("gzip", 50000),
                ("uncompressed", 777)]


@pytest.mark.parametrize("codec,rg", DUCKDB_CASES, ids=[c[0] for c in DUCKDB_CASES])
def test_duckdb_file_read_by_us(tmp_path, iotpipe, codec, rg):
    path = tmp_path / f"duck-{codec}.parquet"
    con = duckdb.connect()
    con.execute(f"""
        COPY (SELECT i::INTEGER AS i,
                     CASE WHEN i % 4 = 0 THEN NULL ELSE i * 1000000007 END AS big,
                     (i / 7)::DOUBLE AS d, (i / 3)::FLOAT AS f,
                     CASE WHEN i % 5 = 0 THEN NULL ELSE 'st' || (i % 9) END AS s,
                     'u' || i AS u, i % 2 = 0 AS b,
                     TIMESTAMP '2024-01-01 00:00:00' + to_microseconds(i * 1234567) AS ts,
                     TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_microseconds(i * 7) AS tstz,
                     DATE '2000-01-01' + i::INTEGER AS dt
              FROM range(5000) t(i))
        TO '{path}' (FORMAT parquet, COMPRESSION {codec}, ROW_GROUP_SIZE {rg})""")
    doc = inspect_json(iotpipe, path)
    assert_rows_match(doc, pq.read_table(path), f"duckdb-{codec}")
    assert doc["created_by"].startswith("DuckDB")


def test_duckdb_v2_encodings(tmp_path, iotpipe):
    path = tmp_path / "duck-v2.parquet"
    con = duckdb.connect()
    try:
        con.execute(f"""
            COPY (SELECT i::INTEGER AS i, i * 3 AS l, (i / 7)::DOUBLE AS d,
                         'v' || i AS s FROM range(3000) t(i))
            TO '{path}' (FORMAT parquet, PARQUET_VERSION V2)""")
    except duckdb.Error as e:  # older DuckDB without PARQUET_VERSION
        pytest.skip(f"DuckDB cannot write V2: {e}")
    doc = inspect_json(iotpipe, path)
    assert_rows_match(doc, pq.read_table(path), "duckdb-v2")


def test_nested_schema_refused(tmp_path, iotpipe):
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"id": [1, 2], "tags": [["a"], ["b", "c"]]}), path)
    cp = iotpipe("inspect", path, check=False)
    assert cp.returncode == 1
    assert str(path) in cp.stderr and "nested schemas are not supported" in cp.stderr
    path = tmp_path / "struct.parquet"
    pq.write_table(pa.table({"s": [{"a": 1}, {"a": 2}]}), path)
    cp = iotpipe("inspect", path, check=False)
    assert cp.returncode == 1 and "'s' is a group" in cp.stderr


def test_inspect_text_and_errors(tmp_path, iotpipe):
    path = gen(tmp_path, "t.parquet", rows=100)
    cp = iotpipe("inspect", path)
    assert "schema:" in cp.stdout and "s_uniq" in cp.stdout
    assert "row group 0: 100 rows" in cp.stdout
    assert len(cp.stdout.split("rows (first):\n")[1].strip().splitlines()) == 11
    doc = inspect_json(iotpipe, path, head="5")
    assert len(doc["rows"]) == 5
    assert doc["key_value_metadata"] == {"generator": "bench_parquet", "schema": "all"}
    assert doc["rows"][4]["d"] == 4 / 7 and doc["rows"][2]["b"] is None
    # errors: one line on stderr naming the file; exit 1 (runtime) or 2 (usage)
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(path.read_bytes()[:-20])
    cp = iotpipe("inspect", bad, check=False)
    assert cp.returncode == 1 and str(bad) in cp.stderr
    assert len(cp.stderr.strip().splitlines()) == 1
    cp = iotpipe("inspect", tmp_path / "missing.parquet", check=False)
    assert cp.returncode == 1 and "missing.parquet" in cp.stderr
    cp = iotpipe("inspect", "--head", "x", path, check=False)
    assert cp.returncode == 2
    cp = iotpipe("inspect", check=False)
    assert cp.returncode == 2
    cp = iotpipe("inspect", "--help")
    assert "--head" in cp.stdout and "--json" in cp.stdout
