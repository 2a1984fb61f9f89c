#!/usr/bin/env python3
"""The honest minimum for the four-step job: a paramiko thread pool doing the same four operations.

Per host: connect (strict host keys, one key loaded once), run `uname -a`, render the template locally
and write it atomically (SFTP to a temporary name, then `mv`), run `wc -l` on it, run `uptime`; every
exit code checked. No inventory, no idempotency check, no journal.

    python benchmarks/task/reference.py --hosts-file HOSTS --user U --key K --known-hosts KH --forks 50 \
        --token T --dest-dir D
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jinja2
import paramiko

TEMPLATE = jinja2.Template((Path(__file__).parent / "bench.conf.j2").read_text(), keep_trailing_newline=True)


def run_one(host, args, key, known) -> tuple[str, bool, str]:
    name, address, port = host
    client = paramiko.SSHClient()
    lookup = address if port == 22 else f"[{address}]:{port}"
    for key_type, host_key in (known.lookup(lookup) or {}).items():
        client.get_host_keys().add(lookup, key_type, host_key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())

    def run(command: str) -> str:
        _, stdout, stderr = client.exec_command(command, timeout=30)
        out = stdout.read().decode("utf-8", "replace")
        stderr.read()
        if stdout.channel.recv_exit_status() != 0:
            raise RuntimeError(f"{command!r} failed")
        return out

    try:
        client.connect(address, port=port, username=args.user, pkey=key, timeout=30, allow_agent=False,
                       look_for_keys=False)
        run("uname -a")
        dest = f"{args.dest_dir}/{name}.conf"
        text = TEMPLATE.render(inventory_hostname=name, run_number=args.token)
        sftp = client.open_sftp()
        sftp.putfo(io.BytesIO(text.encode()), dest + ".tmp")
        sftp.close()
        run(f"mv -f {dest}.tmp {dest}")
        lines = run(f"wc -l {dest}")
        run("uptime")
        return name, True, lines
    except Exception as exc:
        return name, False, f"{type(exc).__name__}: {exc}"
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for option in ("--hosts-file", "--user", "--key", "--known-hosts", "--token", "--dest-dir"):
        parser.add_argument(option, required=True)
    parser.add_argument("--forks", type=int, default=50)
    args = parser.parse_args(argv)
    hosts = [(n, a, int(p)) for n, a, p in (line.split() for line in open(args.hosts_file) if line.strip())]
    key = paramiko.PKey.from_path(args.key)
    known = paramiko.HostKeys(args.known_hosts)
    with ThreadPoolExecutor(max_workers=args.forks) as pool:
        results = list(pool.map(lambda h: run_one(h, args, key, known), hosts))
    ok = sum(1 for _, good, _ in results if good)
    for name, good, text in results:
        if not good:
            print(f"{name}: {text}")
    print(json.dumps({"ok": ok, "failed": len(results) - ok, "hosts": len(results)}))
    return 0 if ok == len(results) else 2


if __name__ == "__main__":
    sys.exit(main())
