"""``inventory list``: which hosts, which groups, which variables."""

from __future__ import annotations

import json

import click

from .common import Group, consoles, inventory_option


@click.group(cls=Group, epilog="""Examples:
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
    from ..secrets import MASK

    from ..api import load_hosts

    loaded, hosts = load_hosts(inventories, pattern)
    for warning in loaded.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if as_json:
        data = {h.name: {"groups": list(h.groups), "source": h.source, "vars": MASK.variables(dict(h.vars))}
                for h in hosts}
        click.echo(json.dumps(data, indent=2, default=str))
        return
    from rich.markup import escape
    from rich.table import Table

    from ..output import printable

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
        table.add_row(*(escape(printable(str(c))) for c in row))
    out.print(table)
    out.print(f"[dim]{len(hosts)} hosts[/]")


def register(cli: click.Group) -> None:
    cli.add_command(inventory)
