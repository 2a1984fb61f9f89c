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


# ------------------------------------------------------------------ shared options


def inventory_option(func):
    return click.option(
        "-i", "--inventory", "inventories", multiple=True, metavar="PATH",
        help=f"Inventory file or directory (repeat to merge). Default: ${INVENTORY_ENV} (':'-separated).",
    )(func)


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
        click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout."),
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
    from .errors import CommandTimeout
    from .results import StepResult, Status

    text = " ".join(command)
    become = opts["become"]
    timeout = opts["command_timeout"]

    def work(connection):
        try:
            result = connection.run(text, timeout=timeout, become=become)
        except CommandTimeout as exc:
            partial = getattr(exc, "result", None)
            return [StepResult("command", Status.FAILED, command=text, reason=exc.reason,
                               stdout=partial.stdout if partial else "", stderr=partial.stderr if partial else "",
                               duration=partial.duration if partial else 0.0)]
        return [StepResult.from_command("command", result)]

    run = _run(inventories, pattern, work, opts)
    if opts["as_json"]:
        click.echo(json.dumps(run.to_dict(), indent=2, default=str))
    else:
        from .output import print_command_output, print_summary

        out, err = consoles()
        print_command_output(out, run, one_line=one_line, grouped=grouped)
        print_summary(err, run)
    sys.exit(run.exit_code)


def _run(inventories, pattern: str, work, opts: dict):
    """Select hosts, check everything that can be checked up front, then run ``work`` on each host."""
    from .connections.base import ConnectOptions
    from .runner import Runner, parse_serial

    _, hosts = load(inventories, pattern)
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
                             known_hosts=tuple(opts["known_hosts"]), ssh_config=opts["ssh_config"])
    runner = Runner(options, forks=opts["forks"], serial=parse_serial(opts["serial"]),
                    max_fail_percentage=opts["max_fail_percentage"], debug=_State.debug)
    if opts["as_json"]:
        return runner.run(hosts, work)  # no live output: JSON alone on stdout, and no rich to import
    from .output import LiveOutput

    _, err = consoles()
    with LiveOutput(err, len(hosts)) as live:
        runner.events = live
        return runner.run(hosts, work)


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
@click.option("--ticket", metavar="ID", help="Ticket this run is for (recorded with the run).")
@click.option("-v", "--verbose", is_flag=True, help="Show every step's output for every host.")
@connection_options
def run(task_name: str, inventories, pattern: str, extra_vars, check: bool, diff: bool, tags, skip_tags,
        ticket: str | None, verbose: bool, **opts) -> None:
    """Run a TASK (a path, or a name from `tasks list`) on the hosts matching --limit."""
    from .executor import TaskRun
    from .tasks import find_task, load_task

    task = load_task(find_task(task_name))
    split = lambda values: [t for v in values for t in v.split(",") if t]  # noqa: E731
    task_run = TaskRun(task, extra_vars=parse_extra_vars(extra_vars), check=check, diff=diff,
                       tags=split(tags), skip_tags=split(skip_tags))
    if not opts["as_json"]:
        from .output import task_header

        _, err = consoles()
        err.print(task_header(task.name, pattern, check=check, ticket=ticket), highlight=False)
    result = _run(inventories, pattern, task_run.work, opts)
    if opts["as_json"]:
        data = {"task": task.name, "path": str(task.path), "ticket": ticket, "check": check, **result.to_dict()}
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        from .output import print_steps, print_summary

        _, err = consoles()
        print_steps(err, result, verbose=verbose, diff=diff or check)
        print_summary(err, result, title=f"{task.name}{' (check mode: nothing was changed)' if check else ''}")
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
    """List the tasks found in $REMOTE_SUPPORT_TASKS, ./tasks and the shipped library."""
    from .tasks import load_task, task_dirs

    seen = set()
    for directory in task_dirs():
        for path in sorted(directory.glob("*.y*ml")):
            if path.stem in seen:
                continue
            seen.add(path.stem)
            task = load_task(path)
            params = ", ".join(p.name + ("" if p.required else "?") for p in task.params)
            click.echo(f"{path.stem:<22} {task.name}" + (f"  [{params}]" if params else ""))


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


@lab.command(name="up", epilog="""Examples:
  remote-support lab up            # 5 hosts
  remote-support lab up 200
  export REMOTE_SUPPORT_INVENTORY=$(remote-support lab inventory)""")
@click.argument("count", type=int, default=5)
def lab_up(count: int) -> None:
    """Start COUNT sshd hosts (lab-001...) and write their inventory and known_hosts."""
    from .lab import Lab

    if count < 1:
        from .errors import UsageError

        raise UsageError(f"lab up {count}: the lab needs at least one host")
    lab_ = Lab()
    hosts = lab_.up(count)
    click.echo(f"lab: {len(hosts)} hosts up ({hosts[0].address} .. {hosts[-1].address}) as user {lab_.user}",
               err=True)
    click.echo(f"inventory:   {lab_.inventory_path}", err=True)
    click.echo(f"known_hosts: {lab_.known_hosts_path}", err=True)
    click.echo(f"try:  remote-support exec all -i {lab_.inventory_path} -- uname -a", err=True)


@lab.command(name="down", epilog="""Examples:
  remote-support lab down""")
def lab_down() -> None:
    """Stop every lab host (keys are kept so known_hosts stays valid)."""
    from .lab import Lab

    stopped = Lab().down()
    click.echo(f"lab: {stopped} hosts stopped", err=True)


@lab.command(name="status", epilog="""Examples:
  remote-support lab status""")
def lab_status() -> None:
    """Show each lab host, its address and whether its sshd runs."""
    from .lab import Lab

    rows = Lab().status()
    if not rows:
        click.echo("lab: not up (remote-support lab up)", err=True)
        return
    for row in rows:
        state = "running" if row.running else "stopped"
        click.echo(f"{row.name}  {row.address}:{row.port}  pid {row.pid or '-'}  {state}")


@lab.command(name="inventory", epilog="""Examples:
  export REMOTE_SUPPORT_INVENTORY=$(remote-support lab inventory)""")
def lab_inventory() -> None:
    """Print the path of the lab's inventory (for -i or $REMOTE_SUPPORT_INVENTORY)."""
    from .lab import Lab

    click.echo(str(Lab().inventory_path))


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
