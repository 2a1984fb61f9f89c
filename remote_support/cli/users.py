"""``users add|passwd|token|list|set``: the accounts of the web view and API, kept in the journal."""

from __future__ import annotations

import click

from .common import journal_option


def _people(url: str | None):
    from ..journal import Journal
    from ..journal_people import People

    return People(Journal.open(url))


def _password(prompt: str, from_env: str | None) -> str:
    import os

    from ..errors import UsageError

    if from_env:
        value = os.environ.get(from_env)
        if not value:
            raise UsageError(f"--password-env {from_env}: that environment variable is not set")
        return value
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True, err=True)


@click.group(epilog="""Examples:
  remote-support users add alice --level 1
  remote-support users add lead --level 3 --approver
  remote-support users token alice""")
def users() -> None:
    """Accounts of `remote-support serve`: support level (0 viewer, 1-3), approver role, API tokens."""


@users.command(name="add", epilog="""Examples:
  remote-support users add alice --level 1
  remote-support users add viewer1 --level 0
  RS_PW=... remote-support users add lead --level 3 --approver --password-env RS_PW""")
@click.argument("name")
@click.option("--level", type=click.IntRange(0, 3), required=True,
              help="0 viewer (reads, notes), 1-3: runs tasks whose level is at most this.")
@click.option("--approver", is_flag=True, help="May approve runs of tasks that require approval.")
@click.option("--password-env", metavar="VAR", help="Take the password from this environment variable "
                                                     "(default: prompt).")
@journal_option
def users_add(name, level, approver, password_env, journal_url) -> None:
    """Create an account (the first one is always made here, on the command line)."""
    people = _people(journal_url)
    user = people.add_user(name, _password(f"password for {name}", password_env), level=level, approver=approver)
    people.audit("cli:" + _os_user(), "user.add", user.name, {"level": level, "approver": approver})
    click.echo(f"user {user.name} added ({user.role})", err=True)


@users.command(name="passwd", epilog="""Examples:
  remote-support users passwd alice""")
@click.argument("name")
@click.option("--password-env", metavar="VAR", help="Take the password from this environment variable.")
@journal_option
def users_passwd(name, password_env, journal_url) -> None:
    """Set a new password (ends the user's web sessions and lifts a login lockout)."""
    people = _people(journal_url)
    people.set_password(name, _password(f"new password for {name}", password_env))
    people.audit("cli:" + _os_user(), "user.passwd", name)
    click.echo(f"password of {name} changed", err=True)


@users.command(name="set", epilog="""Examples:
  remote-support users set alice --level 2
  remote-support users set lead --approver""")
@click.argument("name")
@click.option("--level", type=click.IntRange(0, 3))
@click.option("--approver/--no-approver", default=None)
@journal_option
def users_set(name, level, approver, journal_url) -> None:
    """Change a user's level or approver role."""
    people = _people(journal_url)
    user = people.set_role(name, level=level, approver=approver)
    people.audit("cli:" + _os_user(), "user.set", name, {"level": level, "approver": approver})
    click.echo(f"user {user.name}: {user.role}", err=True)


@users.command(name="token", epilog="""Examples:
  export REMOTE_SUPPORT_TOKEN=$(remote-support users token alice --label ticket-system)
  curl -H "Authorization: Bearer $REMOTE_SUPPORT_TOKEN" http://127.0.0.1:8470/api/runs""")
@click.argument("name")
@click.option("--label", default="api", show_default=True, help="What the token is for.")
@click.option("--days", type=int, default=365, show_default=True, help="Valid this many days (0: no expiry).")
@journal_option
def users_token(name, label, days, journal_url) -> None:
    """Make an API token for NAME and print it (once: only its hash is kept)."""
    people = _people(journal_url)
    token = people.new_token(name, label, days=days or None)
    people.audit("cli:" + _os_user(), "token.new", name, {"label": label, "days": days})
    click.echo(token)


@users.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@journal_option
def users_list(as_json, journal_url) -> None:
    """List the accounts with their level and role."""
    import json

    found = _people(journal_url).list_users()
    if as_json:
        click.echo(json.dumps([u.to_dict() for u in found], indent=2))
        return
    if not found:
        click.echo("no users yet: remote-support users add NAME --level N", err=True)
    for user in found:
        click.echo(f"{user.name:<20} {user.role}" + ("  (disabled)" if user.disabled else ""))


def _os_user() -> str:
    from ..journal import os_user

    return os_user()


def register(cli: click.Group) -> None:
    cli.add_command(users)
