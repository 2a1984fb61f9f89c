"""``kill`` (alias ``process``): find processes by name, command-line pattern and user, send them a signal,
and wait until they are gone -- ``pkill`` with a wait and a report, as Ansible users do with
``community.general.pids`` plus ``shell: kill``.

The name or pattern reaches the host on stdin, never in a command line: otherwise the probe's own shell
(whose command line would hold the pattern) would match itself. PID 1 is never signalled. When the
processes are still there after ``timeout`` seconds the step fails, naming them, unless ``force`` sends
KILL then. Nothing found is ok: a second run after a kill reports ok.

```yaml
- kill: {name: firefox, user: jdoe, signal: TERM, timeout: 10, force: true}
  become: true
```
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind, as_bool
from .probing import check_name, last_line, root_hint

SIGNALS = ("TERM", "KILL", "HUP", "INT", "QUIT", "USR1", "USR2", "STOP", "CONT", "ABRT", "ALRM")
#: after force: how long KILL may take to be seen
_KILL_GRACE = 3


def _signal(value: Any, where: str) -> str:
    text = str(value).strip().upper().removeprefix("SIG")
    if text in SIGNALS or (text.isdigit() and 0 < int(text) < 65):
        return text
    raise TaskError(f"{where}: kill signal {value!r} is not a signal: use one of {', '.join(SIGNALS)} or a number")


class Kill(StepKind):
    name = "kill"
    description = "Signal the processes found by name/pattern/user and wait until they are gone."
    args = {
        "name": Arg("str", help="the process name exactly (pgrep -x; the kernel keeps its first 15 characters)"),
        "pattern": Arg("str", help="an extended regular expression matched against the full command line (pgrep -f)"),
        "user": Arg("str", help="only processes of this user"),
        "signal": Arg("any", default="TERM", help="TERM, KILL, HUP... or a number"),
        "wait": Arg("bool", default=True, help="wait until the processes are gone"),
        "timeout": Arg("float", default=10, help="seconds to wait for them to go"),
        "force": Arg("bool", default=False, help="send KILL to those still there after timeout"),
    }

    def validate(self, args: dict[str, Any], where: str) -> None:
        _check(args, where)

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        try:
            signal = _signal(args["signal"], ctx.where)
        except TaskError as exc:
            return Outcome(failed=True, msg=str(exc))
        flag = "-x" if args.get("name") else "-f"
        selector = str(args.get("name") or args.get("pattern"))
        what = f"{'name' if args.get('name') else 'pattern'} {selector!r}"
        what += f" of {args['user']}" if args.get("user") else ""
        user = f"-u {shlex.quote(args['user'])} " if args.get("user") else ""
        find = (f'IFS= read -r sel\npids=$(pgrep {flag} {user}-- "$sel" | grep -vx -e "$$" -e "$PPID" -e 1 | '
                'paste -sd" " -)\n')
        listing_command = '[ -z "$pids" ] || ps -o pid=,user=,args= -p "$(echo $pids | tr " " ,)"'
        probe = ctx.run(find + 'echo "pids=$pids"\n' + listing_command,
                        stdin=selector + "\n")
        if probe.rc != 0 or not probe.stdout.startswith("pids="):
            return Outcome(failed=True, msg=f"cannot look for processes by {what}: {last_line(probe)}{root_hint(ctx)}")
        head, _, listing = probe.stdout.partition("\n")
        pids = head.removeprefix("pids=").split()
        data = {"pids": [int(p) for p in pids], "signal": signal}
        if not pids:
            return Outcome(msg=f"no process matches {what}", data=data)
        shown = "; ".join(" ".join(line.split(None, 2))[:80] for line in listing.strip().splitlines())
        diff = f"send {signal} to {len(pids)} process(es): {shown}\n" if (ctx.diff or ctx.check) else ""
        if ctx.check:
            return Outcome(changed=True, msg=f"check mode: would send {signal} to {len(pids)} process(es) "
                                             f"({' '.join(pids)}) matching {what}", diff=diff, data=data)
        timeout = float(args["timeout"]) if as_bool(args.get("wait")) else 0.0
        force = as_bool(args.get("force"))
        script = find + f"""[ -n "$pids" ] || {{ echo sent=; echo alive=; exit 0; }}
kill -s {signal} $pids 2>/dev/null; echo "sent=$pids"
alive_now() {{ a=; for p in $pids; do  # a zombie is gone: only its parent has not collected it
  s=$(ps -o stat= -p "$p" 2>/dev/null) && case "$s" in Z*) ;; *) a="$a $p" ;; esac; done; echo "$a"; }}
wait_gone() {{ end=$(( $(date +%s) + $1 )); while :; do a=$(alive_now); [ -z "$a" ] && break
  [ "$(date +%s)" -ge "$end" ] && break; sleep 0.2; done; }}
wait_gone {int(timeout + 0.999)}
if [ -n "$a" ] && [ {int(force)} = 1 ]; then kill -s KILL $a 2>/dev/null; echo "killed=$a"; wait_gone {_KILL_GRACE}; fi
echo "alive=$a"
"""
        result = ctx.run(script, stdin=selector + "\n", timeout=timeout + _KILL_GRACE + 30)
        fields = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        sent, alive = fields.get("sent", "").split(), fields.get("alive", "").split()
        data.update(pids=[int(p) for p in sent], alive=[int(p) for p in alive],
                    killed=[int(p) for p in fields.get("killed", "").split()])
        command = f"kill -s {signal} {' '.join(sent)}"
        if result.rc != 0 or "alive" not in fields:
            return Outcome(failed=True, command=command, rc=result.rc, stderr=result.stderr, data=data,
                           msg=f"cannot signal the processes matching {what}: {last_line(result)}{root_hint(ctx)}")
        if not sent:
            return Outcome(msg=f"no process matches {what} any more", data=data)
        if alive and timeout:
            return Outcome(failed=True, command=command, rc=1, data=data, diff=diff,
                           msg=f"still running {int(timeout)}s after {signal}: {' '.join(alive)}"
                               f"{'' if force else ' (force: true sends KILL then)'}{root_hint(ctx)}")
        note = f"; {len(data['killed'])} needed KILL" if data["killed"] else ""
        return Outcome(changed=True, command=command, rc=0, data=data, diff=diff if ctx.diff else "",
                       msg=f"sent {signal} to {len(sent)} process(es) matching {what}"
                           + (", all gone" if timeout else "") + note)


def _check(args: dict[str, Any], where: str) -> None:
    given = [k for k in ("name", "pattern") if args.get(k) not in (None, "")]
    templated = any(isinstance(args.get(k), str) and "{" in args[k] for k in given)
    if len(given) != 1 and not templated:  # templated ones are checked again once rendered
        raise TaskError(f"{where}: kill needs exactly one of name (the process name) and pattern (a regular "
                        f"expression on the command line){', this one has both' if given else ''}")
    for key in given:
        value = args[key]
        if isinstance(value, str) and "{" not in value and ("\n" in value or not value.strip()):
            raise TaskError(f"{where}: kill {key} must be one non-empty line")
    pattern = args.get("pattern")
    if isinstance(pattern, str) and "{" not in pattern and re.fullmatch(r"\.?\*?|\^?\$?", pattern.strip()):
        raise TaskError(f"{where}: kill pattern {pattern!r} matches every process: be specific")
    signal = args.get("signal")
    if signal is not None and not (isinstance(signal, str) and "{" in signal):
        _signal(signal, where)
    if isinstance(args.get("user"), str) and "{" not in args["user"]:
        check_name("kill", "user", args["user"], where)
    timeout = args.get("timeout")
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout < 0:
        raise TaskError(f"{where}: kill timeout must not be negative")
