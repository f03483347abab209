"""Chaos suite (issue "Proof", item 2): while a producer writes N events,
kill -9 `archive` and `aggregate` again and again, restart the Kafka
broker, fail 10% of S3 requests (errors and connection resets) and fill the
local output disk; after recovery every valid event must be in the raw
output exactly once and the aggregates must equal a clean run's.

Two pipelines consume the same topic at the same time, each an `archive`
and an `aggregate` job with its own consumer groups:
  s3    output and checkpoints on S3Proxy behind a FaultProxy in random mode
        (10% of requests: 503, 500, reset before or after forwarding)
  disk  output and checkpoints on a small tmpfs that fills up mid-run
        (ENOSPC), then is remounted bigger
The Kafka broker is a private one (kafka/local-kafka.sh on free ports, own
data directory) so that restarting it does not disturb other tests.

Size: IOTPIPE_CHAOS_EVENTS (default 50000: the short run inside `make test`,
about 2 minutes); `make chaos` runs 1,000,000 events. IOTPIPE_CHAOS_SEED
picks the kill schedule and the S3 fault sequence. Each pipeline prints a
line `chaos: pipeline=... produced=N valid=V archived=A lost=0
duplicated=0 windows=W mismatched=0 kills=K broker_restarts=R
s3_faults=F enospc_exits=E` (shown with pytest -s) and the lines are also
written to chaos-summary.txt in the test's tmp directory.

Expected output is recomputed by oracle.py from the records read back from
Kafka with kafka-python; the clean run is `aggregate --once` on the final
topic with a fresh group and no faults. See docs/chaos.md.
"""
import collections
import errno
import os
import pathlib
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

import oracle
from fixtures.common import ROOT, iotpipe_bin, start_service
from fixtures.kafka import KafkaService, free_port, run_script
from streamlib import Job, kill_all

EVENTS = int(os.environ.get("IOTPIPE_CHAOS_EVENTS", "50000"))
SEED = int(os.environ.get("IOTPIPE_CHAOS_SEED", "20251125"))
FULL = EVENTS >= 500_000
RATE = 2500 if FULL else 1000              # producer events/s
STEP = 0.01 if FULL else 0.05              # simulated seconds between events
BROKER_RESTARTS = (0.2, 0.5, 0.8) if FULL else (0.35,)  # fraction of the run
DISK_FULL_AT = 0.5 if FULL else 0.6        # unless it fills up earlier
S3_FAULT_RATE = 0.10
TMPFS_SIZE, TMPFS_BIGGER = "8m", "1g"
START = "2025-01-01T22:00:00Z"
PIPELINES = ("s3", "disk")
KINDS = ("archive", "aggregate")
S3_ENV = dict(IOTPIPE_S3_RETRY_BASE_MS=50, AWS_MAX_ATTEMPTS=5)
NOSPACE = os.strerror(errno.ENOSPC)        # "No space left on device"


# ---- services -----------------------------------------------------------

class PrivateKafka(KafkaService):
    """A broker of our own that we may stop and start at will."""

    def __init__(self, datadir):
        port, cport = free_port(), free_port()
        while cport == port:
            cport = free_port()
        self.args = ["--port", port, "--controller-port", cport,
                     "--data-dir", datadir]
        super().__init__(f"127.0.0.1:{port}", [str(a) for a in self.args])
        self.datadir = datadir

    def start(self):
        cp = run_script("start", *self.args)
        assert cp.returncode == 0, f"local-kafka.sh start: {cp.stderr[-3000:]}"

    def stop(self):
        cp = run_script("stop", *self.args, timeout=120)
        assert cp.returncode == 0, f"local-kafka.sh stop: {cp.stderr[-3000:]}"


@pytest.fixture
def chaos_kafka(tmp_path):
    k = start_service(PrivateKafka, tmp_path / "kafka")
    try:
        yield k
    finally:
        k.stop()
        shutil.rmtree(k.datadir, ignore_errors=True)


class Tmpfs:
    """A small tmpfs at `path` (root only); .mounted says whether it is."""

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.path.mkdir(parents=True)
        cp = subprocess.run(["mount", "-t", "tmpfs", "-o",
                             f"size={TMPFS_SIZE}", "tmpfs", str(self.path)],
                            capture_output=True, text=True)
        self.mounted = cp.returncode == 0
        self.why_not = cp.stderr.strip()

    def grow(self):
        subprocess.run(["mount", "-o", f"remount,size={TMPFS_BIGGER}",
                        str(self.path)], check=True)

    def fill(self):
        """Writes a filler file until the file system is full."""
        chunk = b"\0" * (256 << 10)
        with open(self.path / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e

    def umount(self):
        if self.mounted:
            subprocess.run(["umount", str(self.path)], check=True)
            self.mounted = False


@pytest.fixture
def tmpfs(tmp_path):
    t = Tmpfs(tmp_path / "disk")
    try:
        yield t
    finally:
        t.umount()


# ---- jobs ---------------------------------------------------------------

def job_args(bootstrap, kind, topic, out, ckpt, group, extra=()):
    args = [kind, "--bootstrap-servers", bootstrap, "--topic", topic,
            "--output", out, "--checkpoint", ckpt, "--group", group,
            "--metrics-addr", "off", "--timeout", 90,
            "--kafka", f"group.instance.id={group}-static", *extra]
    if kind == "aggregate":
        args += ["--window", 60, "--watermark", 60, "--idle-timeout", 0]
    return args


def last_run(job):
    """The job's log since its last start."""
    return job.tail(10**7).rsplit("\n=== start ", 1)[-1]


def error_line(job):
    lines = [ln for ln in last_run(job).splitlines()
             if ln.startswith(f"iotpipe {job.args[0]}:")]
    return lines[-1] if lines else ""


def hidden_tmp_files(root):
    return {str(p) for p in pathlib.Path(root).rglob(".*iotpipe-tmp-*")}


def unreadable_parquet(root, since):
    """Visible .parquet files (modified after `since`) pyarrow cannot read."""
    import pyarrow.parquet as pq
    bad = []
    for p in pathlib.Path(root).rglob("*.parquet"):
        if p.name.startswith(".") or p.stat().st_mtime < since:
            continue
        try:
            pq.read_table(p)
        except Exception as e:  # noqa: BLE001 - any failure is the finding
            bad.append(f"{p}: {e}")
    return bad


class BrokerRestarts(threading.Thread):
    """Stops and starts the broker at given times, beside the kill loop."""

    def __init__(self, kafka, times, t0):
        super().__init__(daemon=True)
        self.kafka, self.times, self.t0 = kafka, list(times), t0
        self.done = 0
        self.downtime = []
        self.error = None

    def run(self):
        try:
            for t in self.times:
                time.sleep(max(0.0, self.t0 + t - time.monotonic()))
                a = time.monotonic()
                self.kafka.stop()
                self.kafka.start()
                self.downtime.append(round(time.monotonic() - a, 1))
                self.done += 1
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


# ---- checks -------------------------------------------------------------

def download_prefix(client, bucket, prefix, dest):
    """Copies every object under `prefix` to `dest`. Pages are chained with
    StartAfter: S3Proxy hands back continuation tokens of keys with '=' in
    a form that botocore's paginator sends back unchanged, looping."""
    n, after = 0, ""
    while True:
        page = client.list_objects_v2(Bucket=bucket, Prefix=prefix,
                                      StartAfter=after)
        for o in page.get("Contents", []):
            p = dest / o["Key"][len(prefix):]
            p.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, o["Key"], str(p))
            after = o["Key"]
            n += 1
        if not page.get("IsTruncated"):
            return n


def archive_counts(root, want):
    got, rows = oracle.read_archive(root)
    positions = collections.Counter((r[1], r[2]) for r in rows)
    dup_positions = sum(c - 1 for c in positions.values() if c > 1)
    lost = sum((want - got).values())
    extra = sum((got - want).values())
    return dict(archived=len(rows), lost=lost,
                duplicated=max(dup_positions, extra),
                examples=dict(lost=list(want - got)[:3],
                              extra=list(got - want)[:3]))


def window_map(rows):
    return {(r["device_id"], r["start_us"]):
            (r["n"], r["avg_t"], r["avg_d"], r["end_us"], r["window_start"])
            for r in rows}


def aggregate_counts(rows, clean):
    seen = collections.Counter((r["device_id"], r["start_us"]) for r in rows)
    dups = sum(c - 1 for c in seen.values() if c > 1)
    got = window_map(rows)
    missing = set(clean) - set(got)
    extra = set(got) - set(clean)
    differ = [k for k in set(got) & set(clean) if got[k] != clean[k]]
    return dict(windows=len(got), windows_duplicated=dups,
                mismatched=len(missing) + len(extra) + len(differ),
                examples=dict(missing=sorted(missing)[:3],
                              extra=sorted(extra)[:3],
                              differ=[(k, got[k], clean[k])
                                      for k in differ[:3]]))


# ---- the scenario -------------------------------------------------------

def test_chaos(iotpipe, s3, chaos_kafka, fault_proxy, tmpfs, tmp_path):
    rnd = random.Random(SEED)
    kafka = chaos_kafka
    topic = kafka.create_topic(kafka.topic("chaos"), partitions=4)
    bucket = s3.bucket("chaos")
    disk = tmpfs.path
    s3_env = s3.env(endpoint=fault_proxy.endpoint, **S3_ENV)
    where = {
        "s3": lambda kind, what: f"s3://{bucket}/{what}/{kind}/",
        "disk": lambda kind, what: str(disk / what / kind),
    }
    jobs = {}
    for pipe in PIPELINES:
        for kind in KINDS:
            args = job_args(kafka.bootstrap, kind, topic,
                            where[pipe](kind, "out"), where[pipe](kind, "ck"),
                            f"chaos-{pipe}-{kind}")
            jobs[pipe, kind] = Job(tmp_path, f"{pipe}-{kind}",
                                   args + ["--trigger", 0.5,
                                           "--max-batch-events", 5000],
                                   env=s3_env if pipe == "s3" else None)

    duration = EVENTS / RATE
    prod_log = tmp_path / "produce.log"
    fault_proxy.random(S3_FAULT_RATE, seed=SEED)
    t0 = time.monotonic()
    prod = subprocess.Popen(
        [iotpipe_bin(), "produce", "--bootstrap-servers", kafka.bootstrap,
         "--topic", topic, "--count", str(EVENTS), "--rate", str(RATE),
         "--seed", str(SEED), "--devices", "20", "--start-time", START,
         "--time-step", str(STEP), "--invalid-fraction", "0.02",
         "--duplicate-fraction", "0.01", "--exactly-once",
         "--timeout", "60", "--flush-timeout", "300", "--metrics-addr", "off"],
        stdout=open(prod_log, "wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    for job in jobs.values():
        job.start()
    broker = BrokerRestarts(kafka, [f * duration for f in BROKER_RESTARTS], t0)
    broker.start()

    kills = collections.Counter()
    exits = collections.defaultdict(list)   # unexpected exits: (rc, error)
    crashes = []                            # exits by a signal or status 0
    disk_state = "normal" if tmpfs.mounted else "skipped"
    disk_full_at = t0 + DISK_FULL_AT * duration
    disk_fail = collections.Counter()
    disk_checks = []                        # problems seen while full
    tmp_before = set()
    full_since = 0.0
    restart_at = {}
    next_kill = {k: t0 + rnd.uniform(1.0, 4.0) for k in jobs}
    deadline = t0 + 3 * duration + 240

    def disk_is_full(now, natural):
        nonlocal disk_state, full_since, tmp_before
        disk_state, full_since = "full", now
        tmp_before = hidden_tmp_files(disk)
        if not natural:
            tmpfs.fill()

    try:
        while (prod.poll() is None or broker.is_alive() or
               disk_state in ("normal", "full")):
            now = time.monotonic()
            assert now < deadline, (
                f"chaos did not finish: producer rc {prod.poll()}, broker "
                f"restarts {broker.done}, disk {disk_state}, kills {kills}")
            if disk_state == "normal" and now >= disk_full_at:
                disk_is_full(now, natural=False)
            for (pipe, kind), job in jobs.items():
                name = f"{pipe}-{kind}"
                if not job.running() and (pipe, kind) not in restart_at:
                    rc = job.proc.returncode
                    err = error_line(job)
                    if rc != 1:
                        crashes.append((name, rc, last_run(job)[-3000:]))
                    if pipe == "disk" and NOSPACE in last_run(job):
                        if disk_state == "normal":
                            disk_is_full(now, natural=True)
                        if disk_state == "full":
                            disk_fail[kind] += 1
                            if str(disk) not in err or NOSPACE not in err:
                                disk_checks.append(
                                    f"{name}: error line does not name the "
                                    f"path and the cause: {err!r}")
                            disk_checks += unreadable_parquet(
                                disk, full_since - 5)
                            restart_at[pipe, kind] = now + 1.0
                            continue
                    exits[name].append((rc, err))
                    restart_at[pipe, kind] = now
                if (pipe, kind) in restart_at and now >= restart_at[pipe, kind]:
                    del restart_at[pipe, kind]
                    job.start()
                    continue
                if disk_state == "full" and pipe == "disk":
                    continue  # leave it to hit the full disk
                if now >= next_kill[pipe, kind] and job.running():
                    job.kill(signal.SIGKILL)
                    kills[name] += 1
                    job.start()
                    next_kill[pipe, kind] = now + rnd.uniform(1.0, 4.0)
            if disk_state == "full" and (
                    min(disk_fail[k] for k in KINDS) >= 2 or
                    now - full_since > 30):
                leaked = hidden_tmp_files(disk) - tmp_before
                if leaked:
                    disk_checks.append(f"temporary files left by failed "
                                       f"writes: {sorted(leaked)[:5]}")
                tmpfs.grow()
                disk_state = "freed"
            time.sleep(0.01)
        assert prod.wait(60) == 0, prod_log.read_text()[-3000:]
        assert broker.error is None, broker.error
        time.sleep(2)
        for job in jobs.values():
            job.kill(signal.SIGKILL)
    finally:
        kill_all(prod, jobs)
    chaos_s = time.monotonic() - t0

    # recovery: drain what is left with --once, S3 faults still on
    drains = collections.Counter()
    for (pipe, kind), job in jobs.items():
        args = [a for a in job.args]
        i = args.index("--trigger")
        del args[i:i + 4]  # --trigger 0.5 --max-batch-events 5000
        for attempt in range(5):
            cp = iotpipe(*args, "--once", "--trigger", 3600, timeout=600,
                         check=False, env=job.env)
            drains[f"{pipe}-{kind}"] += 1
            if cp.returncode == 0:
                break
            assert cp.returncode == 1, cp.stderr[-3000:]
        else:
            raise AssertionError(f"{pipe}-{kind} drain kept failing: "
                                 f"{cp.stderr[-3000:]}")
    s3_faults = fault_proxy.faulted
    s3_by_fault = dict(fault_proxy.by_fault)
    s3_requests = fault_proxy.seen
    fault_proxy.clear()

    # the clean run: same topic, fresh group, local output, no faults
    clean_out = tmp_path / "clean" / "out"
    iotpipe(*job_args(kafka.bootstrap, "aggregate", topic, clean_out,
                      tmp_path / "clean" / "ck", f"clean-{uuid.uuid4().hex}"),
            "--once", "--trigger", 3600, timeout=600)

    # expected: from the records in Kafka, read with kafka-python
    recs = kafka.consume_all(topic, timeout=600, expect=EVENTS)
    want = oracle.archive_rows(recs)
    sim = oracle.AggSim()
    expected_windows, late = sim.run_once(recs)
    assert not late, f"the workload is in event-time order: {len(late)} late"
    clean_rows = oracle.read_aggregate(clean_out)
    oracle.compare_aggregate(clean_rows, expected_windows)
    clean = window_map(clean_rows)

    local = tmp_path / "s3-copy"
    roots = {"disk": (disk / "out" / "archive", disk / "out" / "aggregate")}
    for kind in KINDS:
        download_prefix(s3.client, bucket, f"out/{kind}/", local / kind)
    roots["s3"] = (local / "archive", local / "aggregate")

    results = {}
    lines = []
    for pipe in PIPELINES:
        a = archive_counts(roots[pipe][0], want)
        g = aggregate_counts(oracle.read_aggregate(roots[pipe][1]), clean)
        k = sum(kills[f"{pipe}-{kind}"] for kind in KINDS)
        results[pipe] = (a, g)
        line = (f"chaos: pipeline={pipe} produced={len(recs)} "
                f"valid={sum(want.values())} archived={a['archived']} "
                f"lost={a['lost']} duplicated={a['duplicated'] + g['windows_duplicated']} "
                f"windows={g['windows']} mismatched={g['mismatched']} "
                f"kills={k} broker_restarts={broker.done} "
                f"s3_faults={s3_faults if pipe == 's3' else 0} "
                f"enospc_exits={sum(disk_fail.values()) if pipe == 'disk' else 0}")
        lines.append(line)
    lines.append(
        f"chaos: events={EVENTS} seed={SEED} rate={RATE}/s chaos_seconds="
        f"{chaos_s:.0f} s3_requests={s3_requests} s3_faults_by_kind="
        f"{s3_by_fault} broker_downtime_s={broker.downtime} disk={disk_state}"
        f"{'' if tmpfs.mounted or disk_state != 'skipped' else ' (' + tmpfs.why_not + ')'} "
        f"enospc_exits={dict(disk_fail)} other_exits="
        f"{ {k: len(v) for k, v in exits.items()} } drains={dict(drains)} "
        f"clean_windows={len(clean)}")
    text = "\n".join(lines)
    print("\n" + text)
    (tmp_path / "chaos-summary.txt").write_text(text + "\n")
    for k, v in exits.items():
        print(f"chaos: {k} exited by itself {len(v)}x, e.g. {v[:3]}")
    shutil.rmtree(local, ignore_errors=True)

    assert not crashes, f"jobs crashed (status not 1): {crashes[:3]}"
    assert not disk_checks, disk_checks[:10]
    assert len(recs) == EVENTS, f"the producer lost records: {len(recs)}"
    assert broker.done == len(BROKER_RESTARTS)
    assert s3_faults > 0 and fault_proxy.by_fault.keys() >= {"503", "reset"}
    for pipe in PIPELINES:
        assert min(kills[f"{pipe}-{kind}"] for kind in KINDS) >= 3, kills
        a, g = results[pipe]
        assert a["lost"] == 0 and a["duplicated"] == 0, (pipe, a)
        assert g["windows_duplicated"] == 0 and g["mismatched"] == 0, (pipe, g)
        assert g["windows"] == len(clean) > 0
    if disk_state == "skipped":
        print(f"chaos: disk-full case skipped: cannot mount tmpfs "
              f"({tmpfs.why_not}); it needs root")
    else:
        assert min(disk_fail[k] for k in KINDS) >= 1, (
            f"the full disk did not stop both disk jobs: {dict(disk_fail)}")


def test_stream_output_put_retried_after_500_503_reset(iotpipe, kafka, s3,
                                                       s3_bucket, fault_proxy):
    """Regression (found by the chaos run): a Parquet object PUT that failed
    once and then succeeded on retry still failed the job, because the
    failed attempt's error stayed in the writer's sticky status."""
    topic = kafka.create_topic(kafka.topic("retry"), partitions=1)
    iotpipe("produce", "--bootstrap-servers", kafka.bootstrap, "--topic",
            topic, "--count", 2000, "--rate", 0, "--seed", 3, "--devices", 5,
            "--start-time", START, "--time-step", 0.05, "--metrics-addr",
            "off")
    fault_proxy.plan(["500", "503", "reset", "reset-after"], method="PUT",
                     query="part-")
    env = s3.env(endpoint=fault_proxy.endpoint, **S3_ENV)
    for kind in KINDS:
        iotpipe(*job_args(kafka.bootstrap, kind, topic,
                          f"s3://{s3_bucket}/out/{kind}/",
                          f"s3://{s3_bucket}/ck/{kind}/", f"retry-{kind}"),
                "--once", env=env)
    assert fault_proxy.faulted == 4
    recs = kafka.consume_all(topic, expect=2000)
    with tempfile.TemporaryDirectory(prefix="chaos-retry-") as d:
        d = pathlib.Path(d)
        download_prefix(s3.client, s3_bucket, "out/archive/", d / "a")
        download_prefix(s3.client, s3_bucket, "out/aggregate/", d / "g")
        a = archive_counts(d / "a", oracle.archive_rows(recs))
        assert a["lost"] == 0 and a["duplicated"] == 0, a
        expected, _ = oracle.AggSim().run_once(recs)
        oracle.compare_aggregate(oracle.read_aggregate(d / "g"), expected)
