"""Issue 18: the jobs against S3 with realistic latency and throttling.

The S3 server sits behind the fault proxy (fixtures/faultproxy.py), which
adds a fixed latency to every request and can answer 503 SlowDown for a
while:

- `aggregate --once` over the same topic with the same flags writes the
  same objects (names and bytes) with 0 ms and with 150 ms per request:
  slow commits neither advance the watermark nor cut batches (the flags
  make a clock-driven run differ: a 1 s idle timeout and trigger);
- the writers keep many requests in flight (more than the 8 threads of
  old), and percentile over the archive reads the same through latency;
- a server that throttles every PUT for a few seconds slows `archive` and
  `aggregate` down without losing or duplicating anything (oracle.py).
"""
import re
import socket
import urllib.request

import pytest

import oracle
from fixtures.faultproxy import FaultProxy
import signal
import time

from streamlib import Job, produce

START = "2025-01-01T00:00:00Z"


@pytest.fixture
def proxy(s3):
    host, port = s3.endpoint.rsplit("/", 1)[1].split(":")
    p = FaultProxy(host, int(port))
    p.start()
    try:
        yield p
    finally:
        p.stop()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _objects(s3, bucket, prefix):
    """{key below prefix: bytes} of every object under prefix. Output
    names end in their checkpoint's random run id; it is left out, so the
    runs of two checkpoints compare."""
    out = {}
    after = ""
    while True:
        # StartAfter, not the continuation token: S3Proxy hands out an
        # url-encoded token it does not decode (src/store/s3_ops.c)
        page = s3.client.list_objects_v2(Bucket=bucket, Prefix=prefix,
                                         StartAfter=after)
        for o in page.get("Contents", []):
            body = s3.client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            out[re.sub(r"-[0-9a-f]{16}\.parquet$", ".parquet", o["Key"][len(prefix):])] = body
            after = o["Key"]
        if not page.get("IsTruncated"):
            return out


def _write_local(objects, root):
    for key, body in objects.items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return root


def _job(iotpipe, kind, kafka, topic, bucket, group, env, *extra, timeout=300):
    return iotpipe(kind, "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
                   "--output", f"s3://{bucket}/out/", "--checkpoint",
                   f"s3://{bucket}/ck/", "--group", group, "--metrics-addr", "off",
                   "--once", *extra, env=env, timeout=timeout)


def test_once_output_is_the_same_at_any_latency(iotpipe, kafka, s3, proxy, tmp_path):
    topic = kafka.create_topic(kafka.topic("lat"), partitions=4)
    # 300 devices over 5 minutes of event time: ~900 closed windows
    produce(iotpipe, kafka, topic, 15000, seed=18, start=START, step=0.02,
            devices=300)
    recs = kafka.consume_all(topic, expect=15000)
    runs = {}
    for ms in (0, 150):
        proxy.latency_ms = ms
        proxy.max_inflight = 0
        bucket = s3.bucket(f"lat{ms}")
        _job(iotpipe, "aggregate", kafka, topic, bucket, f"g{ms}",
             s3.env(endpoint=proxy.endpoint), "--idle-timeout", 1, "--trigger", 1)
        runs[ms] = _objects(s3, bucket, "out/")
        inflight = proxy.max_inflight
    fast, slow = runs[0], runs[150]
    assert len(fast) > 500
    assert sorted(fast) == sorted(slow)
    diff = [k for k in fast if fast[k] != slow[k]]
    assert not diff, f"{len(diff)} objects differ, e.g. {diff[:3]}"
    # and they are the windows one --once run closes (no processing time)
    want, late = oracle.AggSim().run_once(recs)
    assert not late
    oracle.compare_aggregate(
        oracle.read_aggregate(_write_local(fast, tmp_path / "out")), want)
    # the batch's objects went up many at a time, not 8
    assert inflight > 16, inflight


@pytest.mark.parametrize("kind", ["archive", "aggregate"])
def test_once_cuts_are_the_same_at_any_latency(iotpipe, kafka, s3, proxy, tmp_path, kind):
    """A --once run much larger than --max-batch-events commits many
    batches on the way: each partition's batches end at the same offsets
    whatever the timing, so the objects (names and bytes) are the same."""
    topic = kafka.create_topic(kafka.topic("cut"), partitions=4)
    produce(iotpipe, kafka, topic, 12000, seed=19, start=START, step=0.02, devices=50)
    recs = kafka.consume_all(topic, expect=12000)
    runs, cuts = {}, {}
    for ms in (0, 120):
        proxy.latency_ms = ms
        bucket = s3.bucket(f"cut{kind[:3]}{ms}")
        _job(iotpipe, kind, kafka, topic, bucket, f"c{kind}{ms}",
             s3.env(endpoint=proxy.endpoint), "--max-batch-events", 1000)
        runs[ms] = _objects(s3, bucket, "out/")
        cuts[ms] = max(int(k.rsplit("-", 1)[-1])
                       for k in _objects(s3, bucket, "ck/") if "/state-" in k)
    fast, slow = runs[0], runs[120]
    assert sorted(fast) == sorted(slow)
    diff = [k for k in fast if fast[k] != slow[k]]
    assert not diff, f"{len(diff)} objects differ, e.g. {diff[:3]}"
    # about 2,000 events a partition in batches of 250: cuts happened
    assert cuts[0] == cuts[120] >= 6, cuts
    oracle.check_once(kind, _write_local(fast, tmp_path / "out"), recs)


@pytest.mark.parametrize("kind", ["archive", "aggregate"])
def test_throttling_slows_without_loss(iotpipe, kafka, s3, proxy, tmp_path, kind):
    topic = kafka.create_topic(kafka.topic("thr"), partitions=4)
    produce(iotpipe, kafka, topic, 8000, seed=19, start=START, step=0.05,
            devices=100, invalid=0.01, dup=0.01)
    recs = kafka.consume_all(topic, expect=8000)
    bucket = s3.bucket("thr")
    proxy.latency_ms = 20
    # every PUT of an output object answers SlowDown for 3 s from the
    # first: the commit's objects retry, with the limit lowered meanwhile
    proxy.throttle(3, method="PUT", path="/out/")
    env = s3.env(endpoint=proxy.endpoint, AWS_MAX_ATTEMPTS=10)
    cp = _job(iotpipe, kind, kafka, topic, bucket, "g", env, "--log-level", "debug",
              *(["--idle-timeout", 0] if kind == "aggregate" else []))
    assert proxy.throttled > 10, proxy.throttled
    assert "S3 is throttling" in cp.stderr, cp.stderr[-3000:]
    oracle.check_once(kind, _write_local(_objects(s3, bucket, "out/"), tmp_path / "out"),
                      recs)


def test_percentile_through_latency(iotpipe, kafka, s3, proxy, tmp_path):
    """Percentile over an archive on S3 behind 40 ms of latency gives the
    CSV it gives without; the files are fetched many at a time."""
    topic = kafka.create_topic(kafka.topic("pct"), partitions=4)
    produce(iotpipe, kafka, topic, 6000, seed=20, start=START, step=1.0,
            devices=40)
    bucket = s3.bucket("pct")
    _job(iotpipe, "archive", kafka, topic, bucket, "g", s3.env())
    out = {}
    for ms in (0, 40):
        proxy.latency_ms = ms
        proxy.max_inflight = 0
        iotpipe("percentile", "--input", f"s3://{bucket}/out/", "--output",
                str(tmp_path / f"p{ms}.csv"), "--threads", 1, "--threshold", 5,
                "--metrics-addr", "off", env=s3.env(endpoint=proxy.endpoint),
                timeout=120)
        out[ms] = (tmp_path / f"p{ms}.csv").read_text()
        if ms:
            assert proxy.max_inflight > 4, proxy.max_inflight
    assert out[0] == out[40] and out[0].count("\n") > 1


def test_cp_recursive_and_ls_through_latency(iotpipe, s3, proxy, tmp_path):
    """`cp -r` of many small objects under many prefixes, through 40 ms per
    request, copies the same keys and bytes as the source holds, with many
    copies in flight (16 was the old limit) and no HEAD for objects the
    listing sized; a large object takes the long way (ranged reads and a
    multipart upload) in the same run. `ls` through the latency lists the
    same lines as without (its pages follow each other: one request per
    1,000 keys)."""
    import random
    rnd = random.Random(21)
    bucket = s3.bucket("cpls")
    src = {}
    for day in range(1, 11):
        for hour in range(0, 24, 2):
            for i in range(3):
                key = f"date=2026-01-{day:02d}/hour={hour:02d}/part-{i}.parquet"
                src[key] = rnd.randbytes(rnd.randrange(0, 3000))
    src["big/blob.bin"] = rnd.randbytes(9 << 20)  # over one 8 MiB chunk
    for key, body in src.items():
        s3.client.put_object(Bucket=bucket, Key="src/" + key, Body=body)

    listing = {}
    for ms in (0, 40):
        proxy.latency_ms = ms
        listing[ms] = iotpipe("ls", "--summarize", f"s3://{bucket}/src/",
                              env=s3.env(endpoint=proxy.endpoint)).stdout
    assert listing[0] == listing[40]
    assert f"Total Objects: {len(src)}" in listing[0]

    proxy.latency_ms = 40
    proxy.max_inflight = 0
    proxy.seen = 0
    iotpipe("cp", "-r", "-q", f"s3://{bucket}/src/", f"s3://{bucket}/dst/",
            env=s3.env(endpoint=proxy.endpoint, AWS_MAX_ATTEMPTS=10), timeout=300)
    assert proxy.max_inflight > 16, proxy.max_inflight
    # small objects: one GET and one PUT each (no HEAD); the large one a
    # HEAD, two ranged GETs and four multipart requests; and the listing
    assert proxy.seen <= 2 * (len(src) - 1) + 10, proxy.seen
    got = _objects(s3, bucket, "dst/")
    assert sorted(got) == sorted(src)
    assert [k for k in src if got[k] != src[k]] == []

    # to a local directory (8 at a time: an fsync is a local write's cost)
    iotpipe("cp", "-r", "-q", f"s3://{bucket}/src/", str(tmp_path / "local"),
            env=s3.env(endpoint=proxy.endpoint, AWS_MAX_ATTEMPTS=10), timeout=300)
    for key, body in src.items():
        assert (tmp_path / "local" / key).read_bytes() == body, key


def test_once_sends_no_round_trip_it_does_not_need(iotpipe, kafka, s3, proxy):
    """A --once run into one bucket asks for that bucket once (not once for
    the output and once more for the checkpoint), and does not read back
    the states it wrote itself to see the topic committed: on S3 each was
    a round trip after the others."""
    import io
    topic = kafka.create_topic(kafka.topic("rt"), partitions=4)
    produce(iotpipe, kafka, topic, 2000, seed=22, start=START, step=0.05, devices=20)
    bucket = s3.bucket("rt")
    proxy.trace = io.StringIO()
    _job(iotpipe, "archive", kafka, topic, bucket, "g", s3.env(endpoint=proxy.endpoint))
    lines = [ln.split(None, 4) for ln in proxy.trace.getvalue().splitlines()]
    reqs = [(m, path) for _, _, m, _, path in lines]
    assert sum(1 for m, p in reqs if m == "PUT" and p == f"/{bucket}") == 1, reqs[:5]
    states = [p for m, p in reqs if "/state-" in p]
    assert states and all(m == "PUT" for m, p in reqs if "/state-" in p), reqs
    assert len(states) == 4, states


@pytest.mark.parametrize("kind", ["archive", "aggregate"])
def test_a_listing_that_hides_the_checkpoint_does_not_start_over(
        iotpipe, kafka, s3, proxy, tmp_path, kind):
    """A store whose listing lags behind its writes (or answers an error
    as an empty listing) shows a committed partition with no plan and no
    state. Taken for a fresh checkpoint, the job read the topic again
    under a new run id and stored every record twice, exit 0 (the plan's
    if-absent write succeeds once clean-up has deleted wal-1). The run
    marker, read by GET, says otherwise: the job stops, naming it, and
    once the listing is right again it goes on exactly once."""
    topic = kafka.create_topic(kafka.topic("hide"), partitions=2)
    # 300 s of event time: the aggregate closes windows under --once
    produce(iotpipe, kafka, topic, 3000, seed=21, start=START, step=0.1, devices=20)
    bucket = s3.bucket(f"hide{kind[:3]}")
    env = s3.env(endpoint=proxy.endpoint)
    extra = ["--idle-timeout", 0] if kind == "aggregate" else []
    # batches of 50 a partition: clean-up has deleted the first plans by the end
    _job(iotpipe, kind, kafka, topic, bucket, "g", env, "--max-batch-events", 100, *extra)
    before = _objects(s3, bucket, "out/")
    ck = _objects(s3, bucket, "ck/")
    assert before, sorted(ck)[:20]
    assert not any("/wal-00000000000000000001" in k for k in ck), sorted(ck)
    produce(iotpipe, kafka, topic, 1000, seed=22, start="2025-01-01T00:05:00Z",
            step=0.1, devices=20)
    proxy.always("empty-list", method="GET", query="list-type=2")
    cp = iotpipe(kind, "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
                 "--output", f"s3://{bucket}/out/", "--checkpoint", f"s3://{bucket}/ck/",
                 "--group", "g", "--metrics-addr", "off", "--once", *extra,
                 env=env, timeout=120, check=False)
    assert cp.returncode == 1, (cp.returncode, cp.stderr[-3000:])
    assert "lists no plan or commit, but its run marker" in cp.stderr, cp.stderr[-3000:]
    assert "Not starting the partition over" in cp.stderr
    assert _objects(s3, bucket, "out/") == before, "a refused run wrote output"
    proxy.clear()
    _job(iotpipe, kind, kafka, topic, bucket, "g", env, *extra)
    recs = kafka.consume_all(topic, expect=4000)
    local = _write_local(_objects(s3, bucket, "out/"), tmp_path / "out")
    if kind == "archive":
        got, _ = oracle.read_archive(local)
        assert got == oracle.archive_rows(recs)
    else:
        rows = oracle.read_aggregate(local)
        seen = {}
        for r in rows:
            k = (r["device_id"], r["start_us"])
            assert k not in seen, f"window {k} stored twice"
            seen[k] = r
        n = sum(r["n"] for r in rows)
        assert 0 < n <= 4000


def _archive_through(proxy, kafka, s3, tmp_path, topic, bucket, metrics_addr):
    """A streaming archive of topic to s3://bucket through the proxy
    (0.5 s trigger), once its first objects are stored."""
    job = Job(tmp_path, "archive", [
        "archive", "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
        "--output", f"s3://{bucket}/out/", "--checkpoint", f"s3://{bucket}/ck/",
        "--group", "g", "--metrics-addr", metrics_addr, "--trigger", 0.5],
        env=s3.env(endpoint=proxy.endpoint)).start()
    deadline = time.monotonic() + 60
    while not _objects(s3, bucket, "out/"):
        if not job.running() or time.monotonic() > deadline:
            job.kill()
            pytest.fail(job.tail())
        time.sleep(0.5)
    return job


def _lag(port):
    """The sum of the consumer lag gauges on /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(v) for v in re.findall(
        r"^iotpipe_consumer_lag_records\{[^}]*\} (\S+)$", text, re.M))


def test_lag_follows_the_log_while_an_outage_holds_the_job(iotpipe, kafka, s3, proxy,
                                                           tmp_path):
    """While a commit round waits out a store outage the job reads
    nothing. Its lag gauges kept the value of the last round: records
    produced during the outage never showed, and an alert on lag stayed
    silent. They now follow the broker's log end, and fall back to zero
    once the store answers and the job has caught up."""
    topic = kafka.create_topic(kafka.topic("lagout"), partitions=2)
    produce(iotpipe, kafka, topic, 500, seed=31, start=START, devices=10)
    bucket = s3.bucket("lagout")
    port = _free_port()
    job = _archive_through(proxy, kafka, s3, tmp_path, topic, bucket, f"127.0.0.1:{port}")
    try:
        proxy.throttle(25)
        # a first wave starts a round that the outage holds; the job then
        # waits for it at its next trigger and reads no more
        produce(iotpipe, kafka, topic, 200, seed=32, start="2025-01-01T01:00:00Z",
                devices=10)
        time.sleep(3)
        produce(iotpipe, kafka, topic, 1000, seed=33, start="2025-01-01T02:00:00Z",
                devices=10)
        lags = []
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            lags.append(_lag(port))
            if lags[-1] >= 1000:
                break
            time.sleep(0.5)
        assert "retrying until the store answers" in job.tail(), job.tail()
        assert lags[-1] >= 1000, f"lag during the outage: {lags}\n{job.tail()}"
        # after the outage the job reads the rest and the lag goes back to 0
        deadline = time.monotonic() + 90
        while _lag(port) > 0:
            assert job.running() and time.monotonic() < deadline, job.tail()
            time.sleep(1)
    finally:
        rc = job.kill(signal.SIGTERM)
    assert rc == 0, job.tail()


def test_a_streaming_job_stalls_through_an_outage(iotpipe, kafka, s3, proxy, tmp_path):
    """SPEC: a lasting outage stalls the job instead of dropping data. A
    streaming archive met 15 s of 503 SlowDown on every request: it gave
    up after its 5 attempts (about 3 s) and exited 1. It now waits for
    the store, says so, and stores everything exactly once after it."""
    topic = kafka.create_topic(kafka.topic("outage"), partitions=2)
    produce(iotpipe, kafka, topic, 2000, seed=23, start=START, devices=20)
    bucket = s3.bucket("outage")
    job = _archive_through(proxy, kafka, s3, tmp_path, topic, bucket, "off")
    try:
        proxy.throttle(15)
        produce(iotpipe, kafka, topic, 1000, seed=24, start="2025-01-01T01:00:00Z",
                devices=20)
        time.sleep(17)
        assert job.running(), job.tail()
        assert "retrying until the store answers" in job.tail(), job.tail()
        assert proxy.throttled > 10, proxy.throttled
        recs = kafka.consume_all(topic, expect=3000)
        want = oracle.archive_rows(recs)
        deadline = time.monotonic() + 90
        while True:
            got, _ = oracle.read_archive(_write_local(_objects(s3, bucket, "out/"),
                                                      tmp_path / f"o{time.monotonic()}"))
            if got == want:
                break
            assert not got - want, "rows stored twice or wrong"
            assert job.running() and time.monotonic() < deadline, job.tail()
            time.sleep(1)
    finally:
        rc = job.kill(signal.SIGTERM)
    assert rc == 0, job.tail()
