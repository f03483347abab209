"""Issue 5 item 6: a seeded workload (invalid, filtered, duplicated,
out-of-order and late events, across a UTC midnight) on a 4-partition topic
of a real Kafka, through `archive --once` and `aggregate --once` in two
phases, output on local disk and on S3 (S3Proxy). Outputs are read with
duckdb and compared row for row with oracle.py's recomputation from the
records read back from Kafka; the dead-letter topics must hold exactly the
oracle's invalid records (with their reasons) and late events."""
import collections
import datetime as dt

import pytest

import oracle
from streamlib import dlq_by_reason, edge_records, produce, send_raw

START = "2025-01-01T23:50:00Z"
START_S = int(dt.datetime(2025, 1, 1, 23, 50, tzinfo=dt.timezone.utc).timestamp())
STEP = 0.05
N1 = 16000          # 800 s of simulated time: crosses midnight at 600 s
N2 = 4000


def _run(iotpipe, kafka, job, topic, out, ckpt, group, dlq, env=None, extra=()):
    args = [job, "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
            "--output", out, "--checkpoint", ckpt, "--group", group,
            "--once", "--trigger", 3600, "--dead-letter-topic", dlq,
            "--metrics-addr", "off", "--timeout", 60, *extra]
    if job == "aggregate":
        args += ["--window", 60, "--watermark", 60, "--idle-timeout", 0]
    return iotpipe(*args, env=env, timeout=180)


def _check_dlq(kafka, dlq, expect_invalid, expect_late, topic):
    want = {k: [why] for k, why in expect_invalid.items()}
    for k in expect_late:
        assert k not in want
        want[k] = ["late"]
    recs = kafka.consume_all(dlq, expect=len(want), timeout=60) if want else []
    for r in recs:
        h = dict((k, v.decode()) for k, v in r.headers)
        assert h.get("iotpipe.topic") == topic, h
    got = dlq_by_reason(recs)
    dups = {k: v for k, v in got.items() if len(v) > 1}
    assert not dups, f"dead letters sent twice in a clean run: {list(dups.items())[:5]}"
    got = {k: v for k, v in got.items()}
    missing = {k: want[k] for k in set(want) - set(got)}
    extra = {k: got[k] for k in set(got) - set(want)}
    wrong = {k: (want[k], got[k]) for k in set(want) & set(got) if want[k] != got[k]}
    assert not (missing or extra or wrong), (
        f"dead-letter topic {dlq}: missing {len(missing)} {list(missing.items())[:8]}, "
        f"extra {len(extra)} {list(extra.items())[:8]}, "
        f"wrong reason {len(wrong)} {list(wrong.items())[:8]}")


def _check_archive(root, records, by_date=False):
    want = oracle.archive_rows(records)
    got, rows = oracle.read_archive(root)
    offs = collections.Counter((r[1], r[2]) for r in rows)
    dups = [k for k, c in offs.items() if c > 1]
    assert not dups, f"archive: (partition, offset) stored twice: {dups[:10]}"
    for r in rows:
        dev, part = r[0], r[1]
        fn = r[7]
        where = (f"/date={dt.datetime.fromtimestamp(r[3] / 1e6, dt.timezone.utc).date()}/part-"
                 if by_date else f"/device_id={dev}/part-")
        assert where in fn and f"-{part}-" in fn.rsplit("/", 1)[1], fn
    missing = want - got
    extra = got - want
    assert not missing and not extra, (
        f"archive differs from the oracle: {sum(missing.values())} rows missing "
        f"(e.g. {list(missing)[:5]}), {sum(extra.values())} unexpected "
        f"(e.g. {list(extra)[:5]})")
    return len(rows)


def scenario(iotpipe, kafka, tmp_path, out_uri, ckpt_uri, fetch, env=None, by_date=False):
    """Runs both phases; fetch(kind) returns a local directory holding the
    output of `archive` or `aggregate` as it is now. by_date: the archive
    runs a second time, with --partition-by date, into raw_date."""
    topic = kafka.create_topic(kafka.topic("wl"), partitions=4)
    # phase 1: within-watermark disorder, invalid, filtered, duplicates
    produce(iotpipe, kafka, topic, N1, seed=42, start=START, step=STEP,
            invalid=0.05, late=0.05, late_by=20, dup=0.05)
    send_raw(kafka, topic, edge_records(START_S + 300))
    recs1 = kafka.consume_all(topic, expect=N1 + 24)
    assert len(recs1) == N1 + 24
    parts = collections.Counter(r.partition for r in recs1)
    assert len(parts) == 4, parts
    kinds = collections.Counter(oracle.decode(r.key, r.value)[0] for r in recs1)
    assert kinds["invalid"] > 500 and kinds["filtered"] > 3000, kinds
    # the workload crosses midnight and has out-of-order events
    ts = [oracle.decode(r.key, r.value)[1].t_us for r in recs1
          if oracle.decode(r.key, r.value)[0] == "valid"]
    midnight = int(dt.datetime(2025, 1, 2, tzinfo=dt.timezone.utc).timestamp()) * 10**6
    assert min(ts) < midnight < max(ts)

    sim = oracle.AggSim(watermark_s=60)
    arch_out, agg_out = f"{out_uri}/raw", f"{out_uri}/agg"
    arch_ck, agg_ck = f"{ckpt_uri}/raw", f"{ckpt_uri}/agg"

    _run(iotpipe, kafka, "archive", topic, arch_out, arch_ck, "g-arch", topic + "-dlq-a1", env)
    _run(iotpipe, kafka, "aggregate", topic, agg_out, agg_ck, "g-agg", topic + "-dlq-g1", env)
    n_raw1 = _check_archive(fetch("raw"), recs1)
    if by_date:
        _run(iotpipe, kafka, "archive", topic, f"{out_uri}/raw_date", f"{ckpt_uri}/raw_date",
             "g-arch-date", topic + "-dlq-d1", env, ["--partition-by", "date"])
        assert _check_archive(fetch("raw_date"), recs1, by_date=True) == n_raw1
    win1, late1 = sim.run_once(recs1)
    assert not late1 and len(win1) > 100
    emitted = dict(win1)
    oracle.compare_aggregate(oracle.read_aggregate(fetch("agg")), emitted)
    inv1 = oracle.invalid_records(recs1)
    _check_dlq(kafka, topic + "-dlq-a1", inv1, set(), topic)
    _check_dlq(kafka, topic + "-dlq-g1", inv1, set(), topic)

    # phase 2: events far behind the watermark (late) plus new ones; the
    # simulated clock continues where phase 1 stopped
    start2 = START_S + N1 * STEP
    produce(iotpipe, kafka, topic, N2, seed=43, start=start2, step=STEP,
            invalid=0.05, late=0.15, late_by=300, dup=0.05)
    recs = kafka.consume_all(topic, expect=len(recs1) + N2)
    assert len(recs) == len(recs1) + N2
    old = {(r.partition, r.offset) for r in recs1}
    recs2 = [r for r in recs if (r.partition, r.offset) not in old]

    _run(iotpipe, kafka, "archive", topic, arch_out, arch_ck, "g-arch", topic + "-dlq-a2", env)
    _run(iotpipe, kafka, "aggregate", topic, agg_out, agg_ck, "g-agg", topic + "-dlq-g2", env)
    n_raw = _check_archive(fetch("raw"), recs)
    assert n_raw > n_raw1
    if by_date:
        _run(iotpipe, kafka, "archive", topic, f"{out_uri}/raw_date", f"{ckpt_uri}/raw_date",
             "g-arch-date", topic + "-dlq-d2", env, ["--partition-by", "date"])
        assert _check_archive(fetch("raw_date"), recs, by_date=True) == n_raw
    win2, late2 = sim.run_once(recs2)
    assert len(late2) > 200, len(late2)
    assert not set(win2) & set(emitted)
    emitted.update(win2)
    oracle.compare_aggregate(oracle.read_aggregate(fetch("agg")), emitted)
    inv2 = oracle.invalid_records(recs2)
    _check_dlq(kafka, topic + "-dlq-a2", inv2, set(), topic)
    _check_dlq(kafka, topic + "-dlq-g2", inv2, late2, topic)
    return topic


def test_seeded_workload_local(iotpipe, kafka, tmp_path):
    out, ck = tmp_path / "out", tmp_path / "ck"
    scenario(iotpipe, kafka, tmp_path, str(out), str(ck),
             lambda kind: out / kind)


def test_seeded_workload_s3(iotpipe, kafka, s3, s3_bucket, tmp_path):
    out_uri = f"s3://{s3_bucket}/data"
    ck_uri = f"s3://{s3_bucket}/checkpoints"
    n = [0]

    def fetch(kind):
        n[0] += 1
        dest = tmp_path / f"dl{n[0]}"
        paginator = s3.client.get_paginator("list_objects_v2")
        keys = []
        for page in paginator.paginate(Bucket=s3_bucket, Prefix=f"data/{kind}/"):
            keys += [o["Key"] for o in page.get("Contents", [])]
        assert keys, f"nothing under s3://{s3_bucket}/data/{kind}/"
        for k in keys:
            assert k.endswith(".parquet"), f"non-Parquet object visible: {k}"
            p = dest / k
            p.parent.mkdir(parents=True, exist_ok=True)
            s3.client.download_file(s3_bucket, k, str(p))
        return dest / "data" / kind

    scenario(iotpipe, kafka, tmp_path, out_uri, ck_uri, fetch, env=s3.env(), by_date=True)
    # the checkpoints are on S3 too
    resp = s3.client.list_objects_v2(Bucket=s3_bucket, Prefix="checkpoints/")
    assert resp.get("KeyCount", 0) > 0
