"""`iotpipe validate` on aggregate datasets: the reference layout written by
iotpipe's own aggregate job and by pyarrow, missing and mistyped columns,
a path without window_start, corrupt and empty datasets, and S3."""
import datetime as dt
import os
import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

UTC = dt.timezone.utc

AGG = pa.schema([
    ("avg_temperature", pa.float64()),
    ("avg_event_duration", pa.float64()),
    ("num_events", pa.int64()),
    ("window_start_time", pa.timestamp("us", tz="UTC")),
    ("window_end_time", pa.timestamp("us", tz="UTC")),
])


def write_window(root, device, start, schema=AGG, **kw):
    d = pathlib.Path(root) / f"device_id={device}" / f"window_start={start:%Y-%m-%d %H_%M}"
    d.mkdir(parents=True, exist_ok=True)
    row = {"avg_temperature": 25.5, "avg_event_duration": 10.25, "num_events": 7,
           "window_start_time": start, "window_end_time": start + dt.timedelta(minutes=1)}
    t = pa.table({f.name: pa.array([row[f.name]], AGG.field(f.name).type) for f in AGG})
    if schema is not AGG:
        t = pa.table({f.name: t.column(f.name).cast(f.type) if f.name in t.column_names
                      else pa.array([1], f.type) for f in schema})
    pq.write_table(t, d / "part-0.parquet", **kw)
    return d / "part-0.parquet"


def validate(iotpipe, inp, **kw):
    return iotpipe("validate", "--input", inp, "--metrics-addr", "off", check=False, **kw)


def test_valid_dataset_prints_a_sample(iotpipe, tmp_path):
    t0 = dt.datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    for i in range(15):
        write_window(tmp_path / "agg", f"device_id_{i % 3}", t0 + dt.timedelta(minutes=i),
                     use_deprecated_int96_timestamps=(i == 0))
    (tmp_path / "agg" / "_SUCCESS").write_text("")
    cp = validate(iotpipe, tmp_path / "agg")
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.splitlines()
    assert lines[0].split(" | ")[0].strip() == "device_id"
    assert [c.strip() for c in lines[0].split("|")] == [
        "device_id", "window_start", "avg_temperature", "avg_event_duration",
        "num_events", "window_start_time", "window_end_time"]
    assert len(lines) == 2 + 10 + 1
    assert "device_id_0 | 2025-01-01 10_00" in lines[2]
    assert "2025-01-01T10:00:00.000000Z" in lines[2] and "| 7 " in lines[2]
    assert "schema valid: 15 files, 15 rows" in lines[-1]


def test_missing_and_mistyped_columns_are_listed(iotpipe, tmp_path):
    t0 = dt.datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    root = tmp_path / "agg"
    write_window(root, "a", t0)
    bad = write_window(root, "b", t0, schema=pa.schema([
        ("avg_temperature", pa.float32()),
        ("num_events", pa.int32()),
        ("window_start_time", pa.timestamp("us", tz="UTC")),
        ("window_end_time", pa.string()),
    ]))
    cp = validate(iotpipe, root)
    assert cp.returncode == 1
    line = next(l for l in cp.stderr.splitlines() if str(bad) in l)
    assert "avg_temperature: is FLOAT, want DOUBLE" in line
    assert "avg_event_duration: missing" in line
    assert "num_events: is INT32" in line
    assert "window_end_time: is BYTE_ARRAY" in line
    assert "window_start_time" not in line
    assert "1 of 2 files" in cp.stderr


def test_path_without_window_start(iotpipe, tmp_path):
    t0 = dt.datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    p = write_window(tmp_path / "agg", "a", t0)
    flat = tmp_path / "agg" / "device_id=a" / "flat.parquet"
    os.rename(p, flat)
    cp = validate(iotpipe, tmp_path / "agg")
    assert cp.returncode == 1
    assert str(flat) in cp.stderr and "window_start" in cp.stderr
    bad = tmp_path / "agg" / "device_id=a" / "window_start=yesterday" / "p.parquet"
    bad.parent.mkdir()
    os.rename(flat, bad)
    cp = validate(iotpipe, tmp_path / "agg")
    assert cp.returncode == 1 and "window_start=yesterday" in cp.stderr


def test_empty_and_corrupt(iotpipe, tmp_path):
    (tmp_path / "empty").mkdir()
    cp = validate(iotpipe, tmp_path / "empty")
    assert cp.returncode == 1 and "no Parquet files" in cp.stderr
    t0 = dt.datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    p = write_window(tmp_path / "agg", "a", t0)
    p.write_bytes(b"not parquet")
    cp = validate(iotpipe, tmp_path / "agg")
    assert cp.returncode == 1 and str(p) in cp.stderr and "cannot read it" in cp.stderr


def test_iotpipe_aggregate_output_validates(iotpipe, embedded_broker, tmp_path):
    bs, topic = embedded_broker.bootstrap, embedded_broker.topic()
    common = ["--bootstrap-servers", bs, "--topic", topic, "--metrics-addr", "off"]
    iotpipe("produce", *common, "--count", 500, "--devices", 2, "--rate", 0, "--seed", 3,
            "--start-time", "2025-01-01T10:00:00Z", "--time-step", 1)
    iotpipe("aggregate", *common, "--once", "--output", tmp_path / "agg",
            "--checkpoint", tmp_path / "ck")
    cp = validate(iotpipe, tmp_path / "agg")
    assert cp.returncode == 0, cp.stderr
    assert "schema valid" in cp.stdout and "device_id_1 | 2025-01-01 10_00" in cp.stdout


def test_on_s3_and_from_the_environment(iotpipe, s3, s3_bucket, tmp_path):
    t0 = dt.datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
    for i in range(3):
        p = write_window(tmp_path / "agg", "device_id_1", t0 + dt.timedelta(minutes=i))
        key = "stream_output/" + str(p.relative_to(tmp_path / "agg"))
        s3.client.upload_file(str(p), s3_bucket, key)
    cp = iotpipe("validate", "--metrics-addr", "off", check=False,
                 env=s3.env(STREAMING_AGGREGATED_S3_OUTPUT_PATH=f"s3a://{s3_bucket}/stream_output/"))
    assert cp.returncode == 0, cp.stderr
    assert "schema valid: 3 files" in cp.stdout
    cp = validate(iotpipe, f"s3://{s3_bucket}/nothing/", env=s3.env())
    assert cp.returncode == 1 and "no Parquet files" in cp.stderr
