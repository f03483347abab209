"""An S3-compatible server that breaks the protocol must not make iotpipe
give a wrong answer, hang, or run out of memory: every case below ends in
a non-zero exit with a message that names the request and what was wrong,
within a bound the test enforces (fixtures/brokens3.py is the server).

Regressions: keys a server repeated across ListObjectsV2 pages were read
twice (a wrong p95, exit 0); a server that ignored start-after kept `ls`
listing forever; a GET or listing body without end grew memory until the
process aborted; a body trickling at 2 bytes/s stayed above the 1 byte/s
stall floor for hours; an endless error body was read forever; a 200
carrying <Error> lost S3's code and message; a checkpoint file (plan,
state, run marker) was read whatever its size, so a body without end grew
a streaming job without bound; a 403 RequestTimeTooSkewed (this machine's
clock more than 15 minutes off the server's) was final, where the AWS SDKs
correct their clock from the answer."""
import io
import re
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamlib import produce

# Fast retries and few attempts: each case fails in seconds.
FAST = dict(IOTPIPE_S3_RETRY_BASE_MS=10, AWS_MAX_ATTEMPTS=2)


def parquet(durations):
    t = pa.table({
        "event_time": pa.array([1_700_000_000_000_000 + i for i in range(len(durations))],
                               pa.timestamp("us", tz="UTC")),
        "event_duration": pa.array(durations, pa.float64()),
    })
    out = io.BytesIO()
    pq.write_table(t, out)
    return out.getvalue()


def dataset():
    """Three files of one device; their p95 is 10.0, and 30.0 when the
    middle file (all 30.0) is read twice."""
    return {
        "data/device_id=a/1.parquet": parquet([10.0]),
        "data/device_id=a/2.parquet": parquet([30.0] * 20),
        "data/device_id=a/3.parquet": parquet([10.0] * 300),
    }


def last_line(cp):
    lines = cp.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def percentile(iotpipe, s, out, timeout=60, **env):
    return iotpipe("percentile", "--input", "s3://bkt/data/", "--output", out,
                   "--threshold", "100", "--metrics-addr", "off",
                   env=s.env(**{**FAST, **env}), check=False, timeout=timeout)


def test_paged_listing_still_reads_every_file_once(iotpipe, broken_s3, tmp_path):
    """The order check does not get in the way of a server that pages
    properly (one key per page here)."""
    s = broken_s3(dataset(), page_size=1)
    out = tmp_path / "p.csv"
    cp = percentile(iotpipe, s, out)
    assert cp.returncode == 0, cp.stderr
    assert out.read_text().splitlines()[1:] == ["a,2023-11-14,10.0"]
    assert s.count("GET", listing=True) == 3


def test_listing_repeating_keys_fails_instead_of_reading_twice(iotpipe, broken_s3,
                                                                tmp_path):
    s = broken_s3(dataset(), mode="list_repeat", page_size=2)
    out = tmp_path / "p.csv"
    cp = percentile(iotpipe, s, out)
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    assert ("s3 list s3://bkt/data/: the server listed key 'data/device_id=a/2.parquet' "
            "after 'data/device_id=a/2.parquet': listing out of order or repeated"
            in last_line(cp)), cp.stderr
    assert not out.exists()


def test_listing_that_ignores_start_after_ends(iotpipe, broken_s3):
    s = broken_s3(dataset(), mode="list_same_forever", page_size=2)
    t0 = time.monotonic()
    cp = iotpipe("ls", "s3://bkt/data/", env=s.env(**FAST), check=False, timeout=30)
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    assert "listing out of order or repeated" in last_line(cp), cp.stderr
    assert "s3://bkt/data/" in last_line(cp)
    assert s.count("GET", listing=True) == 2
    assert time.monotonic() - t0 < 20


def test_endless_object_body_is_cut_at_the_listed_size(iotpipe, broken_s3, tmp_path):
    objs = dataset()
    s = broken_s3(objs, mode="get_endless")
    cp = percentile(iotpipe, s, tmp_path / "p.csv")
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    line = last_line(cp)
    assert "s3 get s3://bkt/data/device_id=a/" in line, cp.stderr
    assert "the answer is larger than the" in line and "bytes asked for" in line, line


def test_endless_listing_body_is_capped(iotpipe, broken_s3):
    s = broken_s3(dataset(), mode="list_endless")
    cp = iotpipe("ls", "s3://bkt/data/", env=s.env(**FAST), check=False, timeout=60)
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    assert ("s3 list s3://bkt/data/: the answer is larger than 16777216 bytes"
            in last_line(cp)), cp.stderr


def test_endless_error_body_is_not_read_to_its_end(iotpipe, broken_s3, tmp_path):
    s = broken_s3({"k.bin": b"x" * 100}, mode="error_endless")
    t0 = time.monotonic()
    cp = iotpipe("cp", "s3://bkt/k.bin", tmp_path / "k.bin", env=s.env(**FAST),
                 check=False, timeout=30)
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    assert "s3 get s3://bkt/k.bin: HTTP 500 InternalError" in last_line(cp), cp.stderr
    assert "(after 2 attempts)" in last_line(cp)
    assert not (tmp_path / "k.bin").exists()
    assert time.monotonic() - t0 < 20


def test_trickling_object_is_abandoned_as_stalled(iotpipe, broken_s3, tmp_path):
    """2 bytes/s: above a 1 byte/s floor forever, far below a healthy one."""
    s = broken_s3({"k.bin": b"y" * 4096}, mode="get_trickle")
    t0 = time.monotonic()
    cp = iotpipe("cp", "s3://bkt/k.bin", tmp_path / "k.bin",
                 env=s.env(IOTPIPE_S3_STALL_TIMEOUT_S=1, **FAST), check=False, timeout=40)
    took = time.monotonic() - t0
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    line = last_line(cp)
    assert "s3 get s3://bkt/k.bin: Timeout was reached" in line, cp.stderr
    assert "(after 2 attempts)" in line
    assert not (tmp_path / "k.bin").exists()
    assert took < 20, took
    assert s.count("GET") == 2


def test_trickling_listing_ends_at_the_deadline(iotpipe, broken_s3):
    """2 KiB/s keeps above the low-speed floor; an answer of no length
    that never completes ends at the attempt's deadline."""
    s = broken_s3(dataset(), mode="list_trickle")
    t0 = time.monotonic()
    cp = iotpipe("ls", "s3://bkt/data/",
                 env=s.env(IOTPIPE_S3_STALL_TIMEOUT_S=2, IOTPIPE_S3_REQUEST_TIMEOUT_S=2,
                           **FAST), check=False, timeout=40)
    took = time.monotonic() - t0
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    line = last_line(cp)
    assert ("s3 list s3://bkt/data/: no complete answer within the attempt's deadline of 2 s"
            in line), cp.stderr
    assert "(after 2 attempts)" in line
    assert took < 20, took


def test_listing_200_with_error_body_reports_s3_code(iotpipe, broken_s3):
    s = broken_s3(dataset(), mode="list_200_error")
    cp = iotpipe("ls", "s3://bkt/data/", env=s.env(**FAST), check=False, timeout=30)
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    assert ("s3 list s3://bkt/data/: ListObjectsV2: the server answered 200 with an "
            "error: AccessDenied: Access Denied" in last_line(cp)), cp.stderr


@pytest.mark.parametrize("name,limit", [("state-00000000000000000001", 1), ("run", 29)])
def test_endless_checkpoint_file_is_refused_at_its_limit(iotpipe, broken_s3, embedded_broker,
                                                         name, limit):
    """A streaming job reads its checkpoint files whole, of sizes it does
    not know from a HEAD: a plan or a state is read as at most the size its
    listing gives, the run marker as at most its fixed 29 bytes. A body
    without end took the job's memory (here 64 MiB per read, the fixture's
    cap, then "corrupt checkpoint file"); now the read stops at the limit
    and the run fails naming the key and the limit."""
    topic = embedded_broker.topic()
    produce(iotpipe, embedded_broker, topic, 40, seed=41, start="2025-01-01T00:00:00Z")
    objs = {f"ck/{topic}/partition={p}/{name}": b"x" for p in range(4)}
    s = broken_s3(objs, mode="get_endless", end_cap=64 << 20)
    cp = iotpipe("archive", "--bootstrap-servers", embedded_broker.bootstrap, "--topic", topic,
                 "--output", "s3://bkt/out/", "--checkpoint", "s3://bkt/ck/", "--once",
                 "--metrics-addr", "off", env=s.env(**FAST), check=False, timeout=120)
    assert cp.returncode == 1, (cp.returncode, cp.stderr[-3000:])
    line = last_line(cp)
    assert f"s3 get s3://bkt/ck/{topic}/partition=" in line, cp.stderr[-3000:]
    assert (f"/{name}: the object is larger than {limit} bytes, the most its reader takes"
            in line), cp.stderr[-3000:]
    # each read stopped at its first chunk (plus what the sockets buffer),
    # far from the fixture's cap
    assert s.endless_sent < s.count("GET", listing=False) * (16 << 20), s.endless_sent


def _skew_lines(cp):
    return [l for l in cp.stderr.splitlines() if "RequestTimeTooSkewed: this machine" in l]


def test_clock_behind_the_server_is_corrected_from_its_answer(iotpipe, broken_s3, tmp_path):
    """A server whose clock is 2 h ahead refuses every request signed by
    this machine's (403 RequestTimeTooSkewed): `cp -r` exited 1. The
    client now takes the server's clock from the answer, signs with the
    offset from then on (each refused request is sent again, once), and
    says so once."""
    s = broken_s3({}, skew=7200)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"f{i}").write_bytes(b"x" * (i + 1))
    cp = iotpipe("cp", "-r", "-q", src, "s3://bkt/in/", env=s.env(**FAST), check=False,
                 timeout=60)
    assert cp.returncode == 0, cp.stderr
    lines = _skew_lines(cp)
    assert len(lines) == 1, cp.stderr
    m = re.search(r"this machine's clock is (\d+) s behind the clock of http://127\.0\.0\.1:"
                  r"\d+; requests are signed with an offset of \+(\d+) s from now on",
                  lines[0])
    assert m and m[1] == m[2] and abs(int(m[2]) - 7200) <= 2, lines[0]
    # every PUT went up; the refused ones (those in flight before the
    # correction) once more each
    assert 1 <= s.skewed <= 6, s.skewed
    assert s.count("PUT") == 6 + s.skewed, (s.count("PUT"), s.skewed)


def test_clock_ahead_of_the_server_is_corrected_from_its_answer(iotpipe, broken_s3):
    """The same with the server 2 h behind, on a listing (a GET)."""
    s = broken_s3({"data/a": b"1", "data/b": b"22"}, skew=-7200)
    cp = iotpipe("ls", "s3://bkt/data/", env=s.env(**FAST), check=False, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert [l.split()[-1] for l in cp.stdout.splitlines()] == ["data/a", "data/b"]
    lines = _skew_lines(cp)
    assert len(lines) == 1 and "ahead of the clock of" in lines[0], cp.stderr
    m = re.search(r"signed with an offset of -(\d+) s", lines[0])
    assert m and abs(int(m[1]) - 7200) <= 2, lines[0]
    assert s.skewed == 1 and s.count("GET") == 2


def test_other_403_leaves_the_clock_alone(iotpipe, broken_s3, tmp_path):
    """Only RequestTimeTooSkewed corrects the clock: an AccessDenied from a
    server whose Date is 2 h off is final, not retried, and changes
    nothing."""
    s = broken_s3({}, mode="access_denied", skew=7200)
    (tmp_path / "f").write_bytes(b"x")
    cp = iotpipe("cp", tmp_path / "f", "s3://bkt/f", env=s.env(**FAST), check=False,
                 timeout=60)
    assert cp.returncode == 1, cp.stderr
    assert "s3 put s3://bkt/f: HTTP 403 AccessDenied: Access Denied" in last_line(cp)
    assert not _skew_lines(cp) and "offset" not in cp.stderr, cp.stderr
    assert s.count("PUT") == 1
