"""The `remote-support` command line.

Only click is imported at start-up; everything else is imported by the command that needs it, so
`remote-support --help` stays fast.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, Sequence

import click

from . import __version__

if TYPE_CHECKING:
    from .inventory import Host, Inventory

INVENTORY_ENV = "REMOTE_SUPPORT_INVENTORY"


class _State:
    debug = False
    recorded = ""  # the line that ends a run's output: where the journal has it


# ------------------------------------------------------------------ shared options


def inventory_option(func):
    return click.option(
        "-i", "--inventory", "inventories", multiple=True, metavar="PATH",
        help=f"Inventory file or directory (repeat to merge). Default: ${INVENTORY_ENV} (':'-separated).",
    )(func)


journal_option = click.option(
    "--journal", "journal_url", metavar="URL", envvar="REMOTE_SUPPORT_JOURNAL",
    help="Journal: a SQLite file or sqlite:///PATH, postgresql://user@host/db "
         "(default $REMOTE_SUPPORT_JOURNAL, else journal.sqlite in the data directory).")


def connection_options(func):
    options = [
        click.option("-f", "--forks", type=int, default=20, show_default=True, help="Hosts worked on at once."),
        click.option("--serial", metavar="N|N%|LIST", help="Run in batches, e.g. 10, 25% or 1,5,25%."),
        click.option("--max-fail-percentage", type=float, metavar="PCT",
                     help="Stop starting hosts once more than PCT% of a batch has failed."),
        click.option("-b", "--become", is_flag=True, help="Run with sudo (to --become-user)."),
        click.option("--become-user", metavar="USER", help="User to become (default: root)."),
        click.option("-K", "--ask-become-pass", is_flag=True, help="Prompt once for the sudo password."),
        click.option("--timeout", "command_timeout", type=float, metavar="S",
                     help="Stop a command that runs longer than S seconds."),
        click.option("--connect-timeout", type=float, default=10.0, show_default=True, metavar="S",
                     help="Give up reaching a host after S seconds."),
        click.option("--host-timeout", type=float, metavar="S",
                     help="Overall limit per host, from connect to the last command."),
        click.option("--accept-new-host-keys", is_flag=True,
                     help="Trust hosts seen for the first time and record their keys; changed keys are "
                          "always refused."),
        click.option("--known-hosts", multiple=True, metavar="FILE", help="Extra known_hosts file to trust."),
        click.option("--ssh-config", metavar="FILE", help="OpenSSH client config (default ~/.ssh/config)."),
        click.option("--insecure", is_flag=True,
                      help="Do not verify TLS certificates of WinRM hosts (a lab only; noted in the journal)."),
        click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout."),
        click.option("--ticket", metavar="ID", help="Ticket this run is for (recorded in the journal)."),
        click.option("--operator", metavar="NAME", help="Who runs this, if not the OS user (recorded)."),
        journal_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def load(inventories: Sequence[str], limit: str | None) -> tuple["Inventory", list["Host"]]:
    from .errors import UsageError
    from .inventory import load_inventory

    paths = list(inventories)
    if not paths and os.environ.get(INVENTORY_ENV):
        paths = [p for p in os.environ[INVENTORY_ENV].split(":") if p]
    if not paths:
        raise UsageError(f"no inventory: pass -i FILE or set {INVENTORY_ENV} "
                         "(try `remote-support lab up` for a practice one)")
    inventory = load_inventory(paths)
    return inventory, inventory.select(limit)


def preflight(hosts: Sequence["Host"]) -> None:
    """Fail before anything runs on what would fail every host: connection types, key files."""
    from .connections import connection_class

    keys: set[tuple[str, Any]] = set()
    for host in hosts:
        connection_class(host.connection)
        if host.connection == "ssh" and host.get("private_key_file"):
            keys.add((str(host.get("private_key_file")), host.vars.get("private_key_passphrase")))
    if keys:
        from .connections.ssh import load_private_key
        from .secrets import reveal

        for path, passphrase in sorted(keys, key=lambda k: k[0]):
            load_private_key(path, reveal(passphrase))


def with_overrides(hosts: Sequence["Host"], **overrides: Any) -> list["Host"]:
    """Command-line settings that win over the inventory (as Ansible's -b, --become-user, -K)."""
    from dataclasses import replace

    values = {k: v for k, v in overrides.items() if v not in (None, False)}
    if not values:
        return list(hosts)
    return [replace(h, vars={**h.vars, **values}) for h in hosts]


def consoles():
    """stdout for results, stderr for progress and summaries."""
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=False)
    err = Console(stderr=True, highlight=False)
    return out, err


# ------------------------------------------------------------------ the command group


def _format_epilog(self, ctx, formatter) -> None:
    # Examples are shown as written: click would re-wrap them into one paragraph.
    if self.epilog:
        formatter.write("\n" + self.epilog.rstrip() + "\n")


class _Command(click.Command):
    format_epilog = _format_epilog


class _Group(click.Group):
    format_epilog = _format_epilog
    command_class = _Command
    group_class = type  # subgroups are _Group too


EXAMPLES = """Examples:
  remote-support lab up 5 && export REMOTE_SUPPORT_INVENTORY=$(remote-support lab inventory)
  remote-support exec all -- uptime
  remote-support exec 'lab:!lab-003' -f 50 --become -- systemctl is-active ssh
  remote-support inventory list -i inventories/example.yml -l workstations"""


@click.group(cls=_Group, epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="remote-support")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
def cli(debug: bool) -> None:
    """Run commands and tasks on many hosts over SSH, WinRM and network CLIs, and record what happened."""
    _State.debug = debug
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(threadName)s %(name)s: %(message)s")
        logging.getLogger("paramiko").setLevel(logging.INFO)


@cli.command(name="exec", epilog="""Examples:
  remote-support exec all -i inventories/example.yml -- uptime
  remote-support exec 'workstations:!pc-042' -f 50 --timeout 30 -- ipconfig /flushdns
  remote-support exec lab --become -K --group -- 'apt-get -s upgrade | tail -1'""")
@click.argument("pattern")
@click.argument("command", nargs=-1, required=True)
@inventory_option
@connection_options
@click.option("-o", "--one-line", is_flag=True, help="One line per host (as ansible -o).")
@click.option("-g", "--group", "grouped", is_flag=True, help="Group hosts with identical output (as clush -b).")
def exec_(pattern: str, command: tuple[str, ...], inventories, one_line: bool, grouped: bool, **opts) -> None:
    """Run COMMAND on every host matching PATTERN and print each host's output.

    Put `--` before the command so its options are not read as ours.
    """
    text = " ".join(command)
    work = _command_work(text, timeout=opts["command_timeout"], become=opts["become"])
    run_id, run = _run(inventories, pattern, work, opts, kind="exec", name=text, command=text)
    if opts["as_json"]:
        click.echo(json.dumps({"run_id": run_id, **run.to_dict()}, indent=2, default=str))
    else:
        from .output import print_command_output, print_summary

        out, err = consoles()
        print_command_output(out, run, one_line=one_line, grouped=grouped)
        print_summary(err, run)
        click.echo(_State.recorded, err=True)
    sys.exit(run.exit_code)


def _command_work(text: str, *, timeout: float | None, become: bool):
    """What `exec` does on one host: run the command, and keep a timed-out command's partial output."""
    from .errors import CommandTimeout
    from .results import Status, StepResult

    def work(connection):
        try:
            result = connection.run(text, timeout=timeout, become=become)
        except CommandTimeout as exc:
            partial = getattr(exc, "result", None)
            return [StepResult("command", Status.FAILED, command=text, reason=exc.reason,
                               stdout=partial.stdout if partial else "", stderr=partial.stderr if partial else "",
                               duration=partial.duration if partial else 0.0)]
        return [StepResult.from_command("command", result)]

    return work


def _run(inventories, pattern: str, work, opts: dict, *, kind: str, name: str, command: str | None,
         params: dict | None = None, check: bool = False, diff: bool = False, facts_of=None,
         only: Sequence[str] | None = None, resume: str | None = None, parent: str | None = None,
         journal=None):
    """Select hosts, check what can be checked up front, open the run in the journal, run ``work`` on
    each host (each host recorded the moment it finishes), close the run.

    ``only`` restricts the hosts (resume, retry); ``resume`` records into that existing run.
    """
    from .connections.base import ConnectOptions
    from .journal import Journal, JournalRecorder
    from .runner import Events, Runner, parse_serial

    inventory, hosts = load(inventories, pattern)
    if only is not None:
        hosts = [h for h in hosts if h.name in set(only)]
    become_password = None
    if opts["ask_become_pass"]:
        become_password = click.prompt("BECOME password", hide_input=True, err=True)
        from .secrets import MASK

        MASK.add(become_password)
    hosts = with_overrides(hosts, become=opts["become"] or None, become_user=opts["become_user"],
                           become_password=become_password)
    preflight(hosts)
    options = ConnectOptions(connect_timeout=opts["connect_timeout"], command_timeout=opts["command_timeout"],
                             host_timeout=opts["host_timeout"], accept_new_host_keys=opts["accept_new_host_keys"],
                             known_hosts=tuple(opts["known_hosts"]), ssh_config=opts["ssh_config"],
                             insecure=opts["insecure"])
    runner = Runner(options, forks=opts["forks"], serial=parse_serial(opts["serial"]),
                    max_fail_percentage=opts["max_fail_percentage"], debug=_State.debug)
    journal = journal or Journal.open(opts["journal_url"])
    if resume:
        run_id = resume
    else:
        run_id = journal.start_run(kind=kind, name=name, command=command, params=params or {},
                                   inventory=inventory.sources, pattern=pattern, check=check, diff=diff,
                                   ticket=opts["ticket"], operator=opts["operator"], hosts=[h.name for h in hosts],
                                   tool_version=__version__, parent_run=parent)
    warn = (lambda message: click.secho(message, fg="yellow", err=True))
    if opts["insecure"]:
        journal.add_note(run_id, "run with --insecure: TLS certificates of WinRM hosts were not verified",
                         author=opts["operator"])
        warn("--insecure: TLS certificates of WinRM hosts are not verified (noted in the journal)")
    recorder = JournalRecorder(journal, run_id, facts_of=facts_of, warn=warn)
    with _terminate_as_interrupt():
        if opts["as_json"]:
            # no live output: JSON alone on stdout, and no rich to import
            runner.events = recorder
            result = runner.run(hosts, work)
        else:
            from .output import LiveOutput

            _, err = consoles()
            with LiveOutput(err, len(hosts)) as live:
                runner.events = Events(live, recorder)
                result = runner.run(hosts, work)
    recorder.finish(result)
    _State.recorded = f"journal: run {run_id} recorded in {journal.where} (remote-support runs show {run_id})"
    return run_id, result


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


# ------------------------------------------------------------------ tasks


def parse_extra_vars(values: Sequence[str]) -> dict[str, Any]:
    """``-e k=v``, ``-e @file.yml`` and ``-e '{"json": 1}'``, later ones winning, as Ansible's."""
    from .errors import SourceError, UsageError
    from .yamlfile import load_yaml

    result: dict[str, Any] = {}
    for value in values:
        if value.startswith("@"):
            path = value[1:]
            try:
                text = open(path, encoding="utf-8").read()
            except OSError as exc:
                raise UsageError(f"-e {value}: cannot read {path} ({exc.strerror})") from None
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


@cli.command(epilog="""Examples:
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
@connection_options
def run(task_name: str, inventories, pattern: str, extra_vars, check: bool, diff: bool, tags, skip_tags,
        verbose: bool, **opts) -> None:
    """Run a TASK (a path, or a name from `tasks list`) on the hosts matching --limit."""
    variables = parse_extra_vars(extra_vars)
    split = lambda values: [t for v in values for t in v.split(",") if t]  # noqa: E731
    _run_task(task_name, inventories, pattern, variables, opts, check=check, diff=diff, tags=split(tags),
              skip_tags=split(skip_tags), verbose=verbose)


def _run_task(task_name: str, inventories, pattern: str, variables: dict, opts: dict, *, check: bool,
              diff: bool, tags=(), skip_tags=(), verbose: bool = False, only=None, resume=None, parent=None,
              journal=None):
    from .executor import TaskRun
    from .tasks import find_task, load_task

    task = load_task(find_task(task_name))
    task_run = TaskRun(task, extra_vars=variables, check=check, diff=diff, tags=tags, skip_tags=skip_tags)
    if not opts["as_json"]:
        from .output import task_header

        _, err = consoles()
        err.print(task_header(task.name, pattern, check=check, ticket=opts["ticket"]), highlight=False)
    run_id, result = _run(inventories, pattern, task_run.work, opts, kind="task", name=task.name,
                          command=str(task.path.resolve()), params=variables, check=check, diff=diff,
                          facts_of=task_run.facts.get, only=only, resume=resume, parent=parent, journal=journal)
    if opts["as_json"]:
        data = {"run_id": run_id, "task": task.name, "path": str(task.path), "ticket": opts["ticket"],
                "check": check, **result.to_dict()}
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        from .output import print_steps, print_summary

        _, err = consoles()
        print_steps(err, result, verbose=verbose, diff=diff or check)
        print_summary(err, result, title=f"{task.name}{' (check mode: nothing was changed)' if check else ''}")
        click.echo(_State.recorded, err=True)
    sys.exit(result.exit_code)


@cli.group(epilog="""Examples:
  remote-support tasks list
  remote-support tasks show diagnose""")
def tasks() -> None:
    """The task library: what each task does and which parameters it takes."""


@tasks.command(name="list", epilog="""Examples:
  remote-support tasks list
  REMOTE_SUPPORT_TASKS=~/our-tasks remote-support tasks list""")
def tasks_list() -> None:
    """List the tasks found in $REMOTE_SUPPORT_TASKS, ./tasks and the shipped library, by topic."""
    from .tasks import by_topic, library

    for number, (topic, group) in enumerate(by_topic(library()).items()):
        click.echo(("\n" if number else "") + f"[{topic}]")
        for task in group:
            params = ", ".join(p.name + ("" if p.required else "?") for p in task.params)
            click.echo(f"{task.short_name:<22} {task.name}" + (f"  [{params}]" if params else ""))


@tasks.command(name="show", epilog="""Examples:
  remote-support tasks show restart-service""")
@click.argument("task_name", metavar="TASK")
def tasks_show(task_name: str) -> None:
    """Describe a TASK: what it does, where it runs, its parameters and steps."""
    from .tasks import find_task, load_task

    task = load_task(find_task(task_name))
    click.echo(f"{task.name}  ({task.path})")
    if task.description:
        click.echo(f"\n{task.description.strip()}")
    click.echo(f"\ntopic: {task.topic}")
    if task.os_families or task.connections:
        click.echo(f"\nsupports: {', '.join(task.os_families + task.connections)}")
    if task.params:
        click.echo("\nparameters:")
        for p in task.params:
            default = "" if p.required or p.default is None else f" (default {p.default!r})"
            need = " required" if p.required else ""
            click.echo(f"  {p.name:<18} {p.type}{need}{default}  {p.description}")
    click.echo("\nsteps:")
    for step in task.steps:
        when = f"  when {step.when}" if step.when else ""
        click.echo(f"  - {step.name} [{step.kind}]{when}")
    for handler in task.handlers:
        click.echo(f"  - handler: {handler.name} [{handler.kind}]")


# ------------------------------------------------------------------ the journal


def _journal(url: str | None):
    from .journal import Journal

    return Journal.open(url)


def _since(text: str | None):
    """``2d``, ``12h``, ``30m`` ago, or an ISO date/time."""
    if not text:
        return None
    import re
    from datetime import datetime, timedelta

    from .errors import UsageError

    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        unit_name = {"d": "days", "h": "hours", "m": "minutes"}[unit]
        return datetime.now() - timedelta(**{unit_name: amount})
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: write 2d, 12h, 30m or a date such as 2026-11-24") from None


@cli.group(epilog="""Examples:
  remote-support runs list --ticket INC-1234
  remote-support runs show 20261124-2213 --host pc-042
  remote-support runs resume 20261124-2213-7f3a""")
def runs() -> None:
    """The run journal: what ran, where, by whom, for which ticket, and what came back."""


@runs.command(name="list", epilog="""Examples:
  remote-support runs list --since 2d --status failed
  remote-support runs list --host pc-042 --json""")
@click.option("--host", help="Runs that included this host (glob with *).")
@click.option("--ticket", help="Runs for this ticket.")
@click.option("--task", help="Runs of this task or ad-hoc command (glob with *).")
@click.option("--status", help="ok, changed, failed, unreachable, interrupted or running.")
@click.option("--since", help="Only runs started since: 2d, 12h, 30m or a date.")
@click.option("--operator", help="Runs by this operator or OS user.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@journal_option
def runs_list(host, ticket, task, status, since, operator, limit, as_json, journal_url) -> None:
    """List recorded runs, newest first."""
    records = _journal(journal_url).list_runs(host=host, ticket=ticket, task=task, status=status,
                                              since=_since(since), operator=operator, limit=limit)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=2, default=str))
        return
    from .output import print_run_list

    print_run_list(consoles()[0], records)


@runs.command(name="show", epilog="""Examples:
  remote-support runs show 20261124-2213-7f3a
  remote-support runs show 20261124-2213 --host pc-042 --step 3""")
@click.argument("run_id", metavar="RUN")
@click.option("--host", help="Only this host.")
@click.option("--step", type=int, help="Only this step (1-based) of --host, with its full output.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@journal_option
def runs_show(run_id, host, step, as_json, journal_url) -> None:
    """Show a run: who ran what for which ticket, each host's steps and output as the technician saw it."""
    from .errors import UsageError

    journal = _journal(journal_url)
    if step is not None:
        if not host:
            raise UsageError("--step needs --host: steps are numbered per host")
        record = journal.get_step(run_id, host, step)
        if as_json:
            click.echo(json.dumps(record.to_dict(), indent=2, default=str))
            return
        from .output import print_step_record

        print_step_record(consoles()[0], record)
        return
    record = journal.get_run(run_id, host=host)
    if as_json:
        click.echo(json.dumps(record.to_dict(), indent=2, default=str))
        return
    from .output import print_run_record

    print_run_record(consoles()[0], record)


@runs.command(name="note", epilog="""Examples:
  remote-support runs note 20261124-2213 "user confirmed printing works again" """)
@click.argument("run_id", metavar="RUN")
@click.argument("text")
@click.option("--operator", metavar="NAME", help="Who writes the note, if not the OS user.")
@journal_option
def runs_note(run_id, text, operator, journal_url) -> None:
    """Add a technician's note to a run."""
    journal = _journal(journal_url)
    journal.add_note(run_id, text, author=operator)
    click.echo(f"note added to run {journal.resolve(run_id)}", err=True)


@runs.command(name="escalate", epilog="""Examples:
  remote-support runs escalate 20261124-2213 --to L3 --note "disk errors on sda, needs hardware check"
  remote-support runs escalate 20261124-2213 --to vendor --note "..." -o ~/tickets/INC-1234/""")
@click.argument("run_id", metavar="RUN")
@click.option("--to", "to", required=True, help="Who takes over: L3, vendor, network team...")
@click.option("--note", required=True, help="What they need to know.")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A file to add to the evidence (fetched logs...); repeat.")
@click.option("-o", "--output", type=click.Path(), help="Directory or .zip path for the evidence bundle.")
@click.option("--operator", metavar="NAME", help="Who escalates, if not the OS user.")
@journal_option
def runs_escalate(run_id, to, note, files, output, operator, journal_url) -> None:
    """Record an escalation and write an evidence bundle (zip: report, raw outputs, facts, files)."""
    journal = _journal(journal_url)
    bundle = journal.escalate(run_id, to, note, author=operator, files=list(files), out=output)
    click.echo(f"escalated run {journal.resolve(run_id)} to {to}; evidence: {bundle}")


def _rerun(journal, record, opts: dict, hosts: list[str], *, resume: str | None, parent: str | None,
           extra_vars: dict) -> None:
    from .errors import UsageError
    from .secrets import MASKED

    if not hosts:
        raise UsageError(f"run {record.id}: no host to run again ({'all finished' if resume else 'none failed'})")
    opts["ticket"] = opts["ticket"] or record.ticket
    opts["operator"] = opts["operator"] or record.operator
    params = {**record.params, **extra_vars}
    masked = sorted(k for k, v in params.items() if v == MASKED)
    if masked:
        raise UsageError(f"run {record.id} had secret values ({', '.join(masked)}) that the journal does not keep: "
                         f"give them again, e.g. -e {masked[0]}=prompt")
    if record.kind == "task":
        _run_task(record.command, record.inventory, record.pattern, params, opts, check=record.check,
                  diff=record.diff, only=hosts, resume=resume, parent=parent, journal=journal)
    else:
        work = _command_work(record.command, timeout=opts["command_timeout"], become=opts["become"])
        run_id, result = _run(record.inventory, record.pattern, work, opts, kind="exec", name=record.name,
                              command=record.command, only=hosts, resume=resume, parent=parent,
                              journal=journal)
        if not opts["as_json"]:
            from .output import print_command_output, print_summary

            out, err = consoles()
            print_command_output(out, result)
            print_summary(err, result)
            click.echo(_State.recorded, err=True)
        else:
            click.echo(json.dumps({"run_id": run_id, **result.to_dict()}, indent=2, default=str))
        sys.exit(result.exit_code)


@runs.command(name="resume", epilog="""Examples:
  remote-support runs resume 20261124-2213-7f3a -f 50""")
@click.argument("run_id", metavar="RUN")
@click.option("-e", "--extra-vars", multiple=True, metavar="NAME=VALUE|@FILE", help="Give secrets again.")
@connection_options
def runs_resume(run_id, extra_vars, **opts) -> None:
    """Run an interrupted run's task again on exactly the hosts that did not finish, in the same run."""
    journal = _journal(opts["journal_url"])
    record = journal.get_run(run_id)
    hosts = journal.resume_run(record.id)
    _rerun(journal, record, opts, hosts, resume=record.id, parent=None, extra_vars=parse_extra_vars(extra_vars))


@runs.command(name="retry", epilog="""Examples:
  remote-support runs retry 20261124-2213-7f3a""")
@click.argument("run_id", metavar="RUN")
@click.option("-e", "--extra-vars", multiple=True, metavar="NAME=VALUE|@FILE", help="Give secrets again.")
@connection_options
def runs_retry(run_id, extra_vars, **opts) -> None:
    """Run a run's task again on its failed and unreachable hosts, as a new run linked to the first."""
    journal = _journal(opts["journal_url"])
    record = journal.get_run(run_id)
    _rerun(journal, record, opts, journal.failed_hosts(record.id), resume=None, parent=record.id,
           extra_vars=parse_extra_vars(extra_vars))


@cli.group(epilog="""Examples:
  remote-support hosts history pc-042""")
def hosts() -> None:
    """What was done to hosts, across all runs."""


@hosts.command(name="history", epilog="""Examples:
  remote-support hosts history pc-042 --limit 10
  remote-support hosts history pc-042 --json""")
@click.argument("host")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@journal_option
def hosts_history(host, limit, as_json, journal_url) -> None:
    """What was done to HOST, newest first: run, task, ticket, who, outcome."""
    entries = _journal(journal_url).host_history(host, limit=limit)
    if as_json:
        click.echo(json.dumps([e.to_dict() for e in entries], indent=2, default=str))
        return
    from .output import print_history

    print_history(consoles()[0], host, entries)


@cli.command(epilog="""Examples:
  remote-support report 20261124-2213 -o INC-1234.html
  remote-support report 20261124-2213 --format junit -o results.xml""")
@click.argument("run_id", metavar="RUN")
@click.option("--format", "fmt", type=click.Choice(["html", "json", "junit"]), default="html", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File to write (default: stdout).")
@journal_option
def report(run_id, fmt, output, journal_url) -> None:
    """Write a run as a self-contained HTML page for a ticket, JSON, or JUnit XML for CI systems."""
    from . import report as reports

    record = _journal(journal_url).get_run(run_id, full_output=True)
    text = {"html": reports.render_html, "json": reports.render_json, "junit": reports.render_junit}[fmt](record)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"report of run {record.id} written to {output}", err=True)
    else:
        click.echo(text)


# ------------------------------------------------------------------ inventory


@cli.group(epilog="""Examples:
  remote-support inventory list -i inventories/example.yml --vars""")
def inventory() -> None:
    """Look at inventories: which hosts, which groups, which variables."""


@inventory.command(name="list", epilog="""Examples:
  remote-support inventory list -i inventories/example.yml
  remote-support inventory list -i inventories/ansible/hosts.ini -l 'linux:&prod' --vars
  remote-support inventory list -i a.yml -i b.ini --json""")
@inventory_option
@click.option("-l", "--limit", "pattern", metavar="PATTERN", help="Only hosts matching PATTERN (default all).")
@click.option("--vars", "show_vars", is_flag=True, help="Show every merged variable (secrets masked).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: each host's groups and merged variables.")
def inventory_list(inventories, pattern: str | None, show_vars: bool, as_json: bool) -> None:
    """List hosts with their connection settings, groups and merged variables."""
    from .secrets import MASK

    _, hosts = load(inventories, pattern)
    if as_json:
        data = {h.name: {"groups": list(h.groups), "source": h.source, "vars": MASK.variables(dict(h.vars))}
                for h in hosts}
        click.echo(json.dumps(data, indent=2, default=str))
        return
    from rich.markup import escape
    from rich.table import Table

    out, _ = consoles()
    table = Table(show_edge=False, pad_edge=False)
    for column in ("host", "address", "port", "user", "connection", "groups"):
        table.add_column(column, overflow="fold")
    if show_vars:
        table.add_column("vars", overflow="fold")
    for h in hosts:
        row = [h.name, h.address, str(h.port or "-"), h.user or "-", h.connection,
               ",".join(g for g in h.groups if g != "all")]
        if show_vars:
            shown = MASK.variables(dict(h.vars))
            row.append("\n".join(f"{k}={v}" for k, v in sorted(shown.items())))
        table.add_row(*(escape(str(c)) for c in row))
    out.print(table)
    out.print(f"[dim]{len(hosts)} hosts[/]")


# ------------------------------------------------------------------ lab


@cli.group(epilog="""Examples:
  remote-support lab up 20 && remote-support lab status
  remote-support exec all -i "$(remote-support lab inventory)" -- uptime
  remote-support lab down""")
def lab() -> None:
    """A practice lab of real OpenSSH hosts on this machine's loopback addresses."""


def _labs(network: str = "127.42.0.0"):
    """The three parts of the practice lab: SSH hosts, emulated switches, WinRM endpoints.

    Switches live two second-octets above the Linux hosts (127.42.x -> 127.44.x) on the same port."""
    from .lab import Lab
    from .lab.netlab import NetLab
    from .lab.winlab import WinLab

    first, second, *_ = network.split(".")
    return Lab(network=network), NetLab(network=f"{first}.{int(second) + 2}.0.0"), WinLab()


def _lab_inventory_dir():
    """One directory naming every running part's inventory, for a single -i."""
    from .connections.base import data_dir

    directory = data_dir() / "lab-inventory"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for link in directory.iterdir():
        link.unlink()
    for index, part in enumerate(_labs()):
        if any(row.running for row in part.status()) and part.inventory_path.exists():
            (directory / f"{index}-{part.inventory_path.parent.name}.yml").symlink_to(part.inventory_path)
    return directory


@lab.command(name="up", epilog="""Examples:
  remote-support lab up            # 5 Linux hosts
  remote-support lab up 200
  remote-support lab up 3 --switches 4 --windows 2
  export REMOTE_SUPPORT_INVENTORY=$(remote-support lab inventory)""")
@click.argument("count", type=int, default=5)
@click.option("--switches", type=int, default=0, help="Also start this many emulated Cisco IOS switches.")
@click.option("--windows", type=int, default=0, help="Also start this many WinRM (Windows) endpoints.")
@click.option("--network", default="127.42.0.0", show_default=True, metavar="127.X.0.0",
              help="Loopback range of the Linux hosts; switches use 127.(X+2).")
def lab_up(count: int, switches: int, windows: int, network: str) -> None:
    """Start COUNT sshd hosts (lab-001...), optional switches and Windows endpoints, with their inventory."""
    from .errors import UsageError

    if count < 0 or switches < 0 or windows < 0 or not (count or switches or windows):
        raise UsageError("lab up: give a positive number of hosts (and/or --switches N, --windows N)")
    import re

    if not re.fullmatch(r"127\.(\d{1,2}|1\d\d|2[0-4]\d|25[0-3])\.0\.0", network):
        raise UsageError(f"--network {network}: use a loopback range such as 127.42.0.0 (second octet below 254)")
    linux, net, win = _labs(network)
    if count:
        hosts = linux.up(count)
        click.echo(f"lab: {len(hosts)} Linux hosts up ({hosts[0].address} .. {hosts[-1].address}) as user "
                   f"{linux.user}", err=True)
    if switches:
        devices = net.up(switches)
        click.echo(f"lab: {len(devices)} switches up ({devices[0].address} .. {devices[-1].address})", err=True)
    if windows:
        endpoints = win.up(windows)
        click.echo(f"lab: {len(endpoints)} Windows (WinRM) endpoints up on 127.0.0.1:"
                   f"{endpoints[0].port}..{endpoints[-1].port}", err=True)
    inventory_dir = _lab_inventory_dir()
    click.echo(f"inventory:   {inventory_dir}", err=True)
    click.echo(f"try:  remote-support exec all -i {inventory_dir} -- hostname", err=True)


@lab.command(name="down", epilog="""Examples:
  remote-support lab down""")
def lab_down() -> None:
    """Stop every lab host, switch and Windows endpoint (keys are kept so known_hosts stays valid)."""
    stopped = 0
    for part in _labs():
        stopped += sum(row.running for row in part.status())
        part.down()
    _lab_inventory_dir()
    click.echo(f"lab: {stopped} hosts stopped", err=True)


@lab.command(name="status", epilog="""Examples:
  remote-support lab status""")
def lab_status() -> None:
    """Show each lab host, its address and whether it runs."""
    rows = [row for part in _labs() for row in part.status()]
    if not rows:
        click.echo("lab: not up (remote-support lab up)", err=True)
        return
    for row in rows:
        state = "running" if row.running else "stopped"
        click.echo(f"{row.name}  {row.address}:{row.port}  pid {row.pid or '-'}  {state}")


@lab.command(name="inventory", epilog="""Examples:
  export REMOTE_SUPPORT_INVENTORY=$(remote-support lab inventory)""")
def lab_inventory() -> None:
    """Print the lab's inventory directory (every running part), for -i or $REMOTE_SUPPORT_INVENTORY."""
    click.echo(str(_lab_inventory_dir()))


# ------------------------------------------------------------------ network device configs (backup steps)


@cli.group(epilog="""Examples:
  remote-support run net-backup -l switches
  remote-support config history sw-001
  remote-support config diff sw-001
  remote-support config diff sw-001 3 5""")
def config() -> None:
    """Network device configs backed up in the journal: versions, diffs (as Oxidized or RANCID)."""


@config.command(name="history", epilog="""Examples:
  remote-support config history sw-001
  remote-support config history sw-001 --limit 5 --json""")
@click.argument("device")
@click.option("--limit", type=int, default=50, show_default=True, help="Show at most this many versions.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@journal_option
def config_history(device, limit, as_json, journal_url) -> None:
    """The stored config versions of DEVICE, newest first: version, when, run, SHA-256, size."""
    versions = _journal(journal_url).config_versions(device, limit=limit)
    if as_json:
        click.echo(json.dumps([v.to_dict() for v in versions], indent=2))
        return
    if not versions:
        click.echo(f"no config of {device} in the journal: back it up first (remote-support run net-backup "
                   f"-l {device})", err=True)
        return
    click.echo(f"{'version':>7}  {'taken (UTC)':19}  {'run':18}  {'sha256':12}  {'size':>7}")
    for v in versions:
        click.echo(f"{v.version:>7}  {v.taken_at:%Y-%m-%d %H:%M:%S}  {v.run_id:18}  {v.sha256[:12]}  {v.size:>7}")


@config.command(name="diff", context_settings={"ignore_unknown_options": True}, epilog="""Examples:
  remote-support config diff sw-001          # the last change: the version before the latest, and the latest
  remote-support config diff sw-001 3 5      # version 3 against version 5
  remote-support config diff sw-001 1 -1     # the first kept against the latest""")
@click.argument("device")
@click.argument("old", required=False)
@click.argument("new", required=False)
@journal_option
def config_diff(device, old, new, journal_url) -> None:
    """A unified diff of two stored configs of DEVICE (OLD, NEW: versions; default: the last change)."""
    if old is not None and new is None:
        new = "-1"  # one version given: against the latest
    text = _journal(journal_url).config_diff(device, old, new)
    if text:
        click.echo(text, nl=False)
    else:
        click.echo("the two versions are the same", err=True)


@config.command(name="show", context_settings={"ignore_unknown_options": True}, epilog="""Examples:
  remote-support config show sw-001          # the latest
  remote-support config show sw-001 3 > sw-001-v3.cfg""")
@click.argument("device")
@click.argument("version", required=False)
@journal_option
def config_show(device, version, journal_url) -> None:
    """Print a stored config of DEVICE (VERSION: default the latest)."""
    record = _journal(journal_url).config_version(device, version)
    click.echo(f"! {record.label}, sha256 {record.sha256}", err=True)
    click.echo(record.text, nl=False)


# ------------------------------------------------------------------ entry point


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: errors become one clear line and an Ansible-style exit code."""
    from .results import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED

    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="remote-support",
                 standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        from .errors import RemoteSupportError

        if _State.debug:
            import traceback

            traceback.print_exc()
        if isinstance(exc, RemoteSupportError):
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(exc.exit_code)
        click.secho(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                    fg="red", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(0)


if __name__ == "__main__":
    main()
