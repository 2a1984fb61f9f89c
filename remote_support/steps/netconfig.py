"""``config``: make a network device's running config contain some lines (and save it).

Plan, then execute: the running config is read first and only the lines it lacks count as a change.
In check mode nothing is pushed; the diff shows the lines that would be added. A line counts as present
when the running config has it (stripped); an indented line is looked for inside the section of the
unindented line above it. The device rejecting a line (``% Invalid input``...) fails the step, naming it.
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import Arg, Outcome, StepContext, StepKind, as_bool, unified_diff
from .netshow import network_connection


def sections(config: str) -> dict[str, set[str]]:
    """Top-level line -> its indented lines (stripped), for an IOS-style config."""
    result: dict[str, set[str]] = {}
    parent = ""
    for line in config.splitlines():
        if not line.strip() or line.strip() == "!":
            continue
        if line[0].isspace():
            result.setdefault(parent, set()).add(line.strip())
        else:
            parent = line.strip()
            result.setdefault(parent, set())
    return result


def missing_lines(running: str, lines: list[str]) -> list[str]:
    """The wanted lines the running config lacks, with the parent of any missing indented line."""
    have = sections(running)
    anywhere = set(have) | {child for children in have.values() for child in children}
    missing: list[str] = []
    parent = ""
    for line in lines:
        if not line.strip():
            continue
        if line[0].isspace():
            present = line.strip() in have.get(parent, set())
            if not present:
                if parent and parent not in missing:
                    missing.append(parent)
                missing.append(line)
        else:
            parent = line.strip()
            if parent not in anywhere:
                missing.append(line)
    return missing


class Config(StepKind):
    name = "config"
    description = "Make a network device's running config contain lines (or a template's), then save it."
    args = {
        "lines": Arg("list", help="config lines, in order (indent a section's lines under its parent)"),
        "src": Arg("str", help="a template of config lines, looked up in templates/ beside the task"),
        "save": Arg("bool", default=True, help="save the running config (write memory) after a change"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        from ..errors import TaskError

        args = super().normalize(value, where)
        if bool(args.get("lines")) == bool(args.get("src")):
            raise TaskError(f"{where}: config needs either 'lines' or 'src' (one of them)")
        return args

    def templates(self, args: Mapping[str, Any]) -> list[str]:
        return [args["src"]] if args.get("src") else []

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        connection, problem = network_connection(ctx, "config")
        if problem:
            return problem
        if args.get("src"):
            lines = ctx.templar.render_file(args["src"], ctx.vars).splitlines()
        else:
            lines = [str(line) for line in args["lines"]]
        lines = [line.rstrip() for line in lines if line.strip() and line.strip() != "!"]
        running = connection.get_config(timeout=ctx.timeout)
        missing = missing_lines(running, lines)
        data: dict[str, Any] = {"lines": lines, "missing": missing}
        if not missing:
            return Outcome(changed=False, msg="the running config has every line", data=data)
        diff = unified_diff(running, running.rstrip("\n") + "\n" + "\n".join(missing) + "\n", "running-config")
        if ctx.check:
            return Outcome(changed=True, diff=diff, data=data,
                           msg=f"check mode: would add {len(missing)} line(s), pushed nothing")
        result = connection.send_config(lines, timeout=ctx.timeout)
        data["session_log"] = result.session_log
        if result.rc:
            return Outcome(failed=True, command=result.command, rc=result.rc, stdout=result.stdout,
                           stderr=result.stderr, msg=result.stderr.splitlines()[0], data=data)
        if as_bool(args.get("save")):
            saved = connection.save_config(timeout=ctx.timeout)
            data["session_log"] += saved.session_log
            if saved.rc:
                return Outcome(failed=True, command="save config", rc=saved.rc, stdout=saved.stdout,
                               stderr=saved.stderr, msg=f"saving the config failed: {saved.stderr}", data=data)
        return Outcome(changed=True, command=result.command, rc=0, stdout=result.stdout, diff=diff, data=data,
                       msg=f"added {len(missing)} line(s)" + (", saved" if as_bool(args.get("save")) else ""))
