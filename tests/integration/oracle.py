"""Independent recomputation of what `iotpipe archive` and `iotpipe
aggregate` must write, from the records actually in Kafka (read back with
kafka-python), for the streaming integration tests (test_stream_*.py).

Nothing here calls iotpipe: the validator follows docs/design.md §3 and the
window/watermark rules follow docs/design.md §5 and docs/exactly-once.md.
Output is read with duckdb (read_parquet) and compared as multisets.
"""
import collections
import datetime as dt
import decimal
import json
import math
import pathlib
import re

WINDOW_US = 60_000_000
ENUM = ("ok", "warning", "error")
FIELDS = ("timestamp", "temperature", "event_duration", "status")
REQUIRED = ("timestamp", "temperature", "event_duration")
TIME_MIN_US = -62135596800 * 1_000_000     # 0001-01-01
TIME_MAX_US = 253402300799 * 1_000_000 + 999_999

_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})"
                  r"(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$")


class Ev(collections.namedtuple("Ev", "key t_us temperature event_duration status")):
    pass


def _iso_us(s):
    m = _ISO.match(s)
    if not m:
        return None
    y, mo, d, hh, mi, ss = (int(m.group(i)) for i in range(1, 7))
    try:
        base = dt.datetime(y, mo, d, hh, mi, ss, tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    frac = m.group(7) or ""
    us = int((frac + "000000")[:6]) if frac else 0
    tz = m.group(8)
    off = 0
    if tz and tz != "Z":
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        off = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    epoch = int((base - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc))
                .total_seconds())
    return (epoch - off) * 1_000_000 + us


def _num_us(d):
    """Epoch seconds (Decimal, exact from the JSON text) -> microseconds,
    rounded half away from zero."""
    us = (d * 1_000_000).quantize(decimal.Decimal(1),
                                  rounding=decimal.ROUND_HALF_UP)
    v = int(us)
    if v < TIME_MIN_US or v > TIME_MAX_US:
        return None
    return v


def _reject_const(name):
    raise ValueError(name)


_HIVE_ESCAPED = set(range(0x20)) | {0x7f} | set(b'"#%\'*/:=?\\[]^{')


def hive_key_ok(key):
    """The key makes a device_id=<escaped> directory a file system takes
    and readers take back (core/hive.c hive_key_ok)."""
    if key == b"__HIVE_DEFAULT_PARTITION__":
        return False
    n = len("device_id=") + sum(3 if c in _HIVE_ESCAPED else 1 for c in key)
    return n <= 255


def decode(key, value):
    """-> ("invalid", reason) | ("filtered", None) | ("valid", Ev)."""
    if value is None:
        return "invalid", "not_json"
    try:
        text = value.decode("utf-8")
        doc = json.loads(text, parse_float=decimal.Decimal,
                         parse_int=decimal.Decimal,
                         parse_constant=_reject_const)
    except (UnicodeDecodeError, ValueError):
        return "invalid", "not_json"
    if not isinstance(doc, dict):
        return "invalid", "not_object"
    if not key:
        return "invalid", "missing_key"
    try:
        k = key.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid", "bad_key"
    if len(key) > 256 or any(ord(c) < 0x20 or ord(c) == 0x7f for c in k):
        return "invalid", "bad_key"
    if not hive_key_ok(key):
        return "invalid", "key_unsafe"
    vals = {}
    for f in FIELDS:
        present = f in doc
        v = doc.get(f)
        if not present or v is None:
            if f in REQUIRED:
                return "invalid", ("null_field: " if present else
                                   "missing_field: ") + f
            continue
        if f == "timestamp":
            if isinstance(v, str):
                t = _iso_us(v)
                if t is None:
                    return "invalid", "bad_timestamp: timestamp"
            elif isinstance(v, decimal.Decimal):
                t = _num_us(v)
                if t is None:
                    return "invalid", "bad_timestamp: timestamp"
            else:
                return "invalid", "wrong_type: timestamp"
            vals[f] = t
        elif f in ("temperature", "event_duration"):
            if not isinstance(v, decimal.Decimal):
                return "invalid", "wrong_type: " + f
            x = float(v)
            if math.isinf(x):
                return "invalid", "out_of_range: " + f
            vals[f] = x
        else:  # status
            if not isinstance(v, str):
                return "invalid", "wrong_type: status"
            if v not in ENUM:
                return "invalid", "bad_enum: status"
            vals[f] = v
    if vals.get("status") in (None, "error"):
        return "filtered", None
    return "valid", Ev(k, vals["timestamp"], vals["temperature"],
                       vals["event_duration"], vals["status"])


def header(rec, name):
    for k, v in rec.headers:
        if k == name:
            return v.decode()
    return None


# ---- archive ----------------------------------------------------------

def archive_rows(records):
    """Multiset (Counter) of (device_id, partition, offset, event_time_us,
    temperature, event_duration, status) of every valid kept record."""
    out = collections.Counter()
    for r in records:
        kind, ev = decode(r.key, r.value)
        if kind == "valid":
            out[(ev.key, r.partition, r.offset, ev.t_us, ev.temperature,
                 ev.event_duration, ev.status)] += 1
    return out


def invalid_records(records):
    """{(partition, offset): reason} of the records the decoder rejects."""
    out = {}
    for r in records:
        kind, why = decode(r.key, r.value)
        if kind == "invalid":
            out[(r.partition, r.offset)] = why
    return out


def _duckdb_rows(root, columns, hive):
    """Rows of `SELECT columns` over every Parquet file under root, read by
    DuckDB (not our code); [] when there is none."""
    import duckdb
    if not any(pathlib.Path(root).rglob("*.parquet")):
        return []
    con = duckdb.connect()
    try:
        return con.execute(
            f"SELECT {columns} FROM read_parquet(?, filename=true,"
            f" hive_partitioning={'true' if hive else 'false'})",
            [f"{root}/**/*.parquet"]).fetchall()
    finally:
        con.close()


def read_archive(root):
    rows = _duckdb_rows(
        root, "device_id, kafka_partition, kafka_offset, epoch_us(event_time),"
        " temperature, event_duration, status, filename", hive=True)
    return collections.Counter(r[:7] for r in rows), rows


# ---- aggregate --------------------------------------------------------

class AggSim:
    """The aggregate job's per-partition state over a sequence of --once
    runs, each committing once per partition (docs/design.md §5)."""

    def __init__(self, watermark_s=60, window_us=WINDOW_US):
        self.wm_us = watermark_s * 1_000_000
        self.window_us = window_us
        self.max = {}        # partition -> max event time of kept events
        self.emitted = {}    # partition -> emitted-up-to
        self.open = {}       # partition -> {(dev, start): [n, st, sd]}
        self.seen = set()    # partitions with a checkpoint

    def run_once(self, records):
        """One `aggregate --once` over `records` (those new since the last
        run). Returns (windows, late) where windows maps (partition, device,
        start_us) -> (n, sum_t, sum_d) and late is {(partition, offset)}."""
        late = set()
        dirty = set()
        for r in sorted(records, key=lambda r: (r.partition, r.offset)):
            p = r.partition
            dirty.add(p)
            self.seen.add(p)
            kind, ev = decode(r.key, r.value)
            if kind != "valid":
                continue
            start = ev.t_us // self.window_us * self.window_us
            em = self.emitted.get(p)
            if em is not None and start + self.window_us <= em:
                late.add((p, r.offset))
                continue
            w = self.open.setdefault(p, {}).setdefault((ev.key, start),
                                                       [0, 0.0, 0.0])
            w[0] += 1
            w[1] += ev.temperature
            w[2] += ev.event_duration
            if p not in self.max or ev.t_us > self.max[p]:
                self.max[p] = ev.t_us
        out = {}
        if not self.max:
            return out, late
        wm = min(self.max[p] for p in self.max if p in self.seen) - self.wm_us
        for p in sorted(self.seen):
            em = self.emitted.get(p)
            emit = em if em is not None and em > wm else wm
            wins = self.open.get(p, {})
            due = [k for k in wins if k[1] + self.window_us <= emit]
            if p not in dirty and not due:
                continue
            for k in due:
                out[(p,) + k] = tuple(wins.pop(k))
            if em is None or emit > em:
                self.emitted[p] = emit
        return out, late


def window_label(start_us):
    t = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=start_us)
    return t.strftime("%Y-%m-%d %H_%M")


def read_aggregate(root):
    """-> list of dicts: device_id, window_start (path), start_us, end_us,
    avg_t, avg_d, n, file."""
    rows = _duckdb_rows(
        root, "epoch_us(window_start_time), epoch_us(window_end_time),"
        " avg_temperature, avg_event_duration, num_events, filename", hive=False)
    out = []
    for s, e, at, ad, n, fn in rows:
        parts = dict(seg.split("=", 1) for seg in pathlib.Path(fn).parts
                     if "=" in seg)
        out.append(dict(device_id=parts.get("device_id"),
                        window_start=parts.get("window_start"),
                        start_us=s, end_us=e, avg_t=at, avg_d=ad, n=n,
                        file=fn))
    return out


def compare_aggregate(got_rows, expected):
    """expected: {(partition, device, start_us): (n, sum_t, sum_d)}.
    Asserts the output holds exactly these windows, once each."""
    errors = []
    seen = collections.Counter((r["device_id"], r["start_us"])
                               for r in got_rows)
    dups = {k: c for k, c in seen.items() if c > 1}
    if dups:
        errors.append(f"{len(dups)} windows written more than once, e.g. "
                      f"{list(dups.items())[:5]}")
    exp = {}
    for (p, dev, start), v in expected.items():
        assert (dev, start) not in exp, f"oracle: {dev} in two partitions"
        exp[(dev, start)] = v
    got = {(r["device_id"], r["start_us"]): r for r in got_rows}
    missing = sorted(set(exp) - set(got))
    extra = sorted(set(got) - set(exp))
    if missing:
        errors.append(f"{len(missing)} windows missing, e.g. {missing[:5]}")
    if extra:
        errors.append(f"{len(extra)} unexpected windows, e.g. "
                      f"{[(k, got[k]['n']) for k in extra[:5]]}")
    bad = []
    for k in sorted(set(exp) & set(got)):
        n, st, sd = exp[k]
        r = got[k]
        ok = (r["n"] == n and r["end_us"] == k[1] + WINDOW_US and
              r["window_start"] == window_label(k[1]) and
              math.isclose(r["avg_t"], st / n, rel_tol=1e-12) and
              math.isclose(r["avg_d"], sd / n, rel_tol=1e-12))
        if not ok:
            bad.append((k, (n, st / n, sd / n),
                        (r["n"], r["avg_t"], r["avg_d"], r["end_us"],
                         r["window_start"])))
    if bad:
        errors.append(f"{len(bad)} windows with wrong values, e.g. {bad[:5]}")
    assert not errors, "\n".join(errors)


def check_once(kind, root, records):
    """The output under root of `kind` (archive or aggregate) is what one
    --once run over records gives: every valid event once, or every
    window once with its values and no event late."""
    if kind == "archive":
        got, _ = read_archive(root)
        assert got == archive_rows(records)
    else:
        want, late = AggSim().run_once(records)
        assert not late
        compare_aggregate(read_aggregate(root), want)
