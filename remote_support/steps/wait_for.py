"""``wait_for``: poll the host until a port opens or closes, a path appears or goes, or a command succeeds.

Each probe is one command run on the host, so ``host``/``port`` are checked from the target host (as
``curl localhost`` there would). Ports are probed with whatever the host has, found once per step:
bash's /dev/tcp, else ``nc -z``, else python3. On a Windows host ports and paths are probed by the
``win-wait-probe`` script (a TcpClient connect, Test-Path) and a command runs through cmd.exe.
"""

from __future__ import annotations

import re
import shlex
import time
from typing import Any

from ..connections.shells import POWERSHELL
from ..errors import CommandTimeout, TaskError
from .base import Arg, Outcome, StepContext, StepKind
from .winscripts import ScriptError, register, run_script

register("win-wait-probe", r"""
$r = [ordered]@{ ready = $false }
if ($kind -eq 'path') {
    $r.ready = [bool](Test-Path -LiteralPath $path)
} else {
    $c = New-Object Net.Sockets.TcpClient
    try { $r.ready = $c.ConnectAsync($target, [int]$port).Wait([int]$wait_ms) -and $c.Connected }
    catch { $r.ready = $false }
    finally { $c.Dispose() }
}
$r | ConvertTo-Json -Compress
""", {"ready": (bool,)})

_STATES = {"port": ("started", "stopped"), "path": ("present", "absent"), "command": ("succeed",)}
#: longest a single connect attempt may hang (a filtered port answers nothing)
_CONNECT_TIMEOUT = 3


class WaitFor(StepKind):
    name = "wait_for"
    description = "Wait until a port is open/closed, a path exists/is gone, or a command succeeds."
    read_only = True
    shell_args = frozenset({"command"})
    args = {
        "port": Arg("int", help="TCP port to wait for"),
        "host": Arg("str", default="127.0.0.1", help="address whose port is probed, from the target host"),
        "path": Arg("str", help="file or directory to wait for"),
        "command": Arg("str", help="command to run until it exits 0"),
        "state": Arg("str", choices=("started", "stopped", "present", "absent", "succeed"),
                     help="port: started (default) or stopped; path: present (default) or absent"),
        "timeout": Arg("float", default=300, help="seconds to wait in all, delay included"),
        "delay": Arg("float", default=0, help="seconds to wait before the first probe"),
        "sleep": Arg("float", default=1, help="seconds between probes"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        given = [k for k in ("port", "path", "command") if args.get(k) is not None]
        if len(given) != 1:
            raise TaskError(f"{where}: wait_for needs exactly one of port, path and command"
                            f"{', this one has ' + ' and '.join(given) if given else ''}")
        state = args.get("state")
        if state is not None and "{" not in str(state) and state not in _STATES[given[0]]:
            raise TaskError(f"{where}: wait_for state {state!r} does not go with {given[0]}: use "
                            f"{' or '.join(_STATES[given[0]])}")
        for key in ("timeout", "delay", "sleep"):
            value = args.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise TaskError(f"{where}: wait_for {key} must not be negative")
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        timeout, delay, pause = (float(args[k]) for k in ("timeout", "delay", "sleep"))
        windows = POWERSHELL in ctx.connection.shells
        script: dict[str, Any] | None = None  # the win-wait-probe parameters on a Windows host
        if args.get("port") is not None and windows:
            target, state = "port", args.get("state") or "started"
            if not re.fullmatch(r"[\w.:-]+", str(args["host"])):
                return Outcome(failed=True, msg=f"wait_for host {args['host']!r} is not a host name or address")
            script = {"kind": "port", "target": str(args["host"]), "port": int(args["port"]),
                      "wait_ms": _CONNECT_TIMEOUT * 1000}
            probe, what = f"connect to {args['host']}:{args['port']}", f"port {args['port']} on {args['host']} to be {state}"
            wanted_rc, become = (0 if state == "started" else 1), False
        elif args.get("path") is not None and windows:
            target, state = "path", args.get("state") or "present"
            script = {"kind": "path", "path": str(args["path"])}
            probe, what = f"Test-Path {args['path']}", f"{args['path']} to be {state}"
            wanted_rc, become = (0 if state == "present" else 1), False
        elif args.get("port") is not None:
            target = "port"
            state = args.get("state") or "started"
            if not re.fullmatch(r"[\w.:-]+", str(args["host"])):
                return Outcome(failed=True, msg=f"wait_for host {args['host']!r} is not a host name or address")
            tool = _port_tool(ctx)
            if tool is None:
                return Outcome(failed=True, msg="cannot probe ports on this host: it has none of bash, nc and "
                                                "python3; wait on a path or a command instead")
            probe = _port_probe(tool, str(args["host"]), int(args["port"]))
            what = f"port {args['port']} on {args['host']} to be {state}"
            wanted_rc, become = (0 if state == "started" else 1), False
        elif args.get("path") is not None:
            target = "path"
            state = args.get("state") or "present"
            probe = f"test -e {shlex.quote(str(args['path']))}"
            what = f"{args['path']} to be {state}"
            wanted_rc, become = (0 if state == "present" else 1), None
        else:
            target, state = "command", "succeed"
            probe = str(args["command"])
            what = f"`{probe}` to succeed"
            wanted_rc, become = 0, None
        if state not in _STATES[target]:
            return Outcome(failed=True, msg=f"wait_for state {state!r} does not go with {target}: use "
                                            f"{' or '.join(_STATES[target])}")

        started = time.monotonic()
        deadline = started + timeout
        time.sleep(min(delay, timeout))
        attempts = 0
        last = None
        while True:
            attempts += 1
            remaining = deadline - time.monotonic()
            try:
                if script is not None:
                    done = run_script(ctx, "win-wait-probe", script, timeout=max(1.0, remaining))["ready"] \
                        == (wanted_rc == 0)
                else:
                    last = ctx.run(probe, become=become, timeout=max(1.0, remaining))
                    done = (last.rc == 0) == (wanted_rc == 0)
            except CommandTimeout:
                done = False  # a probe that hangs counts as "not yet"
            except ScriptError as exc:
                return Outcome(failed=True, command=probe, rc=exc.rc, stderr=exc.stderr, msg=f"cannot probe: {exc}")
            elapsed = time.monotonic() - started
            data = {"elapsed": round(elapsed, 3), "attempts": attempts}
            if done:
                return Outcome(msg=f"{what[0].upper() + what[1:]} after {elapsed:.1f}s", data=data,
                               command=probe, rc=last.rc if last else None)
            if time.monotonic() + pause > deadline:
                detail = ""
                if target == "command" and last is not None:
                    detail = f" (last exit code {last.rc}" + (f": {last.stderr.strip().splitlines()[-1]}"
                                                              if last.stderr.strip() else "") + ")"
                return Outcome(failed=True, msg=f"timed out after {timeout:g}s waiting for {what}{detail}",
                               data=data, command=probe, rc=last.rc if last else None,
                               stdout=last.stdout if last else "", stderr=last.stderr if last else "")
            time.sleep(pause)


def _port_tool(ctx: StepContext) -> str | None:
    """The first of bash, nc, python3 the host has (one command)."""
    result = ctx.run("for t in bash nc python3; do command -v $t >/dev/null 2>&1 && { echo $t; exit 0; }; done; "
                     "exit 1", become=False)
    tool = result.stdout.strip()
    return tool if result.rc == 0 and tool in ("bash", "nc", "python3") else None


def _port_probe(tool: str, host: str, port: int) -> str:
    """A command that exits 0 when something accepts TCP connections on host:port, 1 otherwise."""
    q = shlex.quote
    if tool == "bash":
        inner = f"exec 3<>/dev/tcp/{host}/{port}"
        return f"timeout {_CONNECT_TIMEOUT} bash -c {q(inner)} 2>/dev/null || exit 1"
    if tool == "nc":
        return f"nc -z -w {_CONNECT_TIMEOUT} {q(host)} {port} 2>/dev/null || exit 1"
    code = ("import socket,sys\ntry: socket.create_connection((sys.argv[1], int(sys.argv[2])), "
            f"{_CONNECT_TIMEOUT}).close()\nexcept OSError: sys.exit(1)")
    return f"python3 -c {q(code)} {q(host)} {port}"
