#!/usr/bin/env python3
"""Benchmark: `hosts history` and `runs list` on a journal of 1,000,000 step results.

Target (from the project's issue): ``hosts history`` on a journal of 1,000,000 step results answers in
under 100 ms. The query is judged: ``Journal.host_history()`` in-process, median of 100. The command
(``remote-support hosts history HOST --json`` as a child process, best and median of 10) is reported
beside it; it also pays for Python's start-up, the imports and ``Journal.open``.

The journal is synthetic, written once into ``benchmarks/results/`` (git-ignored) and reused while its
shape, this generator and the journal's schema version stay the same (``--rebuild`` forces a new one).
Its schema is made by ``Journal.open`` itself (the product's migrations); the rows are bulk-inserted
with SQLAlchemy Core into the tables ``remote_support.journal`` defines. Default shape: 20,000 task runs
over two years x 10 hosts x 5 steps = 1,000,000 steps, from a fleet of 2,000 PCs; one PC (``pc-0042``,
the one that always has problems) is in a quarter of all runs, the others in about 100 each.

    python benchmarks/journal.py                      # build or reuse the journal, time, report
    python benchmarks/run.py --history-only           # the same, from the main benchmark script
    python benchmarks/journal.py --rebuild --json /tmp/history.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"  # git-ignored

sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing it

TARGET_HISTORY_MS = 100.0  # `hosts history` on 1,000,000 steps
GENERATOR_VERSION = 1  # bump when the generated data changes: cached journals are then rebuilt

HOT_HOST = "pc-0042"  # in --hot-share of all runs
TYPICAL_HOST = "pc-1337"  # an ordinary PC: about runs * hosts_per_run / fleet entries
END = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)  # fixed, so the same shape gives the same journal
SPAN = dt.timedelta(days=730)
SEED = 20261124

# Tasks of five steps each (name, command); a shape with more steps per host repeats them.
TASKS: dict[str, list[tuple[str, str]]] = {
    "printer-spooler-restart": [("spooler state", "systemctl is-active cups"),
                                ("stop spooler", "systemctl stop cups"),
                                ("clear print queue", "cancel -a -x"),
                                ("start spooler", "systemctl start cups"),
                                ("print queue", "lpstat -o")],
    "disk-cleanup": [("disk usage before", "df -h / /home"),
                     ("clean package cache", "apt-get clean"),
                     ("vacuum journal", "journalctl --vacuum-size=200M"),
                     ("remove old kernels", "apt-get -y autoremove --purge"),
                     ("disk usage after", "df -h / /home")],
    "install-updates": [("refresh package lists", "apt-get update -q"),
                        ("pending upgrades", "apt list --upgradable"),
                        ("upgrade packages", "apt-get -y -q upgrade"),
                        ("reboot needed", "test -f /var/run/reboot-required && echo yes || echo no"),
                        ("kernel version", "uname -r")],
    "collect-logs": [("system log", "journalctl -b --no-pager -n 200"),
                     ("kernel messages", "dmesg --level=err,warn | tail -n 50"),
                     ("failed units", "systemctl --failed --no-legend"),
                     ("disk health", "smartctl -H /dev/sda"),
                     ("network", "ip -brief address")],
    "vpn-reset": [("vpn state", "nmcli -t connection show --active"),
                  ("stop vpn", "nmcli connection down office-vpn"),
                  ("flush dns cache", "resolvectl flush-caches"),
                  ("start vpn", "nmcli connection up office-vpn"),
                  ("reach intranet", "curl -fsS -o /dev/null -w '%{http_code}' https://intranet.example")],
}
USERS = ["alice", "bob", "carol", "dave", "erin", "frank"]
CONTROLLERS = ["helpdesk-01", "helpdesk-02"]  # never this machine: Journal.recover() leaves the runs alone
FILLER = ("Filesystem      Size  Used Avail Use% Mounted on\n/dev/sda2        98G   61G   32G  66% /\n"
          "/dev/sda3       364G  201G  145G  59% /home\ntmpfs           7.8G  1.2M  7.8G   1% /run\n"
          "Linux {host} 6.1.0-27-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 x86_64 GNU/Linux\n"
          " 09:14:02 up 3 days,  2:11,  1 user,  load average: 0.31, 0.22, 0.18\n") * 3


# ---------------------------------------------------------------- the synthetic journal


@dataclass(frozen=True)
class Shape:
    runs: int = 20_000
    hosts_per_run: int = 10
    steps_per_host: int = 5
    fleet: int = 2_000
    hot_share: float = 0.25

    @property
    def steps(self) -> int:
        return self.runs * self.hosts_per_run * self.steps_per_host

    def stamp(self) -> dict[str, Any]:
        from remote_support.journal import SCHEMA_VERSION

        return {"generator": GENERATOR_VERSION, "schema_version": SCHEMA_VERSION, "runs": self.runs,
                "hosts_per_run": self.hosts_per_run, "steps_per_host": self.steps_per_host, "fleet": self.fleet,
                "hot_share": self.hot_share, "hot_host": HOT_HOST, "seed": SEED}


def default_path(shape: Shape) -> Path:
    return RESULTS_DIR / (f"journal-bench-v{GENERATOR_VERSION}-{shape.runs}x{shape.hosts_per_run}x"
                          f"{shape.steps_per_host}-fleet{shape.fleet}.sqlite")


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _remove_sqlite(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)


def ensure_journal(shape: Shape, path: Path, rebuild: bool) -> tuple[dict[str, Any], bool]:
    """The synthetic journal at ``path``: reused if its stamp matches ``shape``, else (re)built.
    Returns (stamp, built)."""
    stamp_file = _stamp_path(path)
    if not rebuild and path.exists() and stamp_file.exists():
        try:
            stamp = json.loads(stamp_file.read_text())
        except ValueError:
            stamp = {}
        if {k: stamp.get(k) for k in shape.stamp()} == shape.stamp():
            return stamp, False
        print(f"journal: {path.name} was built for another shape, generator or schema: rebuilding", flush=True)
    stamp_file.unlink(missing_ok=True)
    _remove_sqlite(path)
    stamp = build(shape, path)
    stamp_file.write_text(json.dumps(stamp, indent=2) + "\n")
    return stamp, True


def build(shape: Shape, path: Path) -> dict[str, Any]:
    """Write the synthetic journal to ``path`` (via a temporary file renamed at the end)."""
    import sqlalchemy as sa

    from remote_support import __version__
    from remote_support.journal import Journal, run_hosts, runs, steps
    from remote_support.results import outcome_of

    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".building")
    _remove_sqlite(part)
    print(f"journal: building {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}: "
          f"{shape.runs:,} runs x {shape.hosts_per_run} hosts x {shape.steps_per_host} steps = "
          f"{shape.steps:,} steps ...", flush=True)
    started = time.perf_counter()
    Journal.open(f"sqlite:///{part}").close()  # the schema as the product makes it (its migrations)

    engine = sa.create_engine(f"sqlite:///{part}")

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in ("synchronous = OFF", "cache_size = -200000", "temp_store = MEMORY"):
            cursor.execute(f"PRAGMA {pragma}")  # journal_mode stays WAL, as Journal.open set it
        cursor.close()

    rng = random.Random(SEED)
    fleet = [f"pc-{n:04d}" for n in range(1, shape.fleet + 1)]
    others = [h for h in fleet if h != HOT_HOST]
    task_names = list(TASKS)
    filler = FILLER
    seen_ids: set[str] = set()
    host_id = step_id = 0
    chunk = max(1, 50_000 // (shape.hosts_per_run * shape.steps_per_host))  # about 50,000 steps per commit
    gap = SPAN / shape.runs
    first = END - SPAN

    for chunk_start in range(0, shape.runs, chunk):
        run_rows, host_rows, step_rows = [], [], []
        for i in range(chunk_start, min(shape.runs, chunk_start + chunk)):
            run_start = first + gap * i + dt.timedelta(seconds=rng.uniform(0, gap.total_seconds() / 2))
            run_id = run_start.strftime("%Y%m%d-%H%M") + "-" + f"{rng.getrandbits(16):04x}"
            while run_id in seen_ids:
                run_id = run_start.strftime("%Y%m%d-%H%M") + "-" + f"{rng.getrandbits(16):04x}"
            seen_ids.add(run_id)
            task = rng.choice(task_names)
            user = rng.choice(USERS)
            hosts = rng.sample(others, shape.hosts_per_run)
            if rng.random() < shape.hot_share:
                hosts[rng.randrange(shape.hosts_per_run)] = HOT_HOST
            statuses, last_end = set(), run_start
            for position, host in enumerate(hosts):
                host_id += 1
                h_start = run_start + dt.timedelta(seconds=rng.uniform(0.0, 3.0))
                roll = rng.random()
                status = ("ok" if roll < 0.80 else "changed" if roll < 0.92 else
                          "failed" if roll < 0.98 else "unreachable")
                fail_at = (rng.randint(1, shape.steps_per_host) if status == "failed" else
                           1 if status == "unreachable" else 0)
                h_duration = 0.0
                for number in range(1, shape.steps_per_host + 1):
                    step_id += 1
                    name, command = TASKS[task][(number - 1) % len(TASKS[task])]
                    if number > len(TASKS[task]):
                        name = f"{name} ({(number - 1) // len(TASKS[task]) + 1})"
                    duration = round(rng.uniform(0.05, 4.0), 3)
                    row = {"id": step_id, "host_id": host_id, "position": number, "name": name, "command": command,
                           "diff": "", "attempts": 1, "ignored": False, "data": None}
                    if fail_at and number > fail_at:
                        row.update(status="skipped", rc=None, stdout="", stderr="", duration=0.0,
                                   reason="skipped: an earlier step failed")
                    elif number == fail_at and status == "unreachable":
                        row.update(status="unreachable", rc=None, stdout="", stderr="", duration=10.0,
                                   reason=f"cannot connect to {host}: timed out after 10 s")
                    elif number == fail_at:
                        row.update(status="failed", rc=rng.choice((1, 2, 100)), stdout="",
                                   stderr=f"E: {name} failed on {host}\n", reason="exit code 1")
                    else:
                        start = rng.randrange(0, 200)
                        row.update(status="changed" if status == "changed" and number == 2 else "ok", rc=0,
                                   stdout=filler[start:start + rng.randint(40, 400)].replace("{host}", host),
                                   stderr="", reason="")
                    if row["status"] != "skipped":
                        row["duration"] = duration
                        h_duration += duration
                    step_rows.append(row)
                h_end = h_start + dt.timedelta(seconds=h_duration + 0.5)
                last_end = max(last_end, h_end)
                statuses.add(status)
                reason = "" if status in ("ok", "changed") else (
                    f"cannot connect to {host}: timed out after 10 s" if status == "unreachable" else "")
                host_rows.append({"id": host_id, "run_id": run_id, "position": position, "host": host,
                                  "status": status, "reason": reason, "started_at": h_start, "ended_at": h_end,
                                  "duration": round(h_duration + 0.5, 3), "facts": None})
            run_status, exit_code = outcome_of(statuses)
            run_status = run_status.value
            ticket = f"INC-{rng.randint(100000, 999999)}" if rng.random() < 0.6 else None
            run_rows.append({
                "id": run_id, "kind": "task", "name": task, "command": None, "params": "{}",
                "inventory": json.dumps(["inventories/office.yml"]), "pattern": "all" if len(hosts) > 5 else
                ",".join(hosts), "check_mode": False, "diff_mode": False, "ticket": ticket, "os_user": user,
                "operator": None, "controller": rng.choice(CONTROLLERS), "pid": rng.randint(1000, 99999),
                "pid_token": "", "tool_version": __version__, "status": run_status, "exit_code": exit_code,
                "aborted_reason": "", "started_at": run_start, "ended_at": last_end, "parent_run": None})
        with engine.begin() as conn:
            conn.execute(runs.insert(), run_rows)
            conn.execute(run_hosts.insert(), host_rows)
            conn.execute(steps.insert(), step_rows)
        done = min(shape.runs, chunk_start + chunk)
        if done % (chunk * 40) == 0 or done == shape.runs:
            print(f"  {done:,} runs, {step_id:,} steps, {time.perf_counter() - started:.0f} s", flush=True)

    with engine.connect() as conn:
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("runs", "run_hosts", "steps")}
    engine.dispose()  # the last connection closed checkpoints the WAL into the file
    db = sqlite3.connect(part)  # no -wal file left behind before the rename
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()
    _remove_sqlite(path)
    for suffix in ("-wal", "-shm"):
        part.with_name(part.name + suffix).unlink(missing_ok=True)
    os.replace(part, path)
    seconds = time.perf_counter() - started
    print(f"journal: built in {seconds:.0f} s: {counts['steps']:,} steps, {path.stat().st_size / 2**20:.0f} MB",
          flush=True)
    return {**shape.stamp(), "built_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "build_seconds": round(seconds, 1), "rows": counts}


# ---------------------------------------------------------------- measuring


@dataclass
class Timing:
    what: str
    how: str  # "command" (child process, wall from spawn to reaped) or "query" (in-process)
    walls: list[float]
    cpus: list[float] = field(default_factory=list)
    returned: int | None = None  # entries or runs returned
    judged: bool = False

    @property
    def best_ms(self) -> float:
        return min(self.walls) * 1000

    @property
    def median_ms(self) -> float:
        return statistics.median(self.walls) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.walls) * 1000

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "how": self.how, "n": len(self.walls), "best_ms": self.best_ms,
                "median_ms": self.median_ms, "max_ms": self.max_ms,
                "median_cpu_ms": statistics.median(self.cpus) * 1000 if self.cpus else None,
                "returned": self.returned, "judged": self.judged, "walls_ms": [w * 1000 for w in self.walls]}


_current_child: subprocess.Popen | None = None


def run_child(argv: list[str], env: dict[str, str], scratch: Path) -> tuple[float, float, int, str, str]:
    """(wall, user+sys CPU, exit code, stdout, stderr) of one child run in its own session."""
    global _current_child
    out_path, err_path = scratch / "child.stdout", scratch / "child.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                start_new_session=True)
        _current_child = proc
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _stop(proc)
            raise
        wall = time.perf_counter() - start
        _current_child = None
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (wall, usage.ru_utime + usage.ru_stime, proc.returncode, out_path.read_text(errors="replace"),
            err_path.read_text(errors="replace"))


def _stop(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                if os.waitpid(proc.pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:
                return
            time.sleep(0.05)


def time_command(what: str, argv: list[str], env: dict[str, str], scratch: Path, n: int,
                 check: Callable[[str], int | None], *, judged: bool = False) -> Timing:
    """One warm-up, then ``n`` measured runs. ``check(stdout)`` returns the number of entries returned,
    or raises ValueError if the output is wrong."""
    run_child(argv, env, scratch)  # warm the page cache and the .pyc files
    walls, cpus, returned = [], [], None
    for _ in range(n):
        wall, cpu, rc, out, err = run_child(argv, env, scratch)
        if rc != 0:
            raise SystemExit(f"`{' '.join(argv)}` failed (exit {rc}): {err.strip()[-600:]}")
        try:
            returned = check(out)
        except ValueError as exc:
            raise SystemExit(f"`{' '.join(argv)}` printed something unexpected: {exc}") from None
        walls.append(wall)
        cpus.append(cpu)
    return Timing(what, "command", walls, cpus, returned, judged)


def time_query(what: str, call: Callable[[], Any], n: int, *, judged: bool = False) -> Timing:
    """Three warm-up calls, then ``n`` measured calls (wall and this process's CPU)."""
    for _ in range(3):
        result = call()
    walls, cpus = [], []
    for _ in range(n):
        cpu0, start = time.process_time(), time.perf_counter()
        result = call()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu0)
    return Timing(what, "query", walls, cpus, len(result) if isinstance(result, list) else None, judged)


def _history_check(host: str, expected: int) -> Callable[[str], int]:
    def check(out: str) -> int:
        entries = json.loads(out)
        if not isinstance(entries, list) or any(e.get("host") != host for e in entries):
            raise ValueError(f"expected a JSON list of {host}'s runs: {out[:200]!r}")
        if len(entries) != expected:
            raise ValueError(f"{len(entries)} entries for {host}, expected {expected}")
        return len(entries)
    return check


def _table_check(host: str) -> Callable[[str], None]:
    def check(out: str) -> None:
        if f"history of {host}" not in out:
            raise ValueError(f"no history table: {out[:200]!r}")
    return check


def _runs_check(expected: int) -> Callable[[str], int]:
    def check(out: str) -> int:
        data = json.loads(out)
        if not isinstance(data, list) or any("id" not in r for r in data) or len(data) != expected:
            raise ValueError(f"expected a JSON list of {expected} runs: {out[:200]!r}")
        return len(data)
    return check


def _help_check(out: str) -> None:
    if "Usage" not in out:
        raise ValueError(f"no usage text: {out[:200]!r}")


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    import sqlalchemy as sa

    from remote_support.journal import Journal

    shape = Shape(runs=args.runs, hosts_per_run=args.hosts_per_run, steps_per_host=args.steps_per_host,
                  fleet=args.fleet, hot_share=args.hot_share)
    path = Path(args.journal_file).absolute() if args.journal_file else default_path(shape)
    stamp, built = ensure_journal(shape, path, args.rebuild)
    url = f"sqlite:///{path}"

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        entries = {h: conn.execute(sa.text("SELECT count(*) FROM run_hosts WHERE host = :h"), {"h": h}).scalar_one()
                   for h in (HOT_HOST, TYPICAL_HOST)}
        counts = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                  for t in ("runs", "run_hosts", "steps")}
        analyzed = conn.execute(sa.text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar_one()
    engine.dispose()
    size_mb = sum(p.stat().st_size for p in path.parent.glob(path.name + "*")
                  if not p.name.endswith(".json")) / 2**20
    print(f"journal: {path} ({'built now' if built else 'reused, built ' + str(stamp.get('built_at'))}), "
          f"{size_mb:.0f} MB: {counts['runs']:,} runs, {counts['run_hosts']:,} host results, "
          f"{counts['steps']:,} steps; "
          f"{HOT_HOST} in {entries[HOT_HOST]:,} runs, {TYPICAL_HOST} in {entries[TYPICAL_HOST]:,}", flush=True)

    script = Path(sys.executable).parent / "remote-support"
    base = [str(script)] if script.exists() else [sys.executable, "-m", "remote_support"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH"))
                                                      if p),
               REMOTE_SUPPORT_HOME=str(scratch / "rs-home"), LANG=os.environ.get("LANG") or "C.UTF-8")
    env.pop("REMOTE_SUPPORT_JOURNAL", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as an installed package runs
    env["COLUMNS"] = "160"
    j = ["--journal", url]
    n, q = args.repeat_command, args.repeat_query
    timings: list[Timing] = []

    print(f"timing commands ({n} runs each after one warm-up) ...", flush=True)
    timings.append(time_command(f"hosts history {HOT_HOST} --json", base + ["hosts", "history", HOT_HOST, "--json", *j],
                                env, scratch, n, _history_check(HOT_HOST, min(50, entries[HOT_HOST]))))
    timings.append(time_command(f"hosts history {TYPICAL_HOST} --json",
                                base + ["hosts", "history", TYPICAL_HOST, "--json", *j], env, scratch, n,
                                _history_check(TYPICAL_HOST, min(50, entries[TYPICAL_HOST]))))
    timings.append(time_command(f"hosts history {HOT_HOST} (table)", base + ["hosts", "history", HOT_HOST, *j],
                                env, scratch, n, _table_check(HOT_HOST)))
    timings.append(time_command("runs list --json", base + ["runs", "list", "--json", *j], env, scratch, n,
                                _runs_check(min(50, counts["runs"]))))
    timings.append(time_command(f"runs list --host {TYPICAL_HOST} --json",
                                base + ["runs", "list", "--host", TYPICAL_HOST, "--json", *j], env, scratch, n,
                                _runs_check(min(50, entries[TYPICAL_HOST]))))
    timings.append(time_command("--help (start-up alone)", base + ["--help"], env, scratch, n, _help_check))
    timings.append(time_command("python -c 'import remote_support.journal'",
                                [sys.executable, "-c", "import remote_support.journal"], env, scratch, n,
                                lambda out: None))

    print(f"timing queries in this process ({q} calls each after three warm-up calls) ...", flush=True)
    def open_close() -> None:
        Journal.open(url).close()

    timings.append(time_query("Journal.open + close", open_close, max(10, q // 5)))
    journal = Journal.open(url)
    try:
        timings.append(time_query(f"host_history({HOT_HOST!r})", lambda: journal.host_history(HOT_HOST), q,
                                  judged=True))
        timings.append(time_query(f"host_history({TYPICAL_HOST!r})", lambda: journal.host_history(TYPICAL_HOST), q))
        timings.append(time_query("list_runs()", lambda: journal.list_runs(), q))
        timings.append(time_query(f"list_runs(host={TYPICAL_HOST!r})", lambda: journal.list_runs(host=TYPICAL_HOST),
                                  q))
    finally:
        journal.close()

    judged = next(t for t in timings if t.judged)
    command = timings[0]
    startup = next(t for t in timings if t.what.startswith("--help"))
    command_name = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(base))
    targets = [
        {"target": f"`hosts history` query on {counts['steps']:,} steps under {TARGET_HISTORY_MS:g} ms "
                   f"(Journal.host_history('{HOT_HOST}'), {len(judged.walls)} calls, median)",
         "value": f"{judged.median_ms:.1f} ms", "pass": judged.median_ms < TARGET_HISTORY_MS},
        {"target": f"(information) `{command_name} hosts history {HOT_HOST} --json` as a command, with Python "
                   f"start-up, imports and Journal.open", "info": True, "pass": None,
         "value": f"best {command.best_ms:.0f} ms, median {command.median_ms:.0f} ms "
                  f"({'under' if command.median_ms < TARGET_HISTORY_MS else 'over'} {TARGET_HISTORY_MS:g} ms; "
                  f"start-up alone (--help): median {startup.median_ms:.0f} ms)"},
    ]
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "sqlite": sqlite3.sqlite_version, "sqlalchemy": sa.__version__},
        "journal": {"path": str(path), "built_now": built, "size_mb": size_mb, "rows": counts,
                    "entries": entries, "analyzed": bool(analyzed), "stamp": stamp},
        "command": command_name,
        "timings": [t.to_dict() for t in timings],
        "targets": targets,
        "all_pass": all(t["pass"] is not False for t in targets),
    }


def report(results: dict[str, Any]) -> str:
    jr = results["journal"]
    rows = jr["rows"]
    analyzed = "ANALYZE run on it" if jr["analyzed"] else "no ANALYZE (as the product leaves it)"
    out = [f"journal benchmark, {results['date']}: `hosts history` and `runs list` on a synthetic SQLite journal",
           (f"journal: {rows['runs']:,} runs x {rows['run_hosts'] // max(rows['runs'], 1)} hosts = "
            f"{rows['run_hosts']:,} host results, {rows['steps']:,} steps, {jr['size_mb']:.0f} MB; "
            f"{HOT_HOST} in {jr['entries'][HOT_HOST]:,} runs, {TYPICAL_HOST} in {jr['entries'][TYPICAL_HOST]:,}; "
            f"{analyzed}; warm page cache"),
           (f"machine: {results['machine']['cpus']} CPUs, Python {results['machine']['python']}, "
            f"SQLite {results['machine']['sqlite']}, SQLAlchemy {results['machine']['sqlalchemy']}"),
           (f"command: `{results['command']} ... --journal sqlite:///<journal>`, child process, wall from spawn to "
            "reaped; query: in-process on one open Journal"), ""]
    header = ["what", "how", "n", "best ms", "median ms", "max ms", "CPU ms", "returned", f"< {TARGET_HISTORY_MS:g} ms"]
    table = [header]
    for t in results["timings"]:
        under = "yes" if t["median_ms"] < TARGET_HISTORY_MS else "no"
        table.append([t["what"], t["how"], str(t["n"]), f"{t['best_ms']:.1f}", f"{t['median_ms']:.1f}",
                      f"{t['max_ms']:.1f}", f"{t['median_cpu_ms']:.1f}" if t["median_cpu_ms"] is not None else "-",
                      "-" if t["returned"] is None else str(t["returned"]),
                      ("PASS" if under == "yes" else "FAIL") if t["judged"] else under])
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        out.append("  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    out += ["", "targets:"]
    for t in results["targets"]:
        verdict = "info" if t.get("info") else {True: "PASS", False: "FAIL", None: "n/a "}[t["pass"]]
        out.append(f"  {verdict}  {t['target']}: {t['value']}")
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    shape = Shape()
    parser = argparse.ArgumentParser(
        prog="benchmarks/journal.py",
        description="Time `remote-support hosts history` and `runs list` on a synthetic journal of "
                    "1,000,000 step results (built once into benchmarks/results/, then reused).")
    parser.add_argument("--runs", type=int, default=shape.runs, help=f"runs in the journal (default {shape.runs:,})")
    parser.add_argument("--hosts-per-run", type=int, default=shape.hosts_per_run,
                        help=f"hosts per run (default {shape.hosts_per_run})")
    parser.add_argument("--steps-per-host", type=int, default=shape.steps_per_host,
                        help=f"steps per host (default {shape.steps_per_host})")
    parser.add_argument("--fleet", type=int, default=shape.fleet, help=f"distinct hosts (default {shape.fleet:,})")
    parser.add_argument("--hot-share", type=float, default=shape.hot_share,
                        help=f"share of runs that include {HOT_HOST} (default {shape.hot_share})")
    parser.add_argument("--journal-file", metavar="PATH",
                        help="where the synthetic journal is kept "
                             "(default: benchmarks/results/journal-bench-...sqlite)")
    parser.add_argument("--rebuild", action="store_true", help="build the journal again even if a cached one fits")
    parser.add_argument("--repeat-command", type=int, default=10, help="measured runs of each command (default 10)")
    parser.add_argument("--repeat-query", type=int, default=100, help="measured calls of each query (default 100)")
    parser.add_argument("--json", metavar="FILE", help="also save the results as JSON")
    args = parser.parse_args(argv)
    if (args.runs < 1 or args.hosts_per_run < 1 or args.steps_per_host < 1 or args.repeat_command < 1
            or args.repeat_query < 1 or not 0 <= args.hot_share <= 1):
        parser.error("counts must be at least 1 and --hot-share between 0 and 1")
    if args.fleet <= max(args.hosts_per_run, int(TYPICAL_HOST.split("-")[1]), int(HOT_HOST.split("-")[1])):
        parser.error(f"--fleet must be larger than --hosts-per-run and include {HOT_HOST} and {TYPICAL_HOST}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import remote_support.journal  # noqa: F401
    except ImportError as exc:
        print(f"cannot import remote_support.journal ({exc}): run from the repository with its dependencies "
              "installed", file=sys.stderr)
        return 2

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    scratch = Path(tempfile.mkdtemp(prefix="remote-support-journal-bench-"))
    try:
        results = run(args, scratch)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if _current_child is not None:
            _stop(_current_child)
        shutil.rmtree(scratch, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous)
    text = report(results)
    print("\n" + text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nresults saved to {args.json}")
    return 0 if results["all_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
