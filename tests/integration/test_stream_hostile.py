"""Hostile input and hostile surroundings: librdkafka's own log lines
follow --log-format json, rate-limited."""
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
