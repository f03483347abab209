"""A year-3000 timestamp must not poison the watermark: an event stamped
further ahead of the processing time than the horizon (default 300 s) is
invalid (reason future_timestamp), counted and dead-lettered; the events
after it are aggregated as usual, on this run and after a restart. Events
from the past (every backfill in the suite) are not affected."""
import json
import time

import oracle
from streamlib import dlq_by_reason, send_raw

YEAR_3000 = 32503680000  # 3000-01-01T00:00:00Z


def _ev(t, temp=21.0, dur=10.0):
    return json.dumps({"timestamp": t, "temperature": temp, "event_duration": dur,
                       "status": "ok"}).encode()


def _args(kind, kafka, topic, out, ck, *extra):
    return [kind, "--bootstrap-servers", kafka.bootstrap, "--topic", topic,
            "--output", out, "--checkpoint", ck, "--group", "g", "--once",
            "--dead-letter-topic", topic + "-dlq", "--metrics-addr", "off",
            "--timeout", 60, *extra]


def test_far_future_event_is_invalid_and_does_not_hold_the_watermark(iotpipe, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic("future"), partitions=2)
    now = int(time.time())
    base = now - 3600  # an hour ago: ordinary, slightly old data
    items = []
    for p in range(2):
        items.append((p, f"dev{p}".encode(), _ev(base)))
        items.append((p, f"dev{p}".encode(), _ev(YEAR_3000)))        # broken clock
        items.append((p, f"dev{p}".encode(), _ev(now + 3 * 86400)))  # 3 days ahead
    send_raw(kafka, topic, items)
    out, ck = tmp_path / "agg", tmp_path / "ck"
    cp = iotpipe(*_args("aggregate", kafka, topic, out, ck, "--idle-timeout", 0),
                 timeout=120)
    # later events of the same devices, minutes later, are not late
    send_raw(kafka, topic, [(p, f"dev{p}".encode(), _ev(base + 600 + i))
                            for p in range(2) for i in range(5)])
    cp = iotpipe(*_args("aggregate", kafka, topic, out, ck, "--idle-timeout", 0),
                 timeout=120)
    dead = kafka.consume_all(topic + "-dlq", expect=4)
    reasons = dlq_by_reason(dead)
    assert sorted(r for v in reasons.values() for r in v) == ["future_timestamp"] * 4, reasons
    assert not any("late" in v for v in reasons.values())
    rows = oracle.read_aggregate(out)
    # the hour-old window of each device is emitted (the watermark moved
    # with the real event times, not to the year 3000)
    starts = {(r["device_id"], r["start_us"]) for r in rows}
    for p in range(2):
        assert (f"dev{p}", (base // 60) * 60 * 10**6) in starts, rows

    # the archive rejects the same records, keeps the rest
    cp = iotpipe(*_args("archive", kafka, topic, tmp_path / "raw", tmp_path / "rck"),
                 timeout=120)
    got, _ = oracle.read_archive(tmp_path / "raw")
    times = sorted(k[3] // 10**6 for k in got.elements())
    assert max(times) <= now and len(times) == 2 + 10, times


def test_horizon_is_configurable(iotpipe, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic("horizon"), partitions=1)
    now = int(time.time())
    # an hour ahead, a fast clock (30 s ahead), now
    send_raw(kafka, topic, [(0, b"d", _ev(now + 3600)), (0, b"d", _ev(now + 30)),
                            (0, b"d", _ev(now))])
    # 0: no limit, the hour-ahead event is kept
    iotpipe(*_args("archive", kafka, topic, tmp_path / "a", tmp_path / "ca",
                   "--horizon", 0), timeout=120)
    got, _ = oracle.read_archive(tmp_path / "a")
    assert sum(got.values()) == 3
    # two hours: kept as well; the default (300 s): the fast clock stays,
    # the hour-ahead event goes; 10 s: only the present one stays
    iotpipe(*_args("archive", kafka, topic, tmp_path / "b", tmp_path / "cb",
                   "--horizon", 7200), timeout=120)
    assert sum(oracle.read_archive(tmp_path / "b")[0].values()) == 3
    iotpipe(*_args("archive", kafka, topic, tmp_path / "d", tmp_path / "cd"), timeout=120)
    assert sum(oracle.read_archive(tmp_path / "d")[0].values()) == 2
    iotpipe(*_args("archive", kafka, topic, tmp_path / "c", tmp_path / "cc",
                   "--horizon", 10), timeout=120)
    assert sum(oracle.read_archive(tmp_path / "c")[0].values()) == 1
    cp = iotpipe("archive", "--horizon", "-5", "--bootstrap-servers", "127.0.0.1:1",
                 check=False, timeout=30)
    assert cp.returncode == 2 and "--horizon" in cp.stderr, cp.stderr
