#!/usr/bin/env python3
"""Benchmark: 400 lab hosts split across 2 sites x 2 workers against the same run on one local controller.

Everything real and on loopback: a lab of N sshd hosts, RabbitMQ and PostgreSQL (the shared journal) as
child processes (the test helpers in tests/), four ``remote-support worker`` processes (two per site,
``--concurrency 1``). The same ``exec`` (``true``) runs twice with ``-f 50``: all hosts local (no site),
then half at site ``a`` and half at site ``b``. Wall time of the command, CPU of the controller (its
rusage) and of the workers (/proc utime+stime before and after).

The message and lease overhead is measured directly, in-process against the same PostgreSQL: per part,
sending the message (Celery/kombu publish) + claiming the lease (SELECT ... FOR UPDATE SKIP LOCKED) +
taking over its hosts (one transaction) + one heartbeat with the cancel check + ending it, for parts of 1 host (the worst case: the whole cost on
one host) and of 200 hosts (this run's parts). Target: under 5 ms per host.

    python benchmarks/workers.py                 # 400 hosts on 127.70.0.0
    python benchmarks/workers.py --hosts 100 --network 127.71.0.0
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "workers"))

TARGET_MS_PER_HOST = 5.0


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_cli(args: list[str], env: dict[str, str]) -> tuple[float, float, dict]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "remote_support", *args], env=env, cwd=REPO, capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads(done.stdout)


def overhead(broker_url: str, journal_url: str, sizes=(1, 200), repeats: int = 30) -> dict[int, dict]:
    """Milliseconds per host of message + lease for parts of each size (median of ``repeats``)."""
    from remote_support.api import RunRequest
    from remote_support.journal import Journal
    from remote_support.workers import leases
    from remote_support.workers.app import make_app, send_part
    from remote_support.workers.messages import part_message

    app = make_app(broker_url)
    out = {}
    with Journal.open(journal_url) as journal:
        for size in sizes:
            samples = []
            for i in range(repeats):
                hosts = [f"h{n:04d}" for n in range(size)]
                run_id = journal.start_run(kind="exec", name="true", command="true", params={}, inventory=[],
                                           pattern="all", check=False, diff=False, ticket=None, operator=None,
                                           hosts=hosts, tool_version="bench")
                marks = [time.perf_counter()]
                part = leases.open_parts(journal, run_id, {"bench": hosts})["bench"]
                marks.append(time.perf_counter())
                send_part(app, "bench", part_message(run_id=run_id, part_id=part.id, round=part.round,
                                                     site="bench", hosts=hosts,
                                                     request=RunRequest(kind="exec", what="true")))
                marks.append(time.perf_counter())
                got = leases.claim(journal, part.id, part.round, "bench-worker", 30, take_over=True)
                marks.append(time.perf_counter())
                leases.beat(journal, got.part, "bench-worker", 30)
                marks.append(time.perf_counter())
                leases.end_part(journal, got.part, "bench-worker", leases.DONE)
                marks.append(time.perf_counter())
                samples.append([(b - a) * 1000 for a, b in zip(marks, marks[1:])])
            phases = ("open part", "send message", "claim lease + take over hosts", "heartbeat + cancel check",
                      "end part")
            total = statistics.median(sum(s_) for s_ in samples)
            out[size] = {"per_host_ms": total / size, "per_part_ms": total,
                         "phases_ms": {p: statistics.median(s_[i] for s_ in samples) for i, p in enumerate(phases)}}
    with app.connection_for_write() as conn:  # the bench queue's messages were never meant to run
        conn.default_channel.queue_purge("site.bench")
    app.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=400)
    parser.add_argument("--network", default=os.environ.get("RS_BENCH_NETWORK", "127.70.0.0"))
    parser.add_argument("--forks", type=int, default=50)
    args = parser.parse_args()

    import yaml
    from broker_support import RabbitMQ
    from journal_support import PostgresServer, postgres_bin
    from workers_support import Worker, env_for

    from remote_support.lab import Lab

    work = Path(tempfile.mkdtemp(prefix="rs-bench-workers-"))
    os.environ.setdefault("REMOTE_SUPPORT_HOME", str(work / "home"))
    lab = Lab(work / "lab", network=args.network)
    broker = RabbitMQ()
    pg = PostgresServer(postgres_bin())
    started: list[Worker] = []
    try:
        print(f"== lab of {args.hosts} sshd hosts on {args.network}, RabbitMQ, PostgreSQL", file=sys.stderr)
        lab.up(args.hosts)
        broker.start()
        pg.start()
        data = yaml.safe_load(Path(lab.inventory_path).read_text())
        local_inv = work / "local.yml"
        local_inv.write_text(yaml.safe_dump(data))
        names = sorted(data["hosts"])
        for i, name in enumerate(names):
            data["hosts"][name]["site"] = "a" if i < len(names) // 2 else "b"
        site_inv = work / "sites.yml"
        site_inv.write_text(yaml.safe_dump(data))

        results = {}
        for label, inventory in (("local", local_inv), ("sites", site_inv)):
            journal_url = pg.create_database()
            env = env_for(broker.url, journal_url)
            env["REMOTE_SUPPORT_HOME"] = os.environ["REMOTE_SUPPORT_HOME"]
            workers = []
            if label == "sites":
                workers = [Worker(site, env, work / f"worker-{site}-{n}.log").wait_ready()
                           for site in ("a", "b") for n in range(2)]
                started.extend(workers)
            cli = ["exec", "all", "-i", str(inventory), "-f", str(args.forks), "--json", "--", "true"]
            timed_cli(cli, env)  # warm: host keys, page cache, the workers' journal connections
            cpu_before = {w.process.pid: cpu_of(w.process.pid) for w in workers}
            wall, cpu, document = timed_cli(cli, env)
            worker_cpu = sum(cpu_of(w.process.pid) - cpu_before[w.process.pid] for w in workers)
            ok = sum(h["status"] == "ok" for h in document["hosts"])
            results[label] = {"wall": wall, "controller_cpu": cpu, "worker_cpu": worker_cpu, "ok": ok}
            for w in workers:
                w.stop()
        ms = overhead(broker.url, pg.create_database())
        print(json.dumps({"hosts": args.hosts, "forks": args.forks, "runs": results,
                          "overhead_ms_per_host": ms}, indent=2))
        for label, r in results.items():
            print(f"{label:6} wall {r['wall']:.2f} s  controller CPU {r['controller_cpu']:.2f} s  workers CPU "
                  f"{r['worker_cpu']:.2f} s  ok {r['ok']}/{args.hosts}", file=sys.stderr)
        for size, found in ms.items():
            value = found["per_host_ms"]
            print(f"  parts of {size}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in found["phases_ms"].items()),
                  file=sys.stderr)
            verdict = "pass" if value < TARGET_MS_PER_HOST else "FAIL"
            print(f"message + lease per host, parts of {size}: {value:.3f} ms (target {TARGET_MS_PER_HOST} ms: "
                  f"{verdict})", file=sys.stderr)
    finally:
        for w in started:
            w.stop()
        broker.remove()
        pg.stop()
        lab.remove()


if __name__ == "__main__":
    main()
