"""The run journal's commands: ``runs ...``, ``hosts history``, ``report``."""

from __future__ import annotations

import json

import click

from .common import Command, Group, consoles, journal_option


def _journal(url: str | None):
    from ..journal import Journal

    return Journal.open(url)


def _since(text: str | None):
    """``2d``, ``12h``, ``30m`` ago, or an ISO date/time."""
    if not text:
        return None
    import re
    from datetime import datetime, timedelta

    from ..errors import UsageError

    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        unit_name = {"d": "days", "h": "hours", "m": "minutes"}[unit]
        return datetime.now() - timedelta(**{unit_name: amount})
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since {text!r}: write 2d, 12h, 30m or a date such as 2026-11-24") from None


@click.group(cls=Group, epilog="""Examples:
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
    from ..output import print_run_list

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
    from ..errors import UsageError

    journal = _journal(journal_url)
    if step is not None:
        if not host:
            raise UsageError("--step needs --host: steps are numbered per host")
        record = journal.get_step(run_id, host, step)
        if as_json:
            click.echo(json.dumps(record.to_dict(), indent=2, default=str))
            return
        from ..output import print_step_record

        print_step_record(consoles()[0], record)
        return
    record = journal.get_run(run_id, host=host)
    if as_json:
        click.echo(json.dumps(record.to_dict(), indent=2, default=str))
        return
    from ..output import print_run_record

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
  remote-support runs escalate --ticket INC-1234 --to L3 --note "four runs, still locked out"
  remote-support runs escalate 20261124-2213 --to vendor --note "..." -o ~/tickets/INC-1234/""")
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--ticket", help="Escalate every run of this ticket in one bundle (instead of RUN).")
@click.option("--to", "to", required=True, help="Who takes over: L3, vendor, network team...")
@click.option("--note", required=True, help="What they need to know.")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="A file to add to the evidence (fetched logs...); repeat.")
@click.option("-o", "--output", type=click.Path(), help="Directory or .zip path for the evidence bundle.")
@click.option("--operator", metavar="NAME", help="Who escalates, if not the OS user.")
@journal_option
def runs_escalate(run_id, ticket, to, note, files, output, operator, journal_url) -> None:
    """Record an escalation and write an evidence bundle (zip: report, raw outputs, facts, files) of a run,
    or of every run of a ticket."""
    from ..errors import UsageError
    from ..handover import escalate, escalate_ticket

    if bool(run_id) == bool(ticket):
        raise UsageError("runs escalate: give a RUN or --ticket T (one of them)")
    journal = _journal(journal_url)
    if ticket:
        bundle = escalate_ticket(journal, ticket, to, note, author=operator, files=list(files), out=output)
        click.echo(f"escalated ticket {ticket} to {to}; evidence: {bundle}")
        return
    bundle = escalate(journal, run_id, to, note, author=operator, files=list(files), out=output)
    click.echo(f"escalated run {journal.resolve(run_id)} to {to}; evidence: {bundle}")


@runs.command(name="search", epilog="""Examples:
  remote-support runs search NT_STATUS_ACCOUNT_LOCKED_OUT
  remote-support runs search "disk full" --kind note --json""")
@click.argument("text")
@click.option("--kind", type=click.Choice(["step", "note", "escalation", "session"]),
              help="Only step output, notes, escalations or session screen text.")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@journal_option
def runs_search(text, kind, limit, as_json, journal_url) -> None:
    """Search past work: step output, notes, escalations and session screen text, best matches first, with
    their ticket."""
    from ..journal_search import search

    hits = search(_journal(journal_url), text, kind=kind, limit=limit)
    if as_json:
        click.echo(json.dumps([h.to_dict() for h in hits], indent=2))
        return
    if not hits:
        click.echo(f"nothing found for {text!r}", err=True)
        return
    for hit in hits:
        data = hit.to_dict()
        where = f"{hit.kind}" + (f" {hit.host} step {hit.ref}" if hit.kind == "step" else "")
        click.echo(f"{hit.run_id}  {hit.ticket or '-':<12} {hit.run_name}  ({where})")
        for line in " ".join(data["snippet"].split()).splitlines() or [""]:
            click.echo(f"    {line[:200]}")


@click.group(cls=Group, epilog="""Examples:
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
    from ..output import print_history

    print_history(consoles()[0], host, entries)


@click.command(cls=Command, epilog="""Examples:
  remote-support report 20261124-2213 -o INC-1234.html
  remote-support report --ticket INC-1234 -o INC-1234.html
  remote-support report 20261124-2213 --format junit -o results.xml""")
@click.argument("run_id", metavar="[RUN]", required=False)
@click.option("--ticket", help="Every run of this ticket in one report, oldest first (html or json).")
@click.option("--format", "fmt", type=click.Choice(["html", "json", "junit"]), default="html", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File to write (default: stdout).")
@journal_option
def report(run_id, ticket, fmt, output, journal_url) -> None:
    """Write a run (or a whole ticket) as a self-contained HTML page, JSON, or JUnit XML for CI systems."""
    from .. import report as reports
    from ..errors import UsageError

    if bool(run_id) == bool(ticket):
        raise UsageError("report: give a RUN or --ticket T (one of them)")
    if ticket:
        from ..handover import render_ticket_html, render_ticket_json, ticket_runs

        if fmt == "junit":
            raise UsageError("report --ticket writes html or json; JUnit is per run: report RUN --format junit")
        records = ticket_runs(_journal(journal_url), ticket)
        text = (render_ticket_html if fmt == "html" else render_ticket_json)(ticket, records)
        what = f"ticket {ticket} ({len(records)} runs)"
    else:
        record = _journal(journal_url).get_run(run_id, full_output=True)
        text = {"html": reports.render_html, "json": reports.render_json, "junit": reports.render_junit}[fmt](record)
        what = f"run {record.id}"
    if output:
        reports.write_report(output, text)  # 0600: raw outputs, as the evidence zip
        click.echo(f"report of {what} written to {output}", err=True)
    else:
        click.echo(text)


def register(cli: click.Group) -> None:
    from .run import rerun_command

    runs.add_command(rerun_command(
        "resume", "Run an interrupted run again on exactly the hosts that did not finish, in the same run, "
                  "with the options it was started with (options given here override them).",
        """Examples:
  remote-support runs resume 20261124-2213-7f3a
  remote-support runs resume 20261124-2213-7f3a -f 50"""))
    runs.add_command(rerun_command(
        "retry", "Run a run again on its failed and unreachable hosts, as a new run linked to the first, with "
                 "the options it was started with (options given here override them).",
        """Examples:
  remote-support runs retry 20261124-2213-7f3a"""))
    cli.add_command(runs)
    cli.add_command(hosts)
    cli.add_command(report)
