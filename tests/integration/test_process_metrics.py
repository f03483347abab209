"""The standard Prometheus process metrics, scraped from running commands.

Every official client library (Go, Python, Java) exports the same
unprefixed set, and generic dashboards and alerts are written against it:
process_cpu_seconds_total (counter), process_resident_memory_bytes,
process_virtual_memory_bytes, process_open_fds, process_max_fds (the soft
RLIMIT_NOFILE) and process_start_time_seconds (gauges). `produce` runs
against the embedded broker while the test scrapes both; the values are
checked against what the test knows independently: its own clock around
the start, the open-file limit it gave the child (and then changes under
it), CPU time that grows while the producer works.
"""
import os
import re
import resource
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from fixtures.common import ROOT, iotpipe_bin

STANDARD = {
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
}
# a soft open-file limit no default has: the metric must report this one
SOFT_NOFILE = 4093


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(addr):
    """{name: value} of the unlabelled samples and {name: type}."""
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as r:
        text = r.read().decode()
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    values = {}
    for name, value in re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$",
                                  text, re.M):
        assert name not in values, f"{name} twice in one scrape"
        values[name] = float(value)
    return values, types, text


def check_standard_set(values, types, where):
    for name, kind in STANDARD.items():
        assert name in values, f"{where}: {name} missing (unlabelled)"
        assert types.get(name) == kind, f"{where}: {name} is {types.get(name)}"
    # memory: a C process with librdkafka's threads is well past 1 MB
    assert values["process_resident_memory_bytes"] > 1 << 20, values
    assert values["process_virtual_memory_bytes"] >= \
        values["process_resident_memory_bytes"], values
    assert 0 < values["process_open_fds"] <= values["process_max_fds"], values
    # the peak keeps our prefix (the standard set has none) and is a peak
    peak = values["iotpipe_process_max_resident_memory_bytes"]
    assert peak >= values["process_resident_memory_bytes"], values
    # one name per value: the old prefixed copies are gone
    for name in STANDARD:
        assert "iotpipe_" + name not in values, f"{where}: iotpipe_{name}"


def test_standard_process_metrics_while_producing(embedded_broker, tmp_path):
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < SOFT_NOFILE:
        pytest.skip(f"hard RLIMIT_NOFILE {hard} is below {SOFT_NOFILE}")
    port = free_port()
    addr = f"127.0.0.1:{port}"
    err = open(tmp_path / "produce.stderr", "w")
    t_spawn = time.time()
    p = subprocess.Popen(
        [iotpipe_bin(), "produce", "--bootstrap-servers",
         embedded_broker.bootstrap, "--topic", embedded_broker.topic("proc"),
         "--rate", "20000", "--duration", "60", "--metrics-addr", addr],
        stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT)
    try:
        # a soft open-file limit of the test's choosing, set from outside
        # before the first scrape (the metric is read at scrape time)
        resource.prlimit(p.pid, resource.RLIMIT_NOFILE, (SOFT_NOFILE, hard))
        deadline = time.monotonic() + 30
        while True:
            assert p.poll() is None, (tmp_path / "produce.stderr").read_text()
            try:
                first, types, _ = scrape(addr)
                break
            except OSError:
                assert time.monotonic() < deadline, "no /metrics in 30 s"
                time.sleep(0.2)
        t_up = time.time()
        check_standard_set(first, types, "produce")

        # start time: the kernel's start of the child, so between the
        # test's clock before spawning and after the first answer (clock
        # ticks and the boot time's rounding: a second of slack each way)
        start = first["process_start_time_seconds"]
        assert t_spawn - 2 <= start <= t_up + 1, (t_spawn, start, t_up)
        # the soft limit the child was given, not the hard one
        assert first["process_max_fds"] == SOFT_NOFILE, first
        # open fds as the kernel lists them (sockets come and go: slack)
        listed = len(os.listdir(f"/proc/{p.pid}/fd"))
        assert abs(first["process_open_fds"] - listed) <= 8, (first, listed)

        # CPU time grows while the producer works, and never beyond what
        # the machine's cores could have spent since the start
        time.sleep(1.5)
        second, _, _ = scrape(addr)
        assert second["process_cpu_seconds_total"] > \
            first["process_cpu_seconds_total"] > 0, (first, second)
        cores = os.cpu_count() or 1
        assert second["process_cpu_seconds_total"] <= \
            (time.time() - start) * cores + 0.5, second
        assert second["process_start_time_seconds"] == start

        # a limit changed under the running process shows at the next scrape
        resource.prlimit(p.pid, resource.RLIMIT_NOFILE, (SOFT_NOFILE - 1, hard))
        third, _, _ = scrape(addr)
        assert third["process_max_fds"] == SOFT_NOFILE - 1, third
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        err.close()
    assert p.returncode == 0, (tmp_path / "produce.stderr").read_text()[-3000:]


def test_standard_process_metrics_on_the_broker(embedded_broker):
    values, types, _ = scrape(embedded_broker.metrics)
    check_standard_set(values, types, "broker")
    pid = embedded_broker.proc.pid
    assert values["process_max_fds"] == \
        resource.prlimit(pid, resource.RLIMIT_NOFILE)[0], values
    assert abs(values["process_start_time_seconds"] - time.time()) < 60
