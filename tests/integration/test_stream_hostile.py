"""Hostile input: no record can stop the streaming jobs (SPEC section 8).
A dead letter too large for the dead-letter topic goes there truncated
and the job's commits go on; the user's Kafka properties reach the
dead-letter producer; librdkafka's own log lines follow --log-format
json. Real Kafka (fixture `kafka`)."""
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
    got = kafka.consume_all(dlq, expect=2)
    assert len(got) == 2, [(_headers(r), len(r.value or b"")) for r in got]
    by_off = {int(_headers(r)["iotpipe.offset"]): r for r in got}
    trunc = by_off[10]
    h = _headers(trunc)
    assert h["iotpipe.reason"] == "not_json" and h["iotpipe.truncated"] == str(len(big)), h
    assert 0 < len(trunc.value) < 4096 and big.startswith(trunc.value)
    small = by_off[20]
    assert small.value == b"not json" and "iotpipe.truncated" not in _headers(small)


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
    got = kafka.consume_all(dlq, expect=1)
    assert len(got) == 1
    h = _headers(got[0])
    assert h["iotpipe.truncated"] == str(len(big)), h
    assert len(got[0].value) < 3000 and big.startswith(got[0].value)


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
    notes = [d for d in kafka if "librdkafka log lines suppressed" in d["msg"]]
    assert notes, kafka[-20:]
    assert len(kafka) - len(notes) <= 10 * (int(took) + 2), (len(kafka), took)
