"""Helpers for the streaming-job integration tests (test_stream_*.py):
producing a seeded workload, hand-made edge-case records, running and
killing jobs."""
import json
import os
import signal
import subprocess
import time

from fixtures.common import ROOT, iotpipe_bin


# The workloads below were sized for 10 devices spread over all 4
# partitions, which librdkafka's CRC32 partitioner gives; murmur2 (produce's
# default, as the Java client) puts device_id_1..10 on 3 of 4 partitions.
# Tests of the default placement pass partitioner=None.
SPREAD = "consistent_random"


def produce(iotpipe, kafka, topic, count, seed, start, step=0.05, devices=10,
            invalid=0.0, late=0.0, late_by=20, dup=0.0, rate=0, timeout=120,
            partitioner=SPREAD):
    extra = ["--kafka", f"partitioner={partitioner}"] if partitioner else []
    iotpipe("produce", "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
            "--count", count, "--rate", rate, "--seed", seed,
            "--devices", devices, "--start-time", start, "--time-step", step,
            "--invalid-fraction", invalid, "--late-fraction", late,
            "--late-by", late_by, "--duplicate-fraction", dup,
            "--metrics-addr", "off", *extra, timeout=timeout)


def send_raw(kafka, topic, items):
    """items: (partition, key bytes|None, value bytes). Sends in order."""
    import kafka as kp
    prod = kp.KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all",
                            max_in_flight_requests_per_connection=1)
    try:
        for part, key, value in items:
            prod.send(topic, key=key, value=value, partition=part).get(30)
        prod.flush(30)
    finally:
        prod.close()


def edge_records(base_s, partitions=4):
    """Hand-made records around epoch second base_s exercising docs/design.md
    §3: ISO strings, offsets, integer and 7-decimal timestamps, escapes,
    extra fields, status null/missing/error, wrong types, nulls, bad JSON.
    Each hand key lives on one partition (as a keyed producer would)."""
    def rec(i, value, key=None):
        p = i % partitions
        k = f"hand_{p}".encode() if key is None else key
        return (p, k, value if isinstance(value, bytes) else value.encode())

    b = base_s
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(b))
    iso1 = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(b + 3600 + 7))
    vals = [
        f'{{"timestamp": "{iso}.25Z", "temperature": 21.5, "event_duration": 9.25, "status": "ok"}}',
        f'{{"timestamp": "{iso1}.5+01:00", "temperature": 22, "event_duration": 10, "status": "warning"}}',
        f'{{"timestamp": {b + 1}, "temperature": 23.125, "event_duration": 1e1, "status": "ok"}}',
        f'{{"timestamp": {b + 2}.1234565, "temperature": 24.0, "event_duration": 8.5, "status": "ok"}}',
        f'{{"timestamp": {b + 3}.000001, "temperature": -5.5, "event_duration": 0.001, "status": "\\u006fk"}}',
        f'  {{"extra": {{"a": [1, 2, {{"b": null}}]}}, "timestamp": {b + 4}.5, "temperature": 20.01, "event_duration": 11.11, "status": "warning", "more": "x"}}  ',
        f'{{"timestamp": {b + 5}.5, "temperature": 20.5, "event_duration": 11.0, "status": null}}',
        f'{{"timestamp": {b + 6}.5, "temperature": 20.5, "event_duration": 11.0}}',
        f'{{"timestamp": {b + 7}.5, "temperature": 20.5, "event_duration": 11.0, "status": "error"}}',
        f'{{"timestamp": {b + 8}.5, "temperature": true, "event_duration": 11.0, "status": "ok"}}',
        f'{{"timestamp": {b + 9}.5, "temperature": "21.5", "event_duration": 11.0, "status": "ok"}}',
        f'{{"timestamp": {b + 10}.5, "temperature": 21.5, "event_duration": null, "status": "ok"}}',
        f'{{"timestamp": {b + 11}.5, "temperature": 21.5, "status": "ok"}}',
        f'{{"timestamp": {b + 12}.5, "temperature": 21.5, "event_duration": 1.0, "status": "OK"}}',
        f'{{"timestamp": {b + 13}.5, "temperature": 21.5, "event_duration": 1.0, "status": 1}}',
        f'{{"timestamp": {b + 14}.5, "temperature": NaN, "event_duration": 1.0, "status": "ok"}}',
        f'{{"timestamp": true, "temperature": 21.5, "event_duration": 1.0, "status": "ok"}}',
        f'{{"timestamp": "yesterday", "temperature": 21.5, "event_duration": 1.0, "status": "ok"}}',
        f'{{"timestamp": {b + 15}.5, "temperature": 21.5, "event_duration": 1.0, "status": "ok"}} x',
        '42',
        '',
        f'{{"timestamp": {b + 16}.5, "temperature": 21.5, "event_duration": 1.0, "status": "ok", "timestamp": {b + 17}.25}}',
    ]
    out = [rec(i, v) for i, v in enumerate(vals)]
    # valid JSON without a key / with an empty key
    good = f'{{"timestamp": {b + 18}.5, "temperature": 21.5, "event_duration": 1.0, "status": "ok"}}'
    out.append((1, None, good.encode()))
    out.append((2, b"", good.encode()))
    return out


class Job:
    """A streaming job in a subprocess (stdout/stderr to files)."""

    def __init__(self, workdir, name, args, env=None):
        self.workdir = workdir
        self.name = name
        self.args = [str(a) for a in args]
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.starts = 0
        self.log = workdir / f"{name}.log"

    def start(self):
        self.starts += 1
        f = open(self.log, "ab")
        f.write(f"\n=== start {self.starts}: {' '.join(self.args)}\n".encode())
        f.flush()
        self.proc = subprocess.Popen([iotpipe_bin(), *self.args], stdout=f,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     cwd=ROOT)
        f.close()
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL, timeout=60):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.name} did not stop within {timeout}s "
                                 f"after signal {sig}:\n{self.tail()}")

    def tail(self, n=4000):
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def kill_all(prod, jobs):
    """Teardown of a kill -9 scenario: stops the producer if it still runs
    and kill -9s every job still running (jobs: a dict of Job)."""
    if prod.poll() is None:
        prod.kill()
        prod.wait()
    for job in jobs.values():
        if job.running():
            job.kill(signal.SIGKILL)


def dlq_by_reason(records):
    """{(partition, offset): [reasons]} from dead-letter records."""
    out = {}
    for r in records:
        h = {k: v.decode() for k, v in r.headers}
        key = (int(h["iotpipe.partition"]), int(h["iotpipe.offset"]))
        out.setdefault(key, []).append(h["iotpipe.reason"])
    return out


def topic_exists(kafka, topic):
    return kafka.partitions(topic) is not None


def dump(obj):
    return json.dumps(obj, default=str)[:3000]
