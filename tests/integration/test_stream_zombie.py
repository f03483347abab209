"""docs/exactly-once.md, "an instance stalls while its partition moves
(zombie)": instance B of `archive` is frozen (SIGSTOP) past its session
timeout while records arrive, A takes its partitions over and commits, then
B resumes (SIGCONT) with its stale batch in hand. Whatever either instance
does then, the output after a drain must be exactly once."""
import signal
import time

import oracle
from streamlib import Job
from test_stream_crash import (_check_archive_exact, _drain, _job_args,
                               _producer, _wait_log)


def test_zombie_instance_resumes(iotpipe, kafka, tmp_path):
    topic = kafka.create_topic(kafka.topic("zombie"), partitions=2)
    count = 24000
    prod = _producer(kafka, topic, count, 1200, 21, tmp_path / "produce.log",
                     late=0.0)
    args = _job_args(kafka, "archive", topic, str(tmp_path / "out"),
                     str(tmp_path / "ck"), "g-z",
                     ["--trigger", 1, "--kafka", "session.timeout.ms=6000",
                      "--kafka", "heartbeat.interval.ms=500"])
    a = Job(tmp_path, "a", args).start()
    _wait_log(a, "assigned partition", count=2)
    b = Job(tmp_path, "b", args).start()
    statuses = {}
    try:
        _wait_log(b, "assigned partition")
        time.sleep(2)  # b reads and commits a little
        b.proc.send_signal(signal.SIGSTOP)
        # a gets b's partition after b's session expired, and commits on it
        deadline = time.monotonic() + 60
        while True:
            log = a.tail(10**9)
            after = log.rsplit("revoked partition", 1)[-1] if "revoked partition" in log else ""
            if len([l for l in after.splitlines() if "assigned partition" in l]) >= 2:
                break
            assert a.running(), a.tail()
            assert time.monotonic() < deadline, f"a never took over:\n{a.tail()}"
            time.sleep(0.2)
        time.sleep(3)
        b.proc.send_signal(signal.SIGCONT)
        time.sleep(5)
        assert prod.wait(90) == 0
        time.sleep(2)
        for j in (a, b):
            statuses[j.name] = j.proc.poll()
            if statuses[j.name] is None:
                statuses[j.name] = ("sigterm", j.kill(signal.SIGTERM))
    finally:
        for j in (a, b):
            if j.running():
                j.proc.send_signal(signal.SIGCONT)
                j.kill(signal.SIGKILL)
        if prod.poll() is None:
            prod.kill()
            prod.wait()
    print(f"exit statuses after the zombie resumed: {statuses}")
    _drain(iotpipe, args)
    recs = kafka.consume_all(topic, expect=count)
    _check_archive_exact(tmp_path / "out", recs)
