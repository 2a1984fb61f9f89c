#!/usr/bin/env python3
"""Benchmark: a four-step task (command, template, command, command) on a lab of real sshd hosts.

Clients, each a child process measured from outside (wall, CPU of it and its reaped descendants, peak
memory), in one run, interleaved (the order alternates every round), medians and spread reported:

* remote-support: ``run benchmarks/task/task.yml -f 50 --json`` recording into a fresh journal;
* paramiko reference (``task/reference.py``): a thread pool doing the same four operations, nothing more;
* ansible-playbook with pipelining (``task/playbook.yml``), ansible-core from ``benchmarks/.venv-ansible``;
* pyinfra (``task/deploy.py``), from ``benchmarks/.venv-pyinfra`` (pinned in ``requirements-pyinfra.txt``).

Every run gets a new ``token``, so the template really writes on every host every time, for every client.

    python benchmarks/task.py                     # 200 hosts, 50 forks, 5 rounds, every client
    python benchmarks/task.py --hosts 50 --repeat 1 --skip-ansible --skip-pyinfra
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
import run as base  # noqa: E402 - the exec benchmark's measuring, lab and Ansible helpers

TASK_DIR = BENCH_DIR / "task"
PYINFRA_VENV = BENCH_DIR / ".venv-pyinfra"
PYINFRA_REQUIREMENTS = BENCH_DIR / "requirements-pyinfra.txt"
LAB_NETWORK = "127.49.0.0"  # beside the exec benchmark's 127.45 and the test labs

RS, REF, PLAYBOOK, PYINFRA = "remote-support", "paramiko reference", "ansible-playbook (pipelining)", "pyinfra"
TARGET_VS_REF = 1.15  # remote-support wall at most 1.15x the reference
TARGET_VS_PLAYBOOK = 20.0  # at least 20x faster than ansible-playbook
TARGET_VS_PYINFRA = 1.5  # at least 1.5x faster than pyinfra


def pyinfra_executable() -> tuple[Path | None, str]:
    """benchmarks/.venv-pyinfra/bin/pyinfra, created on first use; (path, version) or (None, why)."""
    stamp = PYINFRA_VENV / "requirements-pyinfra.txt"
    wanted = PYINFRA_REQUIREMENTS.read_text()
    exe = PYINFRA_VENV / "bin" / "pyinfra"
    if not (exe.exists() and stamp.exists() and stamp.read_text() == wanted):
        print(f"installing pyinfra into {PYINFRA_VENV} ...", flush=True)
        for step in ([sys.executable, "-m", "venv", str(PYINFRA_VENV)],
                     [str(PYINFRA_VENV / "bin" / "python"), "-m", "pip", "install", "-q",
                      "--disable-pip-version-check", "-r", str(PYINFRA_REQUIREMENTS)]):
            done = subprocess.run(step, capture_output=True, text=True)
            if done.returncode != 0:
                return None, f"`{' '.join(step)}` failed: {base.tail(done.stderr or done.stdout)}"
        stamp.write_text(wanted)
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    return (exe, done.stdout.strip()) if done.returncode == 0 else (None, base.tail(done.stderr))


def check_rs(hosts: int):
    def check(sample):
        try:
            data = json.loads(sample.stdout)
        except ValueError:
            return f"no JSON (rc {sample.rc}): {base.tail(sample.stderr)}"
        bad = [h["host"] for h in data["hosts"] if h["status"] not in ("ok", "changed") or len(h["steps"]) != 4]
        changed = sum(1 for h in data["hosts"] if h["status"] == "changed")
        if len(data["hosts"]) != hosts or bad or changed != hosts:
            return f"{len(bad)} hosts not done ({', '.join(bad[:3])}), {changed} changed of {hosts}"
        return None
    return check


def check_ref(hosts: int):
    def check(sample):
        lines = sample.stdout.strip().splitlines()
        try:
            data = json.loads(lines[-1])
        except (ValueError, IndexError):
            return f"no summary (rc {sample.rc}): {base.tail(sample.stderr)}"
        return None if data["ok"] == hosts else f"{data['failed']} failed: {base.tail(sample.stdout)}"
    return check


def check_playbook(hosts: int):
    def check(sample):
        recap = [line for line in sample.stdout.splitlines() if " : ok=" in line]
        good = [line for line in recap if "ok=4" in line and "changed=1" in line and "failed=0" in line
                and "unreachable=0" in line]
        return None if len(good) == hosts else f"{len(good)} of {hosts} hosts did the 4 steps: {base.tail(sample.stdout)}"
    return check


def check_pyinfra(hosts: int):
    def check(sample):
        if sample.rc != 0:
            return f"rc {sample.rc}: {base.tail(sample.stdout + sample.stderr, 6)}"
        return None
    return check


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--skip-ansible", action="store_true")
    parser.add_argument("--skip-pyinfra", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from remote_support.lab import Lab

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    work = Path(tempfile.mkdtemp(prefix="remote-support-task-bench-"))
    dest_dir = Path(tempfile.mkdtemp(prefix="rs-task-bench-", dir="/tmp"))
    dest_dir.chmod(0o777)  # the lab user writes every host's file here
    lab = Lab(work / "lab", network=LAB_NETWORK)
    try:
        results = _run(args, work, lab, dest_dir)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the lab", file=sys.stderr)
        return 130
    finally:
        if base._current_child is not None:
            base.stop_child(base._current_child)
        lab.down()
        lab.remove()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(dest_dir, ignore_errors=True)
    print("\n" + results["text"])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["all_pass"] else 1


def _run(args, work: Path, lab, dest_dir: Path) -> dict:
    scratch = work / "scratch"
    scratch.mkdir()
    print(f"lab: starting {args.hosts} hosts on {LAB_NETWORK} ...", flush=True)
    lab.up(args.hosts)
    statuses = lab.status()
    hosts_file = work / "hosts.txt"
    hosts_file.write_text("".join(f"{h.name} {h.address} {h.port}\n" for h in statuses))
    env = dict(os.environ, PYTHONPATH=base._pythonpath(), REMOTE_SUPPORT_HOME=str(work / "rs-home"),
               REMOTE_SUPPORT_JOURNAL=f"sqlite:///{work / 'journal.sqlite'}", LANG=os.environ.get("LANG") or "C.UTF-8")
    env.pop("REMOTE_SUPPORT_INVENTORY", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    token = {"n": 0}

    def argv_rs():
        return [sys.executable, "-m", "remote_support", "run", str(TASK_DIR / "task.yml"), "-i", str(lab.inventory_path),
                "-f", str(args.forks), "--json", "-e", f"run_number={token['n']}", "-e", f"dest_dir={dest_dir}"]

    def argv_ref():
        return [sys.executable, str(TASK_DIR / "reference.py"), "--hosts-file", str(hosts_file), "--user", lab.user,
                "--key", str(lab.client_key_path), "--known-hosts", str(lab.known_hosts_path), "--forks",
                str(args.forks), "--token", str(token["n"]), "--dest-dir", str(dest_dir)]

    clients = [(base.Client(RS, [], check_rs(args.hosts), env=env), argv_rs),
               (base.Client(REF, [], check_ref(args.hosts), env=env), argv_ref)]
    notes = {}
    if not args.skip_ansible:
        ansible, version = base.ansible_executable()
        notes[PLAYBOOK] = version
        if ansible is not None:
            playbook_dir = work / "ansible"
            playbook_dir.mkdir()
            shutil.copy(TASK_DIR / "playbook.yml", playbook_dir)
            shutil.copy(TASK_DIR / "bench.conf.j2", playbook_dir)
            inventory, ansible_env = base.write_ansible_files(lab, statuses, playbook_dir, None, args.forks)
            ansible_env.update(ANSIBLE_PIPELINING="True", ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3")
            playbook_env = {**env, **ansible_env, "PATH": f"{ansible.parent}{os.pathsep}{env.get('PATH', '')}"}

            def argv_playbook():
                return [str(ansible.parent / "ansible-playbook"), "-i", str(inventory), "-f", str(args.forks),
                        "-e", f"run_number={token['n']}", "-e", f"dest_dir={dest_dir}", "playbook.yml"]
            clients.append((base.Client(PLAYBOOK, [], check_playbook(args.hosts), env=playbook_env,
                                        cwd=str(playbook_dir)), argv_playbook))
    if not args.skip_pyinfra:
        pyinfra, version = pyinfra_executable()
        notes[PYINFRA] = version
        if pyinfra is not None:
            deploy_dir = work / "pyinfra"
            deploy_dir.mkdir()
            for name in ("deploy.py", "bench.conf.j2"):
                shutil.copy(TASK_DIR / name, deploy_dir)
            rows = [f"    ({h.name!r}, {{'ssh_hostname': {h.address!r}, 'ssh_port': {h.port}}})," for h in statuses]
            (deploy_dir / "inventory.py").write_text("hosts = [\n" + "\n".join(rows) + "\n]\n")
            (deploy_dir / "group_data").mkdir()
            (deploy_dir / "group_data" / "all.py").write_text(
                f"ssh_user = {lab.user!r}\nssh_key = {str(lab.client_key_path)!r}\n"
                f"ssh_known_hosts_file = {str(lab.known_hosts_path)!r}\nssh_strict_host_key_checking = 'yes'\n"
                f"dest_dir = {str(dest_dir)!r}\n")

            def argv_pyinfra():
                return [str(pyinfra), "inventory.py", "deploy.py", "-y", "--parallel", str(args.forks),
                        "--data", f"run_number={token['n']}"]
            clients.append((base.Client(PYINFRA, [], check_pyinfra(args.hosts), env=env, cwd=str(deploy_dir)),
                            argv_pyinfra))

    def one(client, make_argv, label):
        for _ in range(base.MAX_ATTEMPTS):
            token["n"] += 1
            client.argv = make_argv()
            sample = base.measure(client.argv, env=client.env, cwd=client.cwd, scratch=scratch)
            problem = client.check(sample)
            print(f"  {label:8} {client.name:30} wall {sample.wall:7.2f} s  cpu {sample.cpu:7.2f} s  "
                  f"peak {sample.maxrss_mb:6.1f} MB  {'ok' if problem is None else 'FAILED: ' + problem}", flush=True)
            if problem is None:
                return sample
            client.failures.append(problem)
        raise SystemExit(f"{client.name} failed {base.MAX_ATTEMPTS} times in a row")

    for client, make_argv in clients:
        one(client, make_argv, "warm-up")
    for rep in range(args.repeat):
        for client, make_argv in (clients if rep % 2 == 0 else clients[::-1]):
            client.samples.append(one(client, make_argv, f"run {rep + 1}"))

    rows, by_name = [], {c.name: c for c, _ in clients}
    for client, _ in clients:
        walls = [s.wall for s in client.samples]
        cpus = [s.cpu for s in client.samples]
        rows.append({"client": client.name, "wall_median": statistics.median(walls), "wall_min": min(walls),
                     "wall_max": max(walls), "cpu_median": statistics.median(cpus),
                     "cpu_per_host_ms": 1000 * statistics.median(cpus) / args.hosts,
                     "peak_mb": max(s.maxrss_mb for s in client.samples), "failures": len(client.failures)})
    rs_wall = by_name[RS].median("wall")
    checks = [(f"wall vs {REF} <= {TARGET_VS_REF}x", rs_wall / by_name[REF].median("wall"), TARGET_VS_REF, "le")]
    if PLAYBOOK in by_name:
        checks.append((f"faster than {PLAYBOOK} >= {TARGET_VS_PLAYBOOK}x", by_name[PLAYBOOK].median("wall") / rs_wall,
                       TARGET_VS_PLAYBOOK, "ge"))
    if PYINFRA in by_name:
        checks.append((f"faster than {PYINFRA} >= {TARGET_VS_PYINFRA}x", by_name[PYINFRA].median("wall") / rs_wall,
                       TARGET_VS_PYINFRA, "ge"))
    lines = [f"four-step task on {args.hosts} hosts, {args.forks} forks, medians of {args.repeat} interleaved rounds",
             f"{'client':30} {'wall s (min-max)':>22} {'cpu s':>8} {'cpu/host ms':>12} {'peak MB':>8}"]
    for row in rows:
        lines.append(f"{row['client']:30} {row['wall_median']:8.2f} ({row['wall_min']:.2f}-{row['wall_max']:.2f}) "
                     f"{row['cpu_median']:8.2f} {row['cpu_per_host_ms']:12.1f} {row['peak_mb']:8.1f}")
    results = []
    for name, value, target, how in checks:
        ok = value <= target if how == "le" else value >= target
        results.append({"check": name, "value": round(value, 3), "pass": ok})
        lines.append(f"{'PASS' if ok else 'FAIL'}  {name}: {value:.2f}x")
    for name, version in notes.items():
        lines.append(f"{name}: {version}")
    return {"rows": rows, "checks": results, "all_pass": all(r["pass"] for r in results), "text": "\n".join(lines)}


if __name__ == "__main__":
    sys.exit(main())
