"""Retries under injected faults: a Python proxy (fixtures/faultproxy.py)
between iotpipe and S3Proxy answers 503 SlowDown, 500, resets connections
and stalls responses. Retried work must finish with intact content (checked
with boto3 straight against S3Proxy); a lasting failure must end in a clear
error within a bounded time; a 4xx must not be retried. A streaming job
run with --once ends within its --timeout when the store stops answering,
and a rerun completes the output exactly once."""
import hashlib
import os
import socket
import subprocess
import time

import pytest

import oracle
from streamlib import produce

# Fast backoff and a short stall timeout keep the suite quick; the policy
# itself (full jitter, caps) is unit-tested in test_store_uri.c.
FAST = dict(IOTPIPE_S3_RETRY_BASE_MS=50, IOTPIPE_S3_STALL_TIMEOUT_S=1,
            AWS_MAX_ATTEMPTS=5)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def env_via(s3, proxy, **extra):
    return s3.env(endpoint=proxy.endpoint, **{**FAST, **extra})


def test_put_survives_503_500_and_reset(iotpipe, s3, s3_bucket, fault_proxy,
                                        tmp_path):
    src = tmp_path / "small.bin"
    src.write_bytes(os.urandom(100_000))
    fault_proxy.plan(["503", "500", "reset"], method="PUT")
    iotpipe("cp", src, f"s3://{s3_bucket}/small.bin",
            env=env_via(s3, fault_proxy))
    assert fault_proxy.faulted == 3
    body = s3.client.get_object(Bucket=s3_bucket, Key="small.bin")["Body"].read()
    assert body == src.read_bytes()


def test_multipart_parts_retried(iotpipe, s3, s3_bucket, fault_proxy,
                                 tmp_path):
    data = os.urandom(20 * 1024 * 1024)  # 3 parts
    src = tmp_path / "multi.bin"
    src.write_bytes(data)
    fault_proxy.plan(["503", "reset", "500", "ok", "503"], method="PUT",
                     query="partNumber=")
    iotpipe("cp", src, f"s3://{s3_bucket}/multi.bin",
            env=env_via(s3, fault_proxy))
    assert fault_proxy.faulted == 4
    body = s3.client.get_object(Bucket=s3_bucket, Key="multi.bin")["Body"].read()
    assert sha(body) == sha(data)
    assert not s3.client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_download_survives_reset_stall_and_cut_body(iotpipe, s3, s3_bucket,
                                                    fault_proxy, tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    s3.client.put_object(Bucket=s3_bucket, Key="dl.bin", Body=data)
    fault_proxy.plan(["reset", "slow:3", "trickle:3", "503"], method="GET")
    t0 = time.time()
    iotpipe("cp", f"s3://{s3_bucket}/dl.bin", tmp_path / "dl.bin",
            env=env_via(s3, fault_proxy))
    assert fault_proxy.faulted == 4
    assert sha((tmp_path / "dl.bin").read_bytes()) == sha(data)
    assert time.time() - t0 < 30


def test_list_retried(iotpipe, s3, s3_bucket, fault_proxy):
    for i in range(3):
        s3.client.put_object(Bucket=s3_bucket, Key=f"l/{i}", Body=b"x")
    fault_proxy.plan(["503", "500"], method="GET")
    out = iotpipe("ls", f"s3://{s3_bucket}/l/",
                  env=env_via(s3, fault_proxy)).stdout
    assert len(out.splitlines()) == 3
    assert fault_proxy.faulted == 2


def test_lasting_503_fails_clearly_in_bounded_time(iotpipe, s3, s3_bucket,
                                                   fault_proxy, tmp_path):
    src = tmp_path / "x"
    src.write_bytes(b"x" * 1000)
    fault_proxy.always("503")
    t0 = time.time()
    cp = iotpipe("cp", src, f"s3://{s3_bucket}/x",
                 env=env_via(s3, fault_proxy), check=False, timeout=60)
    took = time.time() - t0
    assert cp.returncode == 1
    assert "SlowDown" in cp.stderr and "503" in cp.stderr
    assert f"s3://{s3_bucket}/x" in cp.stderr
    assert "after 5 attempts" in cp.stderr
    assert fault_proxy.faulted == 5
    assert took < 15
    assert len(cp.stderr.strip().splitlines()) == 1  # one clear line


def test_lasting_stall_fails_in_bounded_time(iotpipe, s3, s3_bucket,
                                             fault_proxy, tmp_path):
    s3.client.put_object(Bucket=s3_bucket, Key="s", Body=b"s" * 10)
    fault_proxy.always("slow:4", method="GET")
    t0 = time.time()
    cp = iotpipe("cp", f"s3://{s3_bucket}/s", tmp_path / "s",
                 env=env_via(s3, fault_proxy, AWS_MAX_ATTEMPTS=3),
                 check=False, timeout=60)
    assert cp.returncode == 1
    assert "after 3 attempts" in cp.stderr
    assert time.time() - t0 < 20
    assert not (tmp_path / "s").exists()


def test_4xx_not_retried(iotpipe, s3, s3_bucket, fault_proxy, tmp_path):
    src = tmp_path / "x"
    src.write_bytes(b"x")
    fault_proxy.always("403", method="PUT")
    cp = iotpipe("cp", src, f"s3://{s3_bucket}/x",
                 env=env_via(s3, fault_proxy), check=False)
    assert cp.returncode == 1
    assert "AccessDenied" in cp.stderr
    assert fault_proxy.faulted == 1


def test_unreachable_endpoint_fails_in_bounded_time(iotpipe, s3, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connection refused
    t0 = time.time()
    cp = iotpipe("ls", "s3://b/", check=False, timeout=60,
                 env=s3.env(endpoint=f"http://127.0.0.1:{port}", **FAST))
    assert cp.returncode == 1
    assert "connect" in cp.stderr.lower() and "after 5 attempts" in cp.stderr
    assert time.time() - t0 < 10


def test_mb_wait_gives_up(iotpipe, s3):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.time()
    cp = iotpipe("mb", "--wait", "2", "s3://b", check=False, timeout=60,
                 env=s3.env(endpoint=f"http://127.0.0.1:{port}", **FAST))
    assert cp.returncode == 1
    assert 2 <= time.time() - t0 < 15


def test_failed_part_aborts_upload(iotpipe, s3, s3_bucket, fault_proxy,
                                   tmp_path):
    """A part that fails for good (parts go up in parallel) fails the copy,
    aborts the multipart upload and leaves no object."""
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(40 * 1024 * 1024))  # 5 parts
    fault_proxy.plan(["ok", "ok", "403"], method="PUT", query="partNumber=")
    cp = iotpipe("cp", src, f"s3://{s3_bucket}/big.bin",
                 env=env_via(s3, fault_proxy), check=False)
    assert cp.returncode == 1
    assert "upload_part" in cp.stderr and "AccessDenied" in cp.stderr
    assert not s3.client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")
    listed = s3.client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    assert listed == []


def test_lost_answer_to_complete_multipart(iotpipe, s3, s3_bucket, fault_proxy, tmp_path):
    """The server completes the upload, then the connection drops before
    its answer: the retry finds no upload any more (NoSuchUpload or
    InvalidPart). The copy failed, warning that it aborted an upload
    that was not incomplete at all. The object there with the ETag the
    parts make is the completion the retry was after."""
    data = os.urandom(20 * 1024 * 1024)  # 3 parts
    src = tmp_path / "multi.bin"
    src.write_bytes(data)
    fault_proxy.plan(["reset-after"], method="POST", query="uploadId=")
    cp = iotpipe("cp", src, f"s3://{s3_bucket}/multi.bin", env=env_via(s3, fault_proxy))
    assert fault_proxy.faulted == 1
    assert "completed by an earlier attempt whose answer was lost" in cp.stderr, cp.stderr
    assert "abort" not in cp.stderr, cp.stderr
    body = s3.client.get_object(Bucket=s3_bucket, Key="multi.bin")["Body"].read()
    assert sha(body) == sha(data)
    assert not s3.client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads")



# --- --once --timeout bounds the store -------------------------------------

def _once(iotpipe, kind, broker, topic, bucket, env, *extra, limit=60):
    """One `kind --once` run; (CompletedProcess, seconds). A run still
    going after `limit` seconds fails the test."""
    t0 = time.monotonic()
    try:
        cp = iotpipe(kind, "--bootstrap-servers", broker.bootstrap, "--topic", topic,
                     "--output", f"s3://{bucket}/out/", "--checkpoint", f"s3://{bucket}/ck/",
                     "--group", "g", "--metrics-addr", "off", "--once", *extra,
                     env=env, check=False, timeout=limit)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{kind} --once {' '.join(map(str, extra))}: still running after "
                    f"{limit} s")
    return cp, time.monotonic() - t0


def _last_line(cp):
    lines = cp.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def _download(s3, bucket, prefix, root):
    """Every object under prefix into root (keys below prefix as paths)."""
    after = ""
    while True:
        page = s3.client.list_objects_v2(Bucket=bucket, Prefix=prefix, StartAfter=after)
        for o in page.get("Contents", []):
            path = root / o["Key"][len(prefix):]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
            after = o["Key"]
        if not page.get("IsTruncated"):
            return root


def test_once_timeout_bounds_a_store_that_never_answers(iotpipe, s3, s3_bucket, fault_proxy,
                                                        embedded_broker):
    """A store that takes connections and never answers held `archive
    --once --timeout 3` for about 3 minutes (5 attempts of a 30 s stall
    timeout) before it exited 1. A request pending for --timeout is no
    progress: the run ends soon after, naming the request."""
    topic = embedded_broker.topic()
    produce(iotpipe, embedded_broker, topic, 200, seed=31, start="2025-01-01T00:00:00Z")
    fault_proxy.always("hang")
    cp, took = _once(iotpipe, "archive", embedded_broker, topic, s3_bucket,
                     s3.env(endpoint=fault_proxy.endpoint), "--timeout", 3)
    assert cp.returncode == 1, cp.stderr[-3000:]
    line = _last_line(cp)
    assert (f"s3 create_bucket s3://{s3_bucket}: no answer within 3 s (--timeout)"
            in line), cp.stderr[-3000:]
    assert took < 3 + 10, took


@pytest.mark.parametrize("kind", ["archive", "aggregate"])
def test_once_timeout_ends_a_hung_run_and_a_rerun_completes_it(iotpipe, s3, s3_bucket,
                                                               fault_proxy, embedded_broker,
                                                               tmp_path, kind):
    """Mid-run, the store stops answering output PUTs; in the next run it
    stalls mid-body on the checkpoint listings at assignment. Each run
    ends soon after --timeout (the old client took 5 x 30 s per request),
    naming the request, with what it left in flight aborted; the third
    run, on a healthy store, completes the output exactly once."""
    topic = embedded_broker.topic()
    produce(iotpipe, embedded_broker, topic, 3000, seed=32, start="2025-01-01T00:00:00Z")
    recs = embedded_broker.consume_all(topic, expect=3000)
    env = s3.env(endpoint=fault_proxy.endpoint)
    extra = ("--timeout", 4, "--max-batch-events", 300)

    # output PUTs that hang after six, then checkpoint listings that
    # stall mid-body at assignment
    for faults, method, query, named in (
            (["ok"] * 6 + ["hang"] * 100000, "PUT", "/out/", f"s3 put s3://{s3_bucket}/out/"),
            (["trickle:600"] * 100000, "GET", "list-type=2",
             f"s3 list s3://{s3_bucket}/ck/{topic}/partition=")):
        fault_proxy.clear()
        fault_proxy.plan(faults, method=method, query=query)
        cp, took = _once(iotpipe, kind, embedded_broker, topic, s3_bucket, env, *extra)
        assert cp.returncode == 1, cp.stderr[-3000:]
        line = _last_line(cp)
        assert named in line, cp.stderr[-3000:]
        assert "no answer within 4 s (--timeout)" in line, cp.stderr[-3000:]
        assert took < 4 + 12, took

    # the failed runs' group members may still hold the partitions for
    # the session timeout (10 s): more than 4 s of --timeout
    fault_proxy.clear()
    cp, _ = _once(iotpipe, kind, embedded_broker, topic, s3_bucket, env, *extra[2:],
                  "--timeout", 30)
    assert cp.returncode == 0, cp.stderr[-3000:]
    oracle.check_once(kind, _download(s3, s3_bucket, "out/", tmp_path / "out"), recs)
