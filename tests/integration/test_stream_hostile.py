"""Hostile input: no record can stop the streaming jobs (docs/design.md §8).
A key that makes no valid output directory is invalid (key_unsafe),
counted and dead-lettered while the valid events around it are written;
a dead letter too large for the dead-letter topic goes there truncated
and the job's commits go on; the user's Kafka properties reach the
dead-letter producer; librdkafka's own log lines follow --log-format
json. Real Kafka (fixture `kafka`)."""
import collections
import json
import socket
import time
import urllib.parse
import urllib.request

import oracle
from streamlib import Job, dlq_by_reason, send_raw

BASE_S = 1735776000  # 2025-01-02T00:00:00Z


def _good(i, t):
    return (f'{{"timestamp": {t}, "temperature": {20 + i % 7}.5, '
            f'"event_duration": 1.5, "status": "ok"}}').encode()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _job_args(kind, kafka, topic, out, ck, group, dlq, *extra):
    args = [kind, "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
            "--output", out, "--checkpoint", ck, "--group", group,
            "--dead-letter-topic", dlq, "--timeout", 60, *extra]
    if kind == "aggregate":
        args += ["--window", 60, "--watermark", 0, "--idle-timeout", 0]
    return args


def _headers(rec):
    return {k: v.decode() for k, v in rec.headers}


def _scrape(port, name, timeout=60, proc=None):
    """Value of one metric series (exact name with labels) on /metrics,
    once it appears and is non-zero."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        if proc is not None:
            assert proc.running(), proc.tail()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            text = ""
        for line in text.splitlines():
            if line.startswith(name + " ") and float(line.split()[-1]) > 0:
                return float(line.split()[-1])
        time.sleep(0.5)
    raise AssertionError(f"{name} not on /metrics within {timeout}s:\n{text[-3000:]}")


def test_unsafe_keys_are_dead_lettered_and_valid_events_written(iotpipe, kafka, tmp_path):
    """Regression: one record with a 256-byte key or 100 '/' in its key made
    its batch fail at mkdir (file name too long), on every replay."""
    topic = kafka.create_topic(kafka.topic("hostile-keys"), partitions=2)
    bad_keys = [b"k" * 256, b"/" * 100, b"a/" * 90, b"__HIVE_DEFAULT_PARTITION__"]
    # the longest keys that still make a directory, plain and escaped
    edge_keys = [b"e" * 245, b"/" * 81]
    items = []
    for i in range(40):
        items.append((i % 2, f"dev_{i % 5}".encode(), _good(i, BASE_S + i)))
        if i % 10 == 3:
            items.append((i % 2, bad_keys[i // 10], _good(i, BASE_S + i)))
        if i % 20 == 7:
            items.append((i % 2, edge_keys[i // 20], _good(i, BASE_S + i)))
    # later events on both partitions move aggregate's watermark past the
    # first window, which is then written
    items += [(p, b"dev_0", _good(p, BASE_S + 600)) for p in (0, 1)]
    send_raw(kafka, topic, items)
    recs = kafka.consume_all(topic, expect=len(items))
    assert len(recs) == len(items)
    verdicts = {(r.partition, r.offset): oracle.decode(r.key, r.value) for r in recs}
    unsafe = {k for k, v in verdicts.items() if v == ("invalid", "key_unsafe")}
    assert len(unsafe) == len(bad_keys), verdicts

    for kind in ("archive", "aggregate"):
        dlq = f"{topic}-dlq-{kind}"
        cp = iotpipe(*_job_args(kind, kafka, topic, tmp_path / kind, tmp_path / f"ck-{kind}",
                                f"g-{kind}", dlq, "--once", "--metrics-addr", "off"),
                     check=False, timeout=180)
        assert cp.returncode == 0, (kind, cp.returncode, cp.stderr[-3000:])
        got = dlq_by_reason(kafka.consume_all(dlq, expect=len(unsafe)))
        assert got == {k: ["key_unsafe"] for k in unsafe}, (kind, got)

    # every valid event, the longest keys included, is in the raw output
    want = oracle.archive_rows(recs)
    have, rows = oracle.read_archive(tmp_path / "archive")
    assert have == want, (len(rows), sum(want.values()))
    assert {r[0] for r in rows} >= {k.decode() for k in edge_keys}
    # ... and in the aggregate: one window row per device
    agg = oracle.read_aggregate(tmp_path / "aggregate")
    assert ({urllib.parse.unquote(r["device_id"]) for r in agg}
            == {f"dev_{i}" for i in range(5)} | {k.decode() for k in edge_keys}), agg

    # counted by reason: a running archive job from the start, on /metrics
    port = _free_port()
    job = Job(tmp_path, "archive-metrics",
              _job_args("archive", kafka, topic, tmp_path / "a2", tmp_path / "ck-a2", "g-a2",
                        f"{topic}-dlq-a2", "--metrics-addr", f"127.0.0.1:{port}")).start()
    try:
        n = _scrape(port, 'iotpipe_events_invalid_total{job="archive",reason="key_unsafe"}',
                    proc=job)
        assert n == len(bad_keys), job.tail()
    finally:
        assert job.kill(15) == 0, job.tail()


def test_dead_letter_too_large_for_its_topic_is_truncated(iotpipe, kafka, tmp_path):
    """Regression: one invalid record larger than the dead-letter topic's
    max.message.bytes failed every commit, on every run."""
    topic = kafka.create_topic(kafka.topic("hostile-big"), partitions=1)
    dlq = kafka.create_topic(topic + "-dlq", partitions=1,
                             config={"max.message.bytes": "4096"})
    big = b"{" + b"x" * 50000
    items = [(0, f"dev_{i % 3}".encode(), _good(i, BASE_S + i)) for i in range(30)]
    items.insert(10, (0, b"dev_big", big))
    items.insert(20, (0, b"dev_small", b"not json"))
    # too large by its key alone: the key is cut, the value stays whole
    long_key = b"k" * 50000
    items.insert(25, (0, long_key, _good(99, BASE_S + 99)))
    send_raw(kafka, topic, items)
    recs = kafka.consume_all(topic, expect=len(items))
    for run in (1, 2):
        cp = iotpipe(*_job_args("archive", kafka, topic, tmp_path / "out", tmp_path / "ck",
                                "g", dlq, "--once", "--metrics-addr", "off"),
                     check=False, timeout=180)
        assert cp.returncode == 0, (run, cp.returncode, cp.stderr[-3000:])
    have, rows = oracle.read_archive(tmp_path / "out")
    assert have == oracle.archive_rows(recs) and len(rows) == 30
    # the second run found everything committed: no second copy
    got = kafka.consume_all(dlq, expect=3)
    assert len(got) == 3, [(_headers(r), len(r.value or b"")) for r in got]
    by_off = {int(_headers(r)["iotpipe.offset"]): r for r in got}
    trunc = by_off[10]
    h = _headers(trunc)
    assert h["iotpipe.reason"] == "not_json" and h["iotpipe.truncated"] == str(len(big)), h
    assert 0 < len(trunc.value) < 4096 and big.startswith(trunc.value)
    small = by_off[20]
    assert small.value == b"not json" and "iotpipe.truncated" not in _headers(small)
    keyed = by_off[25]
    h = _headers(keyed)
    assert h["iotpipe.key_truncated"] == str(len(long_key)), h
    assert "iotpipe.truncated" not in h, h
    assert keyed.value == _good(99, BASE_S + 99) and long_key.startswith(keyed.key)
    assert 0 < len(keyed.key) < len(long_key)


def test_record_larger_than_a_fetch_response_does_not_stop_the_consumer(iotpipe, kafka,
                                                                        tmp_path):
    """Regression: a topic that takes records above 100 MB (its
    max.message.bytes raised) got one of 100.5 MB, a valid event with a
    long extra field. Kafka sends such a batch whole, larger than
    librdkafka's receive.message.max.bytes (100 MB by default), which then
    dropped the connection and fetched the same offset again, forever:
    nothing more was read from that broker, on either partition, and
    --once gave up with exit 1. Now the consumer takes responses as large
    as the topic's records, and every event is written once."""
    import kafka as kp
    topic = kafka.create_topic(kafka.topic("hostile-huge"), partitions=2,
                               config={"max.message.bytes": str(110_000_000)})
    pad = 100_500_000
    huge = (b'{"timestamp": %d, "temperature": 25.5, "event_duration": 2.5, '
            b'"status": "ok", "pad": "' % (BASE_S + 50)) + b"y" * pad + b'"}'
    prod = kp.KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all",
                            max_in_flight_requests_per_connection=1,
                            max_request_size=104_000_000, buffer_memory=256 << 20)
    want = collections.Counter()
    try:
        def send(part, key, value, t, temp, dur):
            md = prod.send(topic, key=key, value=value, partition=part).get(120)
            want[(key.decode(), part, md.offset, t * 1_000_000, temp, dur, "ok")] += 1
        for i in range(10):
            send(i % 2, f"dev_{i % 3}".encode(), _good(i, BASE_S + i), BASE_S + i,
                 20 + i % 7 + 0.5, 1.5)
        send(0, b"dev_huge", huge, BASE_S + 50, 25.5, 2.5)
        del huge
        for i in range(10, 20):
            send(i % 2, f"dev_{i % 3}".encode(), _good(i, BASE_S + i), BASE_S + i,
                 20 + i % 7 + 0.5, 1.5)
        prod.flush(60)
    finally:
        prod.close()
    cp = iotpipe("archive", "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
                 "--output", tmp_path / "out", "--checkpoint", tmp_path / "ck", "--group", "g",
                 "--once", "--timeout", 20, "--metrics-addr", "off", check=False, timeout=180)
    assert cp.returncode == 0, (cp.returncode, cp.stderr[-3000:])
    assert "receive.message.max.bytes" in cp.stderr, cp.stderr[-3000:]
    have, rows = oracle.read_archive(tmp_path / "out")
    assert have == want, (sorted(have.items())[:5], sorted(want.items())[:5])
    assert len(rows) == 21


def test_kafka_properties_reach_the_dead_letter_producer(iotpipe, kafka, tmp_path):
    """--kafka applies to the dead-letter producer as to the consumer: with
    message.max.bytes=3000 the producer itself refuses a 20000-byte dead
    letter, which goes out truncated. A consumer-only property given too
    is not passed to the producer (no warning, no failure)."""
    topic = kafka.create_topic(kafka.topic("hostile-props"), partitions=1)
    dlq = topic + "-dlq"
    big = b"[" + b"1," * 10000
    items = [(0, b"dev_1", _good(i, BASE_S + i)) for i in range(5)] + [(0, b"dev_1", big)]
    send_raw(kafka, topic, items)
    cp = iotpipe(*_job_args("archive", kafka, topic, tmp_path / "out", tmp_path / "ck", "g",
                            dlq, "--once", "--metrics-addr", "off",
                            "--kafka", "message.max.bytes=3000",
                            "--kafka", "auto.commit.interval.ms=1000",
                            "--log-level", "debug"),
                 check=False, timeout=180)
    assert cp.returncode == 0, (cp.returncode, cp.stderr[-3000:])
    assert "will be ignored" not in cp.stderr, cp.stderr[-3000:]
    assert "'auto.commit.interval.ms' is a consumer property, not applied to the dead-letter producer" in cp.stderr
    # the topic did not exist yet: its limit is the broker's default
    assert f"dead-letter topic '{dlq}': records of up to " in cp.stderr, cp.stderr[-3000:]
    got = kafka.consume_all(dlq, expect=1)
    assert len(got) == 1
    h = _headers(got[0])
    assert h["iotpipe.truncated"] == str(len(big)), h
    assert len(got[0].value) < 3000 and big.startswith(got[0].value)


def test_dead_letter_topic_on_the_embedded_broker_does_not_delay_the_start(
        iotpipe, embedded_broker, tmp_path):
    """Regression: with --dead-letter-topic on the embedded broker (what
    `iotpipe run` and `make run` use), reading the dead-letter topic's
    max.message.bytes waited twice for --timeout (30 s each): librdkafka's
    mock cluster names a controller that is none of its brokers, and
    librdkafka sends DescribeConfigs to the controller. A run over 100
    events took 60 s instead of 3."""
    b = embedded_broker
    topic = b.topic("dlq-embedded")
    items = [(p, f"dev_{p}".encode(), _good(i, BASE_S + i)) for i, p in
             enumerate([0, 1, 2, 3] * 5)] + [(0, b"dev_0", b"not json")]
    send_raw(b, topic, items)
    t0 = time.monotonic()
    cp = iotpipe("archive", "--bootstrap-servers", b.bootstrap, "--topic", topic,
                 "--output", tmp_path / "out", "--checkpoint", tmp_path / "ck", "--group", "g",
                 "--dead-letter-topic", f"{topic}-dlq", "--once", "--metrics-addr", "off",
                 check=False, timeout=180)
    took = time.monotonic() - t0
    assert cp.returncode == 0, (cp.returncode, cp.stderr[-3000:])
    assert took < 20, (took, cp.stderr[-3000:])
    assert len(oracle.read_archive(tmp_path / "out")[1]) == 20
    got = b.consume_all(f"{topic}-dlq", expect=1)
    assert [r.value for r in got] == [b"not json"]


def _dead_broker_run(iotpipe, tmp_path, *extra):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    t0 = time.monotonic()
    cp = iotpipe("archive", "--bootstrap-servers", dead, "--topic", "t",
                 "--output", tmp_path / "o", "--checkpoint", tmp_path / "c", "--group", "g",
                 "--dead-letter-topic", "t-dlq", "--once", "--timeout", 5,
                 "--metrics-addr", "off", "--log-format", "json", *extra,
                 check=False, timeout=60)
    assert cp.returncode == 1, (cp.returncode, cp.stderr[-3000:])
    docs = []
    for line in cp.stderr.splitlines():
        if not line.strip():
            continue
        try:
            docs.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not JSON: {line!r}\n" + cp.stderr[-3000:])
    return docs, time.monotonic() - t0


def test_librdkafka_log_lines_are_json(iotpipe, tmp_path):
    """Regression: librdkafka wrote its own lines ("%3|...|FAIL|...") to
    stderr, breaking --log-format json. The error ending the run is a JSON
    record too."""
    docs, _ = _dead_broker_run(iotpipe, tmp_path)
    # librdkafka's complaint about the broker is among them, as JSON
    assert any(d.get("component") == "kafka" and "Connection refused" in d["msg"]
               for d in docs), docs
    assert docs[-1]["level"] == "error" and "cannot reach Kafka" in docs[-1]["msg"], docs[-1]


def test_librdkafka_log_lines_are_rate_limited(iotpipe, tmp_path):
    """With every librdkafka debug context on, at most 10 of its lines a
    second pass, then one saying how many were suppressed."""
    docs, took = _dead_broker_run(iotpipe, tmp_path, "--log-level", "debug",
                                  "--kafka", "debug=all", "--kafka", "log_level=7")
    kafka = [d for d in docs if d.get("component") == "kafka"]
    notes = [d for d in kafka if "similar lines suppressed" in d["msg"]]
    assert notes, kafka[-20:]
    assert len(kafka) - len(notes) <= 10 * (int(took) + 2), (len(kafka), took)


def test_dead_letter_outage_does_not_stop_commits(iotpipe, kafka, tmp_path):
    """A dead-letter topic that takes nothing (max.message.bytes 1: every
    produce is refused, truncated or not) does not stop the job: the
    valid data commits, the dead letters are counted as dropped and
    logged. Before, the job failed every commit ("records not delivered;
    not committing")."""
    topic = kafka.create_topic(kafka.topic("hostile-outage"), partitions=1)
    dlq = kafka.create_topic(topic + "-dlq", partitions=1,
                             config={"max.message.bytes": "1"})
    items = [(0, b"dev_1", _good(i, BASE_S + i)) for i in range(20)]
    items += [(0, b"dev_1", b"garbage %d" % i) for i in range(3)]
    send_raw(kafka, topic, items)
    recs = kafka.consume_all(topic, expect=len(items))
    t0 = time.monotonic()
    cp = iotpipe(*_job_args("archive", kafka, topic, tmp_path / "out", tmp_path / "ck", "g",
                            dlq, "--once", "--metrics-addr", "off",
                            "--kafka", "message.timeout.ms=5000"),
                 check=False, timeout=180)
    took = time.monotonic() - t0
    assert cp.returncode == 0, (cp.returncode, cp.stderr[-3000:])
    assert took < 60, took
    have, rows = oracle.read_archive(tmp_path / "out")
    assert have == oracle.archive_rows(recs) and len(rows) == 20
    assert "3 records dropped since the last commit, 0 still queued" in cp.stderr, cp.stderr[-3000:]
    assert cp.stderr.count("dropped (") == 3, cp.stderr[-3000:]


def test_topic_too_long_for_object_names_is_a_config_error(iotpipe, tmp_path):
    """Output objects are named part-<topic>-<partition>-<batch>-<run>.parquet: a
    topic name that cannot fit a file name would fail every batch, so it
    is refused at start, before anything is read."""
    topic = "t" * 230  # Kafka allows 249 characters
    for kind in ("archive", "aggregate"):
        cp = iotpipe(kind, "--topic", topic, "--bootstrap-servers", "127.0.0.1:1",
                     "--output", tmp_path / "o", "--checkpoint", tmp_path / "c",
                     "--metrics-addr", "off", check=False, timeout=30)
        assert cp.returncode == 2, (kind, cp.returncode, cp.stderr[-2000:])
        assert "too long to name output objects" in cp.stderr, cp.stderr
