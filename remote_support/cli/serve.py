"""``serve``: the team's web view and JSON API over the journal."""

from __future__ import annotations

import click

from .common import inventory_option, journal_option


def _listen(text: str) -> tuple[str, int]:
    from ..errors import UsageError

    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {text!r}: write HOST:PORT, e.g. 127.0.0.1:8470 or 0.0.0.0:8470")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command(epilog="""Examples:
  remote-support users add lead --level 3 --approver     # the first account, on the command line
  remote-support serve                                     # http://127.0.0.1:8470, this machine only
  remote-support serve --listen 0.0.0.0:8470 --cert site.pem --key site.key --journal postgresql://rs@db/rs""")
@click.option("--listen", default="127.0.0.1:8470", show_default=True, metavar="HOST:PORT",
              help="Where to listen; loopback unless you say otherwise.")
@click.option("--cert", type=click.Path(exists=True, dir_okay=False), help="TLS certificate (PEM); with --key.")
@click.option("--key", type=click.Path(exists=True, dir_okay=False), help="TLS private key (PEM).")
@inventory_option
@journal_option
def serve(listen, cert, key, inventories, journal_url) -> None:
    """Serve the web view (ticket, host timeline, runs, escalations, compliance, search, runs started from
    the browser) and its JSON API (/api/..., OpenAPI at /api/openapi.json)."""
    from ..errors import UsageError

    try:
        import uvicorn

        from ..web.app import create_app
    except ImportError as exc:
        raise UsageError(f"the web view needs the `web` extra ({exc.name} is missing): "
                         "pip install 'remote-support[web]'") from None
    if bool(cert) != bool(key):
        raise UsageError("--cert and --key go together: give both for TLS, or neither")
    host, port = _listen(listen)
    from ..journal import Journal
    from ..journal_people import People

    journal = Journal.open(journal_url)
    people = People(journal)
    app = create_app(journal, inventory=list(inventories), tls=bool(cert), people=people)
    scheme = "https" if cert else "http"
    where = ("loopback only: other machines cannot connect (--listen 0.0.0.0:PORT serves the network)"
             if _is_loopback(host) else f"on {host}: reachable from other machines"
                                        + ("" if cert else "; without TLS (--cert/--key) passwords cross the "
                                                           "network in clear text"))
    click.echo(f"remote-support web view at {scheme}://{host}:{port}/ ({where}); journal {journal.where}", err=True)
    if not people.count_users():
        click.echo("no accounts yet: make the first with `remote-support users add NAME --level 3 --approver`",
                   err=True)
    try:
        uvicorn.run(app, host=host, port=port, ssl_certfile=cert, ssl_keyfile=key, log_level="warning",
                    access_log=False, timeout_graceful_shutdown=5)
    finally:
        app.state.registry.stop_all()
        journal.close()


def register(cli: click.Group) -> None:
    cli.add_command(serve)
