"""Commands that run things: ``exec``, ``run``, ``runs resume`` and ``runs retry``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Sequence

import click

from .common import (
    Command,
    State,
    connection_options,
    consoles,
    inventory_option,
    request_fields,
)

if TYPE_CHECKING:
    from ..api import Run, RunRequest


def register(cli: click.Group) -> None:
    cli.add_command(exec_)
    cli.add_command(run)


@click.command(cls=Command, name="exec", epilog="""Examples:
  remote-support exec all -i inventories/example.yml -- uptime
  remote-support exec 'workstations:!pc-042' -f 50 --timeout 30 -- ipconfig /flushdns
  remote-support exec lab --become -K --group -- 'apt-get -s upgrade | tail -1'""")
@click.argument("pattern")
@click.argument("command", nargs=-1, required=True)
@inventory_option
@connection_options
@click.option("-o", "--one-line", is_flag=True, help="One line per host (as ansible -o).")
@click.option("-g", "--group", "grouped", is_flag=True, help="Group hosts with identical output (as clush -b).")
@click.option("--shell", type=click.Choice(["posix", "cmd", "powershell"]), default=None,
              help="Run COMMAND in this shell: Windows hosts take cmd (default, or the host's winrm_shell) or "
                   "powershell.")
def exec_(pattern: str, command: tuple[str, ...], inventories, one_line: bool, grouped: bool, shell: str | None,
          **opts) -> None:
    """Run COMMAND on every host matching PATTERN and print each host's output.

    Put `--` before the command so its options are not read as ours.
    Windows: `remote-support exec win-* --shell powershell -- Get-Service Spooler`.
    """
    from ..api import RunRequest

    request = RunRequest(kind="exec", what=" ".join(command), inventory=tuple(inventories), pattern=pattern,
                         journal=opts["journal_url"], shell=shell, **request_fields(opts))
    start_and_print(request, as_json=opts["as_json"], one_line=one_line, grouped=grouped)


def parse_extra_vars(values: Sequence[str]) -> dict[str, Any]:
    """``-e k=v``, ``-e @file.yml`` and ``-e '{"json": 1}'``, later ones winning, as Ansible's."""
    from ..errors import SourceError, UsageError
    from ..yamlfile import load_yaml

    result: dict[str, Any] = {}
    for value in values:
        if value.startswith("@"):
            path = value[1:]
            try:
                text = open(path, encoding="utf-8").read()
            except OSError as exc:
                raise UsageError(f"-e {value}: cannot read {path} ({exc.strerror})") from None
            except UnicodeDecodeError:
                raise UsageError(f"-e {value}: {path} is not UTF-8 text: save it as UTF-8") from None
            data = load_yaml(text, path, SourceError)
            if not isinstance(data, dict):
                raise UsageError(f"-e {value}: {path} must hold a mapping of variables")
            result.update(data)
        elif value.lstrip().startswith("{"):
            data = load_yaml(value, "-e", SourceError)
            if not isinstance(data, dict):
                raise UsageError(f"-e {value}: a JSON object of variables was expected")
            result.update(data)
        else:
            import shlex

            for pair in shlex.split(value):
                key, sep, val = pair.partition("=")
                if not sep or not key.isidentifier():
                    raise UsageError(f"-e {pair!r}: write NAME=VALUE, @FILE.yml or a JSON object")
                result[key] = val
    return result


def _split(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(t for v in values for t in v.split(",") if t)


@click.command(cls=Command, epilog="""Examples:
  remote-support run tasks/flush-dns.yml -l pc-042 --ticket INC-1234
  remote-support run restart-service -l 'web:!web-03' -e service=nginx --check --diff
  remote-support run install-packages -l workstations -e packages=htop,curl -f 50 --serial 25%""")
@click.argument("task_name", metavar="TASK")
@inventory_option
@click.option("-l", "--limit", "pattern", metavar="PATTERN", default="all", show_default=True,
              help="Hosts to run on (Ansible pattern).")
@click.option("-e", "--extra-vars", multiple=True, metavar="NAME=VALUE|@FILE",
              help="Parameters and variables (highest precedence); repeat.")
@click.option("-C", "--check", is_flag=True, help="Change nothing: report what would change.")
@click.option("-D", "--diff", is_flag=True, help="Show the changes to files, packages and services.")
@click.option("-t", "--tags", multiple=True, help="Only steps with these tags.")
@click.option("--skip-tags", multiple=True, help="Skip steps with these tags.")
@click.option("-v", "--verbose", is_flag=True, help="Show every step's output for every host.")
@click.option("--server", metavar="URL", help="Run it through the team's server (remote-support serve), as the "
                                               "user of the API token in $REMOTE_SUPPORT_TOKEN.")
@connection_options
def run(task_name: str, inventories, pattern: str, extra_vars, check: bool, diff: bool, tags, skip_tags,
        verbose: bool, server: str | None, **opts) -> None:
    """Run a TASK (a path, or a name from `tasks list`) on the hosts matching --limit."""
    from ..api import RunRequest

    if server:
        from ..errors import UsageError
        from .remote import run_on_server

        if tags or skip_tags:
            raise UsageError("--server runs a library task with its parameters: --tags/--skip-tags are not sent")
        run_on_server(server, task=task_name, pattern=pattern, params=parse_extra_vars(extra_vars), check=check,
                      ticket=opts.get("ticket"), as_json=opts["as_json"])
        return

    request = RunRequest(kind="task", what=task_name, inventory=tuple(inventories), pattern=pattern,
                         variables=parse_extra_vars(extra_vars), check=check, diff=diff, tags=_split(tags),
                         skip_tags=_split(skip_tags), journal=opts["journal_url"], **request_fields(opts))
    start_and_print(request, as_json=opts["as_json"], verbose=verbose)


def start_and_print(request: "RunRequest", *, as_json: bool, verbose: bool = False, one_line: bool = False,
                    grouped: bool = False) -> None:
    """Prepare the run, run it with live output, print the outcome, exit with its code."""
    from .. import api

    execute(api.prepare(request, debug=State.debug), as_json=as_json, verbose=verbose, one_line=one_line,
            grouped=grouped)


def execute(handle: "Run", *, as_json: bool, verbose: bool, one_line: bool, grouped: bool) -> None:
    request = handle.request
    for warning in handle.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    with _terminate_as_interrupt():
        if as_json:  # no live output: JSON alone on stdout, and no rich to import
            result = handle.execute()
        else:
            from ..output import LiveOutput, run_header

            _, err = consoles()
            err.print(run_header(handle), highlight=False)
            with LiveOutput(err, handle.hosts) as live:
                handle.subscribe(live)
                result = handle.execute()
    if as_json:
        click.echo(json.dumps(handle.to_dict(), indent=2, default=str))
    else:
        from ..output import print_command_output, print_steps, print_summary

        out, err = consoles()
        if request.kind == "exec":
            print_command_output(out, result, one_line=one_line, grouped=grouped)
            print_summary(err, result)
        else:
            print_steps(err, result, verbose=verbose, diff=request.diff or request.check)
            check = " (check mode: nothing was changed)" if request.check else ""
            print_summary(err, result, title=f"{handle.name}{check}")
        if handle.spooled:
            click.echo(f"journal: run {handle.id}: {handle.journal.where} could not take every result; they are "
                       f"kept in {handle.spooled} and go into the journal with the next command that opens it "
                       f"(e.g. remote-support runs show {handle.id})", err=True)
        else:
            click.echo(f"journal: run {handle.id} recorded in {handle.journal.where} "
                       f"(remote-support runs show {handle.id})", err=True)
    sys.exit(handle.exit_code)


class _terminate_as_interrupt:
    """SIGTERM stops a run as Ctrl-C does: running hosts reported interrupted, the journal closed."""

    def __enter__(self):
        import signal

        def interrupt(signum, frame):
            raise KeyboardInterrupt

        try:
            self.previous = signal.signal(signal.SIGTERM, interrupt)
        except ValueError:  # not the main thread (tests calling in-process)
            self.previous = None
        return self

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def rerun_command(name: str, doc: str, epilog: str) -> click.Command:
    """``runs resume`` / ``runs retry``: the recorded request again; options given here override it."""

    @click.command(cls=Command, name=name, help=doc, epilog=epilog)
    @click.argument("run_id", metavar="RUN")
    @click.option("-e", "--extra-vars", multiple=True, metavar="NAME=VALUE|@FILE",
                  help="Give secrets again (as references), or change a variable.")
    @connection_options(rerun=True)
    @click.option("--include-in-flight", is_flag=True, hidden=name != "resume",
                  help="Also run again the hosts that were in flight (a changing step had started) when the "
                       "run stopped: they may be half-changed, so check them first.")
    def command(run_id, extra_vars, include_in_flight, **opts) -> None:
        from .. import api
        from ..journal import Journal

        journal = Journal.open(opts["journal_url"])
        overrides = {k: v for k, v in request_fields(opts).items() if v is not None}
        if extra_vars:
            overrides["variables"] = parse_extra_vars(extra_vars)
        if name == "resume":
            handle = api.resume(run_id, journal=journal, debug=State.debug, include_in_flight=include_in_flight,
                                **overrides)
        else:
            handle = api.retry(run_id, journal=journal, debug=State.debug, **overrides)
        execute(handle, as_json=opts["as_json"], verbose=False, one_line=False, grouped=False)

    return command
