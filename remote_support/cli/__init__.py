"""The `remote-support` command line: option parsing and printing over :mod:`remote_support.api`.

One module per command group (``run`` for exec/run/resume/retry, ``tasks``, ``journal`` for runs/hosts/
report, ``inventory``, ``lab``, ``config``, ``session`` for shell/sessions, ``serve`` for the web view, ``users`` for its
accounts, ``workers`` for site workers). Only click is imported at start-up; everything else is
imported by the command that needs it, so `remote-support --help` stays fast.
"""

from __future__ import annotations

import sys
from typing import Sequence

import click

from .. import __version__
from .common import Group, State

EXAMPLES = """Examples:
  remote-support lab up 5 && export REMOTE_SUPPORT_INVENTORY=$(remote-support lab inventory)
  remote-support exec all -- uptime
  remote-support exec 'lab:!lab-003' -f 50 --become -- systemctl is-active ssh
  remote-support run flush-dns -l pc-042 --ticket INC-1234
  remote-support inventory list -i inventories/example.yml -l workstations"""


@click.group(cls=Group, epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="remote-support")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
def cli(debug: bool) -> None:
    """Run commands and tasks on many hosts over SSH, WinRM and network CLIs, and record what happened."""
    State.debug = debug
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(threadName)s %(name)s: %(message)s")
        logging.getLogger("paramiko").setLevel(logging.INFO)


from . import config, inventory, journal, lab, run, serve, session, tasks, users, workers  # noqa: E402 - each adds its commands

for _module in (run, tasks, journal, inventory, lab, config, workers, session, serve, users):
    _module.register(cli)


def _print_own_warnings() -> None:
    """The tool's warnings (``warnings.warn`` with a category from remote_support, e.g. PatternWarning) as
    one ``warning:`` line on stderr, like Ansible's [WARNING], instead of Python's file:line format."""
    import warnings

    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001 (warnings' signature)
        if category.__module__.startswith("remote_support"):
            click.secho(f"warning: {message}", fg="yellow", err=True)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: errors become one clear line and an Ansible-style exit code."""
    from ..results import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED

    _print_own_warnings()
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
    except BrokenPipeError:
        _quiet_broken_pipe()
    except Exception as exc:
        from ..errors import RemoteSupportError

        if State.debug:
            import traceback

            traceback.print_exc()
        if isinstance(exc, RemoteSupportError):
            from ..output import printable  # an error may quote a file or a host: no escape codes

            click.secho(f"error: {printable(str(exc))}", fg="red", err=True)
            sys.exit(exc.exit_code)
        click.secho(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)",
                    fg="red", err=True)
        sys.exit(EXIT_INTERNAL)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_broken_pipe()
    sys.exit(0)


def _quiet_broken_pipe() -> None:
    """``remote-support ... | head`` ends quietly, as cat does: the reader has all it wanted."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python flushes stdout at exit: let that go nowhere
    except (OSError, ValueError):
        pass
    sys.exit(0)
