"""No gaps: the streaming jobs against ordinary operations that used to
lose or split data while reporting success.

- a topic deleted and recreated under a stopped and under a running job:
  the checkpoint offset is outside the new log; by default the job stops
  with one line naming topic, partition, offset and range, and
  `--on-data-loss earliest` goes on from the log start, in a new checkpoint
  epoch, without overwriting the earlier output;
- `iotpipe run` restarted in one directory: every start is a new embedded
  broker; each run archives its events from offset 0, earlier files stay;
- several group members killed with kill -9, then `--once` in the same
  group: it waits out the dead members and covers the whole topic;
- `produce` places keys with murmur2 as the Java client and kafka-python
  do; a key arriving on two partitions is detected;
- checkpoint clean-up per partition: the number of checkpoint files of
  every partition stays bounded over hundreds of batches.
"""
import collections
import hashlib
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

import oracle
from fixtures.common import ROOT, iotpipe_bin
from streamlib import Job, produce

START = "2025-01-01T00:00:00Z"


def _args(kind, kafka, topic, out, ck, group, *extra):
    return [kind, "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
            "--output", out, "--checkpoint", ck, "--group", group,
            "--metrics-addr", "off", "--timeout", 60, *extra]


def _files(root):
    """{relative path: sha256} of every Parquet file under root."""
    root = pathlib.Path(root)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*.parquet")}


def _recreate(kafka, topic, partitions=4):
    kafka.delete_topic(topic)
    deadline = time.monotonic() + 60
    while True:
        try:
            kafka.create_topic(topic, partitions=partitions)
            return
        except Exception:  # deletion still in progress
            assert time.monotonic() < deadline, f"cannot recreate {topic}"
            time.sleep(0.5)


def _loss_line(stderr, topic, replaced=False):
    """The data-loss line: the checkpoint offset outside the new log, or
    (replaced) inside it, where another record stands than the one read."""
    what = "now holds another record" if replaced else "outside the partition's log"
    lines = [l for l in stderr.splitlines() if what in l]
    assert lines, stderr[-3000:]
    line = lines[-1]
    assert f"topic '{topic}'" in line and "partition" in line, line
    if replaced:
        assert re.search(r"checkpoint offset \d+ was read from another log: offset \d+ now "
                         r"holds another record than the one the checkpoint read there", line), line
        assert "the topic was deleted and recreated" in line, line
    else:
        assert re.search(r"checkpoint offset \d+ is outside the partition's log "
                         r"\[\d+, \d+\]", line), line
    assert "--on-data-loss earliest" in line, line
    return line


@pytest.mark.parametrize("kind", ["archive", "aggregate"])
@pytest.mark.parametrize("count", [1000, 6000])
def test_topic_recreated_under_stopped_job(iotpipe, kafka, tmp_path, kind, count):
    """The new topic holds fewer records than the checkpoint read (its
    offset is outside the new log), or more: the offset is inside the new
    log, and resuming there skipped the new records before it, exit 0. The
    record at the checkpoint's last offset is read again and compared."""
    topic = kafka.create_topic(kafka.topic("recreate"), partitions=4)
    produce(iotpipe, kafka, topic, 4000, seed=1, start=START)
    old = kafka.consume_all(topic, expect=4000)
    out, ck = tmp_path / "o", tmp_path / "c"
    extra = ["--idle-timeout", 0] if kind == "aggregate" else []
    iotpipe(*_args(kind, kafka, topic, out, ck, "g", "--once", *extra), timeout=180)
    before = _files(out)
    assert before

    _recreate(kafka, topic)
    produce(iotpipe, kafka, topic, count, seed=2, start="2025-01-01T01:00:00Z")
    new = kafka.consume_all(topic, expect=count)
    cp = iotpipe(*_args(kind, kafka, topic, out, ck, "g", "--once", *extra),
                 check=False, timeout=180)
    assert cp.returncode == 1, (cp.returncode, cp.stderr[-3000:])
    _loss_line(cp.stderr, topic, replaced=count > 4000)
    assert _files(out) == before, "a failed run changed the output"

    # the explicit policy goes on from the log start in a new epoch
    cp = iotpipe(*_args(kind, kafka, topic, out, ck, "g", "--once",
                        "--on-data-loss", "earliest", *extra), timeout=180)
    assert "checkpoint epoch 1" in cp.stderr, cp.stderr[-3000:]
    after = _files(out)
    assert {k: after[k] for k in before} == before, "earlier output was overwritten"
    if kind == "archive":
        got, _ = oracle.read_archive(out)
        assert got == oracle.archive_rows(old) + oracle.archive_rows(new)
    else:
        sim = oracle.AggSim(watermark_s=60)
        w1, late1 = sim.run_once(old)
        # the new log restarts at offset 0 of each partition; the oracle's
        # state per partition carries over as the job's does
        w2, late2 = sim.run_once(new)
        assert not late1 and not late2
        assert not set(w1) & set(w2)
        oracle.compare_aggregate(oracle.read_aggregate(out), {**w1, **w2})


@pytest.mark.parametrize("kind", ["archive", "aggregate"])
def test_new_checkpoint_never_overwrites_earlier_output(iotpipe, kafka, tmp_path, kind):
    """A second checkpoint location pointed at an output that another one
    wrote (the checkpoint deleted or mistyped, a second job on the same
    output) numbers its batches from 1 again: it must write objects of its
    own beside the earlier ones, never replace them. And a checkpoint
    that crashed between its first plan and its first commit replays that
    plan under the very same object names."""
    topic = kafka.create_topic(kafka.topic("fresh-ck"), partitions=4)
    produce(iotpipe, kafka, topic, 3000, seed=5, start=START)
    recs = kafka.consume_all(topic, expect=3000)
    out = tmp_path / "o"
    extra = ["--idle-timeout", 0] if kind == "aggregate" else []

    def once(ck, group):
        return iotpipe(*_args(kind, kafka, topic, out, tmp_path / ck, group, "--once",
                              *extra), timeout=180)

    once("c1", "g1")
    first = _files(out)
    assert first
    once("c2", "g2")  # a new checkpoint, same output
    second = _files(out)
    assert {k: second.get(k) for k in first} == first, "earlier output was replaced"
    assert len(second) == 2 * len(first), (len(first), len(second))

    # a crash after the first plan's objects, before its commit: the
    # replay must rewrite the same names (the plan has the run)
    once("c3", "g3")
    third = _files(out)
    mine = set(third) - set(second)
    assert len(mine) == len(first)
    states = list((tmp_path / "c3").rglob("state-*"))
    assert states and all(p.name.endswith("1") for p in states), states
    for p in states:
        p.unlink()
    cp = once("c3", "g3")
    assert "replaying planned batch 1" in cp.stderr, cp.stderr[-3000:]
    assert _files(out) == third, "the replay wrote other objects than its plan's"

    # every event three times, once per checkpoint, each run's objects whole
    if kind == "archive":
        got, rows = oracle.read_archive(out)
        want = oracle.archive_rows(recs)
        assert got == want + want + want
    else:
        got = oracle.read_aggregate(out)
        windows, late = oracle.AggSim(watermark_s=60).run_once(recs)
        assert not late
        runs = (set(first), set(second) - set(first), mine)
        by_run = [[r for r in got if str(pathlib.Path(r["file"]).relative_to(out)) in run]
                  for run in runs]
        assert sum(map(len, by_run)) == len(got)
        for rows in by_run:
            oracle.compare_aggregate(rows, windows)


@pytest.mark.parametrize("older", [False, True])
def test_checkpoint_files_gone_under_the_run_marker_is_an_error(iotpipe, kafka, tmp_path, older):
    """Plans and states deleted by hand while the run marker stays: the
    partition committed before, so starting it over (a new run, every
    record stored again) is refused, naming the marker. A checkpoint
    written before runs existed (no run lines, old object names) gets a
    marker of run 0 with its next commit, and the same guard."""
    topic = kafka.create_topic(kafka.topic("marker"), partitions=2)
    produce(iotpipe, kafka, topic, 1000, seed=6, start=START)
    out, ck = tmp_path / "o", tmp_path / "c"
    iotpipe(*_args("archive", kafka, topic, out, ck, "g", "--once"), timeout=180)
    if older:
        # what an earlier version wrote: no run line, no marker, names
        # without a run
        for p in ck.rglob("*-0000*"):
            p.write_text("".join(line for line in p.read_text().splitlines(True)
                                 if not line.startswith("run ")))
        for p in ck.rglob("run"):
            p.unlink()
        for p in list(out.rglob("*.parquet")):
            p.rename(p.with_name(re.sub(r"-[0-9a-f]{16}\.parquet$", ".parquet", p.name)))
        produce(iotpipe, kafka, topic, 500, seed=7, start="2025-01-01T02:00:00Z")
        iotpipe(*_args("archive", kafka, topic, out, ck, "g", "--once"), timeout=180)
        assert not [p for p in out.rglob("*.parquet") if re.search(r"-[0-9a-f]{16}\.", p.name)]
        assert all(p.read_text() == "iotpipe-run 0000000000000000\n" for p in ck.rglob("run"))
    before = _files(out)
    markers = sorted(ck.rglob("run"))
    assert len(markers) == 2, markers
    for p in ck.rglob("*-0000*"):
        p.unlink()
    cp = iotpipe(*_args("archive", kafka, topic, out, ck, "g", "--once"),
                 check=False, timeout=180)
    assert cp.returncode == 1, (cp.returncode, cp.stderr[-3000:])
    assert re.search(r"partition \d: the checkpoint \S+ lists no plan or commit, but its "
                     r"run marker \S+/run says run [0-9a-f]{16} committed there",
                     cp.stderr), cp.stderr[-3000:]
    assert _files(out) == before
    # deleting the whole checkpoint is starting over on purpose
    shutil.rmtree(ck)
    iotpipe(*_args("archive", kafka, topic, out, ck, "g2", "--once"), timeout=180)
    after = _files(out)
    assert {k: after.get(k) for k in before} == before and len(after) > len(before)


@pytest.mark.parametrize("count", [500, 5000])
def test_topic_recreated_under_running_job(iotpipe, kafka, tmp_path, count):
    out, ck = tmp_path / "o", tmp_path / "c"
    for policy in ("fail", "earliest"):
        topic = kafka.create_topic(kafka.topic("recreate-run"), partitions=4)
        produce(iotpipe, kafka, topic, 3000, seed=3, start=START)
        old = kafka.consume_all(topic, expect=3000)
        o, c = out / policy, ck / policy
        job = Job(tmp_path, f"archive-{policy}",
                  _args("archive", kafka, topic, o, c, f"g-{policy}", "--trigger", 0.5,
                        "--on-data-loss", policy)).start()
        deadline = time.monotonic() + 90
        while True:
            got, _ = oracle.read_archive(o)
            if got == oracle.archive_rows(old):
                break
            assert job.running() and time.monotonic() < deadline, job.tail()
            time.sleep(0.5)
        before = _files(o)
        _recreate(kafka, topic)
        produce(iotpipe, kafka, topic, count, seed=4, start="2025-01-01T01:00:00Z")
        new = kafka.consume_all(topic, expect=count)
        if policy == "fail":
            try:
                rc = job.proc.wait(90)
            except subprocess.TimeoutExpired:
                job.kill()
                raise AssertionError("the job went on although its checkpoint is outside "
                                     "the recreated topic's log:\n" + job.tail())
            assert rc == 1, job.tail()
            _loss_line(job.tail(10**6), topic, replaced=count > 3000)
            assert _files(o) == before
        else:
            want = oracle.archive_rows(old) + oracle.archive_rows(new)
            deadline = time.monotonic() + 90
            while True:
                got, _ = oracle.read_archive(o)
                if got == want:
                    break
                assert job.running() and time.monotonic() < deadline, (
                    f"{sum((want - got).values())} rows missing\n" + job.tail())
                time.sleep(0.5)
            assert job.kill(signal.SIGTERM) == 0, job.tail()
            after = _files(o)
            assert {k: after[k] for k in before} == before
            assert "going on from the log start" in job.tail(10**6)


def _run_pipeline(tmp_path, data, seconds, n):
    log = tmp_path / f"run-{n}.log"
    proc = subprocess.Popen(
        [iotpipe_bin(), "run", "--data-dir", str(data), "--metrics-addr", "off",
         "--rate", "1500", "--devices", "20", "--trigger", "1"],
        stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    time.sleep(seconds)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0, log.read_text()[-3000:]
    return log.read_text()


def _archive_offsets(files):
    import pyarrow.parquet as pq
    offs = collections.defaultdict(list)
    for f in files:
        t = pq.read_table(f, columns=["kafka_partition", "kafka_offset"])
        for p, o in zip(t.column(0).to_pylist(), t.column(1).to_pylist()):
            offs[p].append(o)
    return offs


def test_run_restarted_twice_in_one_directory(tmp_path):
    data = tmp_path / "data"
    seen = {}
    for n in range(3):
        log = _run_pipeline(tmp_path, data, 8, n)
        files = _files(data / "raw")
        # earlier runs' files are unchanged: same names, same bytes
        assert {k: files.get(k) for k in seen} == seen, f"run {n} changed earlier output"
        mine = [data / "raw" / k for k in files if k not in seen]
        assert mine, f"run {n} archived nothing:\n{log[-3000:]}"
        offs = _archive_offsets(mine)
        assert len(offs) == 4, offs.keys()
        for p, lst in offs.items():
            assert len(lst) == len(set(lst)), f"run {n}: offsets archived twice"
            lst.sort()
            # status 'error' (a third of the events) is filtered out, so
            # offsets have small holes; a run that skipped the start of
            # its new log (the earlier runs' checkpoints) has a big one
            assert lst[0] < 30, f"run {n} partition {p} starts at offset {lst[0]}"
            gaps = max(b - a for a, b in zip(lst, lst[1:]))
            assert gaps < 30, f"run {n} partition {p}: {gaps} offsets in a row missing"
        if n:
            # both jobs, every partition: the aggregate's first windows
            # need two minutes, its checkpoint shows it went on too
            assert log.count("the broker is new") == 8, log[-3000:]
        seen = files
    states = list((data / "checkpoints" / "aggregate").rglob("state-*"))
    assert len({p.parent for p in states}) == 4, states


def test_once_after_members_killed(iotpipe, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic("once-dead"), partitions=4)
    produce(iotpipe, kafka, topic, 100000, seed=7, start=START, step=0.01,
            timeout=300)
    out, ck = tmp_path / "o", tmp_path / "c"
    # members that die with kill -9 while the backlog is read, three
    # times; small fetches and batches keep them slow enough to die with
    # work left
    for round_ in range(2):
        jobs = [Job(tmp_path, f"m{round_}-{i}",
                    _args("archive", kafka, topic, out, ck, "g", "--trigger", 0.3,
                          "--max-batch-events", 500,
                          "--kafka", "max.partition.fetch.bytes=4096",
                          "--kafka", "fetch.max.bytes=16384",
                          "--kafka", "message.max.bytes=16384")).start() for i in range(3)]
        # joining waits until the members killed before have left the
        # group (session timeout)
        deadline = time.monotonic() + 90
        while not any("assigned partition" in j.tail(10**6) for j in jobs):
            assert time.monotonic() < deadline, "\n".join(j.tail() for j in jobs)
            time.sleep(0.1)
        time.sleep(0.5 + 0.3 * round_)
        for j in jobs:
            j.kill(signal.SIGKILL)
    # more to read while the dead members are still in the group (until
    # their session times out, 10 s)
    produce(iotpipe, kafka, topic, 100000, seed=8, start="2025-01-01T01:00:00Z",
            step=0.01, timeout=300)
    t0 = time.monotonic()
    cp = iotpipe(*_args("archive", kafka, topic, out, ck, "g", "--once"),
                 check=False, timeout=300)
    took = time.monotonic() - t0
    recs = kafka.consume_all(topic, expect=200000, timeout=120)
    want = oracle.archive_rows(recs)
    if cp.returncode == 0:
        got, _ = oracle.read_archive(out)
        missing, extra = want - got, got - want
        assert not missing and not extra, (
            f"--once exited 0 after {took:.0f} s with {sum(missing.values())} rows missing "
            f"and {sum(extra.values())} extra:\n{cp.stderr[-3000:]}")
    else:
        assert cp.returncode == 1, cp.stderr[-3000:]
        assert "partitions left" in cp.stderr, cp.stderr[-3000:]


# A group member that joins, takes its share of the partitions and never
# commits anything: another client (kafka-python) standing in for a job
# instance that dies before it commits.
_SILENT_MEMBER = """
import sys, time, kafka
c = kafka.KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], group_id=sys.argv[3],
                        enable_auto_commit=False, session_timeout_ms=10000)
while True:
    c.poll(timeout_ms=100)
    if c.assignment():
        print("assigned", sorted(tp.partition for tp in c.assignment()), flush=True)
"""


def test_once_when_members_die_during_its_run(iotpipe, kafka, tmp_path):
    """--once shares the topic with a member that dies (kill -9) right
    after the rebalance that gave --once its share, before committing.
    The dead member's partitions stay its own until its session times
    out: --once must wait for them, not exit 0 after its own share."""
    topic = kafka.create_topic(kafka.topic("once-die"), partitions=4)
    produce(iotpipe, kafka, topic, 40000, seed=9, start=START, step=0.01)
    recs = kafka.consume_all(topic, expect=40000)
    out, ck = tmp_path / "o", tmp_path / "c"
    log = open(tmp_path / "member.log", "wb")
    member = subprocess.Popen([sys.executable, "-c", _SILENT_MEMBER, kafka.bootstrap,
                               topic, "g"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while b"assigned" not in (tmp_path / "member.log").read_bytes():
            assert member.poll() is None and time.monotonic() < deadline, (
                (tmp_path / "member.log").read_text())
            time.sleep(0.1)
        once = Job(tmp_path, "once", _args("archive", kafka, topic, out, ck, "g",
                                           "--once")).start()
        deadline = time.monotonic() + 60
        while "assigned partition" not in once.tail(10**6):
            assert once.running() and time.monotonic() < deadline, once.tail()
            time.sleep(0.05)
    finally:
        member.kill()
        member.wait()
    rc = once.proc.wait(180)
    text = once.tail(10**6)
    assert text.count("assigned partition") < 4 or "revoked" in text, (
        "--once was never short of partitions: nothing tested\n" + text[-3000:])
    if rc == 0:
        got, _ = oracle.read_archive(out)
        want = oracle.archive_rows(recs)
        missing, extra = want - got, got - want
        assert not missing and not extra, (
            f"--once exited 0 with {sum(missing.values())} rows missing and "
            f"{sum(extra.values())} extra:\n{text[-3000:]}")
    else:
        assert rc == 1 and "partitions left" in text, text[-3000:]


def test_two_once_instances_share_the_topic(iotpipe, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic("once-two"), partitions=4)
    produce(iotpipe, kafka, topic, 60000, seed=8, start=START, step=0.01)
    recs = kafka.consume_all(topic, expect=60000)
    out, ck = tmp_path / "o", tmp_path / "c"
    # small fetches and quick heartbeats, so that the first member is
    # still reading when the second joins and learns of the rebalance at
    # once: otherwise it may read the whole topic alone first
    jobs = [Job(tmp_path, f"once-{i}", _args("archive", kafka, topic, out, ck, "g",
                                            "--once", "--max-batch-events", 2000,
                                            "--kafka", "fetch.message.max.bytes=8192",
                                            "--kafka", "heartbeat.interval.ms=200")).start()
            for i in range(2)]
    for j in jobs:
        assert j.proc.wait(240) == 0, j.tail()
    got, _ = oracle.read_archive(out)
    assert got == oracle.archive_rows(recs)
    owners = [j for j in jobs if "assigned partition" in j.tail(10**6)]
    assert len(owners) == 2, "the group did not share the work"


def test_produce_places_keys_with_murmur2(iotpipe, kafka):
    from kafka.partitioner.default import murmur2
    topic = kafka.create_topic(kafka.topic("murmur"), partitions=6)
    produce(iotpipe, kafka, topic, 3000, seed=9, start=START, devices=50,
            partitioner=None)
    recs = kafka.consume_all(topic, expect=3000)
    wrong = [(r.key, r.partition) for r in recs
             if r.key and r.partition != (murmur2(r.key) & 0x7FFFFFFF) % 6]
    assert not wrong, f"{len(wrong)} records not where kafka-python would put them: {wrong[:5]}"
    assert len({r.partition for r in recs}) == 6


def test_key_on_two_partitions_is_detected(iotpipe, kafka, tmp_path):
    """A second producer with another partitioner: the same devices arrive
    on other partitions. The aggregate counts and logs it once."""
    topic = kafka.create_topic(kafka.topic("split"), partitions=4)
    produce(iotpipe, kafka, topic, 2000, seed=10, start=START, devices=20,
            partitioner="murmur2_random")
    produce(iotpipe, kafka, topic, 2000, seed=11, start=START, devices=20,
            partitioner="consistent_random")
    cp = iotpipe(*_args("aggregate", kafka, topic, tmp_path / "o", tmp_path / "c", "g",
                        "--once", "--idle-timeout", 0), timeout=180)
    lines = [l for l in cp.stderr.splitlines() if "arrives on partitions" in l]
    assert len(lines) == 1, cp.stderr[-3000:]
    assert "iotpipe_keys_split_total" in lines[0]


def _global_oracle(records, late, skip_prefix):
    """Spark's groupBy(window, device_id) over the valid records not
    dead-lettered as late: {(0, device, start_us): (n, sum_t, sum_d)}."""
    out = {}
    for r in records:
        if (r.partition, r.offset) in late:
            continue
        kind, ev = oracle.decode(r.key, r.value)
        if kind != "valid" or ev.key.startswith(skip_prefix):
            continue
        start = ev.t_us // oracle.WINDOW_US * oracle.WINDOW_US
        w = out.setdefault((0, ev.key, start), [0, 0.0, 0.0])
        w[0] += 1
        w[1] += ev.temperature
        w[2] += ev.event_duration
    return {k: tuple(v) for k, v in out.items()}


def _compare_sums(rows, expected):
    """The rows of each window add up to exactly its records (a window may
    be split into several rows); returns how many windows were split."""
    got = {}
    nrows = collections.Counter()
    for r in rows:
        if r["device_id"].startswith("zz-closer"):
            continue
        k = (0, r["device_id"], r["start_us"])
        nrows[k] += 1
        g = got.setdefault(k, [0, 0.0, 0.0])
        g[0] += r["n"]
        g[1] += r["avg_t"] * r["n"]
        g[2] += r["avg_d"] * r["n"]
    assert set(got) == set(expected), (sorted(set(expected) - set(got))[:5],
                                       sorted(set(got) - set(expected))[:5])
    bad = [(k, got[k], expected[k]) for k in expected
           if got[k][0] != expected[k][0] or
           not all(abs(x - y) <= 1e-6 * max(1.0, abs(y))
                   for x, y in zip(got[k][1:], expected[k][1:]))]
    assert not bad, bad[:5]
    return sum(n > 1 for n in nrows.values())


def _closers(kafka, topic, partitions, at_s):
    """One valid record per partition far ahead: every window before it
    closes whatever partition it came through."""
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at_s))
    value = (f'{{"timestamp": "{iso}Z", "temperature": 1.0, "event_duration": 1.0, '
             f'"status": "ok"}}').encode()
    from streamlib import send_raw
    send_raw(kafka, topic, [(p, f"zz-closer-{p}".encode(), value)
                            for p in range(partitions)])


def test_two_partitioners_and_a_grown_topic_give_one_row_per_window(iotpipe, kafka,
                                                                     tmp_path):
    """A second producer with another partitioner, then more partitions
    while the job runs: each device's events for a minute come through two
    or three partitions, and the aggregate still has one row per device
    and window, equal to a global group-by over every record."""
    topic = kafka.create_topic(kafka.topic("merge"), partitions=4)
    dlq = kafka.create_topic(kafka.topic("merge-dlq"), partitions=1)
    out, ck = tmp_path / "o", tmp_path / "c"
    args = _args("aggregate", kafka, topic, out, ck, "g", "--idle-timeout", 0,
                 "--dead-letter-topic", dlq,
                 "--kafka", "topic.metadata.refresh.interval.ms=1000")
    # rounds at the rebalance when the topic grows and at the stop: every
    # partition with a part of a window is in the round that emits it (a
    # partition behind a round writes its part as a row of its own; the
    # kill test below checks that those rows still add up)
    job = Job(tmp_path, "aggregate", [*args, "--trigger", 3600]).start()
    try:
        # the first 150 s of event time through two partitioners
        produce(iotpipe, kafka, topic, 3000, seed=21, start=START, devices=20,
                partitioner="murmur2_random")
        produce(iotpipe, kafka, topic, 3000, seed=22, start=START, devices=20,
                partitioner="consistent_random")
        time.sleep(3)
        kafka.add_partitions(topic, 6)
        time.sleep(3)
        # the next 150 s on six partitions, again through both
        later = "2025-01-01T00:02:30Z"
        produce(iotpipe, kafka, topic, 3000, seed=23, start=later, devices=20,
                partitioner="murmur2_random")
        produce(iotpipe, kafka, topic, 3000, seed=24, start=later, devices=20,
                partitioner="consistent_random")
        _closers(kafka, topic, 6, 1735689600 + 3600)
        time.sleep(4)
        assert job.running(), job.tail()
    finally:
        assert job.kill(signal.SIGTERM) == 0, job.tail()
    # what the running job had not finished, --once does
    cp = iotpipe(*_args("aggregate", kafka, topic, out, ck, "g", "--once",
                        "--idle-timeout", 0, "--dead-letter-topic", dlq), timeout=180)
    records = kafka.consume_all(topic, expect=12000 + 6)
    assert len({r.partition for r in records}) == 6
    keys = collections.defaultdict(set)
    for r in records:
        keys[r.key].add(r.partition)
    assert sum(len(v) > 1 for v in keys.values()) >= 10, "the workload splits no key"
    from streamlib import dlq_by_reason
    dead = dlq_by_reason(kafka.consume_all(dlq))
    late = {k for k, v in dead.items() if "late" in v}
    rows = [r for r in oracle.read_aggregate(out)
            if not r["device_id"].startswith("zz-closer")]
    oracle.compare_aggregate(rows, _global_oracle(records, late, "zz-closer"))
    # hand-overs are cleaned up once merged
    left = [p for p in pathlib.Path(ck).rglob("handoff-*")]
    assert not left, left[:5]


def test_one_row_per_window_across_kills(iotpipe, kafka, tmp_path):
    """Two producers with different partitioners while the aggregate is
    killed with kill -9 again and again: hand-overs planned, half written
    or half merged are replayed, and the rows of every device-window add up
    to exactly its records that were not late, none lost, none twice."""
    topic = kafka.create_topic(kafka.topic("merge-kill"), partitions=4)
    dlq = kafka.create_topic(kafka.topic("merge-kill-dlq"), partitions=1)
    out, ck = tmp_path / "o", tmp_path / "c"
    args = _args("aggregate", kafka, topic, out, ck, "g", "--idle-timeout", 0,
                 "--dead-letter-topic", dlq)
    prods = []
    for seed, part in ((31, "murmur2_random"), (32, "consistent_random")):
        cmd = [iotpipe_bin(), "produce", "--bootstrap-servers", kafka.bootstrap,
               "--topic", topic, "--count", "8000", "--rate", "400", "--seed", str(seed),
               "--devices", "20", "--start-time", START, "--time-step", "0.05",
               "--metrics-addr", "off", "--kafka", f"partitioner={part}"]
        prods.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE))
    # a short session: the next start is assigned soon after a kill
    job = Job(tmp_path, "aggregate", [*args, "--trigger", 0.2,
                                      "--kafka", "session.timeout.ms=6000"])
    kills = 0

    def commits():
        return sum(1 for _ in pathlib.Path(ck).rglob("state-*"))

    try:
        while any(p.poll() is None for p in prods):
            before = commits()
            job.start()
            deadline = time.monotonic() + 60
            while commits() <= before and time.monotonic() < deadline and \
                    any(p.poll() is None for p in prods):
                time.sleep(0.05)
            # somewhere in the next commit rounds
            time.sleep(0.05 + 0.17 * (kills % 4))
            job.kill(signal.SIGKILL)
            kills += 1
        for p in prods:
            assert p.wait(60) == 0, p.stderr.read()[-2000:]
        _closers(kafka, topic, 4, 1735689600 + 3600)
    finally:
        for p in prods:
            if p.poll() is None:
                p.kill()
        job.kill(signal.SIGKILL)
    assert kills >= 3
    iotpipe(*_args("aggregate", kafka, topic, out, ck, "g", "--once",
                   "--idle-timeout", 0, "--dead-letter-topic", dlq), timeout=180)
    records = kafka.consume_all(topic, expect=16000 + 4)
    from streamlib import dlq_by_reason
    late = {k for k, v in dlq_by_reason(kafka.consume_all(dlq)).items() if "late" in v}
    rows = oracle.read_aggregate(out)
    expected = _global_oracle(records, late, "zz-closer")
    split = _compare_sums(rows, expected)
    # most windows are merged into one row; a partition behind the round
    # that emitted a window (replaying after a kill, nothing new to commit)
    # writes its part as a row of its own
    assert split < len(expected) / 2, (split, len(expected))


def test_two_instances_split_rows_but_count_each_event_once(iotpipe, kafka, tmp_path):
    """Two instances in one group, each owning half of the partitions,
    with keys on both halves, one instance killed and restarted: a window
    may be written as one row per instance, but the rows of each window add
    up to exactly its records, none lost and none counted twice."""
    topic = kafka.create_topic(kafka.topic("merge-two"), partitions=4)
    dlq = kafka.create_topic(kafka.topic("merge-two-dlq"), partitions=1)
    out, ck = tmp_path / "o", tmp_path / "c"
    args = [*_args("aggregate", kafka, topic, out, ck, "g", "--idle-timeout", 0,
                   "--dead-letter-topic", dlq), "--trigger", 0.3,
            "--kafka", "session.timeout.ms=6000"]
    a = Job(tmp_path, "a", args).start()
    b = Job(tmp_path, "b", args).start()
    try:
        produce(iotpipe, kafka, topic, 3000, seed=41, start=START, devices=20,
                partitioner="murmur2_random")
        time.sleep(2)
        b.kill(signal.SIGKILL)
        produce(iotpipe, kafka, topic, 3000, seed=42, start=START, devices=20,
                partitioner="consistent_random")
        b.start()
        produce(iotpipe, kafka, topic, 3000, seed=43, start="2025-01-01T00:02:30Z",
                devices=20, partitioner="consistent_random")
        _closers(kafka, topic, 4, 1735689600 + 3600)
        time.sleep(8)
    finally:
        for job in (a, b):
            job.kill(signal.SIGTERM)
    iotpipe(*_args("aggregate", kafka, topic, out, ck, "g", "--once",
                   "--idle-timeout", 0, "--dead-letter-topic", dlq), timeout=180)
    records = kafka.consume_all(topic, expect=9000 + 4)
    from streamlib import dlq_by_reason
    late = {k for k, v in dlq_by_reason(kafka.consume_all(dlq)).items() if "late" in v}
    split = _compare_sums(oracle.read_aggregate(out),
                          _global_oracle(records, late, "zz-closer"))
    # both instances owned partitions (how many windows that splits
    # depends on when the partitions moved)
    owners = [job for job in (a, b) if "assigned partition" in job.tail(10**6)]
    assert len(owners) == 2, "the group did not share the work"
    print(f"two instances: {split} windows in more than one row")


def _ckpt_counts(ck):
    counts = collections.Counter()
    for p in pathlib.Path(ck).rglob("*"):
        if p.is_file() and p.name.split("-")[0] in ("wal", "state"):
            counts[p.parent.name] += 1
    return counts


@pytest.mark.parametrize("partitions", [4, 16])
def test_checkpoint_cleanup_is_per_partition(iotpipe, kafka, tmp_path, partitions):
    topic = kafka.create_topic(kafka.topic("gc"), partitions=partitions)
    # in memory where there is /dev/shm: a round of batches ends with one
    # syncfs, which on a busy disk would allow too few batches
    shm = pathlib.Path("/dev/shm")
    base = pathlib.Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path
    out, ck = base / "o", base / "c"
    job = Job(tmp_path, "archive", _args("archive", kafka, topic, out, ck, "g",
                                          "--trigger", 0.02,
                                          "--kafka", "fetch.wait.max.ms=5")).start()
    prod = subprocess.Popen(
        [iotpipe_bin(), "produce", "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
         "--rate", str(100 * partitions), "--duration", "150", "--devices", str(8 * partitions),
         "--kafka", "linger.ms=2", "--metrics-addr", "off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=ROOT)

    def newest():
        states = collections.Counter()
        for p in pathlib.Path(ck).rglob("state-*"):
            b = int(p.name.split("-")[1])
            states[p.parent.name] = max(states[p.parent.name], b)
        return states

    # until every partition committed 200 batches (bounded in time)
    deadline = time.monotonic() + 120
    peak = collections.Counter()
    while True:
        states = newest()
        for k, v in _ckpt_counts(ck).items():
            peak[k] = max(peak[k], v)
        if len(states) == partitions and min(states.values()) >= 200:
            break
        assert job.running() and time.monotonic() < deadline, (
            f"too few batches to test the clean-up: {states}\n{job.tail()}")
        time.sleep(0.2)
    prod.kill()
    prod.wait()
    assert job.kill(signal.SIGTERM) == 0, job.tail()
    counts = _ckpt_counts(ck)
    for k, v in counts.items():
        peak[k] = max(peak[k], v)
    if base != tmp_path:
        shutil.rmtree(base)
    # a clean-up every 16 commits keeps the last two batches: at most
    # 2 + 16 batches before the next one runs, a plan and a state each
    assert max(peak.values()) <= 2 * 18, peak


def _delete_records(kafka, topic, before, tmp_path):
    """Kafka's own DeleteRecordsCommand: the log of partition 0 starts at
    `before` afterwards, as when retention deletes old records."""
    from fixtures.kafka import run_script
    spec = tmp_path / "delete.json"
    spec.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "offset": before}]}))
    cp = run_script("run-class", "org.apache.kafka.tools.DeleteRecordsCommand",
                    "--bootstrap-server", kafka.bootstrap, "--offset-json-file", spec,
                    timeout=120)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_retention_under_a_planned_batch(iotpipe, kafka, tmp_path):
    """A batch was planned and its objects written, then the job died
    before its commit; meanwhile retention deleted the head of the batch.
    By default that is data loss (exit 1, naming the plan and the log's
    range); with --on-data-loss earliest the plan is replayed with what is
    left, under its own object names: no record stored twice."""
    topic = kafka.create_topic(kafka.topic("retention"), partitions=1)
    out, ck = tmp_path / "o", tmp_path / "c"
    args = _args("archive", kafka, topic, out, ck, "g", "--once")
    produce(iotpipe, kafka, topic, 1000, seed=12, start=START)
    iotpipe(*args, timeout=120)
    produce(iotpipe, kafka, topic, 1000, seed=13, start="2025-01-01T01:00:00Z")
    iotpipe(*args, timeout=120)
    recs = kafka.consume_all(topic, expect=2000)
    # the crash: batch 2's objects are there, its commit is not
    states = sorted(pathlib.Path(ck).rglob("state-*"))
    assert [p.name for p in states][-1].endswith("2"), states
    states[-1].unlink()
    _delete_records(kafka, topic, 1500, tmp_path)

    cp = iotpipe(*args, check=False, timeout=120)
    assert cp.returncode == 1, cp.stderr[-3000:]
    assert re.search(r"planned batch 2 \(offsets 1000\.\.2000\) is outside the "
                     r"partition's log \[1500, 2000\]", cp.stderr), cp.stderr[-3000:]
    cp = iotpipe(*args, "--on-data-loss", "earliest", timeout=120)
    got, rows = oracle.read_archive(out)
    offsets = collections.Counter(r[2] for r in rows)
    assert not [o for o, n in offsets.items() if n > 1], "records stored twice"
    want = oracle.archive_rows(recs)
    # everything before the plan, and everything retention left, is there
    kept = collections.Counter({k: n for k, n in want.items() if k[2] < 1000 or k[2] >= 1500})
    assert not kept - got, f"{sum((kept - got).values())} rows missing"
    assert not got - want
    assert "replaying what is left of the plan, from offset 1500" in cp.stderr, cp.stderr[-3000:]


def test_run_takes_the_aggregate_layout_from_the_config(iotpipe, tmp_path):
    """`run` builds its aggregate from the same settings as `aggregate`:
    window.AGGREGATE_PARTITION_BY in a config file lays out its output, and
    a bad value is a usage error naming the key (run used to ignore it)."""
    cfg = tmp_path / "streaming_config.yml"
    cfg.write_text("streaming_config:\n  window:\n    AGGREGATE_PARTITION_BY: \"date\"\n"
                   "    WINDOW_SECONDS: 1\n    WATERMARK_SECONDS: 1\n")
    data = tmp_path / "data"
    log = tmp_path / "run.log"
    proc = subprocess.Popen(
        [iotpipe_bin(), "run", "-c", str(cfg), "--data-dir", str(data),
         "--metrics-addr", "off", "--rate", "500", "--trigger", "1", "--idle-timeout", "1"],
        stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not list((data / "aggregate").rglob("*.parquet")):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0, log.read_text()[-3000:]
    dirs = {p.parent.relative_to(data / "aggregate")
            for p in (data / "aggregate").rglob("*.parquet")}
    assert dirs and all(str(d).startswith("date=") and "/" not in str(d) for d in dirs), dirs
    cfg.write_text("streaming_config:\n  window:\n    AGGREGATE_PARTITION_BY: \"hour\"\n")
    cp = iotpipe("run", "-c", cfg, "--data-dir", tmp_path / "d2", "--metrics-addr", "off",
                 check=False, timeout=30)
    assert cp.returncode == 2, cp.stderr[-2000:]
    assert "window.AGGREGATE_PARTITION_BY" in cp.stderr, cp.stderr[-2000:]


@pytest.mark.parametrize("kind,change,key,was,now", [
    ("archive", ["--partition-by", "date"], "s3.STREAMING_RAW_PARTITION_BY",
     "device_id", "date"),
    ("aggregate", ["--partition-by", "date"], "window.AGGREGATE_PARTITION_BY",
     "device_id,window_start", "date"),
    ("aggregate", ["--window", "120"], "window.WINDOW_SECONDS", "60", "120"),
])
def test_restart_with_another_output_shape_is_refused(iotpipe, kafka, tmp_path, kind,
                                                      change, key, was, now):
    """The layout and the window length are part of the checkpoint. A
    restart on the same checkpoint with other values is refused (exit 2,
    naming the flag, the key and both values) and writes nothing: after a
    crash it would have replayed the half-written batch under other object
    names while the crashed round's objects stayed (rows stored twice),
    and without one it would mix two layouts or window lengths in one
    dataset. With the checkpoint's own settings the job goes on, exactly
    once."""
    topic = kafka.create_topic(kafka.topic(f"shape-{kind}"), partitions=2)
    out, ck = tmp_path / "o", tmp_path / "c"
    args = _args(kind, kafka, topic, out, ck, "g", "--once")
    produce(iotpipe, kafka, topic, 1000, seed=31, start=START)
    iotpipe(*args, timeout=120)
    first = kafka.consume_all(topic, expect=1000)
    produce(iotpipe, kafka, topic, 1000, seed=32, start="2025-01-01T00:10:00Z")

    def refused():
        before = _files(out)
        cp = iotpipe(*args, *change, check=False, timeout=120)
        assert cp.returncode == 2, cp.stderr[-3000:]
        flag = change[0]
        assert re.search(rf"partition \d: the checkpoint .*{re.escape(str(ck))}.* was "
                         rf"written with {flag} {re.escape(was)} \(key '{re.escape(key)}'\), "
                         rf"this run has {re.escape(now)}", cp.stderr), cp.stderr[-3000:]
        assert _files(out) == before, "a refused start wrote output"

    refused()  # between two clean runs
    iotpipe(*args, timeout=120)
    recs = kafka.consume_all(topic, expect=2000)
    # the crash: every partition's batch 2 is written, its commit is not
    states = [max(d.glob("state-*")) for d in pathlib.Path(ck).rglob("partition=*")]
    assert len(states) == 2 and all(s.name.endswith("2") for s in states), states
    for s in states:
        s.unlink()
    refused()  # with a batch to replay
    cp = iotpipe(*args, timeout=120)
    assert "replaying planned batch 2" in cp.stderr, cp.stderr[-3000:]
    if kind == "archive":
        got, rows = oracle.read_archive(out)
        assert got == oracle.archive_rows(recs)
        assert all("device_id=" in r[7] for r in rows)
    else:
        sim = oracle.AggSim()
        expected, _ = sim.run_once(first)
        seen = {(r.partition, r.offset) for r in first}
        second = [r for r in recs if (r.partition, r.offset) not in seen]
        more, _ = sim.run_once(second)
        expected.update(more)
        oracle.compare_aggregate(oracle.read_aggregate(out), expected)


def test_aggregate_restart_with_another_float_field_is_refused(iotpipe, kafka, tmp_path):
    """The aggregate's open windows keep one sum per float field of the
    schema, and the state names those fields. A restart whose schema has
    other float fields cannot carry them on: exit 2 naming both lists and
    the ways out (it was "corrupt window state"), nothing written; with the
    old schema the job goes on."""
    topic = kafka.create_topic(kafka.topic("schema"), partitions=1)
    out, ck = tmp_path / "o", tmp_path / "c"
    args = _args("aggregate", kafka, topic, out, ck, "g", "--once")
    produce(iotpipe, kafka, topic, 1000, seed=33, start=START)
    iotpipe(*args, timeout=120)
    cfg = tmp_path / "schema.yml"
    cfg.write_text((ROOT / "config" / "event_schema.yml").read_text() +
                   "    - name: humidity\n      type: float\n      required: false\n")
    before = _files(out)
    cp = iotpipe(*args, "-c", cfg, check=False, timeout=120)
    assert cp.returncode == 2, cp.stderr[-3000:]
    assert re.search(r"partition=0/: its open windows keep sums of the float fields "
                     r"temperature,event_duration, and the schema now has "
                     r"temperature,event_duration,humidity: .*--idle-timeout.*"
                     r"new --output and --checkpoint", cp.stderr), cp.stderr[-3000:]
    assert _files(out) == before
    produce(iotpipe, kafka, topic, 1000, seed=34, start="2025-01-01T00:10:00Z")
    iotpipe(*args, timeout=120)
    assert len(_files(out)) > len(before)


def _latest_next(ck, topic):
    """{partition: the `next` offset of its latest commit} under ck."""
    out = {}
    for d in (pathlib.Path(ck) / topic).glob("partition=*"):
        states = sorted(d.glob("state-*"))
        if states:
            m = re.search(r"^next (\d+)$", states[-1].read_text(), re.M)
            out[int(d.name.split("=", 1)[1])] = int(m.group(1))
    return out


@pytest.mark.parametrize("first", [0, 2])
def test_partition_not_yet_read_holds_the_watermark(iotpipe, kafka, tmp_path, first):
    """Streaming, small batches: commit rounds run while some partitions
    have not delivered a record yet. Such a partition holds the watermark
    (as a Flink split without a watermark): before, the others' event
    times alone closed windows, and its records, read next and in time
    order, were dropped as late (about half of them), depending only on
    which partition librdkafka fetched first. One device per partition,
    each partition's events in time order, so nothing is late at all."""
    import kafka as kp
    topic = kafka.create_topic(kafka.topic("wm-unread"), partitions=3)
    dlq = kafka.create_topic(kafka.topic("wm-unread-dlq"), partitions=1)
    out, ck = tmp_path / "o", tmp_path / "c"
    per, base = 4000, 1735689600
    prod = kp.KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all",
                            max_in_flight_requests_per_connection=1, linger_ms=20)
    try:
        # partition `first` is written first, the others after it
        for p in [first] + [q for q in range(3) if q != first]:
            for i in range(per):
                v = (f'{{"timestamp": {base + i * 0.25:.2f}, "temperature": {20 + p + i % 7}, '
                     f'"event_duration": {1 + i % 5}, "status": "ok"}}')
                prod.send(topic, key=f"dev{p}".encode(), value=v.encode(), partition=p)
            prod.flush(60)
    finally:
        prod.close()
    args = _args("aggregate", kafka, topic, out, ck, "g", "--dead-letter-topic", dlq)
    job = Job(tmp_path, "aggregate", [*args, "--max-batch-events", 300, "--trigger", 0.2])
    job.start()
    try:
        deadline = time.monotonic() + 90
        while _latest_next(ck, topic) != {0: per, 1: per, 2: per}:
            assert job.running(), job.tail()
            assert time.monotonic() < deadline, (_latest_next(ck, topic), job.tail())
            time.sleep(0.2)
    finally:
        assert job.kill(signal.SIGTERM) == 0, job.tail()
    iotpipe(*args, "--once")
    late = [r for r in kafka.consume_all(dlq)]
    assert len(late) == 0, (len(late), oracle.header(late[0], "iotpipe.reason"))
    rows = oracle.read_aggregate(out)
    records = kafka.consume_all(topic, expect=3 * per)
    # every window up to the final watermark (the lowest partition's last
    # event less 60 s), whole, one row each
    sim = oracle.AggSim()
    expected, sim_late = sim.run_once(records)
    assert not sim_late
    assert len(expected) == 3 * 15, len(expected)
    oracle.compare_aggregate(rows, expected)


def _tx_produce():
    exe = pathlib.Path(iotpipe_bin()).parent / "tx_produce"
    return exe if exe.exists() else ROOT / "build" / "tx_produce"


@pytest.mark.parametrize("kind", ["archive", "aggregate"])
@pytest.mark.parametrize("plan", ["cac", "ca", "a"])
def test_once_over_transaction_markers(iotpipe, kafka, tmp_path, kind, plan):
    """A transactional producer (Kafka Streams, Flink's exactly-once
    sinks) ends its log with a commit or abort marker, or with aborted
    records: offsets a read_committed consumer never receives. `--once`
    used to wait for them forever (exit 1, "committed up to 32 of 33", at
    every run) and streaming showed a lag of 1. The checkpoint now goes to
    the end of the log, the committed events are stored once, the aborted
    ones never, and a second run finds nothing to do."""
    topic = kafka.create_topic(kafka.topic("tx"), partitions=1)
    base = 1735689600
    cp = subprocess.run([str(_tx_produce()), kafka.bootstrap, topic, "0",
                         f"tx-{topic}", plan, "10", str(base)],
                        capture_output=True, text=True, timeout=120)
    assert cp.returncode == 0, cp.stderr
    out, ck = tmp_path / "o", tmp_path / "c"
    args = _args(kind, kafka, topic, out, ck, "g", "--once", "--timeout", 10)
    run = iotpipe(*args, check=False, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    # each transaction: 10 records and its marker
    assert _latest_next(ck, topic) == {0: 11 * len(plan)}, run.stderr[-2000:]
    committed = [i for i, c in enumerate(plan) if c == "c"]
    if kind == "archive":
        got = sorted(r[2] for r in oracle.read_archive(out)[1]) if committed else []
        assert got == [11 * t + i for t in committed for i in range(10)], got
    else:
        # 10 events per transaction, one a second: the final watermark
        # (the last committed event less 60 s) closes no window of these
        # 30 s, so the state holds them all, and none of the aborted ones
        states = sorted((ck / topic / "partition=0").glob("state-*"))
        text = states[-1].read_text()
        n = sum(int(m) for m in re.findall(r"^w \S+ (\d+) ", text, re.M))
        assert n == 10 * len(committed), text[-2000:]
    assert not out.exists() or committed or not list(out.rglob("*.parquet"))
    again = iotpipe(*args, check=False, timeout=120)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _latest_next(ck, topic) == {0: 11 * len(plan)}


def _first_commit(ck, job, timeout=60):
    deadline = time.monotonic() + timeout
    while not list(pathlib.Path(ck).rglob("state-*")):
        assert job.running() and time.monotonic() < deadline, job.tail()
        time.sleep(0.05)


def test_topic_deleted_under_once_ends_it(iotpipe, kafka, tmp_path):
    """`--once` whose topic is deleted while it reads: it used to wait for
    the end offsets forever (the no-progress timeout applied only once
    everything was read) and then ignore SIGTERM. It now ends with exit 1
    naming each partition left, and librdkafka's shutdown, which can hang
    after a topic deletion, is given up after 10 s."""
    topic = kafka.create_topic(kafka.topic("deleted-once"), partitions=4)
    produce(iotpipe, kafka, topic, 20000, seed=5, start=START)
    out, ck = tmp_path / "o", tmp_path / "c"
    job = Job(tmp_path, "archive", _args("archive", kafka, topic, out, ck, "g", "--once",
                                         "--max-batch-events", 8, "--timeout", 5)).start()
    try:
        _first_commit(ck, job)
        kafka.delete_topic(topic)
        rc = job.proc.wait(90)
    finally:
        if job.running():
            job.kill()
    log = job.tail(10**6)
    assert rc == 1, log[-3000:]
    assert "is not read up to the end offsets it had at start, and nothing was read for 5 s" \
        in log, log[-3000:]
    assert re.search(r"partitions left: \d+ \(committed up to \d+ of \d+", log), log[-3000:]


def test_sigterm_after_topic_deleted_exits(iotpipe, kafka, tmp_path):
    """A streaming job whose topic was deleted stops on SIGTERM with exit 0
    (what it read is committed); librdkafka 2.0's shutdown, which waits
    forever there, is given up after 10 s with a warning."""
    topic = kafka.create_topic(kafka.topic("deleted-run"), partitions=2)
    produce(iotpipe, kafka, topic, 2000, seed=6, start=START)
    out, ck = tmp_path / "o", tmp_path / "c"
    job = Job(tmp_path, "archive", _args("archive", kafka, topic, out, ck, "g",
                                         "--trigger", 0.5)).start()
    try:
        _first_commit(ck, job)
        kafka.delete_topic(topic)
        time.sleep(3)
        t0 = time.monotonic()
        assert job.kill(signal.SIGTERM, timeout=40) == 0, job.tail()
        assert time.monotonic() - t0 < 30
    finally:
        if job.running():
            job.kill()
