""".github/workflows/ci.yml, the CI for clones hosted on GitHub, cannot run
here; these checks parse it and hold it to what .ci/run does: it triggers
on pushes and pull requests, runs on an Ubuntu runner (22.04 or 24.04, the
releases scripts/deps.sh knows), checks the code out, runs the same
command as .ci/run (`bash .ci/run`, or the `make test` that .ci/run runs)
and stops within the 90 minutes .ci/run is given."""
import re

import yaml

from fixtures.common import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
CI_RUN = ROOT / ".ci" / "run"


def load():
    doc = yaml.safe_load(WORKFLOW.read_text())
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean true
    doc["on"] = doc.pop(True) if True in doc else doc.get("on")
    return doc


def events(on):
    if isinstance(on, str):
        return {on}
    if isinstance(on, list):
        return set(on)
    return set(on or {})


def ci_command():
    """The command .ci/run ends in (its last non-comment line)."""
    lines = [ln.strip() for ln in CI_RUN.read_text().splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    return lines[-1]


def test_triggers_on_push_and_pull_request():
    assert {"push", "pull_request"} <= events(load()["on"])


def test_a_job_mirrors_ci_run_on_ubuntu():
    assert ci_command() == "make test", ".ci/run changed: mirror it here"
    jobs = load()["jobs"]
    assert jobs
    mirrored = []
    for name, job in jobs.items():
        steps = job.get("steps", [])
        runs = [s["run"] for s in steps if "run" in s]
        if not any(re.search(r"(^|\s)(bash \.ci/run|make test)(\s|$)", r)
                   for r in runs):
            continue
        mirrored.append(name)
        runner = job["runs-on"]
        assert isinstance(runner, str) and re.fullmatch(
            r"ubuntu-2[24]\.04", runner), f"{name}: runs-on {runner!r}"
        uses = [s.get("uses", "") for s in steps]
        checkout = [i for i, u in enumerate(uses)
                    if u.startswith("actions/checkout@")]
        first_run = min(i for i, s in enumerate(steps) if "run" in s)
        assert checkout and checkout[0] < first_run, \
            f"{name}: the code is not checked out before it runs"
        timeout = job.get("timeout-minutes")
        assert isinstance(timeout, int) and 0 < timeout < 90, \
            f"{name}: timeout-minutes {timeout!r}"
    assert mirrored, "no job runs `bash .ci/run` or `make test`"


def test_python_runs_the_pinned_test_tools():
    # kafka-python 2.0.2 does not import on Python 3.12 (its vendored six):
    # on a runner whose python3 is 3.12 (Ubuntu 24.04) the workflow must
    # set up an older one before deps.sh builds the venv with it
    pins = (ROOT / "requirements-test.txt").read_text()
    if not re.search(r"^kafka-python==2\.0\.[0-2]$", pins, re.M):
        return
    for name, job in load()["jobs"].items():
        if job["runs-on"] != "ubuntu-24.04":
            continue
        versions = [str(s.get("with", {}).get("python-version", ""))
                    for s in job.get("steps", [])
                    if s.get("uses", "").startswith("actions/setup-python@")]
        assert versions and all(re.fullmatch(r"3\.(9|10|11)", v)
                                for v in versions), (name, versions)
