"""The live web console (issue 15) in a real browser, on a running pipeline.

`iotpipe run` runs for the module: the embedded broker, the simulated
devices, `archive` and `aggregate` with two-second windows, both writing to
S3 (S3Proxy behind the fault proxy, so the test can make S3 fail), on a
free metrics port. Debian's chromium, headless, driven by Selenium with the
driver given explicitly (/usr/bin/chromedriver from chromium-driver: no
browser or driver is downloaded), loads the page and the test checks:

- the JSON API answers (status, history with ?since=, batches, config) and
  no response holds the S3 secret;
- every console response carries Content-Security-Policy default-src 'self';
- the charts hold data points and the points grow over time;
- the numbers shown agree with a /metrics scrape made right after, within
  what the pipeline moves in a few seconds;
- every request the browser made went to the console's own address
  (Chrome's performance log), and the browser console holds no error;
- the keyboard works (p pauses, r refreshes, Tab reaches the controls) and
  dark mode changes the colours;
- screenshots at 1280x800 and 390x844, checked (PNG, exact size) and kept
  in docs/ for the README;
- `broker` and `produce` serve the page and the API as well;
- with S3 failing, the health shown changes (degraded, with the reason);
  with the process stopped the page says it is unreachable.

The browser test is skipped only when chromium is missing outside CI
(`make deps` installs it; on CI a missing browser fails).
"""
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import urllib.request

import pytest

from fixtures.common import ROOT, iotpipe_bin
from fixtures.faultproxy import FaultProxy

# Debian's chromium and chromium-driver (scripts/deps.sh installs them);
# Ubuntu's chromium is a snap, so there deps.sh installs none and GitHub's
# runners bring Google Chrome and its driver (CHROMEWEBDRIVER). Either may
# be named explicitly.
CHROMIUM = next((p for p in (os.environ.get("IOTPIPE_CHROMIUM"), "/usr/bin/chromium",
                             "/usr/bin/google-chrome") if p and os.path.exists(p)),
                "/usr/bin/chromium")
CHROMEDRIVER = next((p for p in (os.environ.get("IOTPIPE_CHROMEDRIVER"), "/usr/bin/chromedriver",
                                 os.path.join(os.environ.get("CHROMEWEBDRIVER", "/nonexistent"),
                                              "chromedriver")) if p and os.path.exists(p)),
                    "/usr/bin/chromedriver")
DOCS = ROOT / "docs"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, dict(r.headers), r.read()


def get_json(url):
    return json.loads(get(url)[2])


def wait_for(pred, timeout, what, step=0.5):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def scrape(base):
    """{(name, labels): value} of one /metrics scrape."""
    text = get(base + "/metrics")[2].decode()
    out = {}
    for m in re.finditer(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$', text, re.M):
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def metric_sum(scraped, name, match=""):
    return sum(v for (n, l), v in scraped.items() if n == name and match in l)


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert len(data) > 10000, f"{path} is suspiciously small ({len(data)} bytes)"
    return struct.unpack(">II", data[16:24])


class Pipeline:
    pass


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, s3):
    work = tmp_path_factory.mktemp("console")
    host, port = s3.endpoint.rsplit("/", 1)[1].split(":")
    pl = Pipeline()
    pl.proxy = FaultProxy(host, int(port))
    pl.proxy.start()
    pl.bucket = s3.bucket("console")
    pl.secret = s3.secret_key
    (work / "streaming.yml").write_text(
        "streaming_config:\n  window:\n    WINDOW_SECONDS: 2\n    WATERMARK_SECONDS: 1\n")
    pl.port = free_port()
    pl.base = f"http://127.0.0.1:{pl.port}"
    pl.stderr = open(work / "run.stderr", "w")
    env = dict(os.environ, **s3.env(endpoint=pl.proxy.endpoint))
    # a librdkafka secret too: it must be redacted on the page
    pl.proc = subprocess.Popen(
        [iotpipe_bin(), "run", "-c", str(work / "streaming.yml"),
         "--metrics-addr", f"127.0.0.1:{pl.port}", "--data-dir", str(work / "data"),
         "--raw-output", f"s3://{pl.bucket}/raw/",
         "--aggregate-output", f"s3://{pl.bucket}/aggregate/",
         "--trigger", "2", "--idle-timeout", "2",
         "--kafka", "sasl.password=console-kafka-secret"],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=pl.stderr)
    try:
        wait_for(lambda: _files(pl) > 0, 60, "the jobs' first files on S3")
        # a few samples of history after the first commits, and health ok:
        # a request a freshly started S3Proxy fails (the job retries it)
        # degrades the health for a minute
        time.sleep(3)
        try:
            wait_for(lambda: get_json(pl.base + "/api/status")["health"]["state"] == "ok",
                     75, "health ok")
        except AssertionError:
            pl.stderr.flush()
            raise AssertionError(f"health: {get_json(pl.base + '/api/status')['health']}; "
                                 f"stderr: {(work / 'run.stderr').read_text()[-3000:]}")
        yield pl
    finally:
        if pl.proc.poll() is None:
            pl.proc.send_signal(signal.SIGTERM)
            try:
                pl.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pl.proc.kill()
                pl.proc.wait()
        pl.stderr.close()
        pl.proxy.stop()


def _files(pl):
    try:
        st = get_json(pl.base + "/api/status")
    except OSError:
        assert pl.proc.poll() is None, "iotpipe run exited"
        return 0
    return min((j["files_total"] for j in st["jobs"]), default=0)


def test_api(pipeline):
    pl = pipeline
    st = get_json(pl.base + "/api/status")
    assert st["command"] == "run"
    assert st["health"]["state"] == "ok", st["health"]
    assert [j["name"] for j in st["jobs"]] == ["archive", "aggregate"]
    assert st["producer"]["produced_total"] > 0
    assert st["pipeline"]["archive.output"] == f"s3://{pl.bucket}/raw/"
    assert st["pipeline"]["topic"] == "device_topic"
    assert {l["partition"] for l in st["jobs"][0]["lag"]} == {0, 1, 2, 3}
    assert st["history"]["capacity"] == 900
    assert 0 < st["history"]["memory_bytes"] <= st["history"]["bound_bytes"] < 1 << 20

    h = get_json(pl.base + "/api/history")
    n = len(h["t"])
    assert n >= 2 and all(len(v) == n for v in h["series"].values())
    for name in ("produce.produced_per_s", "archive.consumed_per_s", "archive.lag.0",
                 "aggregate.watermark_delay_s", "archive.files_total",
                 "aggregate.bytes_total", "process.rss_bytes", "process.cpu_percent",
                 "aggregate.batch_seconds", "aggregate.latency_p95_s",
                 "archive.filtered_per_s", "s3.errors_per_s"):
        assert name in h["series"], name
    time.sleep(2.5)
    newer = get_json(pl.base + f"/api/history?since={h['seq']}")
    assert newer["seq"] > h["seq"]
    assert 1 <= len(newer["t"]) <= newer["seq"] - h["seq"]
    assert newer["t"][0] > h["t"][-1]
    status, _, body = _get_status(pl.base + "/api/history?since=x")
    assert status == 400 and json.loads(body)["error"]

    b = get_json(pl.base + "/api/batches")
    assert b["batches"] and b["capacity"] == 200
    first = b["batches"][0]
    for k in ("job", "partition", "batch", "start_offset", "end_offset", "rows", "files",
              "seconds", "replayed", "time"):
        assert k in first, k
    assert first["end_offset"] >= first["start_offset"]
    assert any(r["files"] > 0 and r["rows"] > 0 for r in b["batches"])

    c = get_json(pl.base + "/api/config")
    settings = {s["key"]: s for s in c["settings"]}
    assert settings["streaming_config.librdkafka.sasl.password"]["value"] == "***"
    env = {e["key"]: e for e in c["environment"]}
    assert env["AWS_SECRET_ACCESS_KEY"]["value"] == "***"
    assert env["AWS_ENDPOINT_URL_S3"]["value"] == pl.proxy.endpoint
    for path in ("/api/status", "/api/history", "/api/batches", "/api/config", "/",
                 "/app.js", "/app.css"):
        _, headers, body = get(pl.base + path)
        assert pl.secret.encode() not in body and b"console-kafka-secret" not in body, path
        assert "default-src 'self'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff"
    assert get(pl.base + "/")[1]["Content-Type"].startswith("text/html")
    assert get(pl.base + "/app.js")[1]["Content-Type"].startswith("text/javascript")
    assert _get_status(pl.base + "/nothing-here")[0] == 404


def _get_status(url):
    try:
        return get(url)[0], None, b""
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# ---- the browser -------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        if os.environ.get("CI"):
            pytest.fail("chromium or chromium-driver missing: make deps installs them")
        pytest.skip("chromium and chromium-driver are not installed (make deps)")
    try:
        from selenium import webdriver
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("selenium missing: make deps installs requirements-test.txt")
        pytest.skip("selenium is not installed (make deps)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    # the driver is given: Selenium Manager has nothing to find or fetch
    os.environ["SE_OFFLINE"] = "true"
    o = Options()
    o.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--disable-extensions",
              "--window-size=1280,800"):
        o.add_argument(a)
    o.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
    try:
        yield d
    finally:
        d.quit()


def viewport(d, w, h, dark=False):
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": w < 600})
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
        {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}]})


def chart_points(d):
    return d.execute_script(
        "const o = {}; for (const s of document.querySelectorAll('.chart svg'))"
        " o[s.closest('.chart').id] = +s.getAttribute('data-points'); return o;")


def shown(d, key):
    text = d.execute_script(
        "const e = document.querySelector(`[data-metric='${arguments[0]}']`);"
        " return e ? e.textContent : null;", key)
    assert text is not None, f"{key} not on the page"
    return float(text.replace(",", ""))


def requests_made(d):
    urls = []
    for entry in d.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def test_page(pipeline, browser):
    pl, d = pipeline, browser
    viewport(d, 1280, 800)
    d.get(pl.base + "/")
    wait_for(lambda: d.find_element("id", "health").text.lower() == "ok", 15, "health ok")
    # charts fill, and grow
    p1 = wait_for(lambda: (lambda p: p if min(p.values()) > 0 else None)(chart_points(d)),
                  20, "every chart holding points")
    assert len(p1) == 10, p1
    time.sleep(5)
    p2 = chart_points(d)
    for cid in ("chart-rate", "chart-lag", "chart-rss", "chart-cpu", "chart-files"):
        assert p2[cid] > p1[cid], (cid, p1[cid], p2[cid])

    # numbers shown against a scrape made right after; the pipeline moves
    # about 1000 events a second and the page is at most one poll old
    st = get_json(pl.base + "/api/status")
    page = {k: shown(d, k) for k in ("produce.produced_total", "archive.consumed_total",
                                     "aggregate.consumed_total", "archive.files_total",
                                     "aggregate.files_total", "archive.batches_total",
                                     "archive.rows_written_total")}
    m = scrape(pl.base)
    rate = st["producer"]["produced_per_s"] or 1000
    expect = {
        "produce.produced_total": metric_sum(m, "iotpipe_events_produced_total"),
        "archive.consumed_total": metric_sum(m, "iotpipe_events_consumed_total", 'job="archive"'),
        "aggregate.consumed_total": metric_sum(m, "iotpipe_events_consumed_total",
                                               'job="aggregate"'),
        "archive.files_total": metric_sum(m, "iotpipe_files_written_total", 'job="archive"'),
        "aggregate.files_total": metric_sum(m, "iotpipe_files_written_total", 'job="aggregate"'),
        "archive.batches_total": metric_sum(m, "iotpipe_batches_total", 'job="archive"'),
        "archive.rows_written_total": metric_sum(m, "iotpipe_rows_written_total",
                                                 'job="archive"'),
    }
    for k, want in expect.items():
        per_s = rate if k.endswith(("consumed_total", "produced_total", "rows_written_total")) \
            else 40  # files and batches: a few dozen per 2 s commit at most
        assert 0 <= want - page[k] <= 6 * per_s + 10, (k, page[k], want)

    # the recent batches table and the redacted configuration
    rows = d.find_elements("css selector", "#batches tbody tr")
    assert len(rows) > 1 and "archive" in d.find_element("id", "batches").text
    cfg = d.find_element("id", "config").text
    assert "streaming_config.librdkafka.sasl.password" in cfg
    assert "console-kafka-secret" not in d.page_source and pl.secret not in d.page_source

    # keyboard: the first Tab reaches the skip link, p pauses, p resumes
    body = d.find_element("tag name", "body")
    from selenium.webdriver.common.keys import Keys
    body.send_keys(Keys.TAB)
    assert d.switch_to.active_element.get_attribute("class") == "skip"
    body.send_keys("p")
    assert d.find_element("id", "pause").get_attribute("aria-pressed") == "true"
    time.sleep(1)  # a poll already under way when p was pressed may still land
    before = d.find_element("id", "updated").text
    time.sleep(4.5)
    assert d.find_element("id", "updated").text == before, "updates while paused"
    body.send_keys("p")
    assert d.find_element("id", "pause").get_attribute("aria-pressed") == "false"
    wait_for(lambda: d.find_element("id", "updated").text != before, 6, "updates resumed")

    # screenshots: the wide one for the README, and the phone
    time.sleep(2)
    d.execute_script("window.scrollTo(0, 0)")
    wide = DOCS / "console.png"
    d.save_screenshot(str(wide))
    assert png_size(wide) == (1280, 800)
    viewport(d, 390, 844)
    time.sleep(2.5)
    assert d.execute_script("return document.documentElement.scrollWidth") <= 390, \
        "the page scrolls sideways at phone width"
    phone = DOCS / "console-phone.png"
    d.save_screenshot(str(phone))
    assert png_size(phone) == (390, 844)

    # dark: the colours follow the system
    light_bg = d.execute_script("return getComputedStyle(document.body).backgroundColor")
    viewport(d, 1280, 800, dark=True)
    dark_bg = d.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert light_bg != dark_bg
    viewport(d, 1280, 800)

    # nothing left 127.0.0.1:port, and the console stayed clean
    urls = requests_made(d)
    assert any(u.endswith("/api/history?since=0") for u in urls), urls[:5]
    assert any(u.endswith("/app.js") for u in urls)
    outside = [u for u in urls if not u.startswith(pl.base + "/")]
    assert not outside, outside
    errors = [e for e in d.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not errors, errors


def test_health_follows_the_jobs(pipeline, browser):
    """S3 failing for a while: degraded, with the reason; the process gone:
    unreachable. (Four 503s: the client's five attempts survive them, so
    the jobs retry and go on; a lasting outage ends `run` with an error.)"""
    pl, d = pipeline, browser
    viewport(d, 1280, 800)
    d.get(pl.base + "/")
    wait_for(lambda: d.find_element("id", "health").text.lower() == "ok", 15, "health ok")
    committed = get_json(pl.base + "/api/status")["jobs"][0]["batches_total"]
    pl.proxy.plan(["503"] * 4, method="PUT")
    wait_for(lambda: d.find_element("id", "health").text.lower() == "degraded",
             30, "the health to change while S3 fails")
    assert "S3 requests failed" in d.find_element("id", "reasons").text
    st = get_json(pl.base + "/api/status")
    assert st["health"]["state"] == "degraded"
    assert st["s3"]["errors_total"] >= 4
    assert pl.secret not in json.dumps(st)
    # the retries succeeded: the jobs commit on
    wait_for(lambda: get_json(pl.base + "/api/status")["jobs"][0]["batches_total"] > committed,
             60, "commits after the S3 errors")
    assert pl.proc.poll() is None
    pl.proc.send_signal(signal.SIGTERM)
    assert pl.proc.wait(timeout=60) == 0
    wait_for(lambda: d.find_element("id", "health").text.lower() == "unreachable", 10,
             "the page to notice the process is gone")
    assert "does not answer" in d.find_element("id", "reasons").text


def test_every_long_running_command_serves_it(embedded_broker_factory, tmp_path):
    """The broker and `produce` serve the page and the API too; a section
    a process does not run is null or empty, never an error."""
    broker = embedded_broker_factory("--metrics-addr", "127.0.0.1:0", "--topic", "t")
    base = f"http://{broker.metrics}"
    status, headers, body = get(base + "/")
    assert status == 200 and b"app.js" in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    st = get_json(base + "/api/status")
    assert st["command"] == "broker" and st["jobs"] == [] and st["producer"] is None
    assert st["health"]["state"] == "ok"
    wait_for(lambda: "process.rss_bytes" in get_json(base + "/api/history")["series"], 5,
             "the broker's process series")

    port = free_port()
    err = open(tmp_path / "produce.stderr", "w")
    prod = subprocess.Popen(
        [iotpipe_bin(), "produce", "--bootstrap-servers", broker.bootstrap, "--topic", "t",
         "--rate", "200", "--duration", "60", "--metrics-addr", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=err, cwd=tmp_path)
    try:
        pbase = f"http://127.0.0.1:{port}"
        st = wait_for(lambda: (lambda s: s if s and s["producer"] and
                               s["producer"]["produced_total"] > 0 else None)(
            _try_json(pbase + "/api/status")), 20, "produce's first acknowledgements")
        assert st["command"] == "produce" and st["jobs"] == []
        assert st["pipeline"]["topic"] == "t"
        h = wait_for(lambda: (lambda h: h if any(v for v in h["series"].get(
            "produce.produced_per_s", []) if v) else None)(get_json(pbase + "/api/history")),
            10, "a produce rate in the history")
        assert not any(k.startswith(("archive.", "aggregate.")) for k in h["series"])
        assert get_json(pbase + "/api/batches")["batches"] == []
    finally:
        prod.send_signal(signal.SIGTERM)
        assert prod.wait(timeout=30) == 0
        err.close()


def _try_json(url):
    try:
        return get_json(url)
    except OSError:
        return None
