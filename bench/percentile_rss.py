"""Runs a command and reports its wall time and the peak resident memory of
its whole process tree (sampled from /proc every 100 ms), for commands whose
real work happens in a grandchild (PySpark's JVM), where /usr/bin/time -v
only sees the Python process.

usage: percentile_rss.py COMMAND [ARGS...]   (prints one line on stderr)
"""
import os
import subprocess
import sys
import time


def tree_rss_kb(root):
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(pid))
        except (OSError, ValueError, IndexError):
            pass
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


t0 = time.time()
proc = subprocess.Popen(sys.argv[1:])
peak = 0
while proc.poll() is None:
    peak = max(peak, tree_rss_kb(proc.pid))
    time.sleep(0.1)
print(f"tree: wall {time.time() - t0:.2f} s, peak tree RSS {peak // 1024} MB, exit {proc.returncode}",
      file=sys.stderr)
sys.exit(proc.returncode)
