"""iotpipe's storage layer against a real, signature-checking S3 server
(S3Proxy, started by fixtures/s3.py), with boto3 as the independent client:
ls, cp (both directions, multipart), mb, awkward Hive-style keys, listings
past one ListObjectsV2 page, wrong credentials and missing buckets. The
API-level checks (ranged reads, delete, abort, put-if-absent) run the C
test test_store_s3 against the same server."""
import concurrent.futures
import hashlib
import os
import pathlib
import subprocess
import time

import pytest

from fixtures.common import iotpipe_bin

AWKWARD_KEYS = [
    "device_id=device_id_3/window_start=2025-01-01 10_00/part-0.parquet",
    "a+b/c%d/e=f/(1) [2] {3}.txt",
    "unicode/\u00e9t\u00e9/\u65e5\u672c/\U0001F600.bin",
    "spaces  double/ trailing .txt",
    "query-like/?x=1&y=2#frag",
    "tilde~star*quote'comma,semi;colon:at@dollar$.txt",
]


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_cp_up_and_down_checked_by_boto3(iotpipe, s3, s3_bucket, tmp_path):
    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello from iotpipe\n")
    iotpipe("cp", src, f"s3://{s3_bucket}/dir/hello.txt", env=s3.env())
    got = s3.client.get_object(Bucket=s3_bucket, Key="dir/hello.txt")
    assert got["Body"].read() == b"hello from iotpipe\n"

    s3.client.put_object(Bucket=s3_bucket, Key="from-boto3.bin",
                         Body=b"\x00\x01binary\xff")
    dst = tmp_path / "out" / "from-boto3.bin"
    iotpipe("cp", f"s3a://{s3_bucket}/from-boto3.bin", dst, env=s3.env())
    assert dst.read_bytes() == b"\x00\x01binary\xff"
    # DST ending in '/' takes SRC's base name.
    iotpipe("cp", src, f"s3://{s3_bucket}/into/", env=s3.env())
    s3.client.head_object(Bucket=s3_bucket, Key="into/hello.txt")


def test_empty_object(iotpipe, s3, s3_bucket, tmp_path):
    src = tmp_path / "empty"
    src.write_bytes(b"")
    iotpipe("cp", src, f"s3://{s3_bucket}/empty", env=s3.env())
    assert s3.client.head_object(Bucket=s3_bucket, Key="empty")["ContentLength"] == 0
    iotpipe("cp", f"s3://{s3_bucket}/empty", tmp_path / "empty2", env=s3.env())
    assert (tmp_path / "empty2").read_bytes() == b""


def test_awkward_keys(iotpipe, s3, s3_bucket, tmp_path):
    for i, key in enumerate(AWKWARD_KEYS):
        src = tmp_path / f"f{i}"
        src.write_bytes(key.encode() * 3)
        iotpipe("cp", src, f"s3://{s3_bucket}/{key}", env=s3.env())
    listed = [o["Key"] for o in
              s3.client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert sorted(listed) == sorted(AWKWARD_KEYS)
    out = iotpipe("ls", f"s3://{s3_bucket}/", env=s3.env()).stdout
    keys = [line.split(None, 3)[3] for line in out.splitlines()]
    assert sorted(keys) == sorted(AWKWARD_KEYS)
    for i, key in enumerate(AWKWARD_KEYS):
        dst = tmp_path / f"back{i}"
        iotpipe("cp", f"s3://{s3_bucket}/{key}", dst, env=s3.env())
        assert dst.read_bytes() == key.encode() * 3
    # A Hive partition prefix lists just its partition.
    out = iotpipe("ls", f"s3://{s3_bucket}/device_id=device_id_3/",
                  env=s3.env()).stdout
    assert len(out.splitlines()) == 1


def test_list_more_than_one_page(iotpipe, s3, s3_bucket):
    keys = [f"many/k={i % 7}/obj-{i:05d}" for i in range(1100)]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.client.put_object(
            Bucket=s3_bucket, Key=k, Body=k.encode()), keys))
    out = iotpipe("ls", "--summarize", f"s3://{s3_bucket}/many/",
                  env=s3.env()).stdout
    lines = [l for l in out.splitlines() if l.strip()]
    assert "Total Objects: 1100" in out
    listed = [l.split(None, 3)[3] for l in lines[:-2]]
    assert listed == sorted(keys)
    sizes = [int(l.split()[2]) for l in lines[:-2]]
    assert sizes == [len(k) for k in sorted(keys)]


def test_multipart_50mb(iotpipe, s3, s3_bucket, tmp_path):
    data = os.urandom(50 * 1024 * 1024)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    t0 = time.time()
    iotpipe("cp", src, f"s3://{s3_bucket}/big/big.bin", env=s3.env())
    head = s3.client.head_object(Bucket=s3_bucket, Key="big/big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-7")  # 8 MiB parts
    body = s3.client.get_object(Bucket=s3_bucket, Key="big/big.bin")["Body"].read()
    assert sha(body) == sha(data)
    dst = tmp_path / "big.back"
    iotpipe("cp", f"s3://{s3_bucket}/big/big.bin", dst, env=s3.env())
    assert sha(dst.read_bytes()) == sha(data)
    # No multipart upload is left behind.
    ups = s3.client.list_multipart_uploads(Bucket=s3_bucket)
    assert not ups.get("Uploads")
    assert time.time() - t0 < 120


def test_recursive_copy_both_ways(iotpipe, s3, s3_bucket, tmp_path):
    src = tmp_path / "tree"
    for rel in ("a.txt", "b/c=1/d e.txt", "b/f.txt"):
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(rel)
    iotpipe("cp", "-r", src, f"s3://{s3_bucket}/tree/", env=s3.env())
    keys = sorted(o["Key"] for o in s3.client.list_objects_v2(
        Bucket=s3_bucket, Prefix="tree/")["Contents"])
    assert keys == ["tree/a.txt", "tree/b/c=1/d e.txt", "tree/b/f.txt"]
    iotpipe("cp", "-r", f"s3://{s3_bucket}/tree/", tmp_path / "back",
            env=s3.env())
    assert (tmp_path / "back" / "b" / "c=1" / "d e.txt").read_text() == "b/c=1/d e.txt"


def test_api_level_c_tests(s3, s3_bucket):
    """Ranged reads, delete, put-if-absent, abort: the C API directly."""
    binary = pathlib.Path(iotpipe_bin()).parent / "test_store_s3"
    if not binary.exists():
        pytest.fail(f"{binary} not built")
    env = dict(os.environ, **s3.env(), IOTPIPE_TEST_S3_BUCKET=s3_bucket)
    cp = subprocess.run([str(binary)], env=env, capture_output=True,
                        text=True, timeout=300)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "SKIPPED" not in cp.stdout + cp.stderr
    assert "PASSED" in cp.stdout + cp.stderr


def test_mb_creates_and_is_idempotent(iotpipe, s3):
    name = "mb-" + os.urandom(4).hex()
    out = iotpipe("mb", f"s3://{name}", env=s3.env()).stdout
    assert name in out
    iotpipe("mb", f"s3://{name}", env=s3.env())
    names = [b["Name"] for b in s3.client.list_buckets()["Buckets"]]
    assert name in names


def test_wrong_credentials(iotpipe, s3, s3_bucket, tmp_path):
    src = tmp_path / "x"
    src.write_bytes(b"x")
    bad_secret = "definitely-wrong-secret-value"
    t0 = time.time()
    cp = iotpipe("cp", src, f"s3://{s3_bucket}/x",
                 env=s3.env(AWS_SECRET_ACCESS_KEY=bad_secret), check=False)
    assert cp.returncode == 1
    assert "SignatureDoesNotMatch" in cp.stderr or "AccessDenied" in cp.stderr
    assert f"s3://{s3_bucket}/x" in cp.stderr
    assert "attempts" not in cp.stderr  # a bad signature is not retried
    assert bad_secret not in cp.stderr + cp.stdout
    assert time.time() - t0 < 10
    cp = iotpipe("ls", f"s3://{s3_bucket}/",
                 env=s3.env(AWS_ACCESS_KEY_ID="nobody"), check=False)
    assert cp.returncode == 1
    assert "403" in cp.stderr


def test_missing_bucket_and_key(iotpipe, s3, tmp_path):
    cp = iotpipe("ls", "s3://no-such-bucket-here/", env=s3.env(), check=False)
    assert cp.returncode == 1
    assert "NoSuchBucket" in cp.stderr and "no-such-bucket-here" in cp.stderr
    src = tmp_path / "x"
    src.write_bytes(b"x")
    cp = iotpipe("cp", src, "s3://no-such-bucket-here/k", env=s3.env(),
                 check=False)
    assert cp.returncode == 1
    assert "NoSuchBucket" in cp.stderr
    bucket = s3.bucket()
    cp = iotpipe("cp", f"s3://{bucket}/missing.txt", tmp_path / "m",
                 env=s3.env(), check=False)
    assert cp.returncode == 1
    assert "404" in cp.stderr and "missing.txt" in cp.stderr
    assert not (tmp_path / "m").exists()


def test_reference_endpoint_variable(iotpipe, s3, s3_bucket):
    """The reference's ENDPOINT_URL works when no AWS_ENDPOINT_URL* is set."""
    env = s3.env(AWS_ENDPOINT_URL_S3="", ENDPOINT_URL=s3.endpoint)
    s3.client.put_object(Bucket=s3_bucket, Key="r.txt", Body=b"r")
    out = iotpipe("ls", f"s3://{s3_bucket}", env=env).stdout
    assert "r.txt" in out


def test_secret_not_in_debug_log(iotpipe, s3, s3_bucket, tmp_path):
    src = tmp_path / "x"
    src.write_bytes(b"x")
    cp = iotpipe("cp", "--log-level", "debug", src, f"s3://{s3_bucket}/x",
                 env=s3.env())
    cp2 = iotpipe("ls", "--log-level", "debug", f"s3://nope-{s3_bucket}",
                  env=s3.env(), check=False)
    for text in (cp.stdout, cp.stderr, cp2.stdout, cp2.stderr):
        assert s3.secret_key not in text
        assert "Signature=" not in text


def test_usage_errors(iotpipe):
    assert iotpipe("ls", check=False).returncode == 2
    assert iotpipe("cp", "only-one", check=False).returncode == 2
    cp = iotpipe("ls", "gs://bucket/x", check=False)
    assert cp.returncode == 2 and "unsupported scheme" in cp.stderr
    assert iotpipe("mb", "s3://", check=False).returncode == 2
    assert "--recursive" in iotpipe("cp", "--help").stdout


def test_unsigned_payload_mode(iotpipe, s3, s3_bucket, tmp_path):
    """UNSIGNED-PAYLOAD (the default over https) is accepted too."""
    src = tmp_path / "u.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024))  # single PUT + multipart
    iotpipe("cp", src, f"s3://{s3_bucket}/u.bin",
            env=s3.env(IOTPIPE_S3_SIGN_PAYLOAD=0))
    body = s3.client.get_object(Bucket=s3_bucket, Key="u.bin")["Body"].read()
    assert body == src.read_bytes()
