#!/usr/bin/env python3
"""Benchmark: `remote-support exec` against a minimal paramiko thread pool and `ansible -m raw`.

The job: run ``uname -a; uptime`` on every host of a practice lab (200 real sshd hosts on 127.45.x.y by
default), 50 hosts in parallel. Each client runs as a child process and is measured from outside:

* wall time (time.perf_counter around start-to-reaped),
* client CPU time, user + sys of the child and every descendant it reaped (os.wait4), so Ansible's
  worker processes and its ssh clients count,
* peak memory, ru_maxrss from os.wait4 (for Ansible: the largest of its processes).

One warm-up run of each client, then ``--repeat`` measured runs in alternating order; the median is
reported. ``remote-support --help`` is timed too (best of 10). See benchmarks/README.md.

remote-support runs twice: as users run it, recording into a fresh journal (a SQLite file in the
benchmark's temporary directory, or ``--journal-url``), and through ``benchmarks/no_journal.py`` with the
journal replaced by one that does nothing, to measure what recording costs (target: under 5% wall).

    python benchmarks/run.py                 # 200 hosts, 50 forks, 3 repetitions, with Ansible
    python benchmarks/run.py --skip-ansible --hosts 50 --repeat 1 --json /tmp/bench.json
    python benchmarks/run.py --history-only  # only benchmarks/journal.py: `hosts history` on 1,000,000 steps
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
ANSIBLE_VENV = BENCH_DIR / ".venv-ansible"
ANSIBLE_REQUIREMENTS = BENCH_DIR / "requirements-ansible.txt"
REFERENCE_SCRIPT = BENCH_DIR / "paramiko_reference.py"
NO_JOURNAL_SCRIPT = BENCH_DIR / "no_journal.py"
HISTORY_SCRIPT = BENCH_DIR / "journal.py"

LAB_NETWORK = "127.45.0.0"  # not the test lab's 127.43 nor a user's 127.42
COMMAND = "uname -a; uptime"

# Targets for remote-support (the paramiko reference is the yardstick).
TARGET_WALL_RATIO = 1.05  # wall time at most 1.05x the reference (issue 9)
TARGET_CPU_RATIO = 1.2  # CPU per host at most 1.2x the reference (issue 9)
TARGET_VS_ANSIBLE = 4.0  # at least 4x faster (wall) than `ansible -m raw`
TARGET_HELP_S = 0.3  # `remote-support --help`, best of 10
TARGET_JOURNAL_OVERHEAD = 0.05  # with the journal at most 5% more wall time than without (medians)
MAX_ATTEMPTS = 3  # a run that fails on some host is shown, counted and repeated, at most this often

RS = "remote-support"
RS_NO_JOURNAL = "remote-support, no journal"  # benchmarks/no_journal.py: the journal replaced by a null one
RS_BASELINE = "remote-support, baseline"  # --baseline DIR: another tree, measured in the same rounds
RS_NO_IMPORT = "remote-support, no journal import"  # information: nor is the journal module (SQLAlchemy) imported
NO_JOURNAL_MARKER = "no_journal: journal replaced by a null journal"  # what no_journal.py prints on stderr
REF = "paramiko reference"
ANSIBLE = "ansible -m raw"  # OpenSSH's default key exchange (sntrup761x25519), as users run it
ANSIBLE_C25519 = "ansible raw curve25519"  # like for like: the key exchange paramiko negotiates
C25519 = "curve25519-sha256"


sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing it


# ---------------------------------------------------------------- measuring one child process


@dataclass
class Sample:
    wall: float
    cpu: float  # user + sys, child and reaped descendants
    user: float
    sys: float
    maxrss_mb: float
    rc: int
    stdout: str = field(repr=False, default="")
    stderr: str = field(repr=False, default="")


_current_child: subprocess.Popen | None = None


def measure(argv: list[str], *, env: dict[str, str] | None = None, cwd: str | None = None,
            scratch: Path) -> Sample:
    """Run ``argv`` to completion and return its wall time, CPU time and peak memory.

    The child gets its own session, so on Ctrl-C or an error we stop exactly it and whatever it
    started (by its process group id), never anything else.
    """
    global _current_child
    out_path, err_path = scratch / "child.stdout", scratch / "child.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd,
                                start_new_session=True)
        _current_child = proc
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            stop_child(proc)
            raise
        wall = time.perf_counter() - start
        _current_child = None
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
    return Sample(wall=wall, cpu=usage.ru_utime + usage.ru_stime, user=usage.ru_utime, sys=usage.ru_stime,
                  maxrss_mb=usage.ru_maxrss / 1024, rc=proc.returncode,
                  stdout=out_path.read_text(errors="replace"), stderr=err_path.read_text(errors="replace"))


def stop_child(proc: subprocess.Popen) -> None:
    """Stop a child we started, and its process group (its own session), then reap it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(proc.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if done:
                return
            time.sleep(0.05)


# ---------------------------------------------------------------- the clients


@dataclass
class Client:
    name: str
    argv: list[str]
    check: Callable[[Sample], str | None]  # None if the run did the job on every host, else why not
    env: dict[str, str] | None = None
    cwd: str | None = None
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # runs that did not do the job (and were re-run)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


def check_remote_support(hosts: int) -> Callable[[Sample], str | None]:
    def check(sample: Sample) -> str | None:
        try:
            data = json.loads(sample.stdout)
        except ValueError:
            return f"exit {sample.rc}, no JSON on stdout; stderr: {tail(sample.stderr)}"
        ok = data.get("summary", {}).get("ok", 0)
        linux = sum(1 for h in data.get("hosts", []) if h.get("status") == "ok"
                    and any("Linux" in (s.get("stdout") or "") and s.get("rc") == 0 for s in h.get("steps", [])))
        if sample.rc != 0 or ok != hosts or linux != hosts:
            bad = [f"{h.get('host')}: {h.get('status')} {h.get('reason')}" for h in data.get("hosts", [])
                   if h.get("status") != "ok"][:3]
            return f"exit {sample.rc}, summary {data.get('summary')}, {linux} hosts printed uname; {bad}"
        return None
    return check


def check_no_journal(hosts: int, imported: bool = True) -> Callable[[Sample], str | None]:
    """As remote-support, and it must really have run without the journal (and without importing it)."""
    check_rs = check_remote_support(hosts)

    def check(sample: Sample) -> str | None:
        if NO_JOURNAL_MARKER not in sample.stderr or imported == ("not imported" in sample.stderr):
            return f"exit {sample.rc}, not run through {NO_JOURNAL_SCRIPT.name}; stderr: {tail(sample.stderr)}"
        return check_rs(sample)
    return check


def check_reference(hosts: int) -> Callable[[Sample], str | None]:
    def check(sample: Sample) -> str | None:
        try:
            summary = json.loads(sample.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return f"exit {sample.rc}, no summary line; stderr: {tail(sample.stderr)}"
        if sample.rc != 0 or summary.get("ok") != hosts or sample.stdout.count("Linux") < hosts:
            return f"exit {sample.rc}, {summary}; first failures: {tail(sample.stdout, 6)}"
        return None
    return check


_ANSIBLE_OK = re.compile(r"^(\S+) \| (?:CHANGED|SUCCESS) \| rc=0 >>", re.M)


def check_ansible(hosts: int) -> Callable[[Sample], str | None]:
    def check(sample: Sample) -> str | None:
        ok = set(_ANSIBLE_OK.findall(sample.stdout))
        if sample.rc != 0 or len(ok) != hosts or sample.stdout.count("Linux") < hosts:
            lines = sample.stdout.splitlines()
            failed = [" ".join(x.strip() for x in lines[i:i + 4]) for i, line in enumerate(lines)
                      if "| FAILED" in line or "| UNREACHABLE" in line]
            return (f"exit {sample.rc}, {len(ok)} of {hosts} hosts rc=0; {failed[:3]}; "
                    f"stderr: {tail(sample.stderr)}")
        return None
    return check


def tail(text: str, lines: int = 4) -> str:
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty)"


# ---------------------------------------------------------------- Ansible in its own venv


def ansible_executable() -> tuple[Path | None, str]:
    """benchmarks/.venv-ansible/bin/ansible with the pinned ansible-core, created on first use.

    Returns (path, version) or (None, reason) if it cannot be installed.
    """
    stamp = ANSIBLE_VENV / "requirements-ansible.txt"
    wanted = ANSIBLE_REQUIREMENTS.read_text()
    ansible = ANSIBLE_VENV / "bin" / "ansible"
    python = ANSIBLE_VENV / "bin" / "python"
    if not (ansible.exists() and stamp.exists() and stamp.read_text() == wanted):
        print(f"installing ansible-core into {ANSIBLE_VENV.relative_to(REPO_ROOT)} "
              f"(pinned in {ANSIBLE_REQUIREMENTS.relative_to(REPO_ROOT)}) ...", flush=True)
        steps = []
        if not python.exists():
            steps.append([sys.executable, "-m", "venv", str(ANSIBLE_VENV)])
        steps.append([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                      "-r", str(ANSIBLE_REQUIREMENTS)])
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                errors = [line for line in (done.stderr or done.stdout).splitlines() if line.startswith("ERROR")]
                why = " | ".join(line[:300] for line in errors[-2:]) or tail(done.stderr or done.stdout)
                return None, f"`{' '.join(step)}` failed: {why}"
        stamp.write_text(wanted)
    done = subprocess.run([str(ansible), "--version"], capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"{ansible} --version failed: {tail(done.stderr)}"
    return ansible, done.stdout.splitlines()[0].strip()


def write_ansible_files(lab, statuses, work: Path, kex: str | None, forks: int) -> tuple[Path, dict[str, str]]:
    """An INI inventory of the lab and the environment that makes Ansible check host keys strictly,
    use ``forks`` forks, gather nothing and never reuse an SSH connection (no ControlMaster/ControlPersist)."""
    common = f"-o UserKnownHostsFile={lab.known_hosts_path} -o StrictHostKeyChecking=yes"
    if kex:
        common += f" -o KexAlgorithms={kex}"
    lines = ["[lab]"]
    for h in statuses:
        lines.append(f"{h.name} ansible_host={h.address} ansible_port={h.port}")
    lines += ["", "[all:vars]", "ansible_connection=ssh", f"ansible_user={lab.user}",
              f"ansible_ssh_private_key_file={lab.client_key_path}",
              f"ansible_ssh_common_args='{common}'", ""]
    inventory = work / "ansible-inventory.ini"
    inventory.write_text("\n".join(lines))
    config = work / "ansible.cfg"  # an empty config: no ~/.ansible.cfg or /etc/ansible settings leak in
    config.write_text("[defaults]\n")
    env = {
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_HOME": str(work / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(work / "ansible-tmp"),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_GATHERING": "explicit",
        # Ansible's default is "-C -o ControlMaster=auto -o ControlPersist=60s": no compression (the
        # other clients do not compress) and no connection kept between repetitions.
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=no -o ControlPersist=no",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_LOCALHOST_WARNING": "False",
    }
    return inventory, env


# ---------------------------------------------------------------- the run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark `remote-support exec` against a minimal paramiko thread pool and "
                    "`ansible -m raw` on a lab of real sshd hosts.")
    parser.add_argument("--hosts", type=int, default=200, help="lab size (default 200)")
    parser.add_argument("--forks", type=int, default=50, help="hosts in parallel (default 50)")
    parser.add_argument("--repeat", type=int, default=5, help="measured runs of each client (default 5)")
    parser.add_argument("--skip-ansible", action="store_true", help="do not install or run Ansible")
    parser.add_argument("--ansible-kex", choices=("default", "curve25519", "both"), default="both",
                        help="key exchange for Ansible's ssh: OpenSSH's default (sntrup761x25519, about "
                             "80 ms client CPU per connection; the target is measured against this), "
                             f"{C25519} (what paramiko negotiates: like for like), or both (default)")
    parser.add_argument("--journal-url", metavar="URL",
                        help="the journal remote-support records into, e.g. postgresql://USER@HOST:PORT/DATABASE "
                             "(use a scratch database: every measured run is recorded there); default: a fresh "
                             "SQLite file in the benchmark's temporary directory")
    parser.add_argument("--no-journal-import", action="store_true",
                        help=f"also measure (for information) `{RS_NO_IMPORT}`: remote-support without the journal "
                             "and without even importing the journal module (SQLAlchemy)")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also measure the remote-support in DIR (a checkout or `git archive` of another "
                             "commit) as `remote-support, baseline`, interleaved: before/after in one run")
    parser.add_argument("--history-only", action="store_true",
                        help="run only the journal benchmark (benchmarks/journal.py: `hosts history` on "
                             "1,000,000 step results); other options after it go to that script")
    parser.add_argument("--json", metavar="FILE", help="also save the results as JSON")
    args, extra = parser.parse_known_args(argv)
    args.history_args = extra
    if extra and not args.history_only:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.hosts < 1 or args.forks < 1 or args.repeat < 1:
        parser.error("--hosts, --forks and --repeat must be at least 1")
    return args


def time_help(scratch: Path) -> dict:
    """`remote-support --help`, best of 10: the console script beside this Python if installed."""
    script = Path(sys.executable).parent / "remote-support"
    argv = [str(script), "--help"] if script.exists() else [sys.executable, "-m", "remote_support", "--help"]
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    measure(argv, env=env, scratch=scratch)  # warm the page cache and .pyc files
    samples = [measure(argv, env=env, scratch=scratch) for _ in range(10)]
    bad = [s for s in samples if s.rc != 0 or "Usage" not in s.stdout]
    if bad:
        raise SystemExit(f"`{' '.join(argv)}` failed (exit {bad[0].rc}): {tail(bad[0].stderr)}")
    best = min(samples, key=lambda s: s.wall)
    return {"command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(argv)),
            "best_wall": best.wall, "median_wall": statistics.median(s.wall for s in samples),
            "best_cpu": best.cpu, "maxrss_mb": best.maxrss_mb, "walls": [s.wall for s in samples]}


def _pythonpath() -> str:
    return os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)


def run(args: argparse.Namespace, work: Path, lab) -> dict:
    scratch = work / "scratch"
    scratch.mkdir()
    print(f"lab: starting {args.hosts} hosts on {LAB_NETWORK} in {lab.directory} ...", flush=True)
    started = time.perf_counter()
    lab.up(args.hosts)
    statuses = lab.status()
    down = [h.name for h in statuses if not h.running]
    if len(statuses) != args.hosts or down:
        raise SystemExit(f"lab: {len(statuses)} hosts, not running: {down[:5]}")
    print(f"lab: {args.hosts} hosts up in {time.perf_counter() - started:.1f} s "
          f"({statuses[0].address} .. {statuses[-1].address}, user {lab.user})", flush=True)

    hosts_file = work / "hosts.txt"
    hosts_file.write_text("".join(f"{h.name} {h.address} {h.port}\n" for h in statuses))
    base_env = dict(os.environ, PYTHONPATH=_pythonpath(), REMOTE_SUPPORT_HOME=str(work / "rs-home"),
                    LANG=os.environ.get("LANG") or "C.UTF-8")
    base_env.pop("REMOTE_SUPPORT_INVENTORY", None)
    # Measure the tool as an installed package runs: with its bytecode cached (the warm-up run writes
    # remote_support/__pycache__, which git ignores), even where the shell sets PYTHONDONTWRITEBYTECODE.
    base_env.pop("PYTHONDONTWRITEBYTECODE", None)

    # remote-support records into a journal of the benchmark's own (never the user's, even if the
    # environment names one), and runs a second time with the journal replaced by a null one.
    journal_url = args.journal_url or f"sqlite:///{work / 'journal.sqlite'}"
    base_env["REMOTE_SUPPORT_JOURNAL"] = journal_url
    journal_where = check_journal(journal_url)
    print(f"journal: remote-support records into {journal_where}", flush=True)
    exec_args = ["exec", "all", "-i", str(lab.inventory_path), "-f", str(args.forks), "--json", "--", COMMAND]

    clients = [
        Client(RS, [sys.executable, "-m", "remote_support", *exec_args],
               check_remote_support(args.hosts), env=base_env),
        # next to RS, so the alternating order always runs the two back to back
        Client(RS_NO_JOURNAL, [sys.executable, str(NO_JOURNAL_SCRIPT), *exec_args],
               check_no_journal(args.hosts), env=base_env),
        *([Client(RS_NO_IMPORT, [sys.executable, str(NO_JOURNAL_SCRIPT), "--skip-journal-import", *exec_args],
                  check_no_journal(args.hosts, imported=False), env=base_env)] if args.no_journal_import else []),
        *([Client(RS_BASELINE, [sys.executable, "-m", "remote_support", *exec_args],
                  check_remote_support(args.hosts),
                  env={**base_env, "PYTHONPATH": os.path.abspath(args.baseline),
                       "REMOTE_SUPPORT_JOURNAL": f"sqlite:///{work / 'journal-baseline.sqlite'}"},
                  cwd=str(work))]  # not the checkout: `-m` would import it from the current directory
          if args.baseline else []),
        Client(REF, [sys.executable, str(REFERENCE_SCRIPT), "--hosts-file", str(hosts_file), "--user", lab.user,
                     "--key", str(lab.client_key_path), "--known-hosts", str(lab.known_hosts_path),
                     "--forks", str(args.forks), "--", COMMAND],
               check_reference(args.hosts), env=base_env),
    ]
    ansible_note = "skipped (--skip-ansible)"
    if not args.skip_ansible:
        ansible, version = ansible_executable()
        if ansible is None:
            ansible_note = f"NOT MEASURED: ansible-core could not be installed: {version}"
            print(f"ansible: {ansible_note}; continuing with the other two", flush=True)
        else:
            ansible_note = version
            variants = {"default": [(ANSIBLE, None)], "curve25519": [(ANSIBLE_C25519, C25519)],
                        "both": [(ANSIBLE, None), (ANSIBLE_C25519, C25519)]}[args.ansible_kex]
            for name, kex in variants:
                variant_dir = work / name.replace(" ", "-")
                variant_dir.mkdir()
                inventory, env = write_ansible_files(lab, statuses, variant_dir, kex, args.forks)
                env = {**base_env, **env, "PATH": f"{ansible.parent}{os.pathsep}{base_env.get('PATH', '')}"}
                clients.append(Client(name, [str(ansible), "all", "-i", str(inventory), "-m", "raw",
                                             "-a", COMMAND, "-f", str(args.forks)],
                                      check_ansible(args.hosts), env=env, cwd=str(variant_dir)))

    print("timing `remote-support --help` (best of 10) ...", flush=True)
    help_result = time_help(scratch)

    width = max(22, *(len(c.name) for c in clients))

    def one(client: Client, label: str) -> Sample:
        """One measured run that did the job on every host. A run that did not is shown (with the
        end of the sshd log of the hosts it names), counted in the results and run again, twice at most."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            sample = measure(client.argv, env=client.env, cwd=client.cwd, scratch=scratch)
            problem = client.check(sample)
            print(f"  {label:8} {client.name:{width}} wall {sample.wall:6.2f} s  cpu {sample.cpu:6.2f} s  "
                  f"peak {sample.maxrss_mb:5.1f} MB  {'ok' if problem is None else 'FAILED'}", flush=True)
            if problem is None:
                return sample
            client.failures.append(f"{label}: {problem}")
            print(f"    {client.name} did not run the command on all {args.hosts} hosts: {problem}", flush=True)
            for name in sorted(set(re.findall(r"\blab-\d{3,}\b", problem)))[:3]:
                log = lab.directory / "hosts" / name / "sshd.log"
                if log.exists():
                    print(f"    end of {name}'s sshd log: {tail(log.read_text(errors='replace'), 6)}", flush=True)
        raise SystemExit(f"{client.name} failed {MAX_ATTEMPTS} times in a row: giving up")

    bench_started = datetime.datetime.now(datetime.timezone.utc)
    for client in clients:
        one(client, "warm-up")
    for rep in range(args.repeat):
        order = clients if rep % 2 == 0 else clients[::-1]
        for client in order:
            client.samples.append(one(client, f"run {rep + 1}"))

    rs_client = clients[0]
    journal_info = {"url": journal_where, "fresh_sqlite": args.journal_url is None,
                    **count_recorded(journal_url, bench_started, args.hosts, 1 + args.repeat + len(rs_client.failures)),
                    "runs_expected_complete": 1 + args.repeat}
    return summarize(args, clients, help_result, ansible_note, journal_info)


def check_journal(url: str) -> str:
    """Open (creating) the journal once before the lab runs: a bad --journal-url fails here, not in
    the first run. Returns the journal's name for messages (no password)."""
    from remote_support.journal import Journal, JournalError

    try:
        journal = Journal.open(url)
    except JournalError as exc:
        raise SystemExit(f"journal: {exc}") from None
    try:
        return journal.where
    finally:
        journal.close()


def count_recorded(url: str, since: datetime.datetime, hosts: int, expected: int) -> dict:
    """How many of the benchmark's runs the journal holds, and how many with every host recorded ok."""
    from remote_support.journal import Journal

    with Journal.open(url) as journal:
        records = journal.list_runs(task=COMMAND, since=since, limit=expected + 50)
    complete = sum(1 for r in records if r.counts.get("ok") == hosts and r.status == "ok")
    return {"runs_recorded": len(records), "runs_complete": complete, "runs_expected": expected}


def summarize(args: argparse.Namespace, clients: list[Client], help_result: dict, ansible_note: str,
              journal_info: dict | None = None) -> dict:
    by_name = {c.name: c for c in clients}
    rows = {}
    for c in clients:
        rows[c.name] = {
            "command": " ".join(Path(a).name if i < 2 and "/" in a else a for i, a in enumerate(c.argv)),
            "wall_s": c.median("wall"),
            "cpu_s": c.median("cpu"),
            "cpu_ms_per_host": c.median("cpu") * 1000 / args.hosts,
            "peak_mb": c.median("maxrss_mb"),
            "failed_runs": c.failures,
            "runs": [{"wall_s": s.wall, "cpu_s": s.cpu, "user_s": s.user, "sys_s": s.sys, "peak_mb": s.maxrss_mb}
                     for s in c.samples],
        }
    ref = rows[REF]
    ans = rows.get(ANSIBLE) or rows.get(ANSIBLE_C25519)
    ans_name = ANSIBLE_C25519 if ANSIBLE not in rows and ANSIBLE_C25519 in rows else ANSIBLE
    for row in rows.values():
        row["wall_vs_ref"] = row["wall_s"] / ref["wall_s"]
        row["cpu_per_host_vs_ref"] = row["cpu_ms_per_host"] / ref["cpu_ms_per_host"]
        row["x_faster_than_ansible"] = ans["wall_s"] / row["wall_s"] if ans else None

    rs = rows[RS]
    targets = [
        {"target": f"wall within {TARGET_WALL_RATIO}x of the paramiko reference",
         "value": f"{rs['wall_vs_ref']:.2f}x", "pass": rs["wall_vs_ref"] <= TARGET_WALL_RATIO},
        {"target": f"CPU per host within {TARGET_CPU_RATIO}x of the paramiko reference",
         "value": f"{rs['cpu_per_host_vs_ref']:.2f}x", "pass": rs["cpu_per_host_vs_ref"] <= TARGET_CPU_RATIO},
        {"target": f"at least {TARGET_VS_ANSIBLE:g}x faster than `{ans_name}`",
         "value": f"{rs['x_faster_than_ansible']:.1f}x" if ans else "not measured",
         "pass": rs["x_faster_than_ansible"] >= TARGET_VS_ANSIBLE if ans else None},
        {"target": f"`remote-support --help` under {TARGET_HELP_S} s (best of 10)",
         "value": f"{help_result['best_wall']:.3f} s", "pass": help_result["best_wall"] < TARGET_HELP_S},
    ]
    # Paired by round (the clients of a round run back to back), the ratio to the reference moves less with
    # the machine's load than the ratio of the medians: information beside the judged targets.
    for name in (RS, RS_BASELINE):
        if name in by_name and by_name[name].samples and by_name[REF].samples:
            pairs = list(zip(by_name[name].samples, by_name[REF].samples))
            wall = sorted(a.wall / b.wall for a, b in pairs)
            cpu = sorted(a.cpu / b.cpu for a, b in pairs)
            targets.append({"target": f"(information) `{name}` against the reference, paired by round",
                            "pass": None, "info": True,
                            "value": f"wall {statistics.median(wall):.2f}x ({wall[0]:.2f}-{wall[-1]:.2f}), CPU "
                                     f"{statistics.median(cpu):.2f}x ({cpu[0]:.2f}-{cpu[-1]:.2f})"})
    if RS_NO_JOURNAL in rows:
        bare = rows[RS_NO_JOURNAL]
        overhead = rs["wall_s"] / bare["wall_s"] - 1
        paired = [a.wall / b.wall - 1 for a, b in zip(by_name[RS].samples, by_name[RS_NO_JOURNAL].samples)]
        cpu_overhead = rs["cpu_s"] / bare["cpu_s"] - 1
        journal_info = {**(journal_info or {}), "wall_overhead": overhead, "cpu_overhead": cpu_overhead,
                        "paired_wall_overheads": paired}
        targets.append({"target": f"journal overhead under {TARGET_JOURNAL_OVERHEAD:.0%} wall (median with "
                                  "the journal against median without)",
                        "value": f"{overhead:+.1%} ({rs['wall_s']:.2f} s against {bare['wall_s']:.2f} s)",
                        "pass": overhead < TARGET_JOURNAL_OVERHEAD})
        targets.append({"target": "(information) journal overhead, CPU and run by run", "pass": None, "info": True,
                        "value": f"CPU {cpu_overhead:+.1%} ({rs['cpu_s']:.2f} s against {bare['cpu_s']:.2f} s); "
                                 f"wall per run {', '.join(f'{p:+.1%}' for p in paired)}"})
        if RS_NO_IMPORT in rows:
            none = rows[RS_NO_IMPORT]
            journal_info["wall_overhead_with_import"] = rs["wall_s"] / none["wall_s"] - 1
            journal_info["cpu_overhead_with_import"] = rs["cpu_s"] / none["cpu_s"] - 1
            targets.append({"target": f"(information) journal overhead including the import of the journal module "
                                      f"(against `{RS_NO_IMPORT}`)", "pass": None, "info": True,
                            "value": f"wall {journal_info['wall_overhead_with_import']:+.1%} ({rs['wall_s']:.2f} s "
                                     f"against {none['wall_s']:.2f} s), CPU "
                                     f"{journal_info['cpu_overhead_with_import']:+.1%} ({rs['cpu_s']:.2f} s against "
                                     f"{none['cpu_s']:.2f} s)"})
    if ANSIBLE in rows and ANSIBLE_C25519 in rows:
        c = rows[ANSIBLE_C25519]
        targets.append({"target": f"(information) faster than `{ANSIBLE_C25519}`, the same key exchange "
                                  "as paramiko", "value": f"{c['wall_s'] / rs['wall_s']:.1f}x "
                                  f"(the paramiko reference: {c['wall_s'] / ref['wall_s']:.1f}x)", "pass": None, "info": True})
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "openssh": _openssh_version()},
        "job": {"command": COMMAND, "hosts": args.hosts, "forks": args.forks, "repeat": args.repeat,
                "lab_network": LAB_NETWORK},
        "ansible": ansible_note,
        "journal": journal_info,
        "clients": rows,
        "help": help_result,
        "targets": targets,
        "all_pass": all(t["pass"] is not False for t in targets),
    }


def _openssh_version() -> str:
    try:
        return subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
    except OSError:
        return "not found"


def report(results: dict) -> str:
    job = results["job"]
    out = [f"remote-support benchmark, {results['date']}: `{job['command']}` on {job['hosts']} lab hosts, "
           f"{job['forks']} in parallel; median of {job['repeat']} runs after one warm-up",
           f"machine: {results['machine']['cpus']} CPUs, Python {results['machine']['python']}, "
           f"{results['machine']['openssh']}",
           f"ansible: {results['ansible']}"]
    journal = results.get("journal")
    if journal:
        out.append(f"journal: {journal['url']}{' (a fresh file)' if journal.get('fresh_sqlite') else ''}; "
                   f"it holds {journal.get('runs_recorded')} of the {journal.get('runs_expected')} remote-support "
                   f"runs (warm-up included), {journal.get('runs_complete')} with all {job['hosts']} hosts ok; "
                   f"`{RS_NO_JOURNAL}` = benchmarks/{NO_JOURNAL_SCRIPT.name}")
    out.append("")
    header = ["tool", "wall s", "spread", "CPU s", "CPU ms/host", "peak MB", "wall vs ref", "CPU/host vs ref",
              "x faster than ansible raw"]
    table = [header]
    for name, row in results["clients"].items():
        faster = row["x_faster_than_ansible"]
        walls = [r["wall_s"] for r in row["runs"]]
        table.append([name, f"{row['wall_s']:.2f}", f"{min(walls):.2f}-{max(walls):.2f}", f"{row['cpu_s']:.2f}", f"{row['cpu_ms_per_host']:.1f}",
                      f"{row['peak_mb']:.0f}", f"{row['wall_vs_ref']:.2f}x", f"{row['cpu_per_host_vs_ref']:.2f}x",
                      f"{faster:.1f}x" if faster is not None else "-"])
    helped = results["help"]
    table.append([helped["command"], f"{helped['best_wall']:.3f}", "-", f"{helped['best_cpu']:.3f}", "-",
                  f"{helped['maxrss_mb']:.0f}", "-", "-", "-"])
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        out.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    for name, row in results["clients"].items():
        if row["failed_runs"]:
            out.append(f"note: {len(row['failed_runs'])} run(s) of {name} failed on some host and were "
                       f"repeated; first: {row['failed_runs'][0][:300]}")
    out.append("")
    out.append("targets for remote-support:")
    for t in results["targets"]:
        verdict = "info" if t.get("info") else {True: "PASS", False: "FAIL", None: "n/a "}[t["pass"]]
        out.append(f"  {verdict}  {t['target']}: {t['value']}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.history_only:
        spec = importlib.util.spec_from_file_location("remote_support_history_benchmark", HISTORY_SCRIPT)
        history = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = history  # dataclasses look their module up there
        spec.loader.exec_module(history)
        return history.main(args.history_args + (["--json", args.json] if args.json else []))
    try:
        from remote_support.lab import Lab, LabError
    except ImportError as exc:
        print(f"cannot import remote_support.lab ({exc}): run from the repository with its dependencies "
              "installed (make bench)", file=sys.stderr)
        return 2

    # SIGTERM (e.g. from a CI timeout) unwinds like Ctrl-C, so the lab is always stopped.
    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored (nohup, &)
    work = Path(tempfile.mkdtemp(prefix="remote-support-bench-"))
    lab = Lab(work / "lab", network=LAB_NETWORK)
    try:
        results = run(args, work, lab)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the lab", file=sys.stderr)
        return 130
    except LabError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2
    finally:
        if _current_child is not None:
            stop_child(_current_child)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        try:
            stopped = lab.down()
            if stopped:
                print(f"lab: {stopped} hosts stopped", file=sys.stderr)
            lab.remove()  # also drops the lab key from the lab users' authorized_keys
        finally:
            shutil.rmtree(work, ignore_errors=True)
            signal.signal(signal.SIGINT, signal.default_int_handler)

    text = report(results)
    print("\n" + text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"\nresults saved to {args.json}")
    return 0 if results["all_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
