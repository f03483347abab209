"""`iotpipe produce` against a real Apache Kafka and the embedded broker,
checked with an independent client (kafka-python) and an independent
validator written here from docs/design.md §3 (not our decoder)."""
import json
import math
import re
import signal
import subprocess
import time
import urllib.request

import pytest

from fixtures.common import iotpipe_bin, ROOT

ENUM = {"ok", "warning", "error"}
SUMMARY = re.compile(
    r"sent (\d+) records \(valid (\d+), late (\d+), invalid (\d+), "
    r"duplicate (\d+)\)")


def classify(rec):
    """'valid' or 'invalid' for one record, per docs/design.md §3."""
    if rec.key is None or rec.key == b"":
        return "invalid"
    try:
        v = json.loads(rec.value)
    except (ValueError, UnicodeDecodeError, TypeError):
        return "invalid"
    if not isinstance(v, dict):
        return "invalid"
    for f in ("timestamp", "temperature", "event_duration"):
        x = v.get(f)
        if x is None:
            return "invalid"
        if f != "timestamp" and (isinstance(x, bool) or
                                 not isinstance(x, (int, float))):
            return "invalid"
    if not isinstance(v["timestamp"], (int, float)) or isinstance(
            v["timestamp"], bool):
        return "invalid"
    if "status" in v and v["status"] is not None and v["status"] not in ENUM:
        return "invalid"
    return "valid"


def within(count, n, p, what):
    """Binomial tolerance: 5 standard deviations."""
    sd = math.sqrt(n * p * (1 - p))
    assert abs(count - n * p) <= 5 * sd + 1, (
        f"{what}: {count} of {n}, expected about {n * p:.0f}")


def check_stream(records, n, started, fractions, devices):
    assert len(records) == n, f"{len(records)} records, expected {n}"
    kinds = {"valid": 0, "invalid": 0, "late": 0, "duplicate": 0}
    last_by_key = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        c = classify(r)
        if c == "invalid":
            kinds["invalid"] += 1
            continue
        assert r.key.decode() in {f"device_id_{i}" for i in range(1, devices + 1)}
        v = json.loads(r.value)
        assert 20.0 <= v["temperature"] < 30.0
        assert round(v["temperature"], 2) == v["temperature"]
        assert v["status"] in ENUM
        if last_by_key.get(r.key) == r.value:
            kinds["duplicate"] += 1
        elif v["timestamp"] < started - 170:
            kinds["late"] += 1
        else:
            kinds["valid"] += 1
        last_by_key[r.key] = r.value
    within(kinds["invalid"], n, fractions["invalid"], "invalid")
    within(kinds["late"], n, fractions["late"], "late")
    within(kinds["duplicate"], n, fractions["duplicate"], "duplicate")
    return kinds


def run_produce(iotpipe, bootstrap, topic, n, *extra, fractions=None):
    fractions = fractions or {"invalid": 0.02, "late": 0.03, "duplicate": 0.02}
    started = time.time()
    cp = iotpipe("produce", "--bootstrap-servers", bootstrap, "--topic", topic,
                 "--count", n, "--rate", 0, "--seed", 42, "--devices", 10,
                 "--invalid-fraction", fractions["invalid"],
                 "--late-fraction", fractions["late"],
                 "--duplicate-fraction", fractions["duplicate"],
                 "--metrics-addr", "off", *extra, timeout=300)
    m = SUMMARY.search(cp.stderr)
    assert m, cp.stderr
    assert int(m.group(1)) == n
    return started, fractions, cp


def test_produce_real_kafka_idempotent(iotpipe, kafka):
    topic = kafka.create_topic(kafka.topic("produce"), partitions=4)
    n = 100_000
    started, fr, cp = run_produce(iotpipe, kafka.bootstrap, topic, n,
                                  "--exactly-once", "--acks", "all")
    assert "delivered 100000, failed 0" in cp.stderr
    records = kafka.consume_all(topic, timeout=120, expect=n)
    kinds = check_stream(records, n, started, fr, 10)
    # the producer's own per-kind counts agree with what arrived
    m = SUMMARY.search(cp.stderr)
    assert int(m.group(4)) == kinds["invalid"]
    assert int(m.group(5)) == kinds["duplicate"]
    # keys are placed as the Java client and kafka-python place them
    # (murmur2); device_id_1..10 hash to 3 of the 4 partitions
    from kafka.partitioner.default import murmur2
    keyed = [r for r in records if r.key]
    assert keyed and all(r.partition == (murmur2(r.key) & 0x7FFFFFFF) % 4 for r in keyed)
    assert {r.partition for r in keyed} == {
        (murmur2(f"device_id_{i}".encode()) & 0x7FFFFFFF) % 4 for i in range(1, 11)}


def test_produce_embedded_broker(iotpipe, embedded_broker):
    topic = embedded_broker.topic("produce")
    n = 20_000  # the embedded broker keeps ~5 MiB per partition
    started, fr, _ = run_produce(iotpipe, embedded_broker.bootstrap, topic, n,
                                 "--exactly-once")
    records = embedded_broker.consume_all(topic, timeout=60, expect=n)
    check_stream(records, n, started, fr, 10)


def test_same_seed_same_records(iotpipe, embedded_broker):
    values = []
    for _ in range(2):
        topic = embedded_broker.topic("seed")
        iotpipe("produce", "--bootstrap-servers", embedded_broker.bootstrap,
                "--topic", topic, "--count", 500, "--rate", 0, "--seed", 7,
                "--start-time", "2025-01-01T23:59:00Z", "--time-step", 0.5,
                "--invalid-fraction", 0.1, "--metrics-addr", "off")
        recs = embedded_broker.consume_all(topic, expect=500)
        values.append(sorted((r.key or b"", r.value) for r in recs))
    assert values[0] == values[1]
    # simulated clock: 500 records half a second apart, across midnight
    ts = []
    for k, v in values[0]:
        try:
            t = json.loads(v)["timestamp"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            continue
        if isinstance(t, float):
            ts.append(t)
    ts.sort()
    assert len(ts) > 300
    assert ts[0] >= 1735775940.0 and ts[-1] <= 1735775940.0 + 250


def test_pacing_rate(iotpipe, embedded_broker):
    topic = embedded_broker.topic("rate")
    t0 = time.monotonic()
    iotpipe("produce", "--bootstrap-servers", embedded_broker.bootstrap,
            "--topic", topic, "--count", 300, "--rate", 200,
            "--metrics-addr", "off")
    elapsed = time.monotonic() - t0
    assert elapsed >= 1.4, f"300 events at 200/s took {elapsed:.2f}s"


def test_unreachable_broker_fails_fast(iotpipe):
    t0 = time.monotonic()
    cp = iotpipe("produce", "--bootstrap-servers", "127.0.0.1:1", "--count", 10,
                 "--timeout", 2, "--metrics-addr", "off", check=False, timeout=30)
    assert cp.returncode == 1
    assert "cannot reach Kafka at '127.0.0.1:1'" in cp.stderr
    assert time.monotonic() - t0 < 15


def test_missing_topic_without_auto_creation(iotpipe, kafka):
    topic = kafka.topic("absent")
    cp = iotpipe("produce", "--bootstrap-servers", kafka.bootstrap, "--topic",
                 topic, "--count", 10, "--timeout", 3, "--metrics-addr", "off",
                 "--kafka", "allow.auto.create.topics=false", check=False)
    assert cp.returncode == 1, cp.stderr
    assert f"topic '{topic}' does not exist" in cp.stderr
    assert kafka.partitions(topic) is None


def test_sigterm_flushes_and_exits_zero(iotpipe, embedded_broker):
    topic = embedded_broker.topic("sig")
    p = subprocess.Popen([iotpipe_bin(), "produce", "--bootstrap-servers",
                          embedded_broker.bootstrap, "--topic", topic,
                          "--rate", "500", "--metrics-addr", "off"],
                         stderr=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(3)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    m = SUMMARY.search(err)
    n = int(m.group(1))
    assert n > 500
    assert f"delivered {n}, failed 0" in err
    assert len(embedded_broker.consume_all(topic, expect=n)) == n


def test_metrics_endpoint(iotpipe, embedded_broker):
    topic = embedded_broker.topic("metrics")
    p = subprocess.Popen([iotpipe_bin(), "produce", "--bootstrap-servers",
                          embedded_broker.bootstrap, "--topic", topic,
                          "--rate", "1000", "--duration", "20",
                          "--invalid-fraction", "0.1",
                          "--metrics-addr", "127.0.0.1:0"],
                         stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        port = None
        deadline = time.monotonic() + 15
        while port is None and time.monotonic() < deadline:
            line = p.stderr.readline()
            m = re.search(r"serving http://127\.0\.0\.1:(\d+)/metrics", line)
            if m:
                port = int(m.group(1))
        assert port, "no metrics address logged"
        time.sleep(2)
        base = f"http://127.0.0.1:{port}"
        assert urllib.request.urlopen(base + "/healthz").read() == b"ok\n"
        text = urllib.request.urlopen(base + "/metrics").read().decode()
        sent = re.search(r'^iotpipe_events_sent_total\{kind="valid"\} (\d+)$',
                         text, re.M)
        assert sent and int(sent.group(1)) > 100, text
        assert re.search(r'^iotpipe_events_produced_total\{kind="invalid"\} \d+$',
                         text, re.M)
        assert "# TYPE iotpipe_produce_delivery_latency_seconds histogram" in text
        assert re.search(r"^process_resident_memory_bytes \d+$", text, re.M)
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=60)
    assert p.returncode == 0


@pytest.mark.parametrize("args,needle", [
    (["--no-such-flag"], "unknown option '--no-such-flag'"),
    (["--count"], "needs a value"),
    (["--rate", "fast"], "'fast' is not a number"),
    (["--kafka", "linger.ms=soon"], "Kafka property 'linger.ms'"),
    (["--kafka", "no.such.property=1"], "no.such.property"),
    (["--invalid-fraction", "0.8", "--late-fraction", "0.5"], "sum to at most 1"),
])
def test_usage_errors_exit_2(iotpipe, args, needle):
    cp = iotpipe("produce", "--metrics-addr", "off", *args, check=False)
    assert cp.returncode == 2, cp.stderr
    assert needle in cp.stderr


def test_config_errors_name_file_line_key(iotpipe, tmp_path):
    bad = tmp_path / "producer.yml"
    bad.write_text("producer_config:\n  kafka:\n    topic: t\n    retrys: 3\n")
    cp = iotpipe("produce", "-c", bad, "--metrics-addr", "off", check=False)
    assert cp.returncode == 2
    assert f"{bad}:4: unknown key 'kafka.retrys'" in cp.stderr
    assert "kafka.retries" in cp.stderr  # the valid keys are listed
    bad.write_text("producer_config:\n  kafka:\n    retries: many\n")
    cp = iotpipe("produce", "-c", bad, "--metrics-addr", "off", check=False)
    assert cp.returncode == 2
    assert f"{bad}:3: key 'kafka.retries': 'many' is not an integer" in cp.stderr
    bad.write_text("producer_config:\n  kafka: [unclosed\n")
    cp = iotpipe("produce", "-c", bad, "--metrics-addr", "off", check=False)
    assert cp.returncode == 2
    assert re.search(rf"{re.escape(str(bad))}:\d+: invalid YAML", cp.stderr)
    cp = iotpipe("produce", "-c", tmp_path / "missing.yml", check=False)
    assert cp.returncode == 2 and "missing.yml: cannot open config file" in cp.stderr


def test_precedence_flag_env_file(iotpipe, tmp_path):
    f = tmp_path / "s.yml"
    f.write_text("streaming_config:\n  kafka:\n    KAFKA_TOPIC_NAME: from_file\n"
                 "  s3:\n    NUM_EVENT_THRESHOLD: '150'\n")
    out = iotpipe("debug", "config", "-c", f).stdout
    assert "streaming.topic=from_file" in out
    assert "streaming.num_event_threshold=150" in out
    out = iotpipe("debug", "config", "-c", f,
                  env={"KAFKA_TOPIC_NAME": "from_env",
                       "NUM_EVENT_THRESHOLD": "7"}).stdout
    assert "streaming.topic=from_env" in out
    assert "streaming.num_event_threshold=7" in out
    out = iotpipe("debug", "config", "-c", f, "--topic", "from_flag",
                  env={"KAFKA_TOPIC_NAME": "from_env"}).stdout
    assert "streaming.topic=from_flag" in out
    # defaults when no file is named and the directory has none
    out = iotpipe("debug", "config", env={"IOTPIPE_CONFIG_DIR": str(tmp_path / "none")}).stdout
    assert "streaming.num_event_threshold=200" in out
    assert "producer.topic=device_topic" in out


def test_schema_field_added_in_yaml_needs_no_code(iotpipe, tmp_path, embedded_broker):
    schema = (ROOT / "config" / "event_schema.yml").read_text()
    schema += ("    - name: humidity\n      type: int\n"
               "      generate: {distribution: uniform, min: 30, max: 90}\n"
               "    - name: site\n      type: string\n      required: false\n")
    f = tmp_path / "schema.yml"
    f.write_text(schema)
    topic = embedded_broker.topic("schema")
    iotpipe("produce", "-c", f, "--bootstrap-servers", embedded_broker.bootstrap,
            "--topic", topic, "--count", 200, "--rate", 0, "--metrics-addr", "off")
    recs = embedded_broker.consume_all(topic, expect=200)
    for r in recs:
        v = json.loads(r.value)
        assert isinstance(v["humidity"], int) and 30 <= v["humidity"] <= 90
        assert isinstance(v["site"], str)
    # and the decoder validates the new field
    lines = "device_id_1\t" + json.dumps({"timestamp": 1, "temperature": 1,
                                          "event_duration": 1, "status": "ok",
                                          "humidity": "wet"}) + "\n"
    out = iotpipe("debug", "decode", "-c", f, input=lines).stdout
    assert out == "invalid\twrong_type: humidity\n"


def test_simulated_clock_past_year_9999(iotpipe, embedded_broker):
    """--start-time + N x --time-step beyond 9999-12-31 stops with a usage
    error instead of overflowing (llround of a value past 2^63 is
    undefined)."""
    cp = iotpipe("produce", "--bootstrap-servers", embedded_broker.bootstrap,
                 "--topic", embedded_broker.topic("clock"), "--count", 1000000000000,
                 "--start-time", "9999-12-31T23:59:00Z", "--time-step", 86400,
                 "--metrics-addr", "off", check=False, timeout=60)
    assert cp.returncode == 2, (cp.returncode, cp.stderr[-2000:])
    assert "passed 9999-12-31 after 1 records" in cp.stderr, cp.stderr[-2000:]
