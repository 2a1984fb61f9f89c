"""What every command group shares: the options spelled as Ansible's, the consoles, the help format."""

from __future__ import annotations

from typing import Any

import click

from ..api import INVENTORY_ENV


class State:
    debug = False


def _format_epilog(self, ctx, formatter) -> None:
    # Examples are shown as written: click would re-wrap them into one paragraph.
    if self.epilog:
        formatter.write("\n" + self.epilog.rstrip() + "\n")


class Command(click.Command):
    format_epilog = _format_epilog


class Group(click.Group):
    format_epilog = _format_epilog
    command_class = Command
    group_class = type  # subgroups are Group too


def inventory_option(func):
    return click.option(
        "-i", "--inventory", "inventories", multiple=True, metavar="PATH",
        help=f"Inventory file or directory (repeat to merge). Default: ${INVENTORY_ENV} (':'-separated).",
    )(func)


journal_option = click.option(
    "--journal", "journal_url", metavar="URL", envvar="REMOTE_SUPPORT_JOURNAL",
    help="Journal: a SQLite file or sqlite:///PATH, postgresql://user@host/db "
         "(default $REMOTE_SUPPORT_JOURNAL, else journal.sqlite in the data directory).")


def connection_options(func=None, *, rerun: bool = False):
    """The options of every command that runs things. For ``runs resume/retry`` (``rerun``) they have no
    defaults: what is not given comes from the recorded run."""

    def default(value):
        return None if rerun else value

    def decorate(func):
        options = [
            click.option("-f", "--forks", type=int, default=default(20), show_default=not rerun,
                         help="Hosts worked on at once."),
            click.option("--serial", metavar="N|N%|LIST", help="Run in batches, e.g. 10, 25% or 1,5,25%."),
            click.option("--max-fail-percentage", type=float, metavar="PCT",
                         help="Stop starting hosts once more than PCT% of a batch has failed."),
            click.option("-b", "--become", is_flag=True, default=default(False), flag_value=True,
                         help="Run with sudo (to --become-user)."),
            click.option("--become-user", metavar="USER", help="User to become (default: root)."),
            click.option("-K", "--ask-become-pass", is_flag=True, help="Prompt once for the sudo password."),
            click.option("--timeout", "command_timeout", type=float, metavar="S",
                         help="Stop a command that runs longer than S seconds."),
            click.option("--connect-timeout", type=float, default=default(10.0), show_default=not rerun,
                         metavar="S", help="Give up reaching a host after S seconds."),
            click.option("--host-timeout", type=float, metavar="S",
                         help="Overall limit per host, from connect to the last command."),
            click.option("--accept-new-host-keys", is_flag=True, default=default(False), flag_value=True,
                         help="Trust hosts seen for the first time and record their keys; changed keys are "
                              "always refused."),
            click.option("--known-hosts", multiple=True, metavar="FILE", help="Extra known_hosts file to trust."),
            click.option("--ssh-config", metavar="FILE", help="OpenSSH client config (default ~/.ssh/config)."),
            click.option("--insecure", is_flag=True, default=default(False), flag_value=True,
                         help="Do not verify TLS certificates of WinRM hosts (a lab only; noted in the journal)."),
            click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout."),
            click.option("--ticket", metavar="ID", help="Ticket this run is for (recorded in the journal)."),
            click.option("--operator", metavar="NAME", help="Who runs this, if not the OS user (recorded)."),
            click.option("--site", metavar="NAME", help="Only the hosts at this site (their `site` variable)."),
            journal_option,
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate(func) if func is not None else decorate


def request_fields(opts: dict[str, Any]) -> dict[str, Any]:
    """The RunRequest fields the shared options give (None where an option was not given)."""
    fields = {name: opts.get(name) for name in (
        "forks", "serial", "max_fail_percentage", "become", "become_user", "command_timeout", "connect_timeout",
        "host_timeout", "accept_new_host_keys", "ssh_config", "insecure", "ticket", "operator", "site")}
    if opts.get("known_hosts"):
        fields["known_hosts"] = tuple(opts["known_hosts"])
    if opts.get("ask_become_pass"):
        fields["become_password"] = "prompt:BECOME password"
    return fields


def consoles():
    """stdout for results, stderr for progress and summaries."""
    from rich.console import Console

    class QuietOnBrokenPipe(Console):
        def on_broken_pipe(self) -> None:
            # `remote-support ... | head`: the reader has what it wanted. Rich would exit 1 here; go on
            # quietly instead (the rest goes nowhere) and end with the run's own exit code.
            import os
            import sys

            self.quiet = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, (sys.stderr if self.stderr else sys.stdout).fileno())

    out = QuietOnBrokenPipe(highlight=False, soft_wrap=False)
    err = QuietOnBrokenPipe(stderr=True, highlight=False)
    return out, err
