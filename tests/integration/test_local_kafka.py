"""kafka/local-kafka.sh and the real Apache Kafka it runs: the session
fixture `kafka` starts it (fetch, format, start, wait) and stops it; these
tests check the script's lifecycle commands and that both client
implementations we test with (kafka-python, and librdkafka through kcat)
produce and consume through it, including a consumer group.

IOTPIPE_TEST_KAFKA4=VERSION (e.g. 4.1.1) also runs the librdkafka 2.0.2
compatibility check against that Kafka 4.x version (docs/kafka.md)."""
import os
import shutil
import subprocess

import pytest

from fixtures.kafka import free_port, run_script


def need_kcat():
    if not shutil.which("kcat"):
        pytest.skip("kcat is not installed (make deps installs it)")


def kcat(*args, input=None, timeout=90):
    return subprocess.run(["kcat", *map(str, args)], input=input,
                          capture_output=True, text=True, timeout=timeout,
                          check=True)


def test_status_and_idempotent_start(kafka):
    if kafka.script_args is None:
        pytest.skip("IOTPIPE_TEST_KAFKA names a broker this session did not start")
    cp = run_script("status", *kafka.script_args)
    assert cp.returncode == 0, cp.stderr
    assert f"bootstrap.servers={kafka.bootstrap}" in cp.stdout
    pid = cp.stdout.split("pid=")[1].split()[0]
    cp = run_script("start", *kafka.script_args)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.strip() == f"bootstrap.servers={kafka.bootstrap}"
    assert "already running" in cp.stderr
    cp = run_script("status", *kafka.script_args)
    assert f"pid={pid} " in cp.stdout


def test_kafka_python_produce_consume(kafka):
    from kafka import KafkaProducer
    topic = kafka.create_topic(kafka.topic(), partitions=3)
    assert kafka.partitions(topic) == 3
    p = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    for i in range(300):
        p.send(topic, key=b"device_id_%d" % (i % 10), value=b'{"n": %d}' % i,
               headers=[("h", b"%d" % i)])
    p.flush()
    p.close()
    recs = kafka.consume_all(topic)
    assert len(recs) == 300
    assert sorted(int(r.value[6:-1]) for r in recs) == list(range(300))
    assert all(r.headers == [("h", r.value[6:-1])] for r in recs)
    assert {r.partition for r in recs} <= {0, 1, 2}
    # Offsets are dense per partition.
    for part in {r.partition for r in recs}:
        offs = [r.offset for r in recs if r.partition == part]
        assert offs == list(range(len(offs)))


def test_auto_created_topic_uses_num_partitions(kafka):
    need_kcat()
    if kafka.script_args is None:
        pytest.skip("partition default of a foreign broker is unknown")
    topic = kafka.topic()
    kcat("-b", kafka.bootstrap, "-t", topic, "-P", input="a\nb\n")
    assert kafka.partitions(topic) == 4
    assert len(kafka.consume_all(topic)) == 2


def test_librdkafka_idempotent_producer_and_group(kafka):
    need_kcat()
    topic = kafka.create_topic(kafka.topic(), partitions=2)
    kcat("-b", kafka.bootstrap, "-t", topic, "-P", "-K:", "-X",
         "enable.idempotence=true", "-X", "acks=all",
         input="".join(f"k{i}:v{i}\n" for i in range(100)))
    args = ("-b", kafka.bootstrap, "-G", "g-" + topic, "-X",
            "session.timeout.ms=6000", "-X", "auto.offset.reset=earliest",
            "-e", "-q", "-f", "%k=%s\\n", topic)
    cp = kcat(*args)
    assert sorted(cp.stdout.split()) == sorted(f"k{i}=v{i}" for i in range(100))
    assert kcat(*args).stdout.split() == []  # offsets were committed


def lifecycle(tmp_path, version=None):
    """start, status, stop, status, stop on a private instance."""
    env = dict(os.environ)
    if version:
        env["KAFKA_VERSION"] = version
    port, cport = free_port(), free_port()
    args = ["--port", port, "--controller-port", cport,
            "--data-dir", tmp_path / "k"]
    cp = run_script("start", *args, env=env)
    try:
        assert cp.returncode == 0, cp.stderr
        bootstrap = f"127.0.0.1:{port}"
        assert cp.stdout.strip() == f"bootstrap.servers={bootstrap}"
        assert run_script("status", *args, env=env).returncode == 0
        yield bootstrap
    finally:
        cp = run_script("stop", *args, env=env, timeout=120)
        assert cp.returncode == 0, cp.stderr
    cp = run_script("status", *args, env=env)
    assert cp.returncode == 3 and cp.stdout.startswith("stopped")
    cp = run_script("stop", *args, env=env)  # idempotent
    assert cp.returncode == 0 and "not running" in cp.stderr


def test_lifecycle_of_a_second_instance(tmp_path, kafka):
    # `kafka` first, so that its start fetched the jars already.
    for bootstrap in lifecycle(tmp_path):
        assert bootstrap != kafka.bootstrap


@pytest.mark.skipif(not os.environ.get("IOTPIPE_TEST_KAFKA4"),
                    reason="set IOTPIPE_TEST_KAFKA4=4.x.y to check Kafka 4")
def test_librdkafka_against_kafka4(tmp_path):
    need_kcat()
    from fixtures.kafka import consume_all
    for bs in lifecycle(tmp_path, os.environ["IOTPIPE_TEST_KAFKA4"]):
        kcat("-b", bs, "-t", "c4", "-P", "-K:", "-X", "enable.idempotence=true",
             input="".join(f"k{i}:v{i}\n" for i in range(50)))
        cp = kcat("-b", bs, "-G", "g4", "-X", "session.timeout.ms=6000",
                  "-X", "auto.offset.reset=earliest", "-e", "-q",
                  "-f", "%k=%s\\n", "c4")
        assert sorted(cp.stdout.split()) == sorted(f"k{i}=v{i}" for i in range(50))
        assert len(consume_all(bs, "c4")) == 50


def test_kafka_tools_benchmarks_run(kafka):
    # The benchmarks (bench/) compare iotpipe with Kafka's own tools from the
    # same cache; check that they run against the test broker.
    topic = kafka.create_topic(kafka.topic("perf"), partitions=2)
    cp = run_script("run-class", "org.apache.kafka.tools.ProducerPerformance",
                    "--topic", topic, "--num-records", 2000, "--record-size",
                    100, "--throughput", -1, "--producer-props",
                    f"bootstrap.servers={kafka.bootstrap}", "acks=all",
                    "enable.idempotence=true", timeout=120)
    assert cp.returncode == 0, cp.stderr
    assert "2000 records sent" in cp.stdout
    cp = run_script("run-class", "org.apache.kafka.tools.ConsumerPerformance",
                    "--bootstrap-server", kafka.bootstrap, "--topic", topic,
                    "--messages", 2000, "--timeout", 60000, timeout=120)
    assert cp.returncode == 0, cp.stderr
    assert len(kafka.consume_all(topic)) == 2000
