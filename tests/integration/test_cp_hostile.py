"""Hostile S3 servers: `cp` must not let a listed key write outside DST,
and `ls` must not let one forge lines or terminal escapes.

S3Proxy refuses to store such keys, so these tests run against a tiny fake
of the S3 API on 127.0.0.1 (HostileS3): it lists whatever keys a test
gives it (ListObjectsV2), answers HEAD and ranged GET for any path with the
same few bytes, and logs every raw request line, so a test can see the
path iotpipe sent. Before the fix, `cp -r` joined "../../escape.txt" to DST
and wrote above it, and libcurl folded "prefix/../../x" in the request
path, so the object fetched was not the one listed."""
import http.server
import os
import subprocess
import threading
import urllib.parse
from xml.sax.saxutils import escape

import pytest

from fixtures.common import iotpipe_bin

BODY = b"hostile bytes\n"


class HostileS3:
    def __init__(self, keys, empty=()):
        self.keys = list(keys)
        self.empty = set(empty)  # keys listed with size 0 (folder markers)
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _head(self, status, length, extra=()):
                self.send_response(status)
                self.send_header("Content-Length", str(length))
                self.send_header("Last-Modified", "Mon, 01 Dec 2025 00:00:00 GMT")
                self.send_header("ETag", '"0123456789abcdef0123456789abcdef"')
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()

            def do_HEAD(self):
                server.requests.append(("HEAD", self.path))
                self._head(200, len(BODY))

            def do_GET(self):
                server.requests.append(("GET", self.path))
                path, _, query = self.path.partition("?")
                q = urllib.parse.parse_qs(query, keep_blank_values=True)
                if "list-type" in q:
                    return self._list(q)
                rng = self.headers.get("Range")
                if rng:
                    first, _, last = rng.split("=")[1].partition("-")
                    first = int(first)
                    last = min(int(last or len(BODY) - 1), len(BODY) - 1)
                    part = BODY[first:last + 1]
                    self._head(206, len(part), [
                        ("Content-Range", f"bytes {first}-{last}/{len(BODY)}")])
                    self.wfile.write(part)
                else:
                    self._head(200, len(BODY))
                    self.wfile.write(BODY)

            def _list(self, q):
                after = q.get("start-after", [""])[0]
                keys = sorted(k for k in server.keys if k > after)
                items = "".join(
                    "<Contents><Key>{}</Key><LastModified>2025-12-01T00:00:00.000Z"
                    "</LastModified><ETag>&quot;0123&quot;</ETag><Size>{}</Size>"
                    "<StorageClass>STANDARD</StorageClass></Contents>".format(
                        escape(urllib.parse.quote(k, safe="/~")),
                        0 if k in server.empty else len(BODY))
                    for k in keys)
                body = ('<?xml version="1.0" encoding="UTF-8"?>'
                        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                        f"<Name>bkt</Name><KeyCount>{len(keys)}</KeyCount>"
                        "<MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType>"
                        f"<IsTruncated>false</IsTruncated>{items}</ListBucketResult>"
                        ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def env(self):
        return {"AWS_ACCESS_KEY_ID": "hostile", "AWS_SECRET_ACCESS_KEY": "hostile-secret",
                "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": self.endpoint,
                "AWS_SESSION_TOKEN": "", "AWS_ENDPOINT_URL": "", "ENDPOINT_URL": "",
                "AWS_DEFAULT_REGION": ""}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hostile():
    servers = []

    def start(keys, empty=()):
        s = HostileS3(keys, empty)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


@pytest.mark.parametrize("bad,why", [
    ("prefix/../../escape.txt", "a '..' path segment"),
    ("prefix/sub/../../../escape.txt", "a '..' path segment"),
    ("prefix/..", "a '..' path segment"),
    ("prefix//tmp/abs.txt", "an absolute path"),
    ("prefix/a//b.txt", "an empty path segment"),
    ("prefix/a/./b.txt", "a '.' path segment"),
    ("prefix/a/b.txt/", "an empty path segment"),  # not a folder marker: it has bytes
])
def test_cp_recursive_refuses_unsafe_key(iotpipe, tmp_path, hostile, bad, why):
    s = hostile(["prefix/a.txt", bad, "prefix/z.txt"])
    root = tmp_path / "root"
    dst = root / "one" / "two" / "dst"
    dst.mkdir(parents=True)
    cp = iotpipe("cp", "-r", "s3://bkt/prefix/", f"{dst}/", env=s.env(), check=False,
                 timeout=60)
    # nothing was written anywhere: not above dst, and not the good keys either
    assert files_under(root) == [], files_under(root)
    assert cp.returncode == 1, (cp.returncode, cp.stdout, cp.stderr)
    line = cp.stderr.strip().splitlines()[-1]
    assert f"s3://bkt/{bad}" in line and why in line and "nothing copied" in line, line
    assert not any(m == "GET" and "list-type" not in p for m, p in s.requests), s.requests


@pytest.mark.parametrize("cmd", ["cp", "ls"])
def test_listing_key_outside_prefix(iotpipe, tmp_path, hostile, cmd):
    """The server answers a listing of prefix/ with a key elsewhere: every
    user of the listing (cp, ls, the datasets) derives names from the part
    below the prefix, so the listing fails, naming the key."""
    s = hostile(["prefix/a.txt", "zzz/../escape.txt"])
    dst = tmp_path / "dst"
    args = ["-r", "s3://bkt/prefix/", f"{dst}/"] if cmd == "cp" else ["s3://bkt/prefix/"]
    cp = iotpipe(cmd, *args, env=s.env(), check=False)
    assert cp.returncode == 1, cp.stderr
    assert ("the server listed key 'zzz/../escape.txt', which is not under the prefix"
            in cp.stderr.strip().splitlines()[-1]), cp.stderr
    assert files_under(tmp_path) == []


def test_cp_recursive_safe_keys_and_folder_markers(iotpipe, tmp_path, hostile):
    """The checks do not get in the way of ordinary keys: dots inside names,
    a zero-byte "folder" marker (skipped), nested keys."""
    s = hostile(["prefix/", "prefix/sub/", "prefix/sub/..data", "prefix/a.b/c...txt",
                 "prefix/sub/x.txt"], empty=["prefix/", "prefix/sub/"])
    dst = tmp_path / "dst"
    iotpipe("cp", "-r", "-q", "s3://bkt/prefix/", f"{dst}/", env=s.env())
    assert files_under(tmp_path) == ["dst/a.b/c...txt", "dst/sub/..data", "dst/sub/x.txt"]
    assert (dst / "sub" / "x.txt").read_bytes() == BODY


def test_cp_recursive_without_slash_takes_only_the_directory(iotpipe, tmp_path, hostile):
    """"s3://bkt/dir" lists every key starting with "dir": "dir2/y",
    "dir.bak" and an object named "dir" share the prefix but are not
    below the directory, and used to land as dst/2/y and dst/.bak."""
    s = hostile(["dir", "dir.bak", "dir/x.txt", "dir/sub/z.txt", "dir2/y.txt"])
    dst = tmp_path / "dst"
    iotpipe("cp", "-r", "-q", "s3://bkt/dir", f"{dst}/", env=s.env())
    assert files_under(tmp_path) == ["dst/sub/z.txt", "dst/x.txt"]


def test_cp_recursive_local_dot(iotpipe, tmp_path):
    """A local "." lists bare names: they are below it."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_bytes(b"a")
    (src / "sub" / "b").write_bytes(b"b")
    dst = tmp_path / "dst"
    cp = subprocess.run([iotpipe_bin(), "cp", "-r", "-q", ".", f"{dst}/"], cwd=src,
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    assert files_under(dst) == ["a", "sub/b"]


def test_request_path_sent_as_listed(iotpipe, tmp_path, hostile):
    """libcurl folded "/bkt/prefix/../../escape.txt" into "/escape.txt":
    another object than the key names. The path must go out verbatim."""
    s = hostile([])
    out = tmp_path / "out.txt"
    iotpipe("cp", "-q", "s3://bkt/prefix/../../escape.txt", out, env=s.env())
    paths = [p for m, p in s.requests]
    assert paths and all(p == "/bkt/prefix/../../escape.txt" for p in paths), paths
    assert out.read_bytes() == BODY


@pytest.mark.parametrize("src", ["s3://bkt/prefix/..", "s3://bkt/prefix/.", "s3://bkt/prefix/"])
def test_cp_single_object_name_from_src(iotpipe, tmp_path, hostile, src):
    """A DST directory gets SRC's last segment as the file name; '..', '.'
    or nothing would name the directory itself or its parent."""
    s = hostile([])
    dst = tmp_path / "dir"
    dst.mkdir()
    cp = iotpipe("cp", src, f"{dst}/", env=s.env(), check=False)
    assert cp.returncode == 2, (cp.returncode, cp.stderr)
    assert "cannot name a file in" in cp.stderr and src in cp.stderr
    assert files_under(tmp_path) == []
    assert s.requests == []


def test_ls_escapes_control_characters(iotpipe, hostile):
    """A key is any UTF-8 string: a newline in one made `ls` print a forged
    second object, an escape sequence rewrote the terminal."""
    s = hostile(["prefix/a\n2025-01-01 00:00:00            1 prefix/forged",
                 "prefix/b\x1b[2Jc", "prefix/ok.txt"])
    cp = iotpipe("ls", "s3://bkt/prefix/", env=s.env())
    lines = cp.stdout.splitlines()
    assert len(lines) == 3, cp.stdout
    assert lines[0].endswith(" prefix/a\\x0a2025-01-01 00:00:00            1 prefix/forged")
    assert lines[1].endswith(" prefix/b\\x1b[2Jc")
    assert "\x1b" not in cp.stdout
