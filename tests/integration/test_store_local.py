"""iotpipe ls/cp over the local back-end: plain paths and file:// URIs,
atomic replacement, recursive listing, directories as destinations."""
import os


def test_local_cp_and_ls(iotpipe, tmp_path):
    src = tmp_path / "in.txt"
    src.write_bytes(b"local data\n" * 1000)
    dst = tmp_path / "out" / "a=1" / "b c.txt"
    iotpipe("cp", src, f"file://{dst}")
    assert dst.read_bytes() == src.read_bytes()
    iotpipe("cp", src, tmp_path / "out")  # a directory: keeps the name
    assert (tmp_path / "out" / "in.txt").exists()
    out = iotpipe("ls", tmp_path / "out").stdout.splitlines()
    assert [l.split(None, 3)[3] for l in out] == [
        str(tmp_path / "out" / "a=1" / "b c.txt"),
        str(tmp_path / "out" / "in.txt")]
    assert int(out[0].split()[2]) == 11000
    # No temporary files are left next to the outputs.
    leftovers = [n for _, _, fs in os.walk(tmp_path) for n in fs
                 if "iotpipe-tmp" in n]
    assert leftovers == []


def test_local_missing_source(iotpipe, tmp_path):
    cp = iotpipe("cp", tmp_path / "nope", tmp_path / "x", check=False)
    assert cp.returncode == 1
    assert "nope" in cp.stderr and "No such file" in cp.stderr
    assert not (tmp_path / "x").exists()


def test_local_ls_empty_and_prefix(iotpipe, tmp_path):
    assert iotpipe("ls", tmp_path / "nothing-here").stdout == ""
    for n in ("part-0", "part-1", "other"):
        (tmp_path / n).write_text(n)
    out = iotpipe("ls", tmp_path / "part-").stdout.splitlines()
    assert len(out) == 2
