#!/usr/bin/env python3
"""Benchmark: `remote-support run net-backup` against a minimal netmiko thread pool, same run, same lab.

    python benchmarks/netbackup.py                       # 200 switches, 50 forks, 3 rounds
    python benchmarks/netbackup.py --devices 50 --repeat 1 --json /tmp/netbackup.json

Starts its own NetLab (emulated Cisco IOS switches, fake-switches, 25 per server process: 200 switches
are 8 processes) on 127.49.0.0 in a temporary directory, away from the test netlabs (127.47, 127.48) and
a user's netlab (127.44); stops it by PID at the end, on an error, on Ctrl-C and on SIGTERM. Each round
runs, in alternating order, as child processes in their own session (wall from spawn to reap; CPU and
peak memory from os.wait4):

* remote-support: ``python -m remote_support run tasks/net-backup.yml -i <lab inventory> -f FORKS
  --json``, journal in a fresh SQLite file of its own; counts only if all devices are ``ok`` and the
  journal holds one config version per device, containing its hostname;
* reference (:data:`REFERENCE`): ThreadPoolExecutor(FORKS), per device netmiko ``ConnectHandler``
  (cisco_ios, strict host keys from the lab's known_hosts), ``enable``, ``send_command("show
  running-config")``, the text written to DIR/<device>.cfg; counts only if every file has the hostname.

Target: remote-support's median wall time within 1.2x of the reference's. Exit 0 when met, 1 when
not, 2 when the benchmark cannot run, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import Sample, measure  # noqa: E402  (benchmarks/run.py: spawn, wait4, stop by process group)

from remote_support.lab.netlab import NetLab, default_venv  # noqa: E402

NETWORK = "127.49.0.0"
WALL_TARGET = 1.2

REFERENCE = r'''
"""The honest minimum for a config backup: netmiko in a thread pool, configs written to files."""
import json, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from netmiko import ConnectHandler

devices, known_hosts, password, secret, out, forks = (json.loads(Path(sys.argv[1]).read_text()), sys.argv[2],
                                                      Path(sys.argv[3]).read_text().strip(),
                                                      Path(sys.argv[4]).read_text().strip(), Path(sys.argv[5]),
                                                      int(sys.argv[6]))


def backup(device):
    name, address, port = device
    try:
        session = ConnectHandler(device_type="cisco_ios", host=address, port=port, username="admin",
                                 password=password, secret=secret, ssh_strict=True, system_host_keys=False,
                                 alt_host_keys=True, alt_key_file=known_hosts, use_keys=False, allow_agent=False)
        try:
            session.enable()
            config = session.send_command("show running-config")
        finally:
            session.disconnect()
        (out / f"{name}.cfg").write_text(config)
        return name, None
    except Exception as exc:
        return name, f"{type(exc).__name__}: {exc}"


with ThreadPoolExecutor(max_workers=forks) as pool:
    results = list(pool.map(backup, devices))
failed = {name: error for name, error in results if error}
print(json.dumps({"ok": len(results) - len(failed), "failed": failed}))
sys.exit(1 if failed else 0)
'''


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "REMOTE_SUPPORT_JOURNAL")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_remote_support(lab: NetLab, scratch: Path, forks: int, round_: int, names: list[str]) -> Sample:
    journal = scratch / f"journal-{round_}.sqlite"
    env = child_env()
    env["REMOTE_SUPPORT_JOURNAL"] = f"sqlite:///{journal}"
    sample = measure([sys.executable, "-m", "remote_support", "run", str(ROOT / "tasks" / "net-backup.yml"),
                      "-i", str(lab.inventory_path), "-f", str(forks), "--json"], env=env, scratch=scratch)
    problem = None
    try:
        result = json.loads(sample.stdout)
        statuses = {h["host"]: h["status"] for h in result["hosts"]}
        if sorted(statuses) != names or set(statuses.values()) != {"ok"}:
            problem = f"not all ok: {[(h, s) for h, s in statuses.items() if s != 'ok'][:5]}"
    except (ValueError, KeyError) as exc:
        problem = f"no JSON result ({exc}): {sample.stderr[-500:]}"
    if problem is None:
        with sqlite3.connect(journal) as db:
            rows = db.execute("SELECT device, text FROM config_backups").fetchall()
        if sorted(d for d, _ in rows) != names or any(f"hostname {d}\n" not in t for d, t in rows):
            problem = f"the journal holds {len(rows)} config versions, not one per device with its hostname"
    if problem:
        raise RuntimeError(f"remote-support run failed (rc {sample.rc}): {problem}")
    return sample


def run_reference(lab: NetLab, scratch: Path, forks: int, round_: int, names: list[str]) -> Sample:
    out = scratch / f"reference-{round_}"
    out.mkdir()
    devices = scratch / "devices.json"
    script = scratch / "netmiko_reference.py"
    sample = measure([sys.executable, str(script), str(devices), str(lab.directory / "known_hosts"),
                      str(lab.directory / "password"), str(lab.directory / "enable_password"), str(out), str(forks)],
                     env=child_env(), scratch=scratch)
    files = sorted(p.stem for p in out.glob("*.cfg"))
    if sample.rc or files != names or any(f"hostname {n}\n" not in (out / f"{n}.cfg").read_text() for n in names):
        raise RuntimeError(f"reference run failed (rc {sample.rc}): {sample.stdout[-500:]} {sample.stderr[-500:]}")
    return sample


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--network", default=NETWORK)
    parser.add_argument("--venv", default=None, help="the fake-switches venv (default: the netlab's)")
    parser.add_argument("--json", dest="json_path", help="also write every number to this file")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    scratch = Path(tempfile.mkdtemp(prefix="rs-bench-netbackup-"))
    os.environ["REMOTE_SUPPORT_HOME"] = str(scratch / "home")  # the children's known_hosts, never the user's
    lab = NetLab(scratch / "netlab", network=args.network, venv=args.venv or default_venv())
    try:
        started = time.monotonic()
        try:
            devices = lab.up(args.devices)
        except Exception as exc:  # noqa: BLE001 - reported, then exit 2
            print(f"cannot start the netlab: {exc}", file=sys.stderr)
            return 2
        print(f"netlab: {args.devices} switches up in {time.monotonic() - started:.1f}s "
              f"({len({d.pid for d in devices})} server processes) on {args.network}")
        names = sorted(d.name for d in devices)
        (scratch / "devices.json").write_text(json.dumps([[d.name, d.address, d.port] for d in devices]))
        (scratch / "netmiko_reference.py").write_text(REFERENCE)
        clients = {"remote-support": run_remote_support, "netmiko reference": run_reference}
        for name, client in clients.items():  # warm-up: caches, bytecode, the devices' first sessions
            client(lab, scratch, args.forks, 0, names)
        samples: dict[str, list[Sample]] = {name: [] for name in clients}
        for round_ in range(1, args.repeat + 1):
            order = list(clients) if round_ % 2 else list(reversed(clients))
            for name in order:
                sample = clients[name](lab, scratch, args.forks, round_, names)
                samples[name].append(sample)
                print(f"round {round_}: {name:18} wall {sample.wall:6.2f}s  cpu {sample.cpu:6.2f}s  "
                      f"peak {sample.maxrss_mb:6.0f} MB")
        medians = {name: {"wall": statistics.median(s.wall for s in runs),
                          "cpu": statistics.median(s.cpu for s in runs),
                          "maxrss_mb": max(s.maxrss_mb for s in runs)} for name, runs in samples.items()}
        ratio = medians["remote-support"]["wall"] / medians["netmiko reference"]["wall"]
        cpu_ratio = medians["remote-support"]["cpu"] / medians["netmiko reference"]["cpu"]
        print(f"\nmedians over {args.repeat} round(s), {args.devices} devices, {args.forks} forks:")
        for name, m in medians.items():
            print(f"  {name:18} wall {m['wall']:6.2f}s  cpu {m['cpu']:6.2f}s  peak {m['maxrss_mb']:6.0f} MB")
        verdict = "PASS" if ratio <= WALL_TARGET else "FAIL"
        print(f"  wall ratio remote-support / reference: {ratio:.2f}x (target <= {WALL_TARGET}x): {verdict}")
        print(f"  cpu ratio (information): {cpu_ratio:.2f}x")
        if args.json_path:
            Path(args.json_path).write_text(json.dumps({
                "devices": args.devices, "forks": args.forks, "repeat": args.repeat, "medians": medians,
                "wall_ratio": ratio, "cpu_ratio": cpu_ratio, "target": WALL_TARGET, "pass": ratio <= WALL_TARGET,
                "samples": {n: [{"wall": s.wall, "cpu": s.cpu, "maxrss_mb": s.maxrss_mb} for s in runs]
                            for n, runs in samples.items()}}, indent=2))
        return 0 if ratio <= WALL_TARGET else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 2
    finally:
        lab.down()
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
