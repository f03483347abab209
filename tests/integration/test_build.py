"""The binary's allocator: `iotpipe version` names the one it links, and a
build on a machine with mimalloc (scripts/deps.sh installs it) links it,
ahead of libc so that librdkafka's allocations use it too. A build that
silently fell back to libc's malloc would run the streaming jobs with a
quarter more CPU (bench/where_time_goes.md) and still pass every other
test."""
import re
import subprocess

from fixtures.common import iotpipe_bin


def _needed(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if "=>" in line]


def _mimalloc_installed():
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    return "libmimalloc.so.2 " in out


def test_version_names_the_allocator_it_links(iotpipe):
    lines = iotpipe("version").stdout.splitlines()
    assert re.fullmatch(r"iotpipe \d+\.\d+\.\d+", lines[0]), lines
    needed = _needed(iotpipe_bin())
    sanitized = any(n.startswith(("libasan", "libubsan")) for n in needed)
    if any(n.startswith("libmimalloc.so") for n in needed):
        assert re.fullmatch(r"allocator: mimalloc \d+\.\d+\.\d+", lines[1]), lines
        # ahead of libc, or libc's malloc would serve librdkafka
        libs = [n for n in needed if n.startswith(("libmimalloc.so", "libc.so"))]
        assert libs[0].startswith("libmimalloc.so"), needed
    else:
        assert lines[1] == "allocator: libc", lines
        assert sanitized or not _mimalloc_installed(), (
            "mimalloc is installed but the build did not link it", needed)
