#!/usr/bin/env python3
"""Benchmark: the web view's ticket page, host timeline and runs list on a journal of 1,000,000 steps.

Target (issue 14): median server time under 100 ms. Server time is the time the application takes for a
request, from the request in to the last byte of the page out (FastAPI + Jinja2 + the journal's
queries), measured in this process through the ASGI interface (starlette's TestClient), logged in as a
user: no network and no browser in the number. Median of --repeat calls after three warm-up calls; beside it the median CPU time of this process (the
application's own work, without the database server's and without waiting for a shared machine's cores).

The journal is the synthetic one of benchmarks/journal.py (20,000 runs x 10 hosts x 5 steps, built once
into benchmarks/results/ and reused); with --postgresql URL (or `throwaway`: a cluster of its own on
loopback) the same rows are copied into that database first (minutes) and measured there too. The
synthetic journal has no search index rows and no ticket with many runs (tickets are random): the ticket
page is bounded by TICKET_RUNS and read through ix_runs_ticket.

    python benchmarks/web.py
    python benchmarks/web.py --repeat 50 --json /tmp/web.json
    python benchmarks/web.py --postgresql throwaway
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))

import journal as journal_bench  # noqa: E402  (benchmarks/journal.py: the synthetic journal)

TARGET_MS = 100.0
PASSWORD = "benchmark password"


def pages(conn_url: str) -> list[tuple[str, str]]:
    """(what, path) of the requests to time, chosen from the journal's contents."""
    import sqlalchemy as sa

    engine = sa.create_engine(conn_url)
    with engine.connect() as conn:
        busiest = conn.execute(sa.text("SELECT ticket, count(*) AS n FROM runs WHERE ticket IS NOT NULL "
                                       "GROUP BY ticket ORDER BY n DESC, ticket LIMIT 1")).one()
        latest = conn.execute(sa.text("SELECT ticket FROM runs WHERE ticket IS NOT NULL "
                                      "ORDER BY started_at DESC LIMIT 1")).scalar_one()
    engine.dispose()
    hot, typical = journal_bench.HOT_HOST, journal_bench.TYPICAL_HOST
    return [
        (f"ticket page (latest ticket {latest})", f"/tickets/{latest}"),
        (f"ticket page (busiest ticket {busiest.ticket}, {busiest.n} runs)", f"/tickets/{busiest.ticket}"),
        (f"host timeline {hot} (in 25% of runs)", f"/hosts/{hot}"),
        (f"host timeline {typical}", f"/hosts/{typical}"),
        ("runs list, page 1", "/runs"),
        ("runs list, page 100", "/runs?page=100"),
        (f"runs list --host {typical}", f"/runs?host={typical}"),
        ("runs list --status failed --operator alice", "/runs?status=failed&operator=alice"),
        (f"runs list --ticket {latest}", f"/runs?ticket={latest}"),
        ("runs list --since 2026-10-01 (the last month)", "/runs?since=2026-10-01"),
        (f"API: host {hot} (JSON)", f"/api/hosts/{hot}"),
        ("API: runs page 1 (JSON)", "/api/runs"),
    ]


def measure(url: str, repeat: int) -> list[dict[str, Any]]:
    from fastapi.testclient import TestClient

    from remote_support.journal import Journal
    from remote_support.journal_people import People
    from remote_support.web.app import create_app

    journal = Journal.open(url)
    people = People(journal)
    if "bench" not in {u.name for u in people.list_users()}:
        people.add_user("bench", PASSWORD, level=0)
    client = TestClient(create_app(journal, people=people), follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"csrf": token, "name": "bench", "password": PASSWORD}).status_code == 303
    results = []
    for what, path in pages(url):
        for _ in range(3):
            answer = client.get(path)
            if answer.status_code != 200:
                raise SystemExit(f"{path}: HTTP {answer.status_code}: {answer.text[:300]}")
        walls, cpus = [], []
        for _ in range(repeat):
            cpu, start = time.process_time(), time.perf_counter()
            answer = client.get(path)
            answer.read()
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        median = statistics.median(walls) * 1000
        cpu_median = statistics.median(cpus) * 1000
        results.append({"what": what, "path": path, "median_ms": round(median, 1),
                        "best_ms": round(min(walls) * 1000, 1), "max_ms": round(max(walls) * 1000, 1),
                        "cpu_median_ms": round(cpu_median, 1), "bytes": len(answer.content),
                        "passes": median < TARGET_MS})
        print(f"  {what:<58} median {median:7.1f} ms  best {min(walls) * 1000:7.1f}  cpu {cpu_median:6.1f}  "
              f"({len(answer.content) / 1024:.0f} KiB){'' if median < TARGET_MS else '  OVER TARGET'}", flush=True)
    journal.close()
    return results


def copy_to_postgresql(sqlite_path: Path, url: str) -> None:
    """The synthetic rows into an empty PostgreSQL journal (schema by Journal.open, rows by COPY-sized
    inserts)."""
    import sqlalchemy as sa

    from remote_support.journal import Journal, run_hosts, runs, steps

    Journal.open(url).close()
    source = sa.create_engine(f"sqlite:///{sqlite_path}")
    target = sa.create_engine(url if "+psycopg" in url else url.replace("postgresql://", "postgresql+psycopg://", 1))
    with target.connect() as conn:
        if conn.execute(sa.text("SELECT count(*) FROM runs")).scalar_one():
            print("postgresql: journal already filled: reused", flush=True)
            return
    started = time.perf_counter()
    for table in (runs, run_hosts, steps):
        with source.connect() as src:
            result = src.execution_options(stream_results=True).execute(sa.select(table))
            while rows := result.fetchmany(50_000):
                with target.begin() as dst:
                    dst.execute(table.insert(), [dict(r._mapping) for r in rows])
        print(f"postgresql: {table.name} copied ({time.perf_counter() - started:.0f} s)", flush=True)
    with target.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('run_hosts', 'id'), (SELECT max(id) FROM run_hosts))"))
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('steps', 'id'), (SELECT max(id) FROM steps))"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=30, help="measured requests per page (default 30)")
    parser.add_argument("--rebuild", action="store_true", help="build the synthetic journal again")
    parser.add_argument("--postgresql", metavar="URL|throwaway",
                        help="also measure on this (empty) PostgreSQL database; `throwaway`: a cluster of its own "
                             "on loopback (Debian's postgresql binaries), removed at the end")
    parser.add_argument("--json", metavar="FILE", help="write the results here")
    args = parser.parse_args(argv)
    os.environ.setdefault("REMOTE_SUPPORT_HOME", tempfile.mkdtemp(prefix="rs-bench-home-"))

    shape = journal_bench.Shape()
    path = journal_bench.default_path(shape)
    stamp, built = journal_bench.ensure_journal(shape, path, args.rebuild)
    print(f"journal: {path} ({stamp['rows']['steps']:,} steps; {'built now' if built else 'reused'})", flush=True)
    results: dict[str, Any] = {"target_ms": TARGET_MS, "repeat": args.repeat, "steps": stamp["rows"]["steps"]}
    print(f"SQLite: median server time of {args.repeat} requests per page", flush=True)
    results["sqlite"] = measure(f"sqlite:///{path}", args.repeat)
    if args.postgresql:
        server = None
        url = args.postgresql
        if url == "throwaway":
            sys.path.insert(0, str(BENCH_DIR.parent / "tests"))
            from journal_support import PostgresServer, postgres_bin

            server = PostgresServer(postgres_bin())
            server.start()
            url = server.create_database()
        try:
            copy_to_postgresql(path, url)
            print(f"PostgreSQL: median server time of {args.repeat} requests per page", flush=True)
            results["postgresql"] = measure(url, args.repeat)
        finally:
            if server is not None:
                server.stop()
    passed = all(r["passes"] for key in ("sqlite", "postgresql") for r in results.get(key, []))
    print(f"target: every page's median under {TARGET_MS:.0f} ms: {'PASS' if passed else 'FAIL'}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
