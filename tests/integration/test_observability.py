"""Observability end to end (docs/design.md §7, issue 6).

A real pipeline runs for the module: the embedded broker, a producer that
injects invalid and late events, `archive` writing to S3 (S3Proxy behind
the fault proxy, which answers the first PUTs with 503/500 so that S3
errors and retries are real), and `aggregate` with one-second windows
writing locally; every command on its own free metrics port. Debian's
Prometheus scrapes them all every second (a temporary prometheus.yml with
the same honor_labels setting as grafana/prometheus/prometheus.yml).

Then:
- EVERY PromQL expression of grafana/dashboards/iotpipe.json is evaluated
  through Prometheus's HTTP API and must return data (a series with a
  finite value), none exempt;
- `promtool check metrics` passes on every command's /metrics;
- the status line arrives as plain log lines (and JSON records with
  --log-format json) when stderr is not a terminal.
Static checks need no services: the dashboard's structure, datasource uids
against the provisioning, the scrape config (promtool check config), and
the compose files (`docker compose config` when the client has compose,
else PyYAML and the files they mount).
"""
import json
import math
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from fixtures.common import ROOT, iotpipe_bin
from fixtures.faultproxy import FaultProxy
from fixtures.kafka import EmbeddedBroker

GRAFANA = ROOT / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "iotpipe.json"
# Grafana fills these in; Prometheus needs literal values. 10 s holds ten
# samples at the test's 1 s scrape interval.
GRAFANA_VARS = {"$__rate_interval": "10s", "$__interval": "1s",
                "$__range": "1m"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def dashboard_exprs():
    """(panel title, refId, expr) for every target of every panel."""
    dash = json.loads(DASHBOARD.read_text())
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((p["title"], t["refId"], t["expr"]))
            walk(p.get("panels", []))
    walk(dash["panels"])
    return out


def promql(expr):
    for k, v in GRAFANA_VARS.items():
        expr = expr.replace(k, v)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


# ---- static checks -------------------------------------------------------

def test_dashboard_structure():
    dash = json.loads(DASHBOARD.read_text())
    ds = yaml.safe_load(
        (GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    uids = {d["uid"] for d in ds["datasources"]}
    assert len(uids) == 1, uids
    uid = uids.pop()
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 36
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    assert len(panels) >= 15
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    titles = {p["title"] for p in panels}
    for want in ("Input rate", "Processing rate", "Event latency",
                 "Consumer lag", "Watermark delay", "Invalid events by reason",
                 "Filtered and late events", "Files written", "Bytes written",
                 "S3 requests", "S3 errors and retries", "Batch duration",
                 "CPU", "Memory"):
        assert want in titles, f"panel {want!r} missing"
    for p in panels:
        assert p["datasource"]["uid"] == uid, p["title"]
        assert p["targets"], f"{p['title']}: no targets"
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] + g["w"] <= 24
        assert p["fieldConfig"]["defaults"]["unit"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == uid
            assert t["expr"].strip()
    # provisioning loads the folder compose mounts the dashboards on
    prov = yaml.safe_load(
        (GRAFANA / "provisioning/dashboards/iotpipe.yml").read_text())
    compose = yaml.safe_load((GRAFANA / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    path = prov["providers"][0]["options"]["path"]
    assert any(m.startswith("./dashboards:" + path) for m in mounts), mounts


def test_dashboard_uses_standard_process_metrics_and_safety_counters():
    """The process panels use the names every Prometheus client library
    exports (so generic dashboards and alerts agree with ours), and the
    counters that must stay at zero each have a panel."""
    exprs = [e for _, _, e in dashboard_exprs()]
    for family in ("process_cpu_seconds_total",
                   "process_resident_memory_bytes", "process_open_fds",
                   "process_max_fds",
                   "iotpipe_process_max_resident_memory_bytes",
                   "iotpipe_data_loss_total", "iotpipe_keys_split_total",
                   "iotpipe_windows_merged_total",
                   "iotpipe_dead_letter_dropped_total",
                   "iotpipe_events_invalid_total"):
        assert any(re.search(rf"(?<![a-z_]){family}\b", e) for e in exprs), \
            f"no panel queries {family}"
    for e in exprs:
        # the prefixed copies of the standard set no longer exist
        assert not re.search(r"iotpipe_process_(?!max_resident)", e), e
        # unprefixed names also come from other exporters: ours only
        if re.search(r"(?<![a-z_])process_", e):
            assert 'job=~"iotpipe.*"' in e, e
    dash = json.loads(DASHBOARD.read_text())
    titles = {p["title"] for p in dash["panels"]}
    for want in ("Data safety", "Data loss", "Keys split across partitions",
                 "Dead letters dropped", "Invalid events by reason (range)",
                 "File descriptors"):
        assert want in titles, f"panel {want!r} missing"


def test_scrape_config_covers_every_command():
    cfg = GRAFANA / "prometheus" / "prometheus.yml"
    cp = subprocess.run(["promtool", "check", "config", str(cfg)],
                        capture_output=True, text=True)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    doc = yaml.safe_load(cfg.read_text())
    targets = [t for sc in doc["scrape_configs"]
               for st in sc["static_configs"] for t in st["targets"]]
    for port in (9100, 9101, 9102, 9103, 9104):
        assert f"127.0.0.1:{port}" in targets
    assert all(sc.get("honor_labels") for sc in doc["scrape_configs"])
    # the defaults the commands use: their rows of commands[] in main.c
    main_c = (ROOT / "src" / "main.c").read_text()
    for cmd, port in (("run", 9100), ("produce", 9101),
                      ("archive", 9102), ("aggregate", 9103)):
        assert re.search(rf'\{{ "{cmd}", cmd_{cmd},[^}}]*"127\.0\.0\.1:{port}"', main_c), cmd


def compose_client():
    if not shutil.which("docker"):
        return None
    cp = subprocess.run(["docker", "compose", "version"],
                        capture_output=True, text=True)
    return ["docker", "compose"] if cp.returncode == 0 else None


COMPOSE_FILES = [GRAFANA / "docker-compose.yml",
                 GRAFANA / "docker-compose.stack.yml",
                 ROOT / "kafka" / "docker-compose.yml",
                 ROOT / "s3" / "docker-compose.yml"]


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda p: p.name if
                         p.parent.name == "grafana" else p.parent.name)
def test_compose_file(path):
    client = compose_client()
    if client:
        cp = subprocess.run([*client, "-f", str(path), "config", "--quiet"],
                            capture_output=True, text=True)
        assert cp.returncode == 0, cp.stderr
        return
    # No compose client here (`docker compose version` fails: the compose
    # plugin is not installed): check what PyYAML can.
    doc = yaml.safe_load(path.read_text())
    if "include" in doc:
        for inc in doc["include"]:
            target = (path.parent / inc["path"]).resolve()
            assert target.exists(), target
            assert target in [p.resolve() for p in COMPOSE_FILES]
        return
    assert doc["services"]
    for name, svc in doc["services"].items():
        assert svc.get("image"), name
        for v in svc.get("volumes", []):
            src = v.split(":")[0]
            if src.startswith("."):
                assert (path.parent / src).exists(), f"{name}: {v}"
            else:
                assert src in (doc.get("volumes") or {}), f"{name}: {v}"


# ---- the live pipeline ---------------------------------------------------

class Proc:
    def __init__(self, name, args, workdir, env=None):
        self.name = name
        self.port = None
        self.err_path = workdir / f"{name}.stderr"
        self._err = open(self.err_path, "w")
        full = dict(os.environ)
        full.update(env or {})
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                     stderr=self._err, cwd=ROOT, env=full)

    def stderr(self):
        if not self._err.closed:
            self._err.flush()
        return self.err_path.read_text()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()
        return self.proc.returncode


def iotpipe_proc(workdir, name, *args, env=None):
    port = free_port()
    p = Proc(name, [iotpipe_bin(), *map(str, args), "--metrics-addr",
                    f"127.0.0.1:{port}"], workdir, env)
    p.port = port
    return p


def wait_http(url, timeout=30, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise AssertionError(f"{proc.name} exited: {proc.stderr()[-3000:]}")
        try:
            return http_get(url, 2)
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout}s")


class Pipeline:
    def __init__(self):
        self.procs = {}
        self.targets = {}   # scrape job -> host:port
        self.prom = None
        self.proxy = None
        self.broker = None

    def query(self, expr):
        url = (f"{self.prom_url}/api/v1/query?" +
               urllib.parse.urlencode({"query": expr}))
        doc = json.loads(http_get(url, 10))
        assert doc["status"] == "success", doc
        return doc["data"]["result"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, s3):
    if not shutil.which("prometheus"):
        pytest.fail("prometheus not found: run 'make deps' (Debian package)")
    work = tmp_path_factory.mktemp("observability")
    pl = Pipeline()
    host, port = s3.endpoint.rsplit("/", 1)[1].split(":")
    try:
        pl.broker = EmbeddedBroker(work / "broker", "--topic", "obs",
                                   "--partitions", "2")
        pl.targets["iotpipe-broker"] = pl.broker.metrics
        bs = pl.broker.bootstrap
        common = ["--bootstrap-servers", bs, "--topic", "obs"]
        # statistics every second instead of five: the test waits less
        stats = ["--kafka", "statistics.interval.ms=1000"]
        status_env = {"IOTPIPE_STATUS_INTERVAL": "1"}

        pl.procs["produce"] = iotpipe_proc(
            work, "produce", "produce", *common, *stats, "--rate", "300",
            "--duration", "600", "--invalid-fraction", "0.05",
            "--late-fraction", "0.05", "--late-by", "3", "--seed", "6",
            env=status_env)

        pl.proxy = FaultProxy(host, int(port))
        pl.proxy.start()
        # the first object PUTs fail: errors and retries are counted
        pl.proxy.plan(["503", "500", "503"], method="PUT")
        bucket = s3.bucket("obs")
        pl.procs["archive"] = iotpipe_proc(
            work, "archive", "archive", *common, *stats,
            "--output", f"s3://{bucket}/raw/",
            "--checkpoint", f"s3://{bucket}/checkpoints/raw/",
            "--trigger", "1", env={**s3.env(endpoint=pl.proxy.endpoint),
                                   **status_env})
        pl.procs["aggregate"] = iotpipe_proc(
            work, "aggregate", "aggregate", *common, *stats,
            "--output", work / "aggregate", "--checkpoint", work / "ckpt",
            "--trigger", "1", "--window", "1", "--watermark", "1",
            "--idle-timeout", "2", "--log-format", "json", env=status_env)
        for name, p in pl.procs.items():
            wait_http(f"http://127.0.0.1:{p.port}/healthz", proc=p)
            pl.targets[f"iotpipe-{name}"] = f"127.0.0.1:{p.port}"

        prom_port = free_port()
        cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{
                "job_name": "iotpipe", "honor_labels": True,
                "static_configs": [{"targets": [t], "labels": {"job": j}}
                                   for j, t in pl.targets.items()]}],
        }
        (work / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        pl.prom = Proc("prometheus", [
            "prometheus", f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}"], work)
        pl.prom_url = f"http://127.0.0.1:{prom_port}"
        wait_http(pl.prom_url + "/-/ready", timeout=60, proc=pl.prom)
        yield pl
    finally:
        codes = {name: p.stop() for name, p in pl.procs.items()}
        if pl.prom:
            pl.prom.stop()
        if pl.proxy:
            pl.proxy.stop()
        if pl.broker:
            pl.broker.stop()
    # SIGTERM is a clean stop for every command (and sanitizer builds
    # report leaks through the exit status)
    bad = {n: c for n, c in codes.items() if c != 0}
    assert not bad, "\n".join(f"{n} exited {c}: {pl.procs[n].stderr()[-2000:]}"
                               for n, c in bad.items())


def test_every_dashboard_query_returns_data(pipeline):
    exprs = dashboard_exprs()
    assert len(exprs) >= 30
    # every target up first
    deadline = time.monotonic() + 60
    while True:
        up = {r["metric"]["job"]: r["value"][1]
              for r in pipeline.query("up")}
        if len(up) == len(pipeline.targets) and set(up.values()) == {"1"}:
            break
        assert time.monotonic() < deadline, f"targets not up: {up}"
        time.sleep(1)
    # then every expression: windows must close, S3 faults be retried,
    # librdkafka statistics arrive; poll until all have data
    missing = exprs
    deadline = time.monotonic() + 120
    while missing and time.monotonic() < deadline:
        for name, p in pipeline.procs.items():
            assert p.alive(), f"{name} exited: {p.stderr()[-3000:]}"
        # data = at least one series with a number (a quantile of an
        # empty rate window is NaN: that is no data on a panel either)
        missing = [(t, r, e) for t, r, e in missing
                   if not any(math.isfinite(float(x["value"][1]))
                              for x in pipeline.query(promql(e)))]
        if missing:
            time.sleep(2)
    assert not missing, "dashboard queries without data:\n" + "\n".join(
        f"  {t} [{r}]: {e}" for t, r, e in missing)
    # the values are the pipeline's, not just present
    def scalar(expr):
        res = pipeline.query(expr)
        return sum(float(r["value"][1]) for r in res)
    assert scalar("sum(iotpipe_s3_errors_total)") >= 3
    assert scalar("sum(iotpipe_s3_retries_total)") >= 3
    assert scalar('sum(iotpipe_events_invalid_total{job="archive"})') > 0
    assert scalar('sum(iotpipe_events_late_total{job="aggregate"})') > 0
    assert scalar('sum(iotpipe_bytes_written_total{job="archive"})') > 1000
    assert scalar('sum(iotpipe_windows_emitted_total{job="aggregate"})') > 0
    lag = pipeline.query("iotpipe_kafka_consumer_lag_records")
    assert {r["metric"]["client"] for r in lag} >= {"archive", "aggregate"}
    assert {r["metric"]["partition"] for r in lag} == {"0", "1"}
    rtt = pipeline.query("iotpipe_kafka_broker_rtt_avg_seconds")
    assert {r["metric"]["client"] for r in rtt} == {
        "produce", "archive", "aggregate"}
    assert all(0 <= float(r["value"][1]) < 5 for r in rtt)


def test_promtool_check_metrics_on_every_command(pipeline):
    assert set(pipeline.targets) == {
        "iotpipe-broker", "iotpipe-produce", "iotpipe-archive",
        "iotpipe-aggregate"}
    for job, target in pipeline.targets.items():
        text = http_get(f"http://{target}/metrics")
        cp = subprocess.run(["promtool", "check", "metrics"], input=text,
                            capture_output=True, text=True)
        assert cp.returncode == 0, f"{job}:\n{cp.stdout}{cp.stderr}"
        for family in re.findall(r"^# TYPE (\S+) counter$", text, re.M):
            assert family.endswith("_total"), f"{job}: {family}"
        assert re.search(r"^process_cpu_seconds_total \S+$", text, re.M), job


def test_promtool_check_metrics_on_run(tmp_path):
    port = free_port()
    p = Proc("run", [iotpipe_bin(), "run", "--data-dir", str(tmp_path),
                     "--trigger", "1", "--idle-timeout", "1",
                     "--metrics-addr", f"127.0.0.1:{port}"], tmp_path,
             env={"IOTPIPE_STATUS_INTERVAL": "1"})
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=p)
        deadline = time.monotonic() + 30
        while True:
            text = http_get(f"http://127.0.0.1:{port}/metrics")
            if ("iotpipe_kafka_broker_rtt_avg_seconds" in text and
                    'iotpipe_files_written_total{job="archive"} 0' not in
                    text):
                break
            assert time.monotonic() < deadline, text[-3000:]
            time.sleep(1)
        cp = subprocess.run(["promtool", "check", "metrics"], input=text,
                            capture_output=True, text=True)
        assert cp.returncode == 0, cp.stdout + cp.stderr
    finally:
        assert p.stop() == 0, p.stderr()[-3000:]
    # not a TTY: the status arrives as log lines, one family per job
    assert re.search(r"info  status: (total [\d.]+ s: )?produced \S+ \(\d+/s\), errors 0 \| "
                     r"archive \d+/s, lag \d+, files \S+, \S+ \| aggregate",
                     p.stderr()), p.stderr()[-3000:]


def test_status_lines_when_not_a_terminal(pipeline):
    time.sleep(2)
    arch = pipeline.procs["archive"].stderr()
    assert re.search(r"info  status: (total [\d.]+ s: )?archive \d+/s, lag \d+, files \S+, \S+B",
                     arch), arch[-2000:]
    assert "\r" not in arch and "\033[" not in arch
    prod = pipeline.procs["produce"].stderr()
    assert re.search(r"status: (total [\d.]+ s: )?produced \S+ \(\d+/s\), errors 0", prod)
    # --log-format json: the status is an ordinary JSON record
    records = [json.loads(line) for line in
               pipeline.procs["aggregate"].stderr().splitlines()
               if line.startswith("{")]
    status = [r for r in records if "status" in json.dumps(r)
              and "watermark" in json.dumps(r)]
    assert status, records[-5:]
