"""Issue 5: the streaming jobs' errors and exit statuses (docs/design.md §9),
SIGTERM (exit 0, a restart carries on with nothing lost),
--max-batch-events bounding the batches of both jobs, the idle-time
advance of the watermark closing the last windows, the fetch waker and
escaped strings through the decoder thread."""
import collections
import json
import math
import os
import pathlib
import signal
import socket
import time

import pytest

import oracle
from streamlib import Job, produce

START = "2025-01-01T23:58:00Z"


def _args(kind, bootstrap, topic, out, ck, group, *extra):
    return [kind, "--bootstrap-servers", bootstrap, "--topic", topic,
            "--output", out, "--checkpoint", ck, "--group", group,
            "--metrics-addr", "off", *extra]


def _dead_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_line_error(cp):
    lines = [l for l in cp.stderr.splitlines() if l.strip()]
    assert lines, "no error message on stderr"
    return lines[-1]


@pytest.mark.parametrize("kind", ["archive", "aggregate"])
def test_unreachable_broker(iotpipe, tmp_path, kind):
    bs = f"127.0.0.1:{_dead_port()}"
    t0 = time.monotonic()
    cp = iotpipe(*_args(kind, bs, "t", tmp_path / "o", tmp_path / "c", "g",
                        "--once", "--timeout", 5), check=False, timeout=60)
    took = time.monotonic() - t0
    assert cp.returncode == 1, (cp.returncode, cp.stderr[-2000:])
    msg = _one_line_error(cp)
    assert bs in cp.stderr, cp.stderr[-2000:]
    assert took < 40, took
    print(msg)


def test_unwritable_output(iotpipe, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic("cli"), partitions=2)
    produce(iotpipe, kafka, topic, 200, seed=1, start=START)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    for kind in ("archive", "aggregate"):
        out = blocker / "out"
        cp = iotpipe(*_args(kind, kafka.bootstrap, topic, out, tmp_path / f"ck-{kind}",
                            f"g-{kind}", "--once", "--timeout", 30),
                     check=False, timeout=120)
        assert cp.returncode == 1, (kind, cp.returncode, cp.stderr[-2000:])
        msg = _one_line_error(cp)
        assert str(blocker) in msg, msg


def test_usage_errors(iotpipe, tmp_path):
    for args in (["aggregate", "--partition-by", "nonsense"],
                 ["aggregate", "--no-such-flag"],
                 ["archive", "--no-such-flag"],
                 ["archive", "--trigger", "soon"]):
        cp = iotpipe(*args, "--output", tmp_path / "o", "--checkpoint",
                     tmp_path / "c", "--bootstrap-servers", "127.0.0.1:1",
                     check=False, timeout=30)
        assert cp.returncode == 2, (args, cp.returncode, cp.stderr[-2000:])
        msg = _one_line_error(cp)
        word = args[1].lstrip("-") if args[1] != "--partition-by" else "nonsense"
        assert word in cp.stderr, (args, cp.stderr)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("kind", ["archive", "aggregate"])
def test_sigterm_exit0_and_restart(iotpipe, kafka, tmp_path, kind):
    topic = kafka.create_topic(kafka.topic("term"), partitions=4)
    produce(iotpipe, kafka, topic, 20000, seed=5, start=START, step=0.05,
            invalid=0.02, dup=0.02)
    args = _args(kind, kafka.bootstrap, topic, tmp_path / "o", tmp_path / "c",
                 "g", "--trigger", 3600, "--timeout", 60)
    if kind == "aggregate":
        args += ["--idle-timeout", 0]
    job = Job(tmp_path, kind, args).start()
    deadline = time.monotonic() + 60
    while "assigned partition" not in job.tail(10**9):
        assert job.running() and time.monotonic() < deadline, job.tail()
        time.sleep(0.1)
    time.sleep(3)  # most or all read, nothing committed (trigger 3600 s)
    assert job.kill(signal.SIGTERM) == 0, job.tail()
    recs = kafka.consume_all(topic, expect=20000)
    # SIGTERM committed what it had read: a subset of the final output,
    # nothing twice, and not nothing
    if kind == "archive":
        got, rows = oracle.read_archive(tmp_path / "o")
        assert rows and not got - oracle.archive_rows(recs)
    else:
        full, _ = oracle.AggSim().run_once(recs)
        got = oracle.read_aggregate(tmp_path / "o")
        assert got
        keys = {(r["device_id"], r["start_us"]) for r in got}
        oracle.compare_aggregate(got, {k: v for k, v in full.items()
                                       if (k[1], k[2]) in keys})
    # a restart carries on: new events (after the first ones, so none is
    # late), then --once: the output is what one run over everything gives
    produce(iotpipe, kafka, topic, 2000, seed=6, start="2025-01-02T00:15:00Z")
    iotpipe(*args, "--once", timeout=120)
    recs = kafka.consume_all(topic, expect=22000)
    oracle.check_once(kind, tmp_path / "o", recs)

def _newest_state(ck):
    states = [p for p in pathlib.Path(ck).rglob("state-*")]
    assert states, f"no state under {ck}"
    return max(int(p.name.split("-", 1)[1]) for p in states)


@pytest.mark.parametrize("kind", ["archive", "aggregate"])
def test_max_batch_events_bounds_batches(iotpipe, kafka, tmp_path, kind):
    """--max-batch-events 5000 over 40000 valid records on one partition:
    about 8 commits, not one per consumed chunk."""
    topic = kafka.create_topic(kafka.topic("mbe"), partitions=1)
    produce(iotpipe, kafka, topic, 40000, seed=9, start=START, step=0.01)
    recs = kafka.consume_all(topic, expect=40000)
    kept = sum(1 for r in recs if oracle.decode(r.key, r.value)[0] == "valid")
    ck = tmp_path / "c"
    args = _args(kind, kafka.bootstrap, topic, tmp_path / "o", ck, "g",
                 "--once", "--trigger", 3600, "--max-batch-events", 5000)
    if kind == "aggregate":
        args += ["--idle-timeout", 0]
    iotpipe(*args, timeout=120)
    batches = _newest_state(ck)
    # each batch holds up to 5000 buffered events (+ one consumed chunk)
    assert kept // 6100 <= batches <= kept // 5000 + 2, (
        f"{kind}: {batches} batches for {kept} kept events with "
        f"--max-batch-events 5000")


def test_idle_input_closes_last_windows(iotpipe, kafka, tmp_path):
    """docs/design.md §5: when no event arrives for --idle-timeout, the
    watermark moves on with processing time and the last windows are
    emitted (the reference never closed them). Small windows keep it fast;
    one partition in time order keeps lateness out of it."""
    topic = kafka.create_topic(kafka.topic("idle"), partitions=1)
    produce(iotpipe, kafka, topic, 3000, seed=3, start=START, step=0.01,
            devices=5)
    recs = kafka.consume_all(topic, expect=3000)
    sim = oracle.AggSim(watermark_s=1, window_us=2_000_000)
    every, late = sim.run_once(recs)
    assert not late
    every.update({(0,) + k: tuple(v) for k, v in sim.open[0].items()})
    assert len(every) > 50
    args = _args("aggregate", kafka.bootstrap, topic, tmp_path / "o",
                 tmp_path / "c", "g", "--trigger", 0.5, "--window", 2,
                 "--watermark", 1, "--idle-timeout", 1, "--timeout", 60)
    job = Job(tmp_path, "aggregate", args).start()
    try:
        deadline = time.monotonic() + 60
        while True:
            got = oracle.read_aggregate(tmp_path / "o")
            if len(got) >= len(every):
                break
            assert job.running(), job.tail()
            assert time.monotonic() < deadline, (
                f"{len(got)} of {len(every)} windows emitted after the input "
                f"stopped:\n{job.tail()}")
            time.sleep(0.5)
        assert job.kill(signal.SIGTERM) == 0, job.tail()
    finally:
        if job.running():
            job.kill(signal.SIGKILL)
    got = oracle.read_aggregate(tmp_path / "o")
    for r in got:
        r["window_start"] = None
    exp = {k: v for k, v in every.items()}
    # compare_aggregate checks 60 s windows' ends and labels: adapt
    keys = collections.Counter((r["device_id"], r["start_us"]) for r in got)
    assert all(c == 1 for c in keys.values()), "a window emitted twice"
    want = {(k[1], k[2]): v for k, v in exp.items()}
    assert set(keys) == set(want)
    for r in got:
        n, st, sd = want[(r["device_id"], r["start_us"])]
        assert r["n"] == n and r["end_us"] == r["start_us"] + 2_000_000
        assert math.isclose(r["avg_t"], st / n, rel_tol=1e-12)
        assert math.isclose(r["avg_d"], sd / n, rel_tol=1e-12)


@pytest.mark.parametrize("layout", ["date", "window_start", "none",
                                    "window_start,device_id"])
def test_aggregate_other_layouts(iotpipe, kafka, tmp_path, layout):
    """--partition-by: with device_id out of the path it is a column of the
    files; the windows are the same as with the default layout."""
    import duckdb
    topic = kafka.create_topic(kafka.topic("lay"), partitions=4)
    produce(iotpipe, kafka, topic, 8000, seed=8, start="2025-01-01T23:57:00Z",
            step=0.05, invalid=0.02, late=0.05, late_by=20, dup=0.02)
    recs = kafka.consume_all(topic, expect=8000)
    want, _ = oracle.AggSim().run_once(recs)
    out = tmp_path / "o"
    iotpipe(*_args("aggregate", kafka.bootstrap, topic, out, tmp_path / "c", "g",
                   "--once", "--trigger", 3600, "--idle-timeout", 0,
                   "--partition-by", layout), timeout=120)
    files = list(out.rglob("*.parquet"))
    assert files
    con = duckdb.connect()
    dev_col = "device_id" if "device_id" not in layout else "NULL"
    rows = con.execute(
        f"SELECT {dev_col}, epoch_us(window_start_time), epoch_us(window_end_time),"
        " avg_temperature, avg_event_duration, num_events, filename"
        " FROM read_parquet(?, filename=true, hive_partitioning=false)",
        [f"{out}/**/*.parquet"]).fetchall()
    got = []
    for dev, s, e, at, ad, n, fn in rows:
        parts = dict(seg.split("=", 1) for seg in pathlib.Path(fn).relative_to(out).parts
                     if "=" in seg)
        if layout == "date":
            assert list(parts) == ["date"]
            assert parts["date"] == oracle.window_label(s)[:10], (fn, s)
        elif layout == "none":
            assert parts == {}
        elif layout == "window_start":
            assert list(parts) == ["window_start"]
            assert parts["window_start"] == oracle.window_label(s)
        else:
            assert list(parts) == ["window_start", "device_id"]
            dev = parts["device_id"]
            assert parts["window_start"] == oracle.window_label(s)
        got.append(dict(device_id=dev, window_start=oracle.window_label(s),
                        start_us=s, end_us=e, avg_t=at, avg_d=ad, n=n, file=fn))
    oracle.compare_aggregate(got, want)


def _wakeups(stderr):
    lines = [l for l in stderr.splitlines() if "fetch wake-ups sent:" in l]
    assert lines, "no wake-up count in the debug log"
    return int(lines[-1].rsplit(":", 1)[1])


def test_fetch_waker(iotpipe, kafka, tmp_path):
    """librdkafka 2.0 pauses fetching for up to a second once its queue
    holds queued.min.messages: with a prefetch of 1,000 records and 50,000
    to read, the job sends wake-ups and still reads every record exactly
    once; with a prefetch the queue never fills, it sends none."""
    import duckdb
    topic = kafka.create_topic(kafka.topic("wake"), partitions=1)
    produce(iotpipe, kafka, topic, 50000, seed=21, start=START, step=0.01)
    recs = kafka.consume_all(topic, expect=50000)
    kept = sum(1 for r in recs if oracle.decode(r.key, r.value)[0] == "valid")
    runs = {}
    for q in (1000, 10000000):
        out = tmp_path / f"o{q}"
        cp = iotpipe(*_args("archive", kafka.bootstrap, topic, out, tmp_path / f"c{q}",
                            f"g{q}", "--once", "--log-level", "debug",
                            "--kafka", f"queued.min.messages={q}"), timeout=120)
        con = duckdb.connect()
        rows, distinct = con.execute(
            "select count(*), count(distinct kafka_offset) from read_parquet(?)",
            [str(out / "**" / "*.parquet")]).fetchone()
        assert rows == distinct == kept, f"prefetch {q}: {rows} rows, {distinct} offsets, {kept} kept"
        runs[q] = _wakeups(cp.stderr)
    assert runs[1000] > 0, "the fetcher was never woken with a 1,000-record prefetch"
    assert runs[10000000] == 0, f"{runs[10000000]} wake-ups although the queue never filled"


def test_escaped_strings_with_decoding_ahead(iotpipe, kafka, tmp_path):
    """A string with JSON escapes is unescaped into the decoder's own
    buffer, which the next record reuses; the decoder thread works an array
    ahead of the job, so those records are decoded again on the job thread.
    5,000 records (several arrays), every other one with escapes in a
    string field, arrive intact and in order."""
    import duckdb
    import kafka as kp
    from fixtures.common import ROOT
    schema = (ROOT / "config" / "event_schema.yml").read_text()
    schema += "    - name: site\n      type: string\n      required: false\n"
    cfg = tmp_path / "schema.yml"
    cfg.write_text(schema)
    topic = kafka.create_topic(kafka.topic("esc"), partitions=1)
    base = 1767225600
    sites = [f'caf\u00e9 "{i}"\n\\' if i % 2 else f"plain {i}" for i in range(5000)]
    prod = kp.KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    try:
        for i, site in enumerate(sites):
            value = json.dumps({"timestamp": base + i / 1000, "temperature": 20.5,
                                "event_duration": 1.0, "status": "ok", "site": site})
            assert "\\u00e9" in value or i % 2 == 0
            prod.send(topic, key=b"device_id_1", value=value.encode(), partition=0)
        prod.flush(60)
    finally:
        prod.close()
    out = tmp_path / "o"
    iotpipe(*_args("archive", kafka.bootstrap, topic, out, tmp_path / "c", "g",
                   "--once", "-c", cfg), timeout=120)
    got = duckdb.connect().execute(
        "select site from read_parquet(?) order by kafka_offset",
        [str(out / "**" / "*.parquet")]).fetchall()
    assert [r[0] for r in got] == sites
