"""Hostile input and hostile clients: what a user of the metrics endpoint
and of the S3 settings can do to a running job, and must not be able to.

- idle connections to the metrics port must not starve the job of file
  descriptors (it lists its checkpoint and writes files all the time);
- a second job on the host must start although the default metrics port
  is taken, while a port the user chose is an error (exit 2);
- libmicrohttpd's complaints about malformed requests go through the
  logger (JSON with --log-format json) and are rate-limited;
- a password inside an endpoint URL never appears in any output.

Everything listens on and connects to 127.0.0.1 only; every loop is
bounded in count and in time.
"""
import errno
import json
import os
import resource
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from fixtures.common import ROOT, iotpipe_bin
from streamlib import Job, produce

START = "2025-01-01T23:58:00Z"
SECRET = "s3cr3tpass"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nofile_1024():
    """preexec_fn: the job runs with the usual open-file limit."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def archive_args(bootstrap, topic, tmp_path, *extra):
    return ["archive", "--bootstrap-servers", bootstrap, "--topic", topic,
            "--output", tmp_path / "o", "--checkpoint", tmp_path / "c",
            "--group", "g", *extra]


def parquet_files(out):
    return sorted(p for p in out.rglob("*.parquet")) if out.exists() else []


def wait_for(cond, timeout, what, job=None):
    deadline = time.monotonic() + timeout
    while not cond():
        if job is not None and not job.running():
            raise AssertionError(f"job exited ({job.proc.returncode}) while "
                                 f"waiting for {what}:\n{job.tail()}")
        assert time.monotonic() < deadline, f"no {what} in {timeout}s"
        time.sleep(0.2)


def open_idle(port, count, budget_s):
    """Up to count idle TCP connections to port (fewer if budget_s runs
    out or connects stop succeeding); returns the sockets."""
    socks = []
    deadline = time.monotonic() + budget_s
    while len(socks) < count and time.monotonic() < deadline:
        s = socket.socket()
        s.settimeout(0.5)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        socks.append(s)
    return socks


def metrics_up(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                    timeout=2) as r:
            return r.status == 200 and b"iotpipe_" in r.read()
    except OSError:
        return False


def _s3_env(endpoint_var, url):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_ENDPOINT_URL") and k != "ENDPOINT_URL"}
    env.update({endpoint_var: url, "AWS_ACCESS_KEY_ID": "test",
                "AWS_SECRET_ACCESS_KEY": "test", "AWS_MAX_ATTEMPTS": "1",
                "IOTPIPE_S3_CONNECT_TIMEOUT_MS": "2000"})
    return env


@pytest.mark.parametrize("endpoint_var", ["AWS_ENDPOINT_URL_S3",
                                          "AWS_ENDPOINT_URL", "ENDPOINT_URL"])
def test_endpoint_password_never_printed(tmp_path, endpoint_var):
    """A password in the endpoint URL (nothing listens there) is not in
    the output of any S3 command, errors and debug logs alike, while the
    error still names the host."""
    dead = free_port()
    local = tmp_path / "f.txt"
    local.write_text("x\n")
    runs = [["ls", "s3://b/"], ["mb", "s3://b"], ["cp", local, "s3://b/k"],
            ["cp", "s3://b/k", tmp_path / "back"], ["inspect", "s3://b/k"],
            ["ls", "--log-level", "debug", "s3://b/"]]
    for url in (f"http://user:{SECRET}@127.0.0.1:{dead}",
                f"http://{SECRET}@127.0.0.1:{dead}/",
                f"ftp://user:{SECRET}@127.0.0.1:{dead}"):
        env = _s3_env(endpoint_var, url)
        for args in runs:
            cp = subprocess.run([iotpipe_bin(), *map(str, args)],
                                capture_output=True, text=True, timeout=60,
                                env=env, cwd=ROOT)
            out = cp.stdout + cp.stderr
            assert cp.returncode != 0, (args, url, out)
            assert SECRET not in out, (args, url, out)
            assert f"127.0.0.1:{dead}" in cp.stderr, (args, url, out)
            if url.startswith("ftp:") and args[0] in ("ls", "mb", "cp"):
                assert cp.returncode == 2, (args, url, out)
