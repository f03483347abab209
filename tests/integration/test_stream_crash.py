"""Issue 5 item 6: exactly-once output of `archive` and `aggregate` under
kill -9 at random moments (at least 10 per job, while a producer writes),
and with two instances in one consumer group of which one stops mid-run.
Checked against oracle.py's recomputation from the records in Kafka."""
import collections
import os
import random
import signal
import subprocess
import time

import pytest

import oracle
from fixtures.common import ROOT, iotpipe_bin
from streamlib import Job, dlq_by_reason, kill_all

START = "2025-01-01T23:58:00Z"


def _producer(kafka, topic, count, rate, seed, log, late=0.03, late_by=90):
    return subprocess.Popen(
        [iotpipe_bin(), "produce", "--bootstrap-servers", kafka.bootstrap,
         "--topic", topic, "--count", str(count), "--rate", str(rate),
         "--seed", str(seed), "--devices", "20", "--start-time", START,
         "--time-step", "0.05", "--invalid-fraction", "0.02",
         "--late-fraction", str(late), "--late-by", str(late_by),
         "--duplicate-fraction", "0.02", "--metrics-addr", "off"],
        stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=ROOT)


def _job_args(kafka, kind, topic, out, ckpt, group, extra=()):
    args = [kind, "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
            "--output", out, "--checkpoint", ckpt, "--group", group,
            "--metrics-addr", "off", "--timeout", 60, *extra]
    if kind == "aggregate":
        args += ["--window", 60, "--watermark", 60, "--idle-timeout", 0]
    return args


def _drain(iotpipe, args):
    return iotpipe(*args, "--once", "--trigger", 3600, timeout=180)


def _check_archive_exact(root, records):
    want = oracle.archive_rows(records)
    got, rows = oracle.read_archive(root)
    offs = collections.Counter((r[1], r[2]) for r in rows)
    dups = [k for k, c in offs.items() if c > 1]
    missing = want - got
    extra = got - want
    assert not dups and not missing and not extra, (
        f"archive not exactly once: {len(dups)} (partition, offset) stored "
        f"more than once (e.g. {dups[:5]}), {sum(missing.values())} rows "
        f"missing (e.g. {list(missing)[:5]}), {sum(extra.values())} "
        f"unexpected (e.g. {list(extra)[:5]})")


def _check_aggregate_consistent(kafka, recs, dlq, root):
    """Continuous runs decide lateness by batch timing, so the check is:
    no window twice; every emitted window holds exactly the valid kept
    events of that window minus those the job dead-lettered as late; every
    window the final drain's watermark passed is there; the dead-letter
    topic holds every invalid record with the oracle's reason."""
    # late events are those the job dead-lettered as late
    # (the dead-letter topic is at-least-once: deduplicate by position)
    dl = dlq_by_reason(kafka.consume_all(dlq, timeout=60))
    late = {k for k, reasons in dl.items() if "late" in reasons}
    mixed = {k: v for k, v in dl.items() if len(set(v)) > 1}
    assert not mixed, f"a record dead-lettered with different reasons: {list(mixed.items())[:5]}"
    invalid = oracle.invalid_records(recs)
    got_invalid = {k: v[0] for k, v in dl.items() if "late" not in v}
    assert got_invalid == invalid, (
        f"dead-lettered invalid records differ: missing "
        f"{sorted(set(invalid) - set(got_invalid))[:5]}, extra "
        f"{sorted(set(got_invalid) - set(invalid))[:5]}")

    exp = {}
    maxet = {}
    kept = 0
    for r in recs:
        kind, ev = oracle.decode(r.key, r.value)
        if kind != "valid":
            continue
        assert (r.partition, r.offset) not in invalid
        if (r.partition, r.offset) in late:
            continue
        kept += 1
        start = ev.t_us // oracle.WINDOW_US * oracle.WINDOW_US
        w = exp.setdefault((r.partition, ev.key, start), [0, 0.0, 0.0])
        w[0] += 1
        w[1] += ev.temperature
        w[2] += ev.event_duration
        maxet[r.partition] = max(maxet.get(r.partition, ev.t_us), ev.t_us)
    not_valid = late - {(r.partition, r.offset) for r in recs
                        if oracle.decode(r.key, r.value)[0] == "valid"}
    assert not not_valid, f"dead-lettered as late but not a valid kept event: {sorted(not_valid)[:5]}"
    wm = min(maxet.values()) - 60 * 10**6
    got = oracle.read_aggregate(root)
    got_keys = {(r["device_id"], r["start_us"]) for r in got}
    must = {k: tuple(v) for k, v in exp.items()
            if k[2] + oracle.WINDOW_US <= wm or (k[1], k[2]) in got_keys}
    oracle.compare_aggregate(got, must)
    assert len(got) > 200, len(got)
    return late


def _in_commit(ck):
    """True when some partition has a plan (wal-<b>) newer than its last
    commit (state-<b'>), i.e. a batch is being written right now."""
    try:
        topics = list(os.scandir(ck))
        for t in topics:
            for pdir in os.scandir(t.path):
                wal = state = -1
                for f in os.scandir(pdir.path):
                    kind, _, num = f.name.partition("-")
                    if not num.isdigit():
                        continue
                    if kind == "wal":
                        wal = max(wal, int(num))
                    elif kind == "state":
                        state = max(state, int(num))
                if wal > state:
                    return True
    except OSError:
        pass
    return False


def test_kill9_random_moments(iotpipe, kafka, tmp_path):
    rnd = random.Random(20251125)
    topic = kafka.create_topic(kafka.topic("crash"), partitions=4)
    dlq = topic + "-dlq"
    count = 75000
    prod = _producer(kafka, topic, count, 2500, 7, tmp_path / "produce.log")
    common = ["--trigger", 0.5, "--max-batch-events", 5000]
    jobs = {}
    # the archive twice: in its default layout, and by date (the events
    # cross a UTC midnight, so batches are cut into two directories)
    for name, kind in (("archive", "archive"), ("archive-date", "archive"),
                       ("aggregate", "aggregate")):
        extra = common + ["--kafka", f"group.instance.id={name}-static"]
        if kind == "aggregate":
            extra += ["--dead-letter-topic", dlq]
        if name == "archive-date":
            extra += ["--partition-by", "date"]
        args = _job_args(kafka, kind, topic, str(tmp_path / "out" / name),
                         str(tmp_path / "ck" / name), f"g-{name}", extra)
        jobs[name] = Job(tmp_path, name, args).start()
    kills = collections.Counter()
    in_commit = collections.Counter()
    next_kill = {k: time.monotonic() + rnd.uniform(0.5, 2.5) for k in jobs}
    deadline = time.monotonic() + 150
    try:
        while prod.poll() is None or min(kills[k] for k in jobs) < 10:
            assert time.monotonic() < deadline, f"kills so far {kills}"
            now = time.monotonic()
            for kind, job in jobs.items():
                if not job.running():
                    raise AssertionError(f"{kind} exited by itself "
                                         f"({job.proc.returncode}):\n{job.tail()}")
                # every other kill waits for a batch in flight (a plan
                # without its commit) so that kills land inside commits
                targeted = kills[kind] % 2 == 1 and now < next_kill[kind] + 3
                if now >= next_kill[kind] and (
                        not targeted or _in_commit(tmp_path / "ck" / kind)):
                    job.kill(signal.SIGKILL)
                    kills[kind] += 1
                    if targeted:
                        in_commit[kind] += 1
                    job.start()
                    next_kill[kind] = now + rnd.uniform(0.3, 2.5)
            time.sleep(0.001)
        assert prod.wait(60) == 0, (tmp_path / "produce.log").read_text()[-2000:]
        # let each job run a little, then one last kill -9
        time.sleep(2)
        for job in jobs.values():
            job.kill(signal.SIGKILL)
    finally:
        kill_all(prod, jobs)
    assert min(kills.values()) >= 10, kills

    # drain what is left with --once (same group, checkpoint and output)
    for kind, job in jobs.items():
        _drain(iotpipe, job.args)
    logs = {k: j.tail(10**9) for k, j in jobs.items()}
    replays = {k: logs[k].count("replaying planned batch") for k in jobs}
    print(f"kills {dict(kills)} ({dict(in_commit)} inside a commit), replays after restart {replays}")

    recs = kafka.consume_all(topic, expect=count)
    assert len(recs) == count
    _check_archive_exact(tmp_path / "out" / "archive", recs)
    _check_archive_exact(tmp_path / "out" / "archive-date", recs)
    dirs = {p.relative_to(tmp_path / "out" / "archive-date").parts[0]
            for p in (tmp_path / "out" / "archive-date").rglob("*.parquet")}
    assert dirs == {"date=2025-01-01", "date=2025-01-02"}, dirs

    late = _check_aggregate_consistent(kafka, recs, dlq,
                                       tmp_path / "out" / "aggregate")
    assert late, "no late events at all: the workload should produce some"


def _wait_log(job, text, timeout=60, count=1):
    deadline = time.monotonic() + timeout
    while job.tail(10**9).count(text) < count:
        if not job.running():
            raise AssertionError(f"{job.name} exited:\n{job.tail()}")
        assert time.monotonic() < deadline, f"{job.name}: no '{text}':\n{job.tail()}"
        time.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL],
                         ids=["sigterm", "kill9"])
def test_two_instances_one_stops(iotpipe, kafka, tmp_path, sig):
    """archive and aggregate, two instances each in one group (shared
    checkpoint and output); one instance of each stops mid-run, the other
    takes over its partitions; after a drain: exactly once."""
    topic = kafka.create_topic(kafka.topic("grp"), partitions=4)
    dlq = topic + "-dlq"
    count = 40000
    prod = _producer(kafka, topic, count, 2000, 11, tmp_path / "produce.log")
    args = {}
    pairs = {}
    for kind in ("archive", "aggregate"):
        extra = ["--trigger", 0.5, "--max-batch-events", 3000]
        if kind == "aggregate":
            extra += ["--dead-letter-topic", dlq]
        args[kind] = _job_args(kafka, kind, topic, str(tmp_path / "out" / kind),
                               str(tmp_path / "ck" / kind), f"g-{kind}", extra)
        pairs[kind] = (Job(tmp_path, kind + "-a", args[kind]).start(),
                       Job(tmp_path, kind + "-b", args[kind]).start())
    everyone = [j for pr in pairs.values() for j in pr]
    try:
        # both instances own partitions (a rebalance split the topic)
        for j in everyone:
            _wait_log(j, "assigned partition")
        time.sleep(3)
        assert prod.poll() is None, "the producer finished too early for the test"
        for kind, (a, b) in pairs.items():
            rc = b.kill(sig)
            if sig == signal.SIGTERM:
                assert rc == 0, f"SIGTERM: exit {rc}\n{b.tail()}"
        assert prod.wait(90) == 0
        # a takes over all partitions: assigned all 4 since its last revocation
        deadline = time.monotonic() + 60
        for kind, (a, b) in pairs.items():
            while True:
                log = a.tail(10**9)
                if "revoked partition" in log:
                    after = log.rsplit("revoked partition", 1)[1]
                    if len(set(l for l in after.splitlines()
                               if "assigned partition" in l)) >= 4:
                        break
                assert a.running(), a.tail()
                assert time.monotonic() < deadline, f"{a.name} never took over:\n{a.tail()}"
                time.sleep(0.2)
        time.sleep(2)
        for kind, (a, b) in pairs.items():
            assert a.kill(signal.SIGTERM) == 0, a.tail()
    finally:
        for j in everyone:
            if j.running():
                j.kill(signal.SIGKILL)
        if prod.poll() is None:
            prod.kill()
            prod.wait()
    for kind in pairs:
        _drain(iotpipe, args[kind])
    recs = kafka.consume_all(topic, expect=count)
    _check_archive_exact(tmp_path / "out" / "archive", recs)
    _check_aggregate_consistent(kafka, recs, dlq, tmp_path / "out" / "aggregate")
