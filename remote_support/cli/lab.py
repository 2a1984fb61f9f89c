"""``lab up/down/status/inventory``: the practice lab."""

from __future__ import annotations

import click

from .common import Group


@click.group(cls=Group, epilog="""Examples:
  remote-support lab up 20 && remote-support lab status
  remote-support exec all -i "$(remote-support lab inventory)" -- uptime
  remote-support lab down""")
def lab() -> None:
    """A practice lab of real OpenSSH hosts on this machine's loopback addresses."""


def _labs(network: str = "127.42.0.0"):
    """The three parts of the practice lab: SSH hosts, emulated switches, WinRM endpoints.

    Switches live two second-octets above the Linux hosts (127.42.x -> 127.44.x) on the same port."""
    from ..lab import Lab
    from ..lab.netlab import NetLab
    from ..lab.winlab import WinLab

    first, second, *_ = network.split(".")
    return Lab(network=network), NetLab(network=f"{first}.{int(second) + 2}.0.0"), WinLab()


def _lab_inventory_dir():
    """One directory naming every running part's inventory, for a single -i."""
    from ..connections.base import data_dir

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
  remote-support lab up 0 --switches 5 --switch-models ios,eos,fastiron,os6,junos
  export REMOTE_SUPPORT_INVENTORY=$(remote-support lab inventory)""")
@click.argument("count", type=int, default=5)
@click.option("--switches", type=int, default=0, help="Also start this many emulated switches.")
@click.option("--switch-models", default="ios", show_default=True, metavar="M1,M2",
              help="Switch models dealt out in turn: ios, eos, fastiron, os6, junos (NETCONF).")
@click.option("--windows", type=int, default=0, help="Also start this many WinRM (Windows) endpoints.")
@click.option("--network", default="127.42.0.0", show_default=True, metavar="127.X.0.0",
              help="Loopback range of the Linux hosts; switches use 127.(X+2).")
def lab_up(count: int, switches: int, switch_models: str, windows: int, network: str) -> None:
    """Start COUNT sshd hosts (lab-001...), optional switches and Windows endpoints, with their inventory."""
    from ..errors import UsageError
    from ..lab.netlab import NetLabError
    from ..lab.netlab import switch_models as known_models

    try:
        known_models(switch_models)
    except NetLabError as exc:
        raise UsageError(f"--switch-models: {exc}") from None

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
        devices = net.up(switches, models=switch_models)
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


def register(cli: click.Group) -> None:
    cli.add_command(lab)
