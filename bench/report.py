"""Writes bench/RESULTS.md and bench/charts/*.png from the machine-readable
results of `make bench` (bench/run.sh):

  bench/results/<stage>.tsv   one row per measurement (format: bench/lib.sh)
  bench/results/scaling.tsv   bench/scaling.sh's points
  bench/results/<stage>.log   console output of the stage (first line: when,
                              which commit, load)

RESULTS.md = one summary table (stage | iotpipe | peer | ratio | peak RSS |
command), the scaling tables, the charts, the hand-written "where the time
goes" of the streaming jobs (bench/results/where_time_goes.md, embedded),
every measurement, and links to the hand-written per-stage notes
(bench/results/*.md). Charts need gnuplot
(scripts/deps.sh bench); without it the tables are still written.

usage: .venv/bin/python bench/report.py [--results DIR] [--out FILE] [--charts DIR]
"""
import argparse
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

# stage -> (title, hand-written notes); stages print in this order
STAGES = [
    ("produce", "produce, ~100 B JSON events, acks=all, idempotent", "produce.md"),
    ("decode", "JSON event decode (validating)", "produce.md"),
    ("parquet-write", "Parquet write, raw-event schema, snappy, 1 thread", "parquet.md"),
    ("parquet-read", "Parquet read, same file layout", "parquet.md"),
    ("s3-upload", "S3 upload (local S3Proxy)", "store.md"),
    ("s3-download", "S3 download (local S3Proxy)", "store.md"),
    ("percentile", "batch percentile job, 2 threads", "percentile.md"),
    ("consume", "consume only (the ceiling)", "streaming.md"),
    ("archive", "archive --once (raw Parquet)", "streaming.md"),
    ("aggregate", "aggregate --once (1-min windows)", "streaming.md"),
    ("console-archive", "archive --once with one console page polling (peer: nobody polling)",
     "console.md"),
    ("console-aggregate", "aggregate --once with one console page polling (peer: nobody polling)",
     "console.md"),
    ("s3lat-aggregate", "aggregate to S3 at 40 ms latency (peer: the same run at 0 ms; --once)",
     "s3latency.md"),
    ("s3lat-archive", "archive to S3 at 40 ms latency (peer: the same run at 0 ms; --once)",
     "s3latency.md"),
    ("s3lat-percentile", "percentile from S3 at 40 ms latency (peer: the same run at 0 ms; "
     "--threads 2)", "s3latency.md"),
]
LOG_FILES = ["produce", "decode", "parquet", "s3", "percentile", "streaming", "scaling",
             "console", "s3latency"]


def read_tsv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def num(x, default=0.0):
    try:
        return float(x)
    except (TypeError, ValueError):
        return default


def si(x):
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"


def fmt_rate(rate, unit):
    if unit == "bytes":
        return f"{rate / 1e6:.1f} MB/s"
    return f"{si(rate)} {unit}/s"


def fmt_amount(amount, unit):
    if unit == "bytes":
        return f"{amount / 2**20:.0f} MiB"
    return f"{si(amount)} {unit}"


def spread(values, fmt):
    """median, and the range when there are several runs"""
    med = statistics.median(values)
    if len(values) == 1:
        return med, fmt(med)
    return med, f"{fmt(med)} ({len(values)} runs: {fmt(min(values))}-{fmt(max(values))})"


def summary_rows(rows):
    """one entry per (stage, amount, peer tool) with iotpipe rows to compare"""
    out = []
    order = {s: i for i, (s, _, _) in enumerate(STAGES)}
    groups = {}
    for r in rows:
        groups.setdefault((r["stage"], r["amount"]), []).append(r)
    for (stage, amount), rs in sorted(groups.items(),
                                      key=lambda kv: (order.get(kv[0][0], 99), -num(kv[0][1]))):
        ours = [r for r in rs if r["side"] == "iotpipe"]
        if not ours:
            continue
        peers = [r for r in rs if r["side"] == "peer"]
        if stage in ("archive", "aggregate"):
            # the consume ceiling of the same topic: kcat reading it all,
            # as shipped and on mimalloc (bench/lib.sh, MIMALLOC_SO)
            names = {"kcat": "kcat (consume ceiling)",
                     "kcat (mimalloc)": "kcat on mimalloc (consume ceiling)"}
            peers += [dict(r, tool=names[r["tool"]]) for r in rows
                      if r["stage"] == "consume" and r["tool"] in names and r["amount"] == amount]
        unit = ours[0]["unit"]
        o_rate, o_txt = spread([num(r["rate"]) for r in ours], lambda v: fmt_rate(v, unit))
        o_rss = max(num(r["rss_mb"]) for r in ours)
        by_tool = {}
        for p in peers:
            by_tool.setdefault(p["tool"], []).append(p)
        if not by_tool:
            by_tool = {"(no peer measured)": []}
        work = fmt_amount(num(amount), unit)
        m = re.search(r"\b(\d+) devices", ours[0].get("note", ""))
        if m:
            work += f", {int(m.group(1)):,} devices"
        for tool, ps in by_tool.items():
            if ps:
                p_rate, p_txt = spread([num(p["rate"]) for p in ps], lambda v: fmt_rate(v, unit))
                ratio = o_rate / p_rate if p_rate else float("nan")
                p_rss = f"{max(num(p['rss_mb']) for p in ps):.0f}"
            else:
                p_txt, ratio, p_rss = "-", float("nan"), "-"
            out.append(dict(stage=stage, amount=work,
                            ours=f"{ours[0]['tool']}: {o_txt}", peer=f"{tool}: {p_txt}",
                            ratio=ratio, rss=f"{o_rss:.0f} / {p_rss} MB",
                            command=ours[0]["command"]))
    return out


def log_header(results, name):
    path = os.path.join(results, name + ".log")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        line = f.readline().strip()
    return line.lstrip("# ") if line.startswith("#") else None


def scaling_table(points, axis):
    pts = [p for p in points if p["axis"] == axis]
    keys = []
    for p in pts:
        k = (int(p["devices"]), int(p["partitions"]), int(p["events"]))
        if k not in keys:
            keys.append(k)
    jobs = ["archive", "aggregate"]
    jobs += [j for j in ("archive-date", "aggregate-date") if any(p["tool"] == j for p in pts)]
    names = {"archive": "archive", "aggregate": "aggregate", "archive-date": "archive by date",
             "aggregate-date": "aggregate by date"}
    lines = ["| devices | partitions | events | kcat events/s | "
             + " | ".join(f"{names[j]} events/s | x kcat | {names[j]} RSS MB | {names[j]} files" for j in jobs)
             + " | notes |",
             "|---:|---:|---:|---:|" + "---:|---:|---:|---:|" * len(jobs) + "---|"]
    data = []
    for k in keys:
        at = {p["tool"]: p for p in pts
              if (int(p["devices"]), int(p["partitions"]), int(p["events"])) == k}
        kc = num(at.get("kcat", {}).get("rate"))
        cells, notes = [], set()
        rec = {"devices": k[0], "partitions": k[1], "events": k[2], "kcat": kc}
        for job in jobs:
            p = at.get(job)
            if p is None:
                cells += ["-"] * 4
                continue
            note = p.get("note", "")
            if "TIMEOUT" in note:
                cells += [f"> {p['seconds']} s (stopped)", "-", "-", f"{int(num(p['files'])):,} (so far)"]
            else:
                r = num(p["rate"])
                rec[job] = r
                rec[job + "_rss"] = num(p["rss_mb"])
                cells += [f"{r:,.0f}", f"{r / kc:.2f}" if kc else "-", p["rss_mb"], f"{int(num(p['files'])):,}"]
            notes.update(n.strip() for n in note.split(";") if n.strip() and not n.strip().startswith("load"))
        load = at.get("kcat", {}).get("note", "").split(";")[0]
        notes.add(load)
        lines.append(f"| {k[0]:,} | {k[1]} | {k[2]:,} | {kc:,.0f} | " + " | ".join(cells)
                     + " | " + "; ".join(sorted(n for n in notes if n)) + " |")
        data.append(rec)
    return lines, data


def gnuplot(script, cwd):
    try:
        subprocess.run(["gnuplot"], input=script, text=True, cwd=cwd, check=True,
                       capture_output=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report.py: gnuplot failed: {getattr(e, 'stderr', e)}", file=sys.stderr)
        return False


ARCHIVE, AGGREGATE = "#1f5fa8", "#e07b00"
# hand-written, embedded in RESULTS.md after the scaling section (its first
# heading is a "##"): where the time of each streaming job goes
WHERE = "where_time_goes.md"
TERM = "set terminal pngcairo size 720,420 font 'DejaVu Sans,10'\n"


def chart_scaling(data, axis, xlabel, charts, tmp):
    """two charts: events/s (archive, aggregate, kcat) and peak RSS vs AXIS"""
    # per x and series: the measurement with the most events that finished
    # (a stopped job has no rate; its point was measured again with fewer)
    by_x = {}
    for d in data:
        m = by_x.setdefault(d[axis], {"events": d["events"]})
        for k in ("kcat", "archive", "aggregate", "aggregate-date", "archive-date"):
            if d.get(k) and d["events"] >= m.get(k + "_n", 0):
                m[k], m[k + "_n"] = d[k], d["events"]
                if k != "kcat":
                    m[k + "_rss"] = d.get(k + "_rss")
        m["events"] = min(m.get(k + "_n", d["events"]) for k in ("archive", "aggregate"))
    xs = sorted(by_x)
    if not xs:
        return []
    dat = os.path.join(tmp, f"{axis}.dat")
    with open(dat, "w") as f:
        for i, x in enumerate(xs):
            d = by_x[x]
            f.write(f"{i} {x} {d.get('kcat', 0) or '?'} {d.get('archive', '?')} "
                    f"{d.get('aggregate', '?')} {d.get('archive_rss', '?')} {d.get('aggregate_rss', '?')} "
                    f"{d.get('aggregate-date', '?')} {d.get('aggregate-date_rss', '?')} "
                    f"{d.get('archive-date', '?')} {d.get('archive-date_rss', '?')}\n")
    by_date = any(by_x[x].get("aggregate-date") for x in xs)
    arch_date = any(by_x[x].get("archive-date") for x in xs)
    rate_png = os.path.join(charts, f"scaling_{axis}_rate.png")
    rss_png = os.path.join(charts, f"scaling_{axis}_rss.png")
    most = max(by_x[x]["events"] for x in xs)
    labels = [f'"{x:,}{"*" if by_x[x]["events"] < most else ""}" {i}' for i, x in enumerate(xs)]
    if any(by_x[x]["events"] < most for x in xs):
        xlabel += f"; {most:,} events per point, * fewer (see table)"
    else:
        xlabel += f"; {most:,} events per point"
    common = (TERM + "set datafile missing '?'\nset grid\nset key outside right top\n"
              f"set xlabel '{xlabel}'\nset xtics ({', '.join(labels)})\n"
              f"set xrange [-0.3:{len(xs) - 0.7}]\n")
    ok = gnuplot(common + f"set output '{rate_png}'\nset logscale y\nset ylabel 'events/s'\n"
                 f"set title 'events/s vs {xlabel}'\n"
                 f"plot '{dat}' using 1:3 with linespoints lw 2 dt 2 lc rgb '#777777' title 'kcat (ceiling)', "
                 f"'' using 1:4 with linespoints lw 2 lc rgb '{ARCHIVE}' title 'archive', "
                 f"'' using 1:5 with linespoints lw 2 lc rgb '{AGGREGATE}' title 'aggregate'"
                 + (f", '' using 1:8 with linespoints lw 2 dt 3 lc rgb '{AGGREGATE}' title 'aggregate by date'"
                    if by_date else "")
                 + (f", '' using 1:10 with linespoints lw 2 dt 3 lc rgb '{ARCHIVE}' title 'archive by date'"
                    if arch_date else "") + "\n", tmp)
    ok &= gnuplot(common + f"set output '{rss_png}'\nset ylabel 'peak RSS (MB)'\nset yrange [0:*]\n"
                  f"set title 'peak RSS vs {xlabel}'\n"
                  f"plot '{dat}' using 1:6 with linespoints lw 2 lc rgb '{ARCHIVE}' title 'archive', "
                  f"'' using 1:7 with linespoints lw 2 lc rgb '{AGGREGATE}' title 'aggregate', "
                  + (f"'' using 1:9 with linespoints lw 2 dt 3 lc rgb '{AGGREGATE}' title 'aggregate by date', "
                     if by_date else "")
                  + (f"'' using 1:11 with linespoints lw 2 dt 3 lc rgb '{ARCHIVE}' title 'archive by date', "
                     if arch_date else "")
                  + "200 with lines dt 2 lc rgb '#cc0000' title 'RSS goal at 10k devices (streaming.md)'\n", tmp)
    return [rate_png, rss_png] if ok else []


def chart_ratios(summary, charts, tmp):
    rows = [s for s in summary if s["ratio"] == s["ratio"]]
    if not rows:
        return []
    dat = os.path.join(tmp, "ratios.dat")
    with open(dat, "w") as f:
        for i, s in enumerate(rows):
            peer = s["peer"].split(":")[0]
            label = f"{s['stage']} {s['amount']} vs {peer}".replace('"', "'")
            f.write(f'{i} {s["ratio"]:.4f} "{label}"\n')
    png = os.path.join(charts, "summary_ratio.png")
    h = 120 + 22 * len(rows)
    lo = min(0.5, min(s["ratio"] for s in rows) * 0.7)
    hi = max(2.0, max(s["ratio"] for s in rows) * 2.0)
    # boxxyerror takes x:y:xlow:xhigh:ylow:yhigh: each bar spans 1..ratio
    ok = gnuplot(f"set terminal pngcairo size 860,{h} font 'DejaVu Sans,9'\nset output '{png}'\n"
                 f"set logscale x\nset xrange [{lo}:{hi}]\nset grid x\n"
                 "set xlabel 'iotpipe speed / peer speed (log scale; right of 1: iotpipe faster)'\n"
                 "set title 'iotpipe vs its peer, same run'\nunset key\n"
                 f"set yrange [-0.7:{len(rows) - 0.3}] reverse\nset ytics nomirror\n"
                 "set arrow from 1, graph 0 to 1, graph 1 nohead lw 2 lc rgb 'black'\n"
                 "set style fill solid 0.6\n"
                 f"plot '{dat}' using (sqrt($2)):1:(1):($2):($1-0.35):($1+0.35):ytic(3) "
                 "with boxxyerror lc rgb '#3366aa', "
                 "'' using ($2):1:(sprintf('%.2fx', $2)) with labels left offset 0.5,0\n", tmp)
    return [png] if ok else []


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default=os.path.join(here, "results"))
    ap.add_argument("--out", default=os.path.join(here, "RESULTS.md"))
    ap.add_argument("--charts", default=os.path.join(here, "charts"))
    a = ap.parse_args()

    rows, points = [], []
    for name in sorted(os.listdir(a.results)):
        if not name.endswith(".tsv"):
            continue
        path = os.path.join(a.results, name)
        if name == "scaling.tsv":
            points = read_tsv(path)
        else:
            rows += [dict(r, file=name) for r in read_tsv(path)]
    summary = summary_rows(rows)

    os.makedirs(a.charts, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="iotpipe-report-")
    charts = []
    dev_lines, dev_data = scaling_table(points, "devices")
    par_lines, par_data = scaling_table(points, "partitions")
    have_gnuplot = shutil.which("gnuplot") is not None
    if have_gnuplot:
        charts += chart_ratios(summary, a.charts, tmp)
        charts += chart_scaling(dev_data, "devices", "devices (4 partitions)", a.charts, tmp)
        charts += chart_scaling(par_data, "partitions", "partitions (1,000 devices)", a.charts, tmp)
    shutil.rmtree(tmp, ignore_errors=True)

    rel = lambda p: os.path.relpath(p, os.path.dirname(a.out))
    md = ["# Benchmark results", "",
          "<!-- generated by bench/report.py from bench/results/*.tsv: edit those or the"
          " scripts, not this file -->", "",
          "Every number was measured on this project's machine, each stage side by side with its",
          "peer in the same run (`make bench`, bench/run.sh; `make bench QUICK=1` gives small",
          "sizes and no Spark). The machine is shared with other engineers' builds and tests:",
          "the load average at each stage is in its notes below, so compare ratios, not absolute",
          "times. Rates are the median over the runs of the stage (range in brackets).", "",
          "Runs:", ""]
    for name in LOG_FILES:
        h = log_header(a.results, name)
        if h:
            md.append(f"- {name}: {h} ([log](results/{name}.log))")
    md += ["", "## Summary", "",
           "ratio = iotpipe's rate / the peer's rate on the same work (> 1: iotpipe faster). "
           "Peak RSS: iotpipe / peer.", "",
           "| stage | work | iotpipe | peer | ratio | peak RSS (iotpipe / peer) | command |",
           "|---|---|---|---|---:|---|---|"]
    titles = {s: (t, n) for s, t, n in STAGES}
    for s in summary:
        title, notes = titles.get(s["stage"], (s["stage"], None))
        link = f"[{title}](results/{notes})" if notes else title
        ratio = f"**{s['ratio']:.2f}x**" if s["ratio"] == s["ratio"] else "-"
        md.append(f"| {link} | {s['amount']} | {s['ours']} | {s['peer']} | {ratio} | {s['rss']} "
                  f"| `{s['command']}` |")
    if not summary:
        md.append("| (no results yet: run `make bench`) | | | | | | |")
    if any(c.endswith("summary_ratio.png") for c in charts):
        md += ["", f"![ratios]({rel(os.path.join(a.charts, 'summary_ratio.png'))})"]

    md += ["", "## Scaling: archive and aggregate vs devices and partitions", "",
           "`bench/scaling.sh`: the same event count at every point, produced with "
           "`iotpipe produce --count N --rate 0 --devices D --seed 1 --start-time "
           "2026-01-01T00:00:00Z --time-step 1000/N` (1000 s of event time, about 17 one-minute "
           "windows, so windows close under `--once`); kcat reading the same topic is the "
           "ceiling of each point. events/s = events in the topic / wall seconds of the whole "
           "process; RSS = peak RSS (GNU time). Files = Parquet files written (the aggregate "
           "writes one file per device-minute, as the reference layout does).", ""]
    if points:
        md += ["### vs devices (4 partitions)", ""] + dev_lines
        md += ["", "### vs partitions (1,000 devices)", ""] + par_lines
        for c in charts:
            if "scaling_" in c:
                md += ["", f"![{os.path.basename(c)[:-4]}]({rel(c)})"]
    else:
        md.append("(no scaling results yet: `bash bench/scaling.sh`)")

    # the hand-written profile of the streaming jobs, at its place in the report
    where = os.path.join(a.results, WHERE)
    if os.path.exists(where):
        with open(where) as f:
            md += [""] + f.read().rstrip("\n").split("\n")

    md += ["", "## Every measurement", ""]
    for stage, title, notes in STAGES + [(s, s, None) for s in
                                         sorted({r["stage"] for r in rows} - {s for s, _, _ in STAGES})]:
        rs = [r for r in rows if r["stage"] == stage]
        if not rs:
            continue
        md += [f"### {stage}: {title}" + (f" ([notes](results/{notes}))" if notes else ""), "",
               "| tool | side | amount | seconds | rate | peak RSS MB | command | notes |",
               "|---|---|---:|---:|---:|---:|---|---|"]
        for r in rs:
            md.append(f"| {r['tool']} | {r['side']} | {fmt_amount(num(r['amount']), r['unit'])} "
                      f"| {num(r['seconds']):.3f} | {fmt_rate(num(r['rate']), r['unit'])} | {r['rss_mb']} "
                      f"| `{r['command']}` | {r['note']} |")
        md.append("")
    md += ["## Hand-written notes per stage", "",
           "Method, workloads, profiles and earlier runs (their numbers are from the day they were "
           "written, not from the tables above):", ""]
    for name in sorted(os.listdir(a.results)):
        if name.endswith(".md") and name != WHERE:
            with open(os.path.join(a.results, name)) as f:
                first = f.readline().lstrip("# ").strip()
            md.append(f"- [{first}](results/{name})")
    with open(a.out, "w") as f:
        f.write("\n".join(md) + "\n")
    print(f"report.py: wrote {a.out} ({len(summary)} summary rows, {len(points)} scaling rows, "
          f"{len(charts)} charts{'' if have_gnuplot else '; no gnuplot: no charts'})")


if __name__ == "__main__":
    main()
