"""`iotpipe broker`, the embedded development broker, driven from outside:
the start-up contract of docs/design.md §9 (first stdout line, bootstrap
file, metrics), clients of two independent implementations (kcat, i.e.
librdkafka, and kafka-python) producing and consuming through it, clean
exit on SIGTERM and SIGINT, and usage errors."""
import re
import shutil
import signal
import subprocess
import urllib.request

import pytest

BOOTSTRAP_RE = re.compile(r"^bootstrap\.servers=127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+)*$")


def need_kcat():
    if not shutil.which("kcat"):
        pytest.skip("kcat is not installed (make deps installs it)")


def kcat(*args, input=None, timeout=60):
    return subprocess.run(["kcat", *map(str, args)], input=input,
                          capture_output=True, text=True, timeout=timeout,
                          check=True)


def test_announces_bootstrap_file_and_metrics(embedded_broker):
    first = embedded_broker.lines[0].rstrip("\n")
    assert BOOTSTRAP_RE.match(first), first
    assert embedded_broker.bootstrap_file.read_text() == \
        embedded_broker.bootstrap + "\n"
    assert embedded_broker.metrics, embedded_broker.lines
    base = f"http://{embedded_broker.metrics}"
    with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
        assert r.status == 200
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        body = r.read().decode()
    assert "iotpipe_broker_brokers 1" in body
    assert re.search(r"^process_resident_memory_bytes \d+$", body, re.M)


def test_kcat_produce_and_consume(embedded_broker):
    need_kcat()
    bs, topic = embedded_broker.bootstrap, embedded_broker.topic()
    lines = "".join(f"device_id_{i % 3}:{{\"n\": {i}}}\n" for i in range(50))
    kcat("-b", bs, "-t", topic, "-P", "-K:", "-X", "enable.idempotence=true",
         input=lines)
    out = kcat("-b", bs, "-t", topic, "-C", "-e", "-o", "beginning", "-q",
               "-f", "%k|%s\\n").stdout.splitlines()
    assert sorted(out) == sorted(f"device_id_{i % 3}|{{\"n\": {i}}}"
                                 for i in range(50))
    # The same records, seen by the other client implementation.
    recs = embedded_broker.consume_all(topic)
    assert len(recs) == 50
    assert {r.key for r in recs} == {b"device_id_0", b"device_id_1",
                                     b"device_id_2"}
    # One key always lands on one partition.
    by_key = {}
    for r in recs:
        by_key.setdefault(r.key, set()).add(r.partition)
    assert all(len(p) == 1 for p in by_key.values())


def test_kafka_python_roundtrip_with_headers(embedded_broker):
    from kafka import KafkaProducer
    topic = embedded_broker.topic()
    p = KafkaProducer(bootstrap_servers=embedded_broker.bootstrap, acks="all")
    for i in range(20):
        p.send(topic, key=b"k%d" % i, value=b"v%d" % i,
               headers=[("reason", b"bad_json")])
    p.flush()
    p.close()
    recs = embedded_broker.consume_all(topic, expect=20)
    assert sorted(r.value for r in recs) == sorted(b"v%d" % i for i in range(20))
    assert all(r.headers == [("reason", b"bad_json")] for r in recs)
    assert embedded_broker.partitions(topic) == 4


def test_kcat_consumer_group(embedded_broker):
    need_kcat()
    bs, topic = embedded_broker.bootstrap, embedded_broker.topic()
    kcat("-b", bs, "-t", topic, "-P", input="".join(f"m{i}\n" for i in range(10)))
    cp = kcat("-b", bs, "-G", "grp", "-X", "session.timeout.ms=6000",
              "-X", "auto.offset.reset=earliest", "-e", "-q", "-f", "%s\\n",
              topic)
    assert sorted(cp.stdout.split()) == sorted(f"m{i}" for i in range(10))
    # Offsets were committed: the same group sees nothing new.
    cp = kcat("-b", bs, "-G", "grp", "-X", "session.timeout.ms=6000",
              "-X", "auto.offset.reset=earliest", "-e", "-q", "-f", "%s\\n",
              topic)
    assert cp.stdout.split() == []


def test_topic_flag_sets_partitions(embedded_broker_factory):
    b = embedded_broker_factory("--topic", "seven", "--topic", "other",
                                "--partitions", "7")
    assert b.partitions("seven") == 7
    assert b.partitions("other") == 7


def test_several_brokers(embedded_broker_factory):
    b = embedded_broker_factory("--brokers", "3")
    assert len(b.bootstrap.split(",")) == 3
    from kafka import KafkaProducer
    topic = b.topic()
    p = KafkaProducer(bootstrap_servers=b.bootstrap)
    for i in range(30):
        p.send(topic, key=b"%d" % i, value=b"x")
    p.flush()
    p.close()
    assert len(b.consume_all(topic, expect=30)) == 30


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_0_and_removes_bootstrap_file(embedded_broker, sig):
    assert embedded_broker.bootstrap_file.exists()
    assert embedded_broker.stop(sig) == 0
    assert not embedded_broker.bootstrap_file.exists()
    assert "stopping on" in embedded_broker.stderr_path.read_text()


def test_json_logs(embedded_broker_factory):
    b = embedded_broker_factory("--log-format", "json")
    assert b.stop() == 0
    import json
    lines = [json.loads(l) for l in b.stderr_path.read_text().splitlines()]
    assert any("ready" in json.dumps(l) for l in lines)


def test_metrics_off(embedded_broker_factory):
    b = embedded_broker_factory("--metrics-addr", "off")
    assert b.metrics is None


@pytest.mark.parametrize("args", [
    ["--no-such-flag"],
    ["--partitions", "0"],
    ["--brokers", "many"],
    ["--log-level", "loud"],
    ["--topic", "bad name"],
    ["--topic", "a", "--topic", "a"],
    ["--log-format", "xml"],
    ["positional"],
])
def test_usage_errors_exit_2(iotpipe, args):
    cp = iotpipe("broker", *args, check=False, timeout=20)
    assert cp.returncode == 2, cp
    assert cp.stdout == ""
    assert cp.stderr.startswith("iotpipe broker: ")


def test_help(iotpipe):
    cp = iotpipe("broker", "--help")
    for flag in ("--bootstrap-file", "--partitions", "--brokers", "--topic",
                 "--metrics-addr", "--log-level"):
        assert flag in cp.stdout
    assert "memory" in cp.stdout
