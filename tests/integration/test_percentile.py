"""`iotpipe percentile` against an answer computed here, independently.

Datasets are written in the raw layout (device_id=<id>/<file>.parquet) by
several writers and option sets: pyarrow (dictionary on/off, snappy, zstd,
gzip, none, data page v2, small row groups, INT96, millisecond and
nanosecond timestamps, FLOAT durations, naive timestamps) and DuckDB's
COPY TO. The expected CSV is computed in this file from what pyarrow reads
back, following docs/design.md §6 and docs/percentile.md:

  num_events  distinct events of the (device, UTC date): rows compared on
              every column except kafka_partition/kafka_offset
  mean, sd    over all the group's rows (duplicates included), plain
              left-to-right sum in file order, sd with n - 1; all-equal
              values: mean is the value, sd 0
  kept        num_events > threshold; rows with mean-3sd < x < mean+3sd
              (all rows when sd == 0)
  p           nearest rank ceil(p*n) of the sorted kept values, or numpy's
              'linear' (written out below: numpy is not a test dependency)

DuckDB's quantile_disc is deliberately NOT used: it picks a different
element for some n (duckdb#5366). The CSV must match byte for byte.
"""
import datetime as dt
import math
import os
import pathlib
import random
import re
import struct
import urllib.parse

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import oracle

UTC = dt.timezone.utc
DAY_US = 86_400_000_000
PROVENANCE = {"kafka_partition", "kafka_offset"}


# ---- the independent answer ---------------------------------------------

def dataset_files(root):
    """(device_id, path) for every Parquet file, in iotpipe's order."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if any(c.startswith((".", "_")) for c in rel.split(os.sep)):
                continue
            if not name.endswith(".parquet"):
                continue
            m = re.search(r"(?:^|/)device_id=([^/]*)/", rel)
            assert m, rel
            out.append((urllib.parse.unquote(m.group(1)), path))
    return sorted(out, key=lambda dp: (dp[0].encode(), dp[1].encode()))


def read_rows(path):
    """Yields (micros, duration, other_key, is_float) per row."""
    t = pq.read_table(path)
    et = t.column("event_time")
    if pa.types.is_timestamp(et.type):
        micros = pc.cast(et, pa.timestamp("us", tz=et.type.tz), safe=False)
    else:
        raise AssertionError(f"{path}: event_time is {et.type}")
    micros = micros.cast(pa.int64()).to_pylist()
    dur_col = t.column("event_duration")
    is_float = dur_col.type == pa.float32()
    durs = dur_col.to_pylist()
    others = [n for n in t.column_names
              if n not in ("event_time", "event_duration") and n not in PROVENANCE]
    other_vals = {n: t.column(n).to_pylist() for n in others}
    for i in range(t.num_rows):
        if micros[i] is None or durs[i] is None or not math.isfinite(durs[i]):
            continue
        key = frozenset((n, other_vals[n][i]) for n in others
                        if other_vals[n][i] is not None)
        yield micros[i], float(durs[i]), key, is_float


def float32_repr(v):
    for prec in range(6, 10):
        s = "%.*g" % (prec, v)
        if struct.unpack("f", struct.pack("f", float(s)))[0] == v:
            break
    return s if re.search(r"[.eEnN]", s) else s + ".0"


def lerp(a, b, t):
    d = b - a
    return b - d * (1 - t) if t >= 0.5 else a + d * t


def percentile(sorted_vals, p, method):
    n = len(sorted_vals)
    if method == "nearest":
        rank = min(max(math.ceil(p * n), 1), n)
        return sorted_vals[rank - 1]
    h = (n - 1) * p
    lo = math.floor(h)
    if lo >= n - 1:
        return sorted_vals[n - 1]
    return lerp(sorted_vals[lo], sorted_vals[lo + 1], h - lo)


def column_name(p):
    txt = ("%.12f" % p).rstrip("0")
    ip, _, frac = txt.partition(".")
    pct = (ip + (frac + "00")[:2]).lstrip("0") or "0"
    rest = frac[2:]
    return "event_duration_p" + pct + ("_" + rest if rest else "")


def csv_field(s):
    if any(c in s for c in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def expected_csv(root, threshold=200, ps=(0.95,), method="nearest"):
    groups = {}
    device_double = {}
    for device, path in dataset_files(root):
        for micros, dur, key, is_float in read_rows(path):
            day = micros // DAY_US
            g = groups.setdefault((device, day), [])
            g.append(((micros, dur, key), dur))
        # a device prints FLOAT values as floats only if no file had DOUBLE
        schema = pq.read_schema(path)
        is_double = schema.field("event_duration").type == pa.float64()
        device_double[device] = device_double.get(device, False) or is_double
    lines = ["device_id,date," + ",".join(column_name(p) for p in ps)]
    for (device, day) in sorted(groups, key=lambda k: (k[0].encode(), k[1])):
        rows = groups[(device, day)]
        if len({k for k, _ in rows}) <= threshold:
            continue
        xs = [x for _, x in rows]
        n = len(xs)
        if min(xs) == max(xs):
            mean, sd = xs[0], 0.0
        else:
            s = 0.0
            for x in xs:
                s += x
            mean = s / n
            ss = 0.0
            for x in xs:
                d = x - mean
                ss += d * d
            sd = math.sqrt(ss / (n - 1))
        if sd == 0:
            kept = sorted(xs)
        else:
            lo, hi = mean - 3 * sd, mean + 3 * sd
            kept = sorted(x for x in xs if lo < x < hi)
        if not kept:
            continue
        date = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
        vals = []
        for p in ps:
            v = percentile(kept, p, method)
            if not device_double[device] and method == "nearest":
                vals.append(float32_repr(v))
            else:
                vals.append(repr(v))
        lines.append(",".join([csv_field(device), date] + vals))
    return "\n".join(lines) + "\n"


# ---- writing datasets ---------------------------------------------------

SCHEMA = pa.schema([
    ("event_time", pa.timestamp("us", tz="UTC")),
    ("temperature", pa.float64()),
    ("event_duration", pa.float64()),
    ("status", pa.string()),
    ("kafka_partition", pa.int32()),
    ("kafka_offset", pa.int64()),
])


def events(rng, day, n, start_s=0, span_s=86400, dur=None, offset0=0):
    """n events on `day` (a date) between start_s and start_s + span_s."""
    base = int(dt.datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**6
    rows = []
    for i in range(n):
        rows.append({
            "event_time": base + start_s * 10**6 + rng.randrange(span_s * 10**6),
            "temperature": round(rng.uniform(20, 30), 2),
            "event_duration": dur(rng, i) if dur else round(rng.gauss(10, 2), 2),
            "status": rng.choice(["ok", "warning"]),
            "kafka_partition": rng.randrange(3),
            "kafka_offset": offset0 + i,
        })
    return rows


def to_table(rows, schema=SCHEMA):
    cols = {f.name: [r[f.name] for r in rows] for f in SCHEMA}
    t = pa.table({k: pa.array(v, SCHEMA.field(k).type) for k, v in cols.items()})
    return t.cast(schema) if schema is not SCHEMA else t


def write(root, device, name, rows, **kw):
    d = pathlib.Path(root) / f"device_id={urllib.parse.quote(device, safe='')}"
    d.mkdir(parents=True, exist_ok=True)
    schema = kw.pop("schema", SCHEMA)
    pq.write_table(to_table(rows, schema), d / name, **kw)
    return d / name


def duckdb_write(root, device, name, rows):
    d = pathlib.Path(root) / f"device_id={device}"
    d.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.register("t", to_table(rows))
    con.execute(f"COPY (SELECT * FROM t) TO '{d / name}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000)")
    con.close()


def run_percentile(iotpipe, inp, out, *args, **kw):
    cp = iotpipe("percentile", "--input", inp, "--output", out, "--metrics-addr", "off",
                 *args, **kw)
    return cp


# ---- tests --------------------------------------------------------------

WRITERS = [
    ("pyarrow-default", {}),
    ("no-dictionary", {"use_dictionary": False}),
    ("zstd", {"compression": "zstd"}),
    ("gzip-v2-pages", {"compression": "gzip", "data_page_version": "2.0"}),
    ("uncompressed-small-groups", {"compression": "none", "row_group_size": 97}),
    ("int96", {"use_deprecated_int96_timestamps": True}),
    ("millis", {"coerce_timestamps": "ms", "allow_truncated_timestamps": True}),
    ("nanos", {"schema": SCHEMA.set(0, pa.field("event_time", pa.timestamp("ns", tz="UTC"))),
               "version": "2.6"}),
    ("naive-timestamps", {"schema": SCHEMA.set(0, pa.field("event_time", pa.timestamp("us")))}),
    ("float-duration", {"schema": SCHEMA.set(2, pa.field("event_duration", pa.float32()))}),
]


def test_mixed_writers_match_independent_answer(iotpipe, tmp_path):
    rng = random.Random(8)
    root = tmp_path / "raw"
    day = dt.date(2025, 3, 1)
    for i, (label, kw) in enumerate(WRITERS):
        dev = f"device_id_{i}"
        # two days; the second file of each device crosses midnight
        rows = events(rng, day, rng.randrange(190, 400))
        rows += events(rng, day + dt.timedelta(days=1), rng.randrange(190, 400), offset0=1000)
        rng.shuffle(rows)
        write(root, dev, f"a-{label}.parquet", rows[: len(rows) // 2], **dict(kw))
        write(root, dev, f"b-{label}.parquet", rows[len(rows) // 2:], **dict(kw))
    duck = events(rng, day, 350) + events(rng, day + dt.timedelta(days=2), 260)
    duckdb_write(root, "device_id_duckdb", "data_0.parquet", duck)
    out = tmp_path / "out.csv"
    run_percentile(iotpipe, root, out)
    want = expected_csv(root)
    assert out.read_text() == want
    assert len(want.splitlines()) > 10
    # the files really are what their names say
    md = pq.ParquetFile(next(root.glob("device_id=device_id_5/*.parquet"))).schema
    assert md.column(0).physical_type == "INT96"
    md = pq.ParquetFile(next(root.glob("device_id=device_id_6/*.parquet"))).schema_arrow
    assert md.field("event_time").type == pa.timestamp("ms", tz="UTC")


def test_threshold_is_strict_and_counts_distinct_events(iotpipe, tmp_path):
    """200, 201 and 199 distinct events; duplicate sends (same event, another
    Kafka offset) do not count, but do feed the statistics."""
    rng = random.Random(1)
    root = tmp_path / "raw"
    d0 = dt.date(2025, 1, 10)
    exactly = events(rng, d0, 200)
    above = events(rng, d0 + dt.timedelta(days=1), 201)
    below = events(rng, d0 + dt.timedelta(days=2), 199)
    dups = [dict(r, kafka_offset=r["kafka_offset"] + 10_000, kafka_partition=9)
            for r in exactly[:50]]
    write(root, "dev", "part-0.parquet", exactly + above + below + dups)
    out = tmp_path / "out.csv"
    run_percentile(iotpipe, root, out)
    text = out.read_text()
    assert text == expected_csv(root)
    assert [l.split(",")[1] for l in text.splitlines()[1:]] == ["2025-01-11"]
    # --threshold and NUM_EVENT_THRESHOLD move the cut (flag > env)
    run_percentile(iotpipe, root, out, "--threshold", "199")
    assert out.read_text() == expected_csv(root, threshold=199)
    assert len(out.read_text().splitlines()) == 3
    run_percentile(iotpipe, root, out, env={"NUM_EVENT_THRESHOLD": "198"})
    assert len(out.read_text().splitlines()) == 4
    run_percentile(iotpipe, root, out, "--threshold", "200", env={"NUM_EVENT_THRESHOLD": "198"})
    assert len(out.read_text().splitlines()) == 2


def test_exactly_three_sigma_ties_and_outliers(iotpipe, tmp_path):
    """17 x 10, 100 x (9, 11), 7 and 13: mean 10, sd exactly 1, so 7 and 13
    lie exactly at 3 sigma and are dropped (strict); p0/p100 show it. A
    second day has far outliers on both sides; a third only ties."""
    rng = random.Random(2)
    root = tmp_path / "raw"
    d0 = dt.date(2025, 2, 1)
    vals = [10.0] * 17 + [9.0, 11.0] * 100 + [7.0, 13.0]
    rows = events(rng, d0, len(vals), dur=lambda r, i: vals[i])
    far = events(rng, d0 + dt.timedelta(days=1), 400)
    far[3]["event_duration"] = 1000.0
    far[7]["event_duration"] = -1000.0
    ties = events(rng, d0 + dt.timedelta(days=2), 300,
                  dur=lambda r, i: r.choice([9.5, 10.0, 10.5]))
    write(root, "dev", "p.parquet", rows + far + ties)
    out = tmp_path / "out.csv"
    ps = "0,0.5,0.95,1"
    run_percentile(iotpipe, root, out, "--percentiles", ps)
    text = out.read_text()
    assert text == expected_csv(root, ps=(0, 0.5, 0.95, 1))
    first = text.splitlines()[1].split(",")
    assert first[0:3] == ["dev", "2025-02-01", "9.0"] and first[-1] == "11.0"
    second = text.splitlines()[2].split(",")
    assert 0 < float(second[2]) and float(second[-1]) < 20  # +-1000 dropped


def test_both_sides_of_utc_midnight(iotpipe, tmp_path):
    rng = random.Random(3)
    root = tmp_path / "raw"
    d0 = dt.date(2024, 12, 31)
    before = events(rng, d0, 250, start_s=86400 - 60, span_s=60)
    after = events(rng, d0 + dt.timedelta(days=1), 250, start_s=0, span_s=60)
    last = int(dt.datetime(2025, 1, 1, tzinfo=UTC).timestamp()) * 10**6
    before[0]["event_time"] = last - 1
    after[0]["event_time"] = last
    for label, kw in WRITERS[:1] + WRITERS[5:7]:
        r = tmp_path / label
        write(r, "dev", "p.parquet", before + after, **dict(kw))
        out = tmp_path / f"{label}.csv"
        run_percentile(iotpipe, r, out)
        text = out.read_text()
        assert text == expected_csv(r)
        assert [l.split(",")[1] for l in text.splitlines()[1:]] == ["2024-12-31", "2025-01-01"]


def test_zero_deviation_group_is_kept(iotpipe, tmp_path):
    """All durations equal: no row is an outlier, so the group is kept and
    its p95 is the value (the reference's strict filter would drop it)."""
    rng = random.Random(4)
    root = tmp_path / "raw"
    write(root, "flat", "p.parquet", events(rng, dt.date(2025, 5, 5), 250, dur=lambda r, i: 10.12))
    out = tmp_path / "out.csv"
    run_percentile(iotpipe, root, out)
    assert out.read_text() == "device_id,date,event_duration_p95\nflat,2025-05-05,10.12\n"
    assert out.read_text() == expected_csv(root)


def test_many_devices_threads_and_shards(iotpipe, tmp_path):
    rng = random.Random(5)
    root = tmp_path / "raw"
    for i in range(120):
        rows = events(rng, dt.date(2025, 6, 1), rng.randrange(195, 260))
        rows += events(rng, dt.date(2025, 6, 2), rng.randrange(195, 260))
        write(root, f"device_id_{i}", "part-0.parquet", rows)
    want = expected_csv(root)
    for threads in ("1", "2", "7"):
        out = tmp_path / f"t{threads}.csv"
        run_percentile(iotpipe, root, out, "--threads", threads)
        assert out.read_text() == want
    shard_rows = []
    outdir = tmp_path / "shards"
    outdir.mkdir()
    for i in range(3):
        run_percentile(iotpipe, root, f"{outdir}/", "--shard", f"{i}/3")
        lines = (outdir / f"percentile-{i}-of-3.csv").read_text().splitlines()
        assert lines[0] == want.splitlines()[0]
        shard_rows.append(lines[1:])
    assert all(shard_rows), "every shard got some devices"
    merged = sorted(sum(shard_rows, []), key=lambda l: (l.split(",")[0], l.split(",")[1]))
    assert merged == want.splitlines()[1:]


def test_linear_and_extra_percentiles(iotpipe, tmp_path):
    rng = random.Random(6)
    root = tmp_path / "raw"
    for i in range(4):
        write(root, f"d{i}", "p.parquet", events(rng, dt.date(2025, 7, 1), 230 + 17 * i))
    out = tmp_path / "out.csv"
    ps = (0.5, 0.95, 0.99)
    run_percentile(iotpipe, root, out, "--percentiles", "0.5,0.95,0.99", "--method", "linear")
    assert out.read_text().splitlines()[0] == \
        "device_id,date,event_duration_p50,event_duration_p95,event_duration_p99"
    assert out.read_text() == expected_csv(root, ps=ps, method="linear")
    run_percentile(iotpipe, root, out, "--percentiles", "0.5,0.95,0.99")
    assert out.read_text() == expected_csv(root, ps=ps)


@pytest.mark.parametrize("dirname, what", [
    ("device_id=ab%00cd", "a NUL byte (%00) in its device_id= value"),
    ("device_id=", "an empty device_id= value"),
])
def test_device_values_that_are_not_ids_are_refused(iotpipe, tmp_path, dirname, what):
    """device_id=ab%00cd decoded into a C string is "ab", merged with device
    ab; device_id= beside Hive's null directory gave two rows for one
    empty id. Both stop the job naming the file, and no CSV is written."""
    rng = random.Random(3)
    root = tmp_path / "raw"
    write(root, "ab", "a.parquet", events(rng, dt.date(2025, 8, 1), 50))
    (root / "device_id=__HIVE_DEFAULT_PARTITION__").mkdir()
    write(root, "__HIVE_DEFAULT_PARTITION__", "a.parquet", events(rng, dt.date(2025, 8, 1), 50))
    bad = root / dirname
    bad.mkdir()
    pq.write_table(to_table(events(rng, dt.date(2025, 8, 1), 50), SCHEMA), bad / "a.parquet")
    out = tmp_path / "p.csv"
    cp = run_percentile(iotpipe, root, out, check=False)
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    assert f"{bad / 'a.parquet'}: {what}" in cp.stderr, cp.stderr
    assert not out.exists()


def test_a_column_named_twice_is_an_error(iotpipe, tmp_path):
    """A file with two event_duration columns (pyarrow writes one): the
    job named neither, and read the first."""
    d = tmp_path / "raw" / "device_id=a"
    d.mkdir(parents=True)
    t = pa.Table.from_arrays(
        [pa.array([1_700_000_000_000_000 + i for i in range(300)], pa.timestamp("us")),
         pa.array([1.0] * 300), pa.array([100.0] * 300)],
        names=["event_time", "event_duration", "event_duration"])
    pq.write_table(t, d / "a.parquet")
    cp = run_percentile(iotpipe, tmp_path / "raw", tmp_path / "o.csv", check=False)
    assert cp.returncode == 1, cp.stderr
    assert f"{d / 'a.parquet'}: two columns are named 'event_duration' (columns 2 and 3)" \
        in cp.stderr, cp.stderr


def test_layout_hidden_files_escaped_ids_and_output_folder(iotpipe, tmp_path):
    rng = random.Random(7)
    root = tmp_path / "raw"
    write(root, "dev/1,a", "part-0.parquet", events(rng, dt.date(2025, 8, 1), 230))
    write(root, "caf\u00e9", "part-0.parquet", events(rng, dt.date(2025, 8, 1), 230))
    (root / "_SUCCESS").write_text("")
    (root / "device_id=caf%C3%A9" / ".part-0.parquet.crc").write_bytes(b"junk")
    (root / "_temporary" / "0").mkdir(parents=True)
    (root / "_temporary" / "0" / "junk.parquet").write_bytes(b"junk")
    (root / "device_id=caf%C3%A9" / "notes.txt").write_text("not data")
    outdir = tmp_path / "out"
    run_percentile(iotpipe, root, f"{outdir}/")
    text = (outdir / "percentile.csv").read_text()
    assert text == expected_csv(root)
    assert text.splitlines()[1].startswith("caf\u00e9,2025-08-01,")
    assert text.splitlines()[2].startswith('"dev/1,a",2025-08-01,')
    # an existing directory without the slash is a folder too
    run_percentile(iotpipe, root, outdir)
    assert (outdir / "percentile.csv").read_text() == text
    assert sorted(os.listdir(outdir)) == ["percentile.csv"]


def write_by_date(root, per_device, files_per_date=3, **kw):
    """The rows of {device: [row, ...]} laid out as `archive --partition-by
    date` writes them: date=<yyyy-MM-dd>/ directories (the UTC date of
    event_time) whose files hold the device in a device_id column. Each
    date's rows are cut into files_per_date files, every device's rows
    keeping their order across the files (a/b/c by name), so a device-day
    sums its rows in the same order as in the device_id= layout."""
    by_date = {}
    for device, rows in per_device.items():
        for r in rows:
            day = dt.date(1970, 1, 1) + dt.timedelta(days=r["event_time"] // DAY_US)
            by_date.setdefault(day, {}).setdefault(device, []).append(r)
    schema = pa.schema([("device_id", pa.string())] + list(SCHEMA))
    for day, devs in by_date.items():
        d = pathlib.Path(root) / f"date={day.isoformat()}"
        d.mkdir(parents=True, exist_ok=True)
        for k in range(files_per_date):
            rows = []
            # devices in reverse order within a file: the job may not
            # rely on the files being sorted by device
            for device in sorted(devs, reverse=True):
                rs = devs[device]
                cut = [len(rs) * i // files_per_date for i in range(files_per_date + 1)]
                rows += [dict(r, device_id=device) for r in rs[cut[k]:cut[k + 1]]]
            cols = {f.name: pa.array([r[f.name] for r in rows], f.type) for f in schema}
            pq.write_table(pa.table(cols, schema=schema), d / f"part-{'abc'[k]}.parquet", **kw)


def test_date_layout_gives_the_device_layout_answer(iotpipe, tmp_path):
    """A raw dataset laid out by date= (the device in a column) gives the
    same CSV, byte for byte, as the same rows laid out by device_id=: every
    thread count, every shard, escaped and non-ASCII ids, a null device_id,
    dictionary and plain strings, rows across a UTC midnight."""
    rng = random.Random(21)
    per_device = {}
    for i in range(40):
        dev = ["dev/1,a", "caf\u00e9", "Z", "a"][i] if i < 4 else f"device_id_{i}"
        rows = events(rng, dt.date(2025, 6, 1), rng.randrange(195, 260))
        rows += events(rng, dt.date(2025, 6, 2), rng.randrange(195, 260), offset0=1000)
        per_device[dev] = rows
    by_dev = tmp_path / "by_device"
    for dev, rows in per_device.items():
        write(by_dev, dev, "part-0.parquet", rows)
    want = expected_csv(by_dev)
    assert len(want.splitlines()) > 60
    for kw, name in (({}, "dict"), ({"use_dictionary": False}, "plain")):
        by_date = tmp_path / f"by_date_{name}"
        write_by_date(by_date, per_device, **kw)
        assert sorted(os.listdir(by_date)) == ["date=2025-06-01", "date=2025-06-02"]
        logs = {}
        for threads in ("1", "2", "7"):
            out = tmp_path / f"{name}-{threads}.csv"
            cp = run_percentile(iotpipe, by_date, out, "--threads", threads)
            assert out.read_text() == want, (name, threads)
            # every row is counted once, whatever the thread count
            logs[threads] = re.search(r"(\d+) rows, (\d+) device-days kept", cp.stderr).groups()
            # fewer dates than threads: each date is read in parts, each
            # part keeping its share of the devices
            if threads == "7":
                assert "2 dates (read in 8 parts)" in cp.stderr, cp.stderr
        assert logs["1"] == logs["2"] == logs["7"], logs
        assert int(logs["1"][0]) == sum(len(r) for r in per_device.values())
    # the root may be one date directory
    out = tmp_path / "one-date.csv"
    run_percentile(iotpipe, tmp_path / "by_date_dict" / "date=2025-06-02", out)
    assert out.read_text().splitlines()[1:] == [
        l for l in want.splitlines()[1:] if ",2025-06-02," in l]
    # shards: the rows of each device go to exactly one shard, as with
    # device_id= directories
    parts = []
    for i in range(3):
        a, b = tmp_path / f"s{i}-date.csv", tmp_path / f"s{i}-dev.csv"
        run_percentile(iotpipe, tmp_path / "by_date_dict", a, "--shard", f"{i}/3")
        run_percentile(iotpipe, by_dev, b, "--shard", f"{i}/3")
        assert a.read_text() == b.read_text()
        # and with more threads than dates
        c = tmp_path / f"s{i}-date-5.csv"
        run_percentile(iotpipe, tmp_path / "by_date_dict", c, "--shard", f"{i}/3",
                       "--threads", "5")
        assert c.read_text() == b.read_text()
        parts.append(a.read_text().splitlines()[1:])
    assert all(parts)
    assert sorted(sum(parts, []), key=lambda l: (l.split(",")[0], l.split(",")[1])) == \
        sorted(want.splitlines()[1:], key=lambda l: (l.split(",")[0], l.split(",")[1]))
    # a null device_id is the null device: its own group, first
    nulls = tmp_path / "nulls" / "date=2025-06-01"
    nulls.mkdir(parents=True)
    rows = events(rng, dt.date(2025, 6, 1), 230)
    t = to_table(rows)
    t = t.add_column(0, "device_id", pa.array([None] * len(rows), pa.string()))
    pq.write_table(t, nulls / "p.parquet")
    t2 = to_table(events(rng, dt.date(2025, 6, 1), 240))
    t2 = t2.add_column(0, "device_id", pa.array(["x"] * t2.num_rows, pa.string()))
    pq.write_table(t2, nulls / "q.parquet")
    out = tmp_path / "nulls.csv"
    run_percentile(iotpipe, tmp_path / "nulls", out)
    lines = out.read_text().splitlines()
    assert [l.split(",")[:2] for l in lines[1:]] == [["", "2025-06-01"], ["x", "2025-06-01"]]
    # rows without a usable duration are counted, and skipped
    bad = events(rng, dt.date(2025, 6, 1), 3, dur=lambda rng, i: float("nan"))
    t3 = to_table(bad).add_column(0, "device_id", pa.array(["y"] * 3, pa.string()))
    pq.write_table(t3, nulls / "r.parquet")
    for threads in ("1", "4"):
        cp = run_percentile(iotpipe, tmp_path / "nulls", out, "--threads", threads)
        assert "3 rows had no event_time or a null, NaN or infinite event_duration" \
            in cp.stderr, (threads, cp.stderr)
        assert f"{230 + 240 + 3} rows, 2 device-days kept" in cp.stderr, cp.stderr
    # a skipped row is counted by the one shard (and part) of its device
    skipped = rows_seen = 0
    for i in range(3):
        cp = run_percentile(iotpipe, tmp_path / "nulls", out, "--shard", f"{i}/3",
                            "--threads", "3")
        m = re.search(r"(\d+) rows had no event_time", cp.stderr)
        skipped += int(m.group(1)) if m else 0
        rows_seen += int(re.search(r"(\d+) rows, \d+ device-days kept", cp.stderr).group(1))
    assert (skipped, rows_seen) == (3, 230 + 240 + 3)


def test_date_layout_errors_name_the_file(iotpipe, tmp_path):
    rng = random.Random(22)
    rows = events(rng, dt.date(2025, 6, 1), 50)
    # both layouts in one dataset
    mixed = tmp_path / "mixed"
    write(mixed, "a", "p.parquet", rows)
    write_by_date(mixed, {"b": rows})
    cp = run_percentile(iotpipe, mixed, tmp_path / "o.csv", check=False)
    assert cp.returncode == 1
    assert "two layouts" in cp.stderr and "device_id=a" in cp.stderr and \
        "date=2025-06-01" in cp.stderr, cp.stderr
    # a date= directory holding another day's events would split a
    # device-day between two directories: refused, naming the file
    wrong = tmp_path / "wrong"
    write_by_date(wrong, {"b": rows}, files_per_date=1)
    (wrong / "date=2025-06-01").rename(wrong / "date=2025-06-02")
    cp = run_percentile(iotpipe, wrong, tmp_path / "o.csv", check=False)
    assert cp.returncode == 1
    assert str(wrong / "date=2025-06-02" / "part-a.parquet") in cp.stderr
    assert "2025-06-01" in cp.stderr and "UTC date of event_time" in cp.stderr, cp.stderr
    # no device_id column, or not a string
    nodev = tmp_path / "nodev" / "date=2025-06-01"
    nodev.mkdir(parents=True)
    pq.write_table(to_table(rows), nodev / "p.parquet")
    cp = run_percentile(iotpipe, nodev.parent, tmp_path / "o.csv", check=False)
    assert cp.returncode == 1
    assert str(nodev / "p.parquet") in cp.stderr and "device_id" in cp.stderr, cp.stderr
    intdev = tmp_path / "intdev" / "date=2025-06-01"
    intdev.mkdir(parents=True)
    pq.write_table(to_table(rows).add_column(0, "device_id", pa.array([7] * len(rows))),
                   intdev / "p.parquet")
    cp = run_percentile(iotpipe, intdev.parent, tmp_path / "o.csv", check=False)
    assert cp.returncode == 1
    assert str(intdev / "p.parquet") in cp.stderr and "STRING" in cp.stderr, cp.stderr
    # a date= value that is no date
    bad = tmp_path / "bad"
    write_by_date(bad, {"b": rows}, files_per_date=1)
    (bad / "date=2025-06-01").rename(bad / "date=June")
    cp = run_percentile(iotpipe, bad, tmp_path / "o.csv", check=False)
    assert cp.returncode == 1
    assert "date=June" in cp.stderr and "yyyy-MM-dd" in cp.stderr, cp.stderr
    assert not (tmp_path / "o.csv").exists()


def test_empty_dataset_is_an_error(iotpipe, tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "_SUCCESS").write_text("")
    cp = run_percentile(iotpipe, tmp_path / "raw", tmp_path / "o.csv", check=False)
    assert cp.returncode == 1
    assert "no Parquet files under" in cp.stderr and str(tmp_path / "raw") in cp.stderr
    assert not (tmp_path / "o.csv").exists()
    cp = run_percentile(iotpipe, tmp_path / "missing", tmp_path / "o.csv", check=False)
    assert cp.returncode == 1 and "no Parquet files" in cp.stderr


def test_files_without_rows_give_a_header_only_csv(iotpipe, tmp_path):
    root = tmp_path / "raw"
    write(root, "dev", "p.parquet", [])
    out = tmp_path / "o.csv"
    run_percentile(iotpipe, root, out)
    assert out.read_text() == "device_id,date,event_duration_p95\n"


def test_corrupt_file_names_it(iotpipe, tmp_path):
    rng = random.Random(9)
    root = tmp_path / "raw"
    good = write(root, "a", "p.parquet", events(rng, dt.date(2025, 1, 1), 250))
    bad = root / "device_id=b" / "bad.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"PAR1 this is not parquet at all PAR1")
    out = tmp_path / "o.csv"
    cp = run_percentile(iotpipe, root, out, check=False)
    assert cp.returncode == 1, cp.stderr
    assert str(bad) in cp.stderr
    assert not out.exists()
    # a truncated real file
    bad.write_bytes(good.read_bytes()[:-100])
    cp = run_percentile(iotpipe, root, out, check=False)
    assert cp.returncode == 1 and str(bad) in cp.stderr
    # a real footer whose column chunk is damaged
    data = bytearray(good.read_bytes())
    for i in range(8, 400):
        data[i] ^= 0x5A
    bad.write_bytes(bytes(data))
    cp = run_percentile(iotpipe, root, out, check=False)
    assert cp.returncode == 1 and str(bad) in cp.stderr, cp.stderr


def test_missing_or_mistyped_columns_name_the_file(iotpipe, tmp_path):
    rng = random.Random(10)
    root = tmp_path / "raw"
    rows = events(rng, dt.date(2025, 1, 1), 10)
    p = write(root, "a", "p.parquet", [])
    pq.write_table(to_table(rows).drop_columns(["event_duration"]), p)
    cp = run_percentile(iotpipe, root, tmp_path / "o.csv", check=False)
    assert cp.returncode == 1
    assert str(p) in cp.stderr and "event_duration" in cp.stderr
    p.unlink()
    t = to_table(rows).set_column(2, "event_duration",
                                  pa.array([str(r["event_duration"]) for r in rows]))
    pq.write_table(t, p)
    cp = run_percentile(iotpipe, root, tmp_path / "o.csv", check=False)
    assert cp.returncode == 1
    assert str(p) in cp.stderr and "event_duration" in cp.stderr and "DOUBLE" in cp.stderr
    t = to_table(rows).set_column(0, "event_time", pa.array([r["event_time"] for r in rows]))
    pq.write_table(t, p)
    cp = run_percentile(iotpipe, root, tmp_path / "o.csv", check=False)
    assert cp.returncode == 1
    assert str(p) in cp.stderr and "event_time" in cp.stderr and "TIMESTAMP" in cp.stderr


def test_file_outside_a_device_directory(iotpipe, tmp_path):
    rng = random.Random(11)
    root = tmp_path / "raw"
    write(root, "a", "p.parquet", events(rng, dt.date(2025, 1, 1), 10))
    pq.write_table(to_table(events(rng, dt.date(2025, 1, 1), 10)), root / "stray.parquet")
    cp = run_percentile(iotpipe, root, tmp_path / "o.csv", check=False)
    assert cp.returncode == 1
    assert str(root / "stray.parquet") in cp.stderr and "device_id" in cp.stderr
    assert "date=" in cp.stderr


def test_usage_errors(iotpipe, tmp_path):
    for args in (["--percentiles", "95"], ["--percentiles", "0.5,0.5"], ["--method", "exact"],
                 ["--shard", "3/3"], ["--shard", "x"], ["--threads", "0"],
                 # two percentiles that would name one CSV column
                 ["--percentiles", "0.95,0.9500000000000001"], ["--percentiles", "0,-0"]):
        cp = run_percentile(iotpipe, tmp_path, tmp_path / "o.csv", *args, check=False)
        assert cp.returncode == 2, (args, cp.stderr)
        assert args[0] in cp.stderr
    cp = run_percentile(iotpipe, tmp_path, tmp_path / "o.csv", "--percentiles",
                        "0.95,0.9500000000000001", check=False)
    assert "0.95 and 0.9500000000000001 would both be column event_duration_p95" in cp.stderr
    cp = iotpipe("percentile", "--help")
    for flag in ("--input", "--output", "--threshold", "--percentiles", "--method",
                 "--threads", "--shard"):
        assert flag in cp.stdout


def test_dataset_on_s3_output_to_s3(iotpipe, s3, s3_bucket, tmp_path):
    rng = random.Random(12)
    root = tmp_path / "raw"
    for i, (label, kw) in enumerate(WRITERS[:6]):
        rows = events(rng, dt.date(2025, 9, 1), rng.randrange(190, 330))
        rows += events(rng, dt.date(2025, 9, 2), rng.randrange(190, 330))
        write(root, f"device_id_{i}", f"part-{label}.parquet", rows, **dict(kw))
    (root / "_SUCCESS").write_text("")
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = pathlib.Path(dirpath) / name
            key = "raw/stream_output/" + str(path.relative_to(root))
            s3.client.upload_file(str(path), s3_bucket, key)
    want = expected_csv(root)
    run_percentile(iotpipe, f"s3a://{s3_bucket}/raw/stream_output/",
                   f"s3://{s3_bucket}/raw/percentile_output/", env=s3.env())
    body = s3.client.get_object(Bucket=s3_bucket, Key="raw/percentile_output/percentile.csv")
    assert body["Body"].read().decode() == want
    # the configured locations, from the environment, as `make percentile_job` runs it
    env = s3.env(STREAMING_RAW_S3_OUTPUT_PATH=f"s3a://{s3_bucket}/raw/stream_output",
                 PERCENTILE_VALIDATION_CSV_OUTPUT_PATH=f"s3a://{s3_bucket}/env-out/p.csv")
    iotpipe("percentile", "--metrics-addr", "off", env=env)
    body = s3.client.get_object(Bucket=s3_bucket, Key="env-out/p.csv")
    assert body["Body"].read().decode() == want
    # the same rows laid out by date on S3, each date read in parts by 5
    # threads: the footers first, then every part through the prefetcher
    per_device = {}
    by_dev = tmp_path / "by_dev"
    for i in range(6):
        rows = events(rng, dt.date(2025, 9, 1), rng.randrange(190, 330))
        rows += events(rng, dt.date(2025, 9, 2), rng.randrange(190, 330), offset0=1000)
        per_device[f"device_id_{i}"] = rows
        write(by_dev, f"device_id_{i}", "part-0.parquet", rows)
    want = expected_csv(by_dev)
    by_date = tmp_path / "by_date"
    write_by_date(by_date, per_device)
    for dirpath, _, files in os.walk(by_date):
        for name in files:
            path = pathlib.Path(dirpath) / name
            s3.client.upload_file(str(path), s3_bucket,
                                  "by_date/" + str(path.relative_to(by_date)))
    cp = run_percentile(iotpipe, f"s3://{s3_bucket}/by_date/",
                        f"s3://{s3_bucket}/by_date_out/", "--threads", "5", env=s3.env())
    assert "2 dates (read in 6 parts)" in cp.stderr, cp.stderr
    body = s3.client.get_object(Bucket=s3_bucket, Key="by_date_out/percentile.csv")
    assert body["Body"].read().decode() == want


def test_iotpipe_archive_output_mixed_with_pyarrow_files(iotpipe, embedded_broker, tmp_path):
    """Raw files written by iotpipe itself (produce -> archive --once, with
    duplicate sends, across a UTC midnight) plus pyarrow files in the same
    and in another device directory."""
    bs, topic = embedded_broker.bootstrap, embedded_broker.topic()
    common = ["--bootstrap-servers", bs, "--topic", topic, "--metrics-addr", "off"]
    iotpipe("produce", *common, "--count", 4000, "--devices", 3, "--rate", 0, "--seed", 7,
            "--start-time", "2025-01-01T23:00:00Z", "--time-step", 1.5,
            "--duplicate-fraction", 0.1)
    root = tmp_path / "raw"
    iotpipe("archive", *common, "--once", "--output", root, "--checkpoint", tmp_path / "ck")
    made = sorted(p.relative_to(root).parts[0] for p in root.rglob("*.parquet"))
    assert made and all(d.startswith("device_id=device_id_") for d in made)
    rng = random.Random(13)
    write(root, "device_id_1", "zz-pyarrow.parquet", events(rng, dt.date(2025, 1, 2), 150))
    write(root, "device_id_9", "pyarrow.parquet", events(rng, dt.date(2025, 1, 2), 150),
          compression="zstd")
    out = tmp_path / "o.csv"
    run_percentile(iotpipe, root, out, "--threshold", "100")
    want = expected_csv(root, threshold=100)
    assert out.read_text() == want
    assert "device_id_1," in want and "device_id_9," in want
    # duplicates really are there, and really are not counted
    t = duckdb.sql(f"SELECT count(*), count(DISTINCT (event_time, event_duration, temperature, status)) "
                   f"FROM read_parquet('{root}/device_id=device_id_*/part-*.parquet')").fetchone()
    assert t[0] > t[1]


def test_archive_partitioned_by_date_round_trip(iotpipe, kafka, tmp_path):
    """`archive --partition-by date` against a real broker: the same rows
    as the device_id= layout (DuckDB reads both), only date=<UTC date of
    event_time>/ directories with device_id as the files' first column,
    and the same percentile CSV from either layout. The events cross a UTC
    midnight, so a batch is cut into two dates."""
    topic = kafka.create_topic(kafka.topic("bydate"), partitions=3)
    common = ["--bootstrap-servers", kafka.bootstrap, "--topic", topic, "--metrics-addr", "off"]
    iotpipe("produce", *common, "--count", 9000, "--devices", 7, "--rate", 0, "--seed", 3,
            "--start-time", "2025-01-01T23:00:00Z", "--time-step", 0.8,
            "--duplicate-fraction", 0.05, "--invalid-fraction", 0.02)
    outs = {}
    for layout in ("device_id", "date"):
        outs[layout] = tmp_path / layout
        iotpipe("archive", *common, "--once", "--output", outs[layout], "--checkpoint",
                tmp_path / f"ck-{layout}", "--group", f"g-{layout}", "--partition-by", layout,
                "--max-batch-events", 2000)
    by_dev, _ = oracle.read_archive(outs["device_id"])
    by_date, rows = oracle.read_archive(outs["date"])
    assert by_dev == by_date
    assert sum(by_date.values()) > 5000
    dirs = sorted({p.parent.relative_to(outs["date"]).as_posix()
                   for p in outs["date"].rglob("*.parquet")})
    assert dirs == ["date=2025-01-01", "date=2025-01-02"], dirs
    bad = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{outs['date']}/**/*.parquet', hive_partitioning=true)"
        " WHERE strftime(make_timestamp(epoch_us(event_time)), '%Y-%m-%d') <> CAST(date AS VARCHAR)"
    ).fetchone()[0]
    assert bad == 0
    f = next(outs["date"].rglob("*.parquet"))
    assert pq.read_schema(f).names[0] == "device_id"
    # within a file the devices come sorted, each in offset order
    t = pq.read_table(f, columns=["device_id", "kafka_offset"]).to_pylist()
    assert t == sorted(t, key=lambda r: (r["device_id"], r["kafka_offset"]))
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    run_percentile(iotpipe, outs["device_id"], a, "--threshold", "100")
    run_percentile(iotpipe, outs["date"], b, "--threshold", "100")
    assert a.read_text() == b.read_text() and len(a.read_text().splitlines()) > 7
    # the layout is a setting: the config file's key, and errors name it
    cfg = tmp_path / "c.yml"
    cfg.write_text("streaming_config:\n  s3:\n    STREAMING_RAW_PARTITION_BY: \"date,device_id\"\n")
    out3 = tmp_path / "both"
    iotpipe("archive", *common, "-c", cfg, "--once", "--output", out3, "--checkpoint",
            tmp_path / "ck-both", "--group", "g-both")
    assert oracle.read_archive(out3)[0] == by_dev
    assert {p.relative_to(out3).parts[0] for p in out3.rglob("*.parquet")} == \
        {"date=2025-01-01", "date=2025-01-02"}
    assert all(p.relative_to(out3).parts[1].startswith("device_id=")
               for p in out3.rglob("*.parquet"))
    for value in ("window_start", "none", "hour", ""):
        cp = iotpipe("archive", *common, "--once", "--output", tmp_path / "x", "--checkpoint",
                     tmp_path / "ck-x", "--partition-by", value, check=False)
        assert cp.returncode == 2, (value, cp.stderr[-2000:])
        assert "STREAMING_RAW_PARTITION_BY" in cp.stderr or "--partition-by" in cp.stderr, \
            cp.stderr[-2000:]
    assert not (tmp_path / "x").exists()
