#!/usr/bin/env python3
"""Checks the Grafana dashboards in deploy/grafana/dashboards against real
ClickHouse servers: ClickHouse 18.16 (the local server, over HTTP) and a
current ClickHouse (chDB, in process).

For each server it creates a scratch database, applies the migrations, loads
fixed rows (1-minute states, day states, task states), then runs every
ClickHouse query of every dashboard (template variables and panels) with
Grafana's variables and the ClickHouse plugin's macros expanded for two
fixed ranges: 6 hours (read from the 1-minute states) and 120 days (read
from the day states). A query fails the check when it errors, returns no
rows, or leaves a macro or variable unexpanded; the Spend and Tokens stats
must equal the fixture's totals and the index panel must start at 1.
Prometheus panels are checked against the metric names in
aggregate/metrics.go and the scrape job in deploy/prometheus/prometheus.yml.

    deploy/grafana/check_dashboards.py [--clickhouse-http URL] [--no-server] [--no-chdb] [--dashboards DIR]
    deploy/grafana/check_dashboards.py --live jevons [--prometheus URL]   # data as it is, ranges ending now

deploy/grafana/check-live runs the latter on a pipeline it starts (loadgen,
the aggregator, Debian's Prometheus).

The server defaults to http://127.0.0.1:$JEVONS_CLICKHOUSE_HTTP_PORT (8123).
"""
import argparse
import datetime as dt
import glob
import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MIGRATIONS = os.path.join(ROOT, "schemas", "clickhouse")
CH_UID, PROM_UID = "jevons-clickhouse", "jevons-prometheus"

TO = dt.datetime(2025, 6, 30, 12, 0, 0, tzinfo=dt.timezone.utc)
# (name, from, to, Grafana's interval in seconds)
RANGES = [
    ("6 hours", TO - dt.timedelta(hours=6), TO, 30),
    ("120 days", TO - dt.timedelta(days=120), TO, 3 * 3600),
]
TENANTS = ["acme", "globex", "initech"]
MODELS = [("openai", "gpt-4o", True), ("anthropic", "claude-sonnet-4", True), ("acme", "mystery-1", False)]
TASK_TYPES = ["code-review", "chat", "agent-run"]

results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f"\n     {detail}"))
    return ok


# ------------------------------------------------------------ expansion

def ts(t):
    return int(t.timestamp())


def split_args(s):
    args, depth, cur = [], 0, ""
    for ch in s:
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    if cur.strip():
        args.append(cur.strip())
    return args


def macro(name, args, frm, to, interval):
    """The ClickHouse plugin's macros (pkg/macros/macros.go)."""
    def need(n):
        if len(args) != n:
            raise ValueError(f"$__{name} wants {n} argument(s), got {len(args)}")
    dtime = lambda t: f"toDateTime({ts(t)})"
    dtime_ms = lambda t: f"fromUnixTimestamp64Milli({ts(t) * 1000})"
    date = lambda t: f"toDate('{t.strftime('%Y-%m-%d')}')"
    if name in ("fromTime", "toTime", "fromTime_ms", "toTime_ms", "interval_s"):
        need(0)
    if name == "fromTime":
        return dtime(frm)
    if name == "toTime":
        return dtime(to)
    if name == "fromTime_ms":
        return dtime_ms(frm)
    if name == "toTime_ms":
        return dtime_ms(to)
    if name == "interval_s":
        return str(max(interval, 1))
    if name == "timeFilter":
        need(1)
        return f"{args[0]} >= {dtime(frm)} AND {args[0]} <= {dtime(to)}"
    if name == "timeFilter_ms":
        need(1)
        return f"{args[0]} >= {dtime_ms(frm)} AND {args[0]} <= {dtime_ms(to)}"
    if name == "dateFilter":
        need(1)
        return f"{args[0]} >= {date(frm)} AND {args[0]} <= {date(to)}"
    if name in ("dateTimeFilter", "dt"):
        need(2)
        return (f"({args[0]} >= {date(frm)} AND {args[0]} <= {date(to)}) AND "
                f"({args[1]} >= {dtime(frm)} AND {args[1]} <= {dtime(to)})")
    if name == "timeInterval":
        need(1)
        return f"toStartOfInterval(toDateTime({args[0]}), INTERVAL {max(interval, 1)} second)"
    if name == "timeInterval_ms":
        need(1)
        return f"toStartOfInterval(toDateTime64({args[0]}, 3), INTERVAL {max(interval * 1000, 1)} millisecond)"
    raise ValueError(f"unknown macro $__{name}")


def expand_macros(sql, frm, to, interval):
    out, i = "", 0
    for m in re.finditer(r"\$__(\w+)", sql):
        if m.start() < i:
            continue
        out += sql[i:m.start()]
        name, j, args = m.group(1), m.end(), []
        if j < len(sql) and sql[j] == "(":
            depth, k = 0, j
            while k < len(sql):
                depth += sql[k] == "("
                depth -= sql[k] == ")"
                if depth == 0:
                    break
                k += 1
            args, j = split_args(sql[j + 1:k]), k + 1
        out += macro(name, args, frm, to, interval)
        i = j
    return out + sql[i:]


def format_values(values, fmt):
    if fmt in (None, "", "raw", "csv"):
        return ",".join(values)
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in values)
    if fmt == "sqlstring":
        return ",".join("'" + v.replace("'", "''") + "'" for v in values)
    raise ValueError(f"unsupported variable format :{fmt}")


def expand_variables(sql, variables, frm, to, interval):
    """Grafana's interpolation of template and global variables, as the
    frontend does before the plugin expands its macros."""
    glob_vars = {"__from": str(ts(frm) * 1000), "__to": str(ts(to) * 1000),
                 "__interval_ms": str(interval * 1000), "__interval": f"{interval}s"}

    def repl(m):
        name = m.group(1) or m.group(3) or m.group(5)
        fmt = m.group(2) or m.group(4)
        if name in variables:
            return format_values(variables[name], fmt)
        return glob_vars.get(name, m.group(0))
    return re.sub(r"\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]|\$(\w+)", repl, sql)


def expand(sql, variables, frm, to, interval):
    s = expand_macros(expand_variables(sql, variables, frm, to, interval), frm, to, interval)
    left = re.findall(r"\$\{?\w+|\[\[\w+", s)
    if left:
        raise ValueError(f"unexpanded: {', '.join(sorted(set(left)))}")
    return s


def check_expansion():
    """The expansion itself, on one sample of every macro and variable form."""
    frm, to = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc), dt.datetime(2025, 6, 2, tzinfo=dt.timezone.utc)
    got = expand("$__timeFilter(w) AND $__fromTime < $__toTime AND $__timeInterval(w) = $__interval_s "
                 "AND $__dateFilter(d) AND t IN (${t:singlequote}) AND $t AND [[t]] AND $__from < $__to "
                 "AND $__dt(d, w) AND f(g($__interval_s), 1)",
                 {"t": ["a", "b'c"]}, frm, to, 60)
    want = ("w >= toDateTime(1748736000) AND w <= toDateTime(1748822400) AND toDateTime(1748736000) < "
            "toDateTime(1748822400) AND toStartOfInterval(toDateTime(w), INTERVAL 60 second) = 60 "
            "AND d >= toDate('2025-06-01') AND d <= toDate('2025-06-02') AND t IN ('a','b\\'c') AND a,b'c "
            "AND a,b'c AND 1748736000000 < 1748822400000 AND (d >= toDate('2025-06-01') AND d <= "
            "toDate('2025-06-02')) AND (w >= toDateTime(1748736000) AND w <= toDateTime(1748822400)) AND f(g(60), 1)")
    check("macro and variable expansion", got == want, f"got  {got}\n     want {want}")
    try:
        expand("SELECT $__nope(x)", {}, frm, to, 60)
        check("an unknown macro is an error", False, "expanded")
    except ValueError:
        check("an unknown macro is an error", True)
    try:
        expand("SELECT ${missing}", {}, frm, to, 60)
        check("an unknown variable is an error", False, "expanded")
    except ValueError:
        check("an unknown variable is an error", True)


# -------------------------------------------------------------- engines

class Server:
    """ClickHouse over HTTP (the local 18.16 server)."""
    name = "18.16 server"

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.db = None

    def query(self, sql):
        params = {"database": self.db} if self.db else {}
        req = urllib.request.Request(self.url + "/?" + urllib.parse.urlencode(params), data=sql.encode())
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as e:
            raise RuntimeError(e.read().decode().strip()) from None
        return [l.split("\t") for l in text.splitlines()]

    def close(self):
        if self.db:
            db, self.db = self.db, None
            self.query(f"DROP DATABASE IF EXISTS {db}")


class Chdb:
    """A current ClickHouse, in process."""
    name = "chDB"

    def __init__(self):
        from chdb import session
        self.s = session.Session(tempfile.mkdtemp(prefix="jevons-dashcheck-"))
        self.db = None

    def query(self, sql):
        if self.db:
            self.s.query(f"USE {self.db}")
        text = str(self.s.query(sql, "TabSeparated"))
        return [l.split("\t") for l in text.splitlines()]

    def close(self):
        pass


def version_of(engine):
    v = engine.query("SELECT version()")[0][0]
    return tuple(int(x) for x in v.split(".")[:3])


def migrations(db):
    """The migration files with sink/migrate.go's rules: NNNN_name.sql in
    order, '-- jevons:min-version X.Y' gates a file, '${db}' names the
    database, statements end with ';' at the end of a line."""
    out = []
    for f in sorted(f for f in os.listdir(MIGRATIONS) if re.match(r"^\d{4}_.*\.sql$", f)):
        with open(os.path.join(MIGRATIONS, f)) as fh:
            text = fh.read()
        m = re.search(r"^-- jevons:min-version (\d+(?:\.\d+)*)", text, re.M)
        need = tuple(int(x) for x in m.group(1).split(".")) if m else ()
        body = "\n".join(l for l in text.replace("${db}", db).splitlines() if not l.strip().startswith("--"))
        out.append((f, need, [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]))
    return out


ADD_COLUMN = re.compile(r"(?is)^ALTER\s+TABLE\s+(\w+\.)?(\w+)\s+ADD\s+COLUMN\s+IF\s+NOT\s+EXISTS\s+(\w+)\s")


def add_column_if_missing(engine, db, stmt):
    """sink/migrate.go's rule for ADD COLUMN IF NOT EXISTS, which 18.16 does
    not parse: None if the column exists, else the statement without it."""
    m = ADD_COLUMN.match(stmt)
    if not m:
        return stmt
    table, column = m.group(2), m.group(3)
    if engine.query(f"SELECT count() FROM system.columns WHERE database = '{db}' AND table = '{table}' AND name = '{column}'")[0][0] != "0":
        return None
    return re.sub(r"(?i)\s+IF\s+NOT\s+EXISTS\s+" + column + r"\s", " " + column + " ", stmt, count=1)


def prepare(engine, db):
    engine.query(f"DROP DATABASE IF EXISTS {db}")
    engine.query(f"CREATE DATABASE {db}")
    server = version_of(engine)
    for _, need, stmts in migrations(db):
        if need and server < need:
            continue
        for s in stmts:
            s = add_column_if_missing(engine, db, s)
            if s:
                engine.query(s)
    engine.db = db
    for s in fixture_inserts():
        engine.query(s)
    return server


# -------------------------------------------------------------- fixture

def fmt_time(t):
    return t.strftime("%Y-%m-%d %H:%M:%S")


def fixture():
    """Rows of the three state tables, with the totals the panels must show.
    Unit prices fall and usage grows over the days, as in the Jevons story."""
    usage, daily, tasks = [], [], []
    # 1-minute states: every 10 minutes of the last 6 hours, two source
    # partitions; partition 1 also holds a stale state (lower version) that
    # FINAL must drop.
    for w in range(36):
        t = TO - dt.timedelta(minutes=10 * w + 5)
        for ti, tenant in enumerate(TENANTS):
            for mi, (prov, model, priced) in enumerate(MODELS):
                for part in (0, 1):
                    tokens_in, tokens_out = 1000 * (ti + 1) + 10 * w, 100 * (mi + 1)
                    cost = (tokens_in * 3 + tokens_out * 12) * (mi + 1) if priced else 0
                    row = dict(src=part, t=t, tenant=tenant, task_type=TASK_TYPES[mi], prov=prov, model=model,
                               req=2 + part, inp=tokens_in, out=tokens_out, cost=cost, unpriced=0 if priced else 2 + part, ver=100 + w)
                    usage.append(row)
                    if part == 1 and w % 5 == 0:
                        usage.append(dict(row, req=99, inp=99999, cost=99999999, ver=1, stale=True))
    # Day states: every day of the last 120 days.
    for d in range(121):
        day = (TO - dt.timedelta(days=d)).replace(hour=0, minute=0, second=0)
        for ti, tenant in enumerate(TENANTS):
            for mi, (prov, model, priced) in enumerate(MODELS):
                tokens_in, tokens_out = 100000 * (ti + 1) * (130 - d) // 10, 20000 * (mi + 1)
                price = 30 + d  # nanos per token, falling towards today
                cost = (tokens_in + tokens_out) * price if priced else 0
                daily.append(dict(src=ti % 2, t=day, tenant=tenant, task_type=TASK_TYPES[mi], prov=prov, model=model,
                                  req=50 + d, inp=tokens_in, out=tokens_out, cost=cost, unpriced=0 if priced else 5, ver=1000 + d))
    # Task states: tasks of the last 6 hours, over one or two windows.
    for ti, tenant in enumerate(TENANTS):
        for k in range(9):
            start = TO - dt.timedelta(hours=5, minutes=-30 * k)
            for win in range(1 + k % 2):
                w0 = (start + dt.timedelta(hours=win)).replace(minute=0, second=0)
                tasks.append(dict(src=ti, tenant=tenant, task=f"task-{k}", w=w0, task_type=TASK_TYPES[k % 3],
                                  app="ide", tmin=start + dt.timedelta(hours=win), tmax=start + dt.timedelta(hours=win, minutes=20),
                                  req=3 + k, inp=5000 * (k + 1), out=700, cost=120000 * (k + 1) * (ti + 1),
                                  models=[MODELS[k % 3][1]], done=1 if (win == k % 2 and k != 8) else 0, ver=10 + win))
    return usage, daily, tasks


def fixture_inserts():
    usage, daily, tasks = fixture()
    ucols = ("src_partition, window_start, tenant, app, task_type, provider, model, operation, status, requests, "
             "input_tokens, output_tokens, cost_nanos, ref_cost_nanos, unpriced_requests, version")

    def urow(r):
        return (f"({r['src']}, '{fmt_time(r['t'])}', '{r['tenant']}', 'ide', '{r['task_type']}', '{r['prov']}', "
                f"'{r['model']}', 'chat', 'ok', {r['req']}, {r['inp']}, {r['out']}, {r['cost']}, {r['cost']}, "
                f"{r['unpriced']}, {r['ver']})")
    tcols = ("src_partition, tenant, task_id, window_start, task_type, app, min_time, max_time, requests, "
             "input_tokens, output_tokens, cost_nanos, ref_cost_nanos, models, done, version")

    def trow(r):
        models = "[" + ",".join(f"'{m}'" for m in r["models"]) + "]"
        return (f"({r['src']}, '{r['tenant']}', '{r['task']}', '{fmt_time(r['w'])}', '{r['task_type']}', "
                f"'{r['app']}', '{fmt_time(r['tmin'])}', '{fmt_time(r['tmax'])}', {r['req']}, {r['inp']}, "
                f"{r['out']}, {r['cost']}, {r['cost']}, {models}, {r['done']}, {r['ver']})")
    # The stale states go in their own insert: one insert's rows may be
    # merged on the way in (optimize_on_insert), which would hide a missing FINAL.
    fresh, stale = [r for r in usage if not r.get("stale")], [r for r in usage if r.get("stale")]
    return [f"INSERT INTO usage_rollup ({ucols}) VALUES " + ",".join(map(urow, fresh)),
            f"INSERT INTO usage_rollup ({ucols}) VALUES " + ",".join(map(urow, stale)),
            f"INSERT INTO usage_daily_rollup ({ucols}) VALUES " + ",".join(map(urow, daily)),
            f"INSERT INTO task_rollup ({tcols}) VALUES " + ",".join(map(trow, tasks))]


def expected_totals(frm, to):
    """Spend (nano-dollars) and tokens the stats must show for a range:
    newest state per key, from the table the range length selects."""
    usage, daily, _ = fixture()
    long_range = (to - frm).total_seconds() > 604800
    rows = daily if long_range else usage
    lo = frm.replace(hour=0, minute=0, second=0) if long_range else frm
    newest = {}
    for r in rows:
        if lo <= r["t"] <= to:
            key = (r["src"], r["t"], r["tenant"], r["task_type"], r["prov"], r["model"])
            if key not in newest or newest[key]["ver"] < r["ver"]:
                newest[key] = r
    return sum(r["cost"] for r in newest.values()), sum(r["inp"] + r["out"] for r in newest.values())


# ------------------------------------------------------------- dashboards

def dashboards(folder):
    out = []
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as f:
            out.append((os.path.basename(path), json.load(f)))
    return out


def panels_of(d):
    for p in d.get("panels", []):
        yield p
        yield from p.get("panels", [])  # collapsed rows


def uid_of(ds):
    return ds.get("uid") if isinstance(ds, dict) else ds


def check_structure(dbs):
    uids = [d.get("uid") for _, d in dbs]
    check("dashboards: unique uids", len(uids) == len(set(uids)) and None not in uids, str(uids))
    for name, d in dbs:
        bad = []
        for p in panels_of(d):
            if p.get("type") == "row":
                continue
            for t in p.get("targets", []):
                u = uid_of(t.get("datasource") or p.get("datasource"))
                if u not in (CH_UID, PROM_UID):
                    bad.append(f"'{p.get('title')}' {t.get('refId')}: data source uid {u!r}")
        check(f"{name}: every query uses a provisioned data source", not bad, "; ".join(bad))
        check_layout(name, d)


def check_layout(name, d):
    """Panel ids unique, every panel titled and inside the 24-column grid,
    no two panels on the same cells."""
    problems, ids, cells = [], set(), {}
    for p in panels_of(d):
        g, title = p.get("gridPos", {}), p.get("title") or f"panel {p.get('id')}"
        if p.get("id") in ids:
            problems.append(f"duplicate id {p.get('id')}")
        ids.add(p.get("id"))
        if not p.get("title"):
            problems.append(f"panel {p.get('id')} has no title")
        if not all(isinstance(g.get(k), int) for k in "xywh") or g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24:
            problems.append(f"'{title}' gridPos {g}")
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    problems.append(f"'{title}' overlaps '{cells[(x, y)]}'")
                    break
                cells[(x, y)] = title
            else:
                continue
            break
    check(f"{name}: panel ids, titles and grid", not problems, "; ".join(problems))


def metric_names():
    with open(os.path.join(ROOT, "aggregate", "metrics.go")) as f:
        return set(re.findall(r'Name:\s*"(jevons_\w+)"', f.read()))


def check_prometheus(dbs):
    names = metric_names()
    with open(os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml")) as f:
        jobs = set(re.findall(r"job_name:\s*['\"]?([\w-]+)", f.read()))
    for name, d in dbs:
        for p in panels_of(d):
            for t in p.get("targets", []):
                if uid_of(t.get("datasource") or p.get("datasource")) != PROM_UID:
                    continue
                expr = t.get("expr", "")
                label = f"{name}: '{p.get('title')}' {t.get('refId')}"
                used = {re.sub(r"_(bucket|sum|count)$", "", m) for m in re.findall(r"\bjevons_\w+", expr)}
                check(f"{label}: metrics exist in aggregate/metrics.go", expr and used <= names,
                      f"unknown: {sorted(used - names)} in {expr!r}")
                for job in re.findall(r'job="([^"]+)"', expr):
                    check(f"{label}: job {job} is scraped", job in jobs, f"prometheus.yml jobs: {sorted(jobs)}")
                check(f"{label}: parentheses balance", expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), expr)


def run_prometheus(url, dbs):
    """Evaluates every Prometheus panel query on a real Prometheus (Grafana's
    $__rate_interval and $__interval as 1m and 15s): each must succeed and
    return at least one series."""
    for name, d in dbs:
        for p in panels_of(d):
            for t in p.get("targets", []):
                if uid_of(t.get("datasource") or p.get("datasource")) != PROM_UID:
                    continue
                expr = t["expr"].replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", "1h")
                label = f"[Prometheus] {name}: '{p.get('title')}' {t.get('refId')}"
                try:
                    with urllib.request.urlopen(url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}), timeout=30) as r:
                        body = json.load(r)
                except urllib.error.HTTPError as e:
                    body = json.loads(e.read().decode() or "{}")
                except Exception as e:  # noqa: BLE001
                    body = {"status": "error", "error": str(e)}
                series = body.get("data", {}).get("result", []) if body.get("status") == "success" else []
                check(label + f" ({len(series)} series)", series,
                      body.get("error") or f"no series for {expr}")


def ch_targets(d):
    for p in panels_of(d):
        for t in p.get("targets", []):
            if uid_of(t.get("datasource") or p.get("datasource")) == CH_UID:
                yield p, t


def ranges_ending(to):
    return [(n, to - (t1 - f), to, i) for n, f, t1, i in RANGES]


def run_dashboards(engine, dbs, ranges=RANGES, live=False):
    day_rows = int(engine.query("SELECT count() FROM usage_daily_rollup")[0][0]) if live else -1
    for rname, frm, to, interval in ranges:
        for name, d in dbs:
            variables = {}
            for v in d.get("templating", {}).get("list", []):
                if v.get("type") != "query" or uid_of(v.get("datasource")) != CH_UID:
                    continue
                label = f"[{engine.name}, {rname}] {name}: variable ${v['name']}"
                q = v["query"] if isinstance(v["query"], str) else v["query"].get("rawSql", "")
                try:
                    rows = engine.query(expand(q, variables, frm, to, interval))
                    if check(label + f" ({len(rows)} values)", rows, "no values"):
                        variables[v["name"]] = [r[0] for r in rows]
                except Exception as e:  # noqa: BLE001
                    check(label, False, str(e))
            for p, t in ch_targets(d):
                label = f"[{engine.name}, {rname}] {name}: '{p['title']}'"
                try:
                    sql = expand(t["rawSql"], variables, frm, to, interval)
                    rows = engine.query(sql)
                except Exception as e:  # noqa: BLE001
                    check(label, False, f"{e}\n{t['rawSql']}")
                    continue
                if live and not rows and day_rows == 0 and (to - frm).total_seconds() > 604800:
                    print(f"skip {label}: no rows, and usage_daily_rollup is empty")
                    continue
                if not check(label + f" ({len(rows)} rows)", rows, "no rows"):
                    continue
                if not live:
                    check_values(label, p["title"], rows, frm, to)


def check_values(label, title, rows, frm, to):
    cost, tokens = expected_totals(frm, to)
    if title == "Spend":
        check(label + ": equals the fixture's spend", abs(float(rows[0][0]) - cost / 1e9) < 1e-6, f"got {rows[0][0]}, want {cost / 1e9}")
    elif title == "Tokens":
        check(label + ": equals the fixture's tokens", int(rows[0][0]) == tokens, f"got {rows[0][0]}, want {tokens}")
    elif "index" in title:
        first = [float(x) for x in rows[0][1:]]
        check(label + ": indexes start at 1", all(abs(x - 1) < 1e-9 for x in first), f"first row {rows[0]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clickhouse-http", default=os.environ.get(
        "JEVONS_TEST_CLICKHOUSE_HTTP", f"http://127.0.0.1:{os.environ.get('JEVONS_CLICKHOUSE_HTTP_PORT', '8123')}"))
    ap.add_argument("--no-server", action="store_true", help="skip the ClickHouse server")
    ap.add_argument("--no-chdb", action="store_true", help="skip chDB")
    ap.add_argument("--dashboards", default=os.path.join(HERE, "dashboards"), help="folder of dashboard JSON files")
    ap.add_argument("--live", metavar="DB", help="instead of fixed rows, check the server's database DB as it is "
                    "(e.g. filled by loadgen and the aggregator), for ranges ending now; the server only")
    ap.add_argument("--prometheus", metavar="URL", help="also evaluate the Prometheus panels on this Prometheus, "
                    "which scrapes an aggregator as job jevons-aggregate")
    a = ap.parse_args()

    check_expansion()
    dbs = dashboards(a.dashboards)
    check(f"dashboards found: {', '.join(n for n, _ in dbs)}", len(dbs) > 0, "no dashboards")
    check_structure(dbs)
    check_prometheus(dbs)
    if a.prometheus:
        run_prometheus(a.prometheus, dbs)
    if a.live:
        e = Server(a.clickhouse_http)
        e.db = a.live
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        print(f"{e.name}: ClickHouse {'.'.join(map(str, version_of(e)))}, database {a.live} as it is")
        run_dashboards(e, dbs, ranges_ending(now), live=True)
        print(f"dashboards: {results['passed']} passed, {results['failed']} failed")
        return 1 if results["failed"] else 0
    engines = []
    if not a.no_server:
        engines.append(Server(a.clickhouse_http))
    if not a.no_chdb:
        engines.append(Chdb())
    for e in engines:
        try:
            v = prepare(e, f"jevons_dashcheck_{os.getpid()}")
            print(f"{e.name}: ClickHouse {'.'.join(map(str, v))}, fixture loaded")
            run_dashboards(e, dbs)
        except Exception as ex:  # noqa: BLE001
            check(f"{e.name}: prepare", False, str(ex))
        finally:
            e.close()
    print(f"dashboards: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
