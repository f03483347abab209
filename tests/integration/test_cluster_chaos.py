"""Cluster faults (issue "Hostile input and hostile clients"): a three-node
Apache Kafka cluster (KRaft, every node broker and controller, replication
factor 3, min.insync.replicas=2); while `iotpipe produce` (acks=all,
idempotent) writes N events and `archive` and `aggregate` stream them, the
node leading most of the topic's partitions is killed with SIGKILL, stays
down a while and is started again, more than once. Afterwards every valid
event must be in the raw output exactly once and the aggregates must equal
the oracle's and a clean run's, and Kafka itself must hold every produced
record exactly once (no loss by a leader change, no duplicate by a retried
send).

Size: IOTPIPE_CLUSTER_CHAOS_EVENTS (default 50000: the short run inside
`make test`, about 2 minutes, 2 node kills); `make cluster-chaos` (and
`make chaos`) runs 1,000,000 events (6 kills). IOTPIPE_CLUSTER_CHAOS_SEED
seeds the workload. The test prints (pytest -s) and writes to
cluster-chaos-summary.txt in its tmp directory a line `cluster-chaos:
events=N produce_rc=0 kafka_records=N producer_lost=0 producer_dups=0
valid=V archived=A lost=0 duplicated=0 windows=W mismatched=0 kills=K
job_exits=0` and a line of details. See docs/chaos.md.
"""
import collections
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
import uuid

import pytest

import oracle
from fixtures.cluster import KafkaCluster
from fixtures.common import ROOT, iotpipe_bin, start_service
from streamlib import Job, kill_all
from test_chaos import (aggregate_counts, archive_counts, error_line,
                        job_args, last_run, window_map)

EVENTS = int(os.environ.get("IOTPIPE_CLUSTER_CHAOS_EVENTS", "50000"))
SEED = int(os.environ.get("IOTPIPE_CLUSTER_CHAOS_SEED", "20251202"))
FULL = EVENTS >= 500_000
RATE = 2500 if FULL else 1000              # producer events/s
STEP = 0.01 if FULL else 0.05              # simulated seconds between events
# When (fraction of the producer's planned run time) a node is killed, and
# how long it stays down before it is started again: longer than
# broker.session.timeout.ms (9 s), so that the controller fences it and its
# partitions get new leaders while the producer and the jobs run. A kill
# waits for the previous node to be back in every ISR (a restart takes
# 10-50 s on a busy 2-core machine), so a later kill may come later than
# planned.
KILLS = (0.1, 0.25, 0.4, 0.55, 0.7, 0.85) if FULL else (0.1, 0.55)
DOWN_S = 20 if FULL else 12
# Extra `iotpipe produce` arguments, e.g. "--kafka debug=eos" to see the
# idempotent producer's state changes in produce.log.
PRODUCE_ARGS = shlex.split(os.environ.get("IOTPIPE_CLUSTER_CHAOS_PRODUCE_ARGS",
                                          ""))
# The idempotent producer's fatal error after a leader change (librdkafka
# 2.0.2, docs/chaos.md): produce replaces its producer and sends again
# what Kafka did not store; the log says so when it happened.
KNOWN_PRODUCER_BUG = "Broker received an out of order sequence number"
PARTITIONS = 6
REPLICATION, MIN_ISR = 3, 2
START = "2025-01-01T22:00:00Z"
KINDS = ("archive", "aggregate")


@pytest.fixture
def cluster(tmp_path):
    c = start_service(KafkaCluster, tmp_path / "cluster")
    try:
        yield c
    finally:
        c.stop()
        # The nodes' logs stay with the test's files; the data goes.
        for n in c.nodes:
            shutil.copytree(c.datadir / f"node{n}" / "logs",
                            tmp_path / "cluster-logs" / f"node{n}",
                            dirs_exist_ok=True)
        shutil.rmtree(c.datadir, ignore_errors=True)


class NodeKills(threading.Thread):
    """At each planned time: find the node leading most partitions of the
    topic, kill -9 it, wait until its partitions have other leaders, keep
    it down for DOWN_S seconds, start it again and wait until every
    partition's ISR holds all replicas again."""

    def __init__(self, cluster, topic, times, t0, producing):
        super().__init__(daemon=True)
        self.cluster, self.topic, self.times, self.t0 = cluster, topic, times, t0
        self.producing = producing  # () -> bool: the producer still runs
        self.log = []       # one dict per kill
        self.error = None

    def run(self):
        c, topic = self.cluster, self.topic
        try:
            for t in self.times:
                time.sleep(max(0.0, self.t0 + t - time.monotonic()))
                md = c.metadata(topic)
                node = c.busiest_leader(topic)
                led = sorted(p for p, m in md.items() if m.leader == node)
                a = time.monotonic()
                producing = self.producing()
                c.kill(node)
                failover = c.wait_until(
                    topic, lambda md: all(m.leader not in (node, -1)
                                          for m in md.values()),
                    120, f"new leaders after node {node} died")
                time.sleep(max(0.0, a + DOWN_S - time.monotonic()))
                down = time.monotonic() - a
                b = time.monotonic()
                c.start(node)
                restart = time.monotonic() - b
                rejoin = c.wait_until(
                    topic, lambda md: all(len(m.isr) == REPLICATION
                                          for m in md.values()),
                    180, f"full ISR after node {node} came back")
                self.log.append(dict(
                    node=node, at_s=round(a - self.t0, 1),
                    producing=producing, led=led,
                    new_leaders={p: m.leader for p, m in
                                 c.metadata(topic).items() if p in led},
                    failover_s=round(failover, 1), down_s=round(down, 1),
                    restart_s=round(restart, 1),
                    isr_full_after_s=round(rejoin, 1)))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


def test_cluster_chaos(iotpipe, cluster, tmp_path):
    wall0 = time.monotonic()
    topic = cluster.create_topic(cluster.topic("cluster"), PARTITIONS,
                                 config={"min.insync.replicas": str(MIN_ISR)},
                                 replication_factor=REPLICATION)
    cluster.wait_until(topic, lambda md: len(md) == PARTITIONS and all(
        len(m.replicas) == REPLICATION and len(m.isr) == REPLICATION
        for m in md.values()), 60, "every partition fully replicated")
    assert cluster.topic_config(topic)["min.insync.replicas"] == str(MIN_ISR)

    out, ckpt = tmp_path / "out", tmp_path / "ck"
    jobs = {kind: Job(tmp_path, kind,
                      job_args(cluster.bootstrap, kind, topic, out / kind,
                               ckpt / kind, f"cluster-{kind}")
                      + ["--trigger", 0.5, "--max-batch-events", 5000])
            for kind in KINDS}

    duration = EVENTS / RATE
    prod_log = tmp_path / "produce.log"
    t0 = time.monotonic()
    prod = subprocess.Popen(
        [iotpipe_bin(), "produce", "--bootstrap-servers", cluster.bootstrap,
         "--topic", topic, "--count", str(EVENTS), "--rate", str(RATE),
         "--seed", str(SEED), "--devices", "20", "--start-time", START,
         "--time-step", str(STEP), "--invalid-fraction", "0.02",
         "--acks", "all", "--exactly-once",
         "--timeout", "60", "--flush-timeout", "300", "--metrics-addr", "off",
         *PRODUCE_ARGS],
        stdout=open(prod_log, "wb"), stderr=subprocess.STDOUT, cwd=ROOT)
    for job in jobs.values():
        job.start()
    killer = NodeKills(cluster, topic, [f * duration for f in KILLS], t0,
                       lambda: prod.poll() is None)
    killer.start()

    exits = collections.defaultdict(list)   # jobs that stopped by themselves
    deadline = t0 + 3 * duration + 300
    try:
        while prod.poll() is None or killer.is_alive():
            assert time.monotonic() < deadline, (
                f"cluster chaos did not finish: producer rc {prod.poll()}, "
                f"kills {killer.log}")
            for kind, job in jobs.items():
                if not job.running():
                    # Losing one node of three must not stop a job; if it
                    # does, note why and carry on so the data can be checked.
                    exits[kind].append((job.proc.returncode, error_line(job),
                                        round(time.monotonic() - t0, 1)))
                    job.start()
            time.sleep(0.05)
        prod_rc = prod.wait(60)
        time.sleep(2)
        # A clean stop after the faults: SIGTERM, exit status 0.
        stops = {kind: job.kill(signal.SIGTERM, timeout=120)
                 for kind, job in jobs.items()}
    finally:
        kill_all(prod, jobs)
    chaos_s = time.monotonic() - t0
    assert killer.error is None, killer.error

    # drain what is left with --once: every partition committed to its end
    drains = {}
    for kind, job in jobs.items():
        args = list(job.args)
        i = args.index("--trigger")
        del args[i:i + 4]  # --trigger 0.5 --max-batch-events 5000
        cp = iotpipe(*args, "--once", "--trigger", 3600, timeout=600,
                     check=False)
        drains[kind] = cp.returncode
        assert cp.returncode == 0, f"{kind} --once: {cp.stderr[-3000:]}"

    # the clean run: same topic, fresh group, no faults
    clean_out = tmp_path / "clean" / "out"
    iotpipe(*job_args(cluster.bootstrap, "aggregate", topic, clean_out,
                      tmp_path / "clean" / "ck", f"clean-{uuid.uuid4().hex}"),
            "--once", "--trigger", 3600, timeout=600)

    # expected: from the records in Kafka, read with kafka-python
    recs = cluster.consume_all(topic, timeout=600)
    payloads = collections.Counter(
        (r.key, r.value) for r in recs
        if oracle.decode(r.key, r.value)[0] != "invalid")
    producer_dups = sum(c - 1 for c in payloads.values() if c > 1)
    want = oracle.archive_rows(recs)
    expected_windows, late = oracle.AggSim().run_once(recs)
    clean_rows = oracle.read_aggregate(clean_out)
    oracle.compare_aggregate(clean_rows, expected_windows)
    clean = window_map(clean_rows)
    a = archive_counts(out / "archive", want)
    g = aggregate_counts(oracle.read_aggregate(out / "aggregate"), clean)

    wall_s = time.monotonic() - wall0
    lines = [
        f"cluster-chaos: events={EVENTS} produce_rc={prod_rc} "
        f"kafka_records={len(recs)} "
        f"producer_lost={EVENTS - (len(recs) - producer_dups)} "
        f"producer_dups={producer_dups} valid={sum(want.values())} "
        f"archived={a['archived']} lost={a['lost']} "
        f"duplicated={a['duplicated'] + g['windows_duplicated']} "
        f"windows={g['windows']} mismatched={g['mismatched']} "
        f"kills={len(killer.log)} "
        f"job_exits={sum(len(v) for v in exits.values())}",
        f"cluster-chaos: seed={SEED} rate={RATE}/s nodes=3 "
        f"partitions={PARTITIONS} replication={REPLICATION} "
        f"min_isr={MIN_ISR} chaos_seconds={chaos_s:.0f} "
        f"test_seconds={wall_s:.0f} sigterm_exits={stops} drains={drains} "
        f"clean_windows={len(clean)} late={len(late)} kills={killer.log}",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    (tmp_path / "cluster-chaos-summary.txt").write_text(text + "\n")
    for kind, v in exits.items():
        print(f"cluster-chaos: {kind} exited by itself {len(v)}x: {v[:5]}\n"
              f"{last_run(jobs[kind])[-2000:]}")

    # The jobs first (they are checked against whatever Kafka holds), then
    # the producer (Kafka must hold every record it was given, once).
    assert len(killer.log) == len(KILLS), killer.log
    assert not late, f"the workload is in event-time order: {len(late)} late"
    assert a["lost"] == 0 and a["duplicated"] == 0, a
    assert g["windows_duplicated"] == 0 and g["mismatched"] == 0, g
    assert g["windows"] == len(clean) > 0
    assert not exits, f"jobs stopped while 2 of 3 nodes were up: {dict(exits)}"
    assert stops == {kind: 0 for kind in KINDS}, (
        f"SIGTERM after the faults: {stops}")
    assert producer_dups == 0, f"{producer_dups} records twice in Kafka"
    prod_text = prod_log.read_text(errors="replace")
    if KNOWN_PRODUCER_BUG in prod_text:
        print("cluster-chaos: the producer hit librdkafka's fatal out-of-order "
              "sequence error and was replaced:",
              [l for l in prod_text.splitlines() if "fatal producer error" in l][:3])
    m = re.search(r"delivered (\d+), failed (\d+)\s*$", prod_text.strip())
    failed = int(m.group(2)) if m else -1
    if ("fatal producer error" in prod_text and prod_rc == 1 and 0 < failed <= 3
            and len(recs) == EVENTS - failed):
        # A record queued for a retry after its request died with a killed
        # leader is "possibly persisted" when librdkafka 2.0's fatal
        # idempotence error purges it; the producer never sends such a
        # record twice: it counts it as failed and exits 1 (docs/chaos.md).
        # What is checked then: the count is exact, nothing else is lost.
        print(f"cluster-chaos: the replaced producer gave up {failed} possibly "
              f"stored record(s), none stored, reported and exit 1")
    else:
        assert prod_rc == 0 and len(recs) == EVENTS, (
            f"produce exited {prod_rc}; Kafka holds {len(recs)} records for "
            f"{EVENTS} sent; the producer's log ends:\n{prod_text[-3000:]}")
