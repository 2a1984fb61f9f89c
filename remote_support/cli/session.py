"""Recorded sessions: ``shell HOST`` and ``sessions list/play/export/search``."""

from __future__ import annotations

import json
import sys

import click

from .common import Command, Group, inventory_option, journal_option


def register(cli: click.Group) -> None:
    cli.add_command(shell)
    cli.add_command(sessions)


@click.command(cls=Command, epilog="""Examples:
  remote-support shell pc-042 --ticket INC-1234
  remote-support shell lab-002 --become --record-input --idle-timeout 10m
  remote-support sessions play 20261124-2213-7f3a --speed 4""")
@click.argument("host")
@inventory_option
@click.option("-b", "--become", is_flag=True, help="sudo -i on the host; the password comes from the inventory "
                                                    "(become_password) and is never recorded.")
@click.option("--become-user", metavar="USER", help="User to become (default: root).")
@click.option("--record-input", is_flag=True, help="Record keystrokes too (never those not echoed back, nor after "
                                                    "a password prompt until Enter).")
@click.option("--idle-timeout", default="30m", show_default=True, metavar="DURATION",
              help="End the session after this long without a keystroke (90s, 30m, 2h; 0: never).")
@click.option("--connect-timeout", type=float, default=10.0, show_default=True, metavar="S",
              help="Give up reaching the host after S seconds.")
@click.option("--accept-new-host-keys", is_flag=True, help="Trust a host seen for the first time and record its "
                                                            "key; a changed key is always refused.")
@click.option("--known-hosts", multiple=True, metavar="FILE", help="Extra known_hosts file to trust.")
@click.option("--ssh-config", metavar="FILE", help="OpenSSH client config (default ~/.ssh/config).")
@click.option("--ticket", metavar="ID", help="Ticket this session is for (recorded in the journal).")
@click.option("--operator", metavar="NAME", help="Who works, if not the OS user (recorded).")
@journal_option
def shell(host, inventories, become, become_user, record_input, idle_timeout, connect_timeout,
          accept_new_host_keys, known_hosts, ssh_config, ticket, operator, journal_url) -> None:
    """An interactive terminal on HOST, recorded into the journal as it goes (replay it with `sessions play`).

    The same inventory, ssh_config, host keys, bastions and credentials as every run. The exit code is the
    remote shell's (4: unreachable, 5: bad input, 99: ended by a signal on this side).
    """
    from ..api import RunRequest
    from ..errors import ConnectError
    from ..results import EXIT_FAILED, EXIT_UNREACHABLE
    from ..sessions.shell import ShellOptions, parse_duration, start_shell

    idle = parse_duration(idle_timeout)
    request = RunRequest(kind="session", what=host, inventory=tuple(inventories), pattern=host, become=become,
                         become_user=become_user, connect_timeout=connect_timeout,
                         accept_new_host_keys=accept_new_host_keys, known_hosts=tuple(known_hosts),
                         ssh_config=ssh_config, ticket=ticket, operator=operator, journal=journal_url)
    try:
        run_id, end = start_shell(request, ShellOptions(record_input=record_input, idle_timeout=idle or None),
                                  say=lambda m: click.echo(m, err=True))
    except ConnectError as exc:
        click.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(EXIT_UNREACHABLE if exc.unreachable else EXIT_FAILED)
    status = f"exit status {end.exit_status}" if end.exit_status is not None else end.status.value
    click.echo(f"\r\nremote-support: session {run_id} ended ({status}{': ' + end.reason if end.reason else ''}); "
               f"replay it with `remote-support sessions play {run_id}`", err=True)
    sys.exit(end.exit_code)


@click.group(cls=Group, epilog="""Examples:
  remote-support sessions list --host pc-042
  remote-support sessions play 20261124-2213-7f3a --speed 2
  remote-support sessions export 20261124-2213-7f3a -o INC-1234.cast
  remote-support sessions search 'No space left'""")
def sessions() -> None:
    """Recorded terminal sessions (`remote-support shell`): list, replay, export, search."""


def _journal(url):
    from ..journal import Journal

    return Journal.open(url)


@sessions.command(name="list", epilog="""Examples:
  remote-support sessions list
  remote-support sessions list --ticket INC-1234 --json""")
@click.option("--host", help="Sessions on this host (glob with *).")
@click.option("--ticket", help="Sessions for this ticket.")
@click.option("--operator", help="Sessions by this operator or OS user.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@journal_option
def sessions_list(host, ticket, operator, limit, as_json, journal_url) -> None:
    """Recorded sessions, newest first: id, host, ticket, who, start, duration, status."""
    records = _journal(journal_url).list_runs(host=host, ticket=ticket, operator=operator, limit=limit,
                                              kind="session")
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=2, default=str))
        return
    if not records:
        click.echo("no recorded sessions (start one with `remote-support shell HOST`)", err=True)
        return
    click.echo(f"{'SESSION':<21} {'HOST':<16} {'TICKET':<12} {'WHO':<16} {'STARTED (UTC)':<19} {'LENGTH':>7} STATUS")
    for r in records:
        length = f"{r.duration:.0f}s" if r.duration is not None else "-"
        click.echo(f"{r.id:<21} {r.pattern:<16} {r.ticket or '-':<12} {r.who:<16} "
                   f"{r.started_at:%Y-%m-%d %H:%M:%S} {length:>7} {r.status}")


@sessions.command(name="play", epilog="""Examples:
  remote-support sessions play 20261124-2213-7f3a
  remote-support sessions play 20261124-2213 --speed 4 --idle-limit 1""")
@click.argument("run_id", metavar="SESSION")
@click.option("--speed", type=float, default=1.0, show_default=True, help="Play N times faster.")
@click.option("--idle-limit", type=float, default=2.0, show_default=True, metavar="S",
              help="Shorten pauses longer than S seconds (0: keep them).")
@journal_option
def sessions_play(run_id, speed, idle_limit, journal_url) -> None:
    """Replay a recorded session in this terminal, with its timing."""
    from ..sessions.cast import load_cast, play

    cast = load_cast(_journal(journal_url), run_id)
    sys.stdout.flush()
    play(cast, speed=speed, idle_limit=idle_limit or None)


@sessions.command(name="export", epilog="""Examples:
  remote-support sessions export 20261124-2213-7f3a -o INC-1234.cast
  asciinema play INC-1234.cast""")
@click.argument("run_id", metavar="SESSION")
@click.option("-o", "--output", "out", required=True, metavar="FILE", help="The .cast file to write ('-': stdout).")
@journal_option
def sessions_export(run_id, out, journal_url) -> None:
    """Write a session as an asciicast v2 file (asciinema play, asciinema-player)."""
    from ..errors import UsageError
    from ..sessions.cast import load_cast

    text = load_cast(_journal(journal_url), run_id).text()
    if out == "-":
        click.echo(text, nl=False)
        return
    import os

    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError(f"-o {out}: cannot write it: {exc.strerror or exc}") from None
    click.echo(f"wrote {out}", err=True)


@sessions.command(name="search", epilog="""Examples:
  remote-support sessions search 'No space left on device'
  remote-support sessions search nginx --json""")
@click.argument("text")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@journal_option
@click.pass_context
def sessions_search(ctx, text, limit, as_json, journal_url) -> None:
    """Sessions whose screen showed TEXT (as the technician saw it), best matches first: the same as
    `runs search TEXT --kind session`."""
    from .journal import runs_search

    ctx.invoke(runs_search, text=text, kind="session", limit=limit, as_json=as_json, journal_url=journal_url)