"""A stand-in for the web console page, for bench/console.sh: polls a
command's console API the way src/metrics/console/app.js does (status,
the history since the last sample it has, and the recent batches, every
POLL_MS; the configuration once), until it is killed.

A script rather than a browser because the browser would run on the same
two cores as the job and measure its own rendering, not the cost to the
process; the requests and their sizes are the page's. --fresh asks for the
whole history on every poll (a worst case: a page reloaded every time).

usage: python bench/console_poll.py HOST:PORT POLL_MS [--fresh] [--out FILE]
At exit (SIGTERM) it writes one line to FILE: polls, requests, bytes read,
and the last history memory figures.
"""
import json
import signal
import sys
import time
import urllib.request


def main():
    addr, poll_ms = sys.argv[1], float(sys.argv[2])
    fresh = "--fresh" in sys.argv
    out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None
    base = f"http://{addr}"
    stats = {"polls": 0, "requests": 0, "bytes": 0, "memory_bytes": 0, "bound_bytes": 0,
             "samples": 0}

    def done(*_):
        if out:
            with open(out, "w") as f:
                f.write(json.dumps(stats) + "\n")
        sys.exit(0)
    signal.signal(signal.SIGTERM, done)

    def get(path):
        with urllib.request.urlopen(base + path, timeout=5) as r:
            body = r.read()
        stats["requests"] += 1
        stats["bytes"] += len(body)
        return json.loads(body)

    seq, config = 0, False
    while True:
        t0 = time.monotonic()
        try:
            st = get("/api/status")
            h = get(f"/api/history?since={0 if fresh else seq}")
            get("/api/batches")
            if not config:
                get("/api/config")
                config = True
            seq = h["seq"]
            stats["polls"] += 1
            stats.update(memory_bytes=st["history"]["memory_bytes"],
                         bound_bytes=st["history"]["bound_bytes"],
                         samples=st["history"]["samples"])
        except OSError:
            pass  # not up yet, or gone
        time.sleep(max(0.0, poll_ms / 1000 - (time.monotonic() - t0)))


if __name__ == "__main__":
    main()
