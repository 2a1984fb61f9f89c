"""``config``: make a network device's running config contain some lines (and save or commit it).

Plan, then execute: the running config is read first and parsed with the device's configuration model
(:mod:`.netplatform`: hier_config, per platform — indented IOS/EOS/FastIron, flat Dell OS6 blocks ended by
``exit``, Junos ``set`` lines); only the lines it lacks, in their section, count as a change. Lines the
platform cannot express are refused before anything is pushed. In check mode nothing is pushed (on a
device configured by commit, the candidate is checked with ``commit check`` and discarded); the diff
shows the running config with the missing lines in their sections. The device rejecting a line fails
the step, naming it; nothing is saved then.
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import Arg, Outcome, StepContext, StepKind, as_bool, unified_diff
from .netplatform import ConfigSyntaxError, check_lines, diff_texts, missing, platform_for, push_lines, tree_lines
from .netplatform import parse as parse_config
from .netshow import network_connection


def missing_lines(running: str, lines: list[str], device_type: str | None = "cisco_ios") -> list[str]:
    """The wanted lines the running config lacks, indented one space per level under their section."""
    return tree_lines(missing(platform_for(device_type), running, lines))


class Config(StepKind):
    name = "config"
    description = "Make a network device's running config contain lines (or a template's), then save it."
    args = {
        "lines": Arg("list", help="config lines, in order (indent a section's lines under its parent)"),
        "src": Arg("str", help="a template of config lines, looked up in templates/ beside the task"),
        "save": Arg("bool", default=True, help="save the running config (write memory) after a change"),
        "confirmed": Arg("int", help="devices configured by commit: `commit confirmed N` (minutes), rolled back "
                                     "unless confirmed by another commit"),
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
        platform = platform_for(getattr(connection, "device_type", None))
        try:
            check_lines(platform, lines)
        except ConfigSyntaxError as exc:
            return Outcome(failed=True, msg=f"{platform.device_type} cannot take these lines, nothing pushed: {exc}",
                           data={"lines": lines})
        if args.get("confirmed") and not getattr(connection, "configured_by_commit", False):
            return Outcome(failed=True, data={"lines": lines},
                           msg=f"confirmed: {args['confirmed']} needs a device configured by commit (Junos); "
                               f"{platform.device_type} applies each line at once, nothing pushed")
        running = connection.get_config(timeout=ctx.timeout)
        try:
            tree = missing(platform, running, lines)
        except ConfigSyntaxError as exc:
            return Outcome(failed=True, msg=f"nothing pushed: {exc}", data={"lines": lines})
        data: dict[str, Any] = {"lines": lines, "missing": tree_lines(tree)}
        if not tree.children:
            return Outcome(changed=False, msg="the running config has every line", data=data)
        count = len(data["missing"])
        diff = unified_diff(*diff_texts(platform, running, tree), "running-config")
        # the lines as given, in order, so that each is typed in the context it was written for; flat
        # platforms get them rendered with `exit` after each section
        pushed = push_lines(platform, parse_config(platform, "\n".join(lines))) if platform.style == "flat" else lines
        if getattr(connection, "configured_by_commit", False):  # Junos: check mode is `commit check`
            result = connection.commit_config(pushed, check=ctx.check, confirmed=args.get("confirmed"),
                                              timeout=ctx.timeout)
            data["session_log"] = getattr(result, "session_log", "")
            if result.rc:
                return Outcome(failed=True, command=result.command, rc=result.rc, stdout=result.stdout,
                               stderr=result.stderr, msg=result.stderr.splitlines()[0], data=data, diff=diff)
            verb = "commit check passed: would add" if ctx.check else "committed"
            return Outcome(changed=True, command=result.command, rc=0, stdout=result.stdout, diff=diff, data=data,
                           msg=f"{verb} {count} line(s)" + (", nothing committed" if ctx.check else ""))
        if ctx.check:
            return Outcome(changed=True, diff=diff, data=data,
                           msg=f"check mode: would add {count} line(s), pushed nothing")
        result = connection.send_config(pushed, timeout=ctx.timeout)
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
                       msg=f"added {count} line(s)" + (", saved" if as_bool(args.get("save")) else ""))
