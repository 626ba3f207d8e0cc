#!/usr/bin/env python3
"""Runs every migration and every documented query on chDB, the in-process
current ClickHouse engine, so that the SQL Jevons issues is checked on a
current server as well as on the 18.16 server the Go tests use.

The migration rules mirror sink/migrate.go: files NNNN_name.sql applied in
order; a '-- jevons:min-version X.Y' header skips a file on older servers;
'${db}' names the database; statements end with ';' at the end of a line.
"""
import os
import re
import subprocess
import sys
import tempfile

from chdb import session

HERE = os.path.dirname(os.path.abspath(__file__))
DB = "jevons"
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print(f"ok   {name}")
    else:
        results["failed"] += 1
        print(f"FAIL {name} {detail}")


def statements(path):
    text = open(path).read().replace("${db}", DB)
    body = "\n".join(l for l in text.splitlines() if not l.strip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def min_version(path):
    m = re.search(r"^-- jevons:min-version (\d+(?:\.\d+)*)", open(path).read(), re.M)
    return tuple(int(x) for x in m.group(1).split(".")) if m else ()


def version_tuple(v):
    return tuple(int(x) for x in v.strip().strip('"').split(".")[:3])


def main():
    s = session.Session(tempfile.mkdtemp(prefix="jevons-chdb-"))
    server = version_tuple(str(s.query("SELECT version()", "CSV")))
    print(f"chDB server version {server}")
    s.query(f"CREATE DATABASE IF NOT EXISTS {DB}")
    files = sorted(f for f in os.listdir(HERE) if re.match(r"^\d{4}_.*\.sql$", f))
    for f in files:
        need = min_version(os.path.join(HERE, f))
        if need and server < need:
            check(f"migration {f} skipped: needs {need}", True)
            continue
        try:
            for stmt in statements(os.path.join(HERE, f)):
                s.query(stmt)
            # Applying twice must be harmless (a crash between apply and record).
            for stmt in statements(os.path.join(HERE, f)):
                s.query(stmt)
            check(f"migration {f} applied twice", True)
        except Exception as e:  # noqa: BLE001
            check(f"migration {f}", False, str(e))

    # Whole states written twice (a replay) and a newer state of one key must
    # leave exact totals in the views.
    cols = ("src_partition, window_start, tenant, app, task_type, provider, model, operation, status, "
            "requests, input_tokens, output_tokens, cost_nanos, ref_cost_nanos, latency_ms_max, version")
    rows = ("(0, '2025-06-01 12:00:00', 'acme', 'a', 't', 'openai', 'gpt-4o', 'chat', 'ok', 2, 100, 10, 700, 900, 50, 10),"
            "(1, '2025-06-01 12:00:00', 'acme', 'a', 't', 'openai', 'gpt-4o', 'chat', 'ok', 3, 300, 30, 1100, 1300, 70, 4)")
    for _ in range(2):
        s.query(f"INSERT INTO {DB}.usage_rollup ({cols}) VALUES {rows}")
    s.query(f"INSERT INTO {DB}.usage_rollup ({cols}) VALUES "
            "(0, '2025-06-01 12:00:00', 'acme', 'a', 't', 'openai', 'gpt-4o', 'chat', 'ok', 4, 200, 20, 1400, 1800, 90, 12)")
    got = str(s.query(f"SELECT requests, input_tokens, cost_nanos, ref_cost_nanos, latency_ms_max FROM {DB}.usage", "CSV")).strip()
    check("usage view sums newest states across partitions", got == "7,500,2500,3100,90", got)

    tcols = "src_partition, tenant, task_id, window_start, task_type, min_time, max_time, requests, cost_nanos, models, done, version"
    for _ in range(2):
        s.query(f"INSERT INTO {DB}.task_rollup ({tcols}) VALUES "
                "(0, 'acme', 'run-1', '2025-06-01 12:00:00', 'review', '2025-06-01 12:10:00', '2025-06-01 12:50:00', 5, 100, ['m2','m1'], 0, 7),"
                "(0, 'acme', 'run-1', '2025-06-01 13:00:00', 'review', '2025-06-01 13:05:00', '2025-06-01 13:06:00', 1, 40, ['m3'], 1, 9)")
    got = str(s.query(f"SELECT task_type, first_seen, last_seen, requests, cost_nanos, models, done FROM {DB}.tasks", "CSV")).strip()
    want = '"review","2025-06-01 12:10:00","2025-06-01 13:06:00",6,140,"[\'m1\',\'m2\',\'m3\']",1'
    check("tasks view adds a task's windows once each", got == want, got)
    got = str(s.query(f"SELECT toString(day), model, uniqExactMerge(tasks) FROM {DB}.task_days GROUP BY day, model ORDER BY model", "CSV")).strip()
    want = '"2025-06-01","m1",1\n"2025-06-01","m2",1\n"2025-06-01","m3",1'
    check("task_days holds each task once per day and model however often its windows are written", got == want, got)

    for _ in range(2):
        s.query(f"INSERT INTO {DB}.usage_monthly_rollup ({cols}) VALUES {rows.replace('2025-06-01 12:00:00', '2025-06-01 00:00:00')}")
    got = str(s.query(f"SELECT toString(month), requests, cost_nanos FROM {DB}.usage_monthly", "CSV")).strip()
    check("usage_monthly view sums month states across partitions", got == '"2025-06-01",5,1800', got)

    for doc in sorted(f for f in os.listdir(HERE) if re.match(r"^queries.*\.sql$", f)):
        for i, q in enumerate(statements(os.path.join(HERE, doc)), 1):
            try:
                s.query(q, "CSV")
                check(f"documented query {doc} {i}", True)
            except Exception as e:  # noqa: BLE001
                check(f"documented query {doc} {i}", False, f"{e}\n{q}")

    check_cluster_ddl(s)

    print(f"chdb: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


def check_cluster_ddl(s):
    """The clustered DDL (`jevons migrate --cluster NAME --print`) cannot run
    in chDB, which has no ZooKeeper/Keeper and no remote_servers; a current
    server's parser must accept every statement of it."""
    repo = os.path.dirname(os.path.dirname(HERE))
    try:
        out = subprocess.run(["go", "run", "./cmd/jevons", "migrate", "--cluster", "jevons", "--database", DB, "--print"],
                             cwd=repo, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        check("jevons migrate --cluster --print", False, getattr(e, "stderr", str(e)))
        return
    stmts = [x.strip() for x in out.split(";\n\n") if x.strip()]
    check("clustered DDL printed", len(stmts) > 10, f"{len(stmts)} statements")
    for stmt in stmts:
        name = " ".join(stmt.split()[:6])
        quoted = stmt.replace("\\", "\\\\").replace("'", "\\'")
        try:
            s.query(f"SELECT formatQuery('{quoted}')", "CSV")
            check(f"clustered DDL parses: {name}", True)
        except Exception as e:  # noqa: BLE001
            check(f"clustered DDL parses: {name}", False, f"{e}\n{stmt}")


if __name__ == "__main__":
    sys.exit(main())
