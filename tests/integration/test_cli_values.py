"""Hostile input: option and config values are checked where they are
parsed. Every numeric option of every command refuses a negative, zero
(where zero means nothing), non-numeric or out-of-range value with exit
status 2 and one line naming the flag and the allowed range; before, the
streaming jobs took -1 for "not given" and ran on the defaults. Config files
with duplicate keys, a second document, aliases or absurd nesting are
refused naming the file and line (the nesting quickly); an empty topic and a
dead-letter topic equal to the input topic are configuration errors.

No service is needed: every case must fail before anything connects, and
the bootstrap servers point at a closed port so that a regression shows as
exit 1, not as a hang."""
import re
import time

import pytest

NO_KAFKA = "127.0.0.1:1"

# Values every numeric flag must refuse, besides the ones of its own range.
COMMON_BAD = ["-1", "abc", "", "1e400", "nan", "12x"]

# command -> {flag: (extra bad values beyond COMMON_BAD)}. test_table_complete
# checks this against --help, so a new numeric option needs a row here.
NUMERIC = {
    "produce": {
        "--count": ["1e13", "1.5"],
        "--rate": ["2e9"],
        "--duration": ["4e7"],
        "--devices": ["0", "10000001"],
        "--seed": ["9007199254740992"],
        "--time-step": ["86401"],
        "--timeout": ["0", "86401"],
        "--flush-timeout": ["86401"],
        "--late-fraction": ["1.5"],
        "--late-by": ["0"],
        "--invalid-fraction": ["2"],
        "--duplicate-fraction": ["1.01"],
    },
    "archive": {
        "--trigger": ["0", "86401"],
        "--max-batch-events": ["0", "1000000001"],
        "--timeout": ["0"],
        "--horizon": ["-1", "31536001"],
    },
    "aggregate": {
        "--trigger": ["0", "-60"],
        "--max-batch-events": ["0"],
        "--timeout": ["0"],
        "--window": ["-60", "0", "0.5", "31536001"],
        "--watermark": ["-5", "31536001"],
        "--idle-timeout": ["31536001"],
        "--horizon": ["-300"],
    },
    "percentile": {
        "--threshold": ["1e13", "2.5"],
        "--threads": ["0", "1025"],
    },
    "run": {
        "--rate": ["2e9"],
        "--devices": ["0"],
        "--partitions": ["0", "1025"],
        "--trigger": ["0"],
        "--idle-timeout": ["31536001"],
    },
    "broker": {
        "--brokers": ["0", "17"],
        "--partitions": ["0", "1025"],
    },
    "mb": {
        "--wait": ["86401"],
    },
    "inspect": {
        "--head": [],
    },
}

def extra(cmd, tmp):
    """What `cmd` needs besides the value under test to be otherwise valid;
    locations under tmp, so that a regression fails here, not on S3."""
    jobs = ["--bootstrap-servers", NO_KAFKA, "--metrics-addr", "off",
            "--output", str(tmp / "out"), "--checkpoint", str(tmp / "ck")]
    return {
        "produce": ["--bootstrap-servers", NO_KAFKA, "--metrics-addr", "off"],
        "archive": jobs,
        "aggregate": jobs,
        "percentile": ["--metrics-addr", "off", "--input", str(tmp / "in"),
                       "--output", str(tmp / "p.csv")],
        "run": ["--bootstrap-servers", NO_KAFKA, "--metrics-addr", "off",
                "--data-dir", str(tmp / "data")],
        "broker": ["--metrics-addr", "off"],
        "mb": ["s3://no-such-bucket"],
        "inspect": [str(tmp / "no-such-file.parquet")],
    }[cmd]


NUMERIC_ARG = re.compile(r"^\s+(?:-\w, )?(--[a-z-]+) (N|SECONDS|EVENTS_PER_S|F)\b", re.M)


def _error_line(cp):
    lines = [l for l in cp.stderr.splitlines() if l.strip()]
    assert lines, "no error message"
    return lines[0]


@pytest.mark.parametrize("cmd", sorted(NUMERIC))
def test_table_complete(iotpipe, cmd):
    """Every numeric option in --help has a row in NUMERIC."""
    helptext = iotpipe(cmd, "--help").stdout
    flags = set(NUMERIC_ARG.findall(helptext))
    assert {f for f, _ in flags} == set(NUMERIC[cmd]), helptext
    # the help shows the range the parser enforces (from the same table row)
    for flag, _ in flags:
        if flag != "--head":  # N or 'all', a string option
            assert re.search(rf"{flag} \S+\s+.*\[(from|greater than) [^\]]+\]$", helptext,
                             re.M), (flag, helptext)


def test_no_other_command_has_numeric_options(iotpipe):
    for cmd in ("validate", "ls", "cp"):
        helptext = iotpipe(cmd, "--help").stdout
        assert not NUMERIC_ARG.findall(helptext), (cmd, helptext)


@pytest.mark.parametrize("cmd,flag", [(c, f) for c in sorted(NUMERIC)
                                      for f in NUMERIC[c]])
def test_bad_numeric_value_is_usage_error(iotpipe, tmp_path, cmd, flag):
    for value in COMMON_BAD + NUMERIC[cmd][flag]:
        cp = iotpipe(cmd, f"{flag}={value}", *extra(cmd, tmp_path), check=False, timeout=30,
                     env={"IOTPIPE_CONFIG_DIR": str(tmp_path)})
        assert cp.returncode == 2, (cmd, flag, value, cp.returncode, cp.stderr[-2000:])
        line = _error_line(cp)
        assert flag in line, (cmd, flag, value, line)
        if flag != "--head":
            assert re.search(r"expected an? (integer|number) (from|greater than) ", line), line
            assert f"'{value}'" in line, line


@pytest.mark.parametrize("args", [
    ["aggregate", "--window", "-60"],
    ["aggregate", "--watermark", "-5"],
    ["aggregate", "--trigger", "-1"],
    ["aggregate", "--idle-timeout", "-1"],
    ["archive", "--trigger", "-1"],
    ["run", "--idle-timeout", "-1"],
    ["run", "--rate", "-1"],
    ["produce", "--seed", "-1"],
])
def test_negative_is_not_default(iotpipe, tmp_path, args):
    """The reported defect: -1 was the "not given" sentinel, so these ran
    (here: tried to reach Kafka, exit 1) on the defaults."""
    once = ["--once", "--timeout", "2"] if args[0] in ("archive", "aggregate") else []
    cp = iotpipe(*args, *extra(args[0], tmp_path), *once, check=False, timeout=30)
    assert cp.returncode == 2, (args, cp.returncode, cp.stderr[-2000:])
    line = _error_line(cp)
    # a flag that is a setting also names its key: "option --window: key
    # 'window.WINDOW_SECONDS': '-60' is out of range: ..."
    assert line.startswith(f"iotpipe {args[0]}: option {args[1]}: "), line
    assert f"'{args[2]}' is out of range" in line, line


# --- configuration files ------------------------------------------------

def _config_error(iotpipe, tmp_path, text, cmd="aggregate", timeout=30):
    f = tmp_path / "streaming_config.yml"
    f.write_text(text)
    t0 = time.monotonic()
    cp = iotpipe(cmd, "-c", f, *extra(cmd, tmp_path), check=False, timeout=timeout)
    took = time.monotonic() - t0
    assert cp.returncode == 2, (text[:200], cp.returncode, cp.stderr[-2000:])
    return _error_line(cp), str(f), took


@pytest.mark.parametrize("text,want", [
    ("streaming_config:\n  kafka:\n    KAFKA_TOPIC_NAME: a\n    KAFKA_TOPIC_NAME: b\n",
     ":4: duplicate key 'KAFKA_TOPIC_NAME' (first at line 3)"),
    ("streaming_config:\n  window: {WINDOW_SECONDS: 60}\n---\nstreaming_config: {}\n",
     ":3: a second YAML document"),
    ("streaming_config: &a\n  kafka: *a\n", ":2: YAML alias '*a': aliases are not allowed"),
    ("lol: &l [x, x, x, x, x, x, x, x, x]\nlol2: &l2 [*l, *l, *l, *l, *l, *l]\n",
     ":2: YAML alias '*l'"),
    ("streaming_config:\n  window:\n    WINDOW_SECONDS: -60\n",
     ":3: key 'window.WINDOW_SECONDS': '-60' is out of range: expected a number from 1 to 31536000"),
    ("streaming_config:\n  window:\n    TRIGGER_SECONDS: 0\n",
     ":3: key 'window.TRIGGER_SECONDS': '0' is out of range"),
    ("streaming_config:\n  kafka:\n    KAFKA_TOPIC_NAME: \"\"\n",
     ":3: key 'kafka.KAFKA_TOPIC_NAME': the topic name is empty"),
])
def test_config_file_refused(iotpipe, tmp_path, text, want):
    line, path, _ = _config_error(iotpipe, tmp_path, text)
    assert path + want in line, line


def test_deep_nesting_refused_quickly(iotpipe, tmp_path):
    """100,000 levels of flow nesting took 20-36 s to refuse."""
    text = "streaming_config:\n  kafka: " + "[" * 100000 + "]" * 100000 + "\n"
    line, path, took = _config_error(iotpipe, tmp_path, text, timeout=60)
    assert f"{path}:2: nested deeper than 64 levels" in line, line
    assert took < 2, took


def test_env_value_refused(iotpipe, tmp_path):
    cp = iotpipe("percentile", *extra("percentile", tmp_path), check=False,
                 env={"NUM_EVENT_THRESHOLD": "-5"})
    assert cp.returncode == 2, cp.stderr
    assert ("environment variable NUM_EVENT_THRESHOLD: key 's3.NUM_EVENT_THRESHOLD': "
            "'-5' is out of range") in _error_line(cp)


# --- topics ---------------------------------------------------------------

@pytest.mark.parametrize("cmd", ["produce", "archive", "aggregate", "run"])
def test_empty_topic_flag_is_config_error(iotpipe, tmp_path, cmd):
    cp = iotpipe(cmd, "--topic", "", *extra(cmd, tmp_path), check=False, timeout=30)
    assert cp.returncode == 2, (cmd, cp.returncode, cp.stderr[-2000:])
    line = _error_line(cp)
    assert "--topic" in line and "the topic name is empty" in line, line


def test_empty_topic_in_producer_config(iotpipe, tmp_path):
    f = tmp_path / "producer_config.yml"
    f.write_text("producer_config:\n  kafka:\n    topic: ''\n")
    cp = iotpipe("produce", "-c", f, *extra("produce", tmp_path), check=False, timeout=30)
    assert cp.returncode == 2, cp.stderr
    assert f"{f}:3: key 'kafka.topic': the topic name is empty" in _error_line(cp)


@pytest.mark.parametrize("cmd", ["archive", "aggregate"])
def test_dead_letter_topic_is_input_topic_flags(iotpipe, tmp_path, cmd):
    cp = iotpipe(cmd, "--topic", "events", "--dead-letter-topic", "events",
                 *extra(cmd, tmp_path), "--once", check=False, timeout=30)
    assert cp.returncode == 2, (cmd, cp.returncode, cp.stderr[-2000:])
    line = _error_line(cp)
    assert "dead-letter topic 'events' (--dead-letter-topic) is the input topic (--topic)" in line


@pytest.mark.parametrize("cmd", ["archive", "aggregate", "run"])
def test_dead_letter_topic_is_input_topic_config(iotpipe, tmp_path, cmd):
    f = tmp_path / "streaming_config.yml"
    f.write_text("streaming_config:\n  kafka:\n    KAFKA_TOPIC_NAME: events\n"
                 "    DEAD_LETTER_TOPIC: events\n")
    cp = iotpipe(cmd, "-c", f, *extra(cmd, tmp_path), check=False, timeout=30)
    assert cp.returncode == 2, (cmd, cp.returncode, cp.stderr[-2000:])
    line = _error_line(cp)
    assert "kafka.DEAD_LETTER_TOPIC" in line and "kafka.KAFKA_TOPIC_NAME" in line, line
    # the environment variable is checked the same way
    cp = iotpipe(cmd, "--topic", "events", *extra(cmd, tmp_path), check=False, timeout=30,
                 env={"DEAD_LETTER_TOPIC": "events"})
    assert cp.returncode == 2, (cmd, cp.returncode, cp.stderr[-2000:])
    line = _error_line(cp)
    assert "DEAD_LETTER_TOPIC" in line and "(--topic)" in line, line


def test_dead_letter_topic_name_checked(iotpipe, tmp_path):
    cp = iotpipe("archive", "--dead-letter-topic", "bad/name", *extra("archive", tmp_path),
                 check=False, timeout=30)
    assert cp.returncode == 2, cp.stderr
    assert "--dead-letter-topic" in _error_line(cp)


@pytest.mark.parametrize("cmd", ["produce", "archive", "aggregate", "run"])
def test_empty_bootstrap_servers_is_config_error(iotpipe, tmp_path, cmd):
    args = [a if a != NO_KAFKA else "" for a in extra(cmd, tmp_path)]
    cp = iotpipe(cmd, *args, check=False, timeout=30)
    assert cp.returncode == 2, (cmd, cp.returncode, cp.stderr[-2000:])
    line = _error_line(cp)
    assert "--bootstrap-servers" in line and "the value is empty" in line, line


def test_empty_environment_variable_counts_as_unset(iotpipe, tmp_path):
    """KAFKA_TOPIC_NAME= (set but empty) is the shell's way to unset it:
    the file or default applies, as for every variable."""
    cp = iotpipe("debug", "config", env={"KAFKA_TOPIC_NAME": "", "KAFKA_BOOTSTRAP_SERVERS": "",
                                         "IOTPIPE_CONFIG_DIR": str(tmp_path)})
    assert "streaming.topic=device_topic" in cp.stdout.splitlines(), cp.stdout
    assert "streaming.bootstrap_servers=localhost:9092" in cp.stdout.splitlines(), cp.stdout
