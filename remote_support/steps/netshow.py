"""``show``: run show commands on a network device, optionally parsed with TextFSM (ntc-templates)."""

from __future__ import annotations

from typing import Any

from .base import Arg, Outcome, StepContext, StepKind, as_bool


def network_connection(ctx: StepContext, kind: str):
    """The step's connection if it is a network device; else an Outcome saying so."""
    connection = ctx.connection
    if not connection.can_push_config:
        return None, Outcome(failed=True, msg=f"{kind} steps need a network device (connection: network); "
                                              f"{ctx.host.name} is a {ctx.host.connection} host")
    return connection, None


def parse_output(device_type: str, command: str, output: str) -> list[dict[str, Any]]:
    """Structured data from a show command's output with ntc-templates' TextFSM templates."""
    try:
        from ntc_templates.parse import parse_output as ntc_parse
    except ImportError:
        raise LookupError("parse: true needs ntc-templates and textfsm: pip install ntc-templates") from None
    try:
        return ntc_parse(platform=device_type, command=command, data=output)
    except Exception as exc:  # ntc-templates raises a bare Exception when no template matches
        raise LookupError(f"cannot parse {command!r} for {device_type}: {exc}") from None


class Show(StepKind):
    name = "show"
    description = "Run show commands on a network device; parse: true adds TextFSM-parsed data (data.parsed)."
    free_form = "commands"
    read_only = True
    args = {
        "commands": Arg("any", required=True, help="one command or a list of commands"),
        "parse": Arg("bool", default=False, help="parse the output with ntc-templates (TextFSM)"),
    }

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        connection, problem = network_connection(ctx, "show")
        if problem:
            return problem
        commands = args["commands"]
        commands = [commands] if isinstance(commands, str) else [str(c) for c in commands]
        if not commands:
            return Outcome(failed=True, msg="show: commands is empty")
        outputs: dict[str, str] = {}
        parsed: dict[str, Any] = {}
        logs: list[str] = []
        stdout: list[str] = []
        for command in commands:
            result = connection.run(command, timeout=ctx.timeout)
            outputs[command] = result.stdout
            stdout.append(result.stdout)
            logs.append(getattr(result, "session_log", ""))
            if result.rc:
                return Outcome(failed=True, command=command, rc=result.rc, stdout="".join(stdout),
                               stderr=result.stderr, msg=f"{command!r}: {result.stderr.splitlines()[0]}",
                               data={"outputs": outputs, "session_log": "".join(logs)})
            if as_bool(args.get("parse")):
                try:
                    parsed[command] = parse_output(connection.device_type, command, result.stdout)
                except LookupError as exc:
                    return Outcome(failed=True, command=command, rc=result.rc, stdout="".join(stdout),
                                   msg=str(exc), data={"outputs": outputs, "session_log": "".join(logs)})
        data: dict[str, Any] = {"outputs": outputs, "session_log": "".join(logs)}
        if as_bool(args.get("parse")):
            # one command: its rows; several: command -> rows
            data["parsed"] = parsed[commands[0]] if len(commands) == 1 else parsed
        return Outcome(changed=False, command="; ".join(commands), rc=0, stdout="".join(stdout), data=data)
