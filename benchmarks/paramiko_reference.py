#!/usr/bin/env python3
"""The honest minimum: run one command on many hosts with a paramiko thread pool, nothing else.

This is the yardstick `benchmarks/run.py` measures `remote-support exec` against. It does only what any
correct client must do: strict host-key checking (the lab's known_hosts, RejectPolicy), key
authentication with one key loaded once, one exec channel per host, read all of stdout and stderr, check
the exit code. No inventory, no ~/.ssh/config, no retries, no journal, no pretty output.

    python benchmarks/paramiko_reference.py --hosts-file HOSTS --user rslab --key KEY \
        --known-hosts KNOWN_HOSTS --forks 50 -- 'uname -a; uptime'

HOSTS has one host a line: ``name address port``. Prints each host's output, then one JSON line
``{"ok": N, "failed": M, "hosts": N+M}``; exits 0 only if every host ran the command with exit code 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import paramiko


def run_one(host: tuple[str, str, int], command: str, user: str, key: paramiko.PKey,
            known: paramiko.HostKeys, timeout: float) -> tuple[str, int | None, str, str]:
    name, address, port = host
    client = paramiko.SSHClient()
    # The known_hosts file is parsed once for all hosts; each client gets this host's entries.
    lookup = address if port == 22 else f"[{address}]:{port}"
    for key_type, host_key in (known.lookup(lookup) or {}).items():
        client.get_host_keys().add(lookup, key_type, host_key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(address, port=port, username=user, pkey=key, timeout=timeout,
                       allow_agent=False, look_for_keys=False)
        _, stdout, stderr = client.exec_command(command, timeout=timeout)
        out = stdout.read().decode("utf-8", "replace")
        err = stderr.read().decode("utf-8", "replace")
        rc = stdout.channel.recv_exit_status()
        return name, rc, out, err
    except Exception as exc:  # a failed host is reported, not fatal
        return name, None, "", f"{type(exc).__name__}: {exc}"
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts-file", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--key", required=True, help="private key file")
    parser.add_argument("--known-hosts", required=True)
    parser.add_argument("--forks", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)

    hosts = []
    with open(args.hosts_file) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, address, port = line.split()
                hosts.append((name, address, int(port)))
    command = " ".join(args.command)
    key = paramiko.PKey.from_path(args.key)
    known = paramiko.HostKeys(args.known_hosts)

    with ThreadPoolExecutor(max_workers=args.forks) as pool:
        results = list(pool.map(lambda h: run_one(h, command, args.user, key, known, args.timeout), hosts))

    ok = 0
    lines = []
    for name, rc, out, err in results:
        ok += rc == 0
        lines.append(f"{name} | rc={rc}\n{out}{err}")
    sys.stdout.write("".join(lines))
    print(json.dumps({"ok": ok, "failed": len(results) - ok, "hosts": len(results)}))
    return 0 if ok == len(results) else 2


if __name__ == "__main__":
    sys.exit(main())
