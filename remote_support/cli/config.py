"""``config history/diff/show``: network device configs kept by backup steps."""

from __future__ import annotations

import json

import click

from .common import Group, journal_option
from .journal import _journal


@click.group(cls=Group, epilog="""Examples:
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
    journal = _journal(journal_url)
    if old is None and new is None:
        versions = journal.config_versions(device, limit=2)
        if len(versions) == 1:
            [only] = versions
            click.echo(f"{device} has one config version so far ({only.label}): nothing to compare it with yet. "
                       f"Back it up again after a change (remote-support run net-backup -l {device}), or see it "
                       f"with remote-support config show {device}", err=True)
            return
    text = journal.config_diff(device, old, new)
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


def register(cli: click.Group) -> None:
    cli.add_command(config)
