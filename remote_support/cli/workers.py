"""``remote-support worker`` (a site worker) and ``remote-support workers`` (who is listening where)."""

from __future__ import annotations

import json
import sys

import click

from .common import Command, journal_option


def register(cli: click.Group) -> None:
    cli.add_command(worker)
    cli.add_command(workers)


broker_option = click.option("--broker", metavar="URL", help="Broker: amqp://USER:PASSWORD@HOST:5672// (RabbitMQ) or "
                             "redis://HOST:6379/0 (default $REMOTE_SUPPORT_BROKER, else broker: in the workers config).")


@click.command(cls=Command, epilog="""Examples:
  export REMOTE_SUPPORT_BROKER=amqp://support:secret@mq.example.org:5672//
  export REMOTE_SUPPORT_JOURNAL=postgresql://support@db.example.org/journal
  remote-support worker --site branch-north --concurrency 4
  remote-support worker --site lab --broker redis://127.0.0.1:6379/0 -i /etc/remote-support/inventory""")
@click.option("--site", required=True, metavar="NAME", help="The site whose queue (site.NAME) this worker consumes.")
@broker_option
@journal_option
@click.option("--concurrency", type=int, default=2, show_default=True, help="Parts run at once.")
@click.option("-i", "--inventory", "inventories", multiple=True, metavar="PATH",
              help="This site's inventory (default: the paths the controller's request names).")
@click.option("--lease-ttl", type=float, metavar="S", help="Seconds a lease lives without a heartbeat (default 30).")
@click.option("--loglevel", default="INFO", show_default=True, help="Celery's log level.")
def worker(site: str, broker: str | None, journal_url: str | None, concurrency: int, inventories,
           lease_ttl: float | None, loglevel: str) -> None:
    """Run the parts of runs sent to site NAME, recording into the shared journal (Celery worker)."""
    from ..errors import UsageError
    from ..journal import Journal
    from ..workers.app import check_broker, make_app, site_queue
    from ..workers.config import load_settings
    from ..workers.routing import SITE_NAME
    from ..workers.task import WorkerContext, configure, register as register_task

    if not SITE_NAME.match(site):
        raise UsageError(f"--site {site!r}: not a site name (letters, digits, '.', '-', '_')")
    if concurrency < 1:
        raise UsageError(f"--concurrency {concurrency}: must be 1 or more")
    settings = load_settings()
    broker = broker or settings.broker
    journal_url = journal_url or settings.journal
    if not broker:
        raise UsageError("a worker needs a broker: pass --broker URL or set $REMOTE_SUPPORT_BROKER")
    if not journal_url:
        raise UsageError("a worker records into the journal its controllers read: pass --journal "
                         "postgresql://USER@HOST/DB or set $REMOTE_SUPPORT_JOURNAL")
    Journal.open(journal_url).close()  # bad URL, unreachable or newer schema: say so now
    check_broker(broker)
    ttl = lease_ttl or settings.lease_ttl
    context = WorkerContext(site=site, journal_url=journal_url, lease_ttl=ttl, inventory=tuple(inventories))
    configure(context)
    app = make_app(broker, visibility_timeout=settings.visibility_timeout)
    app.conf.task_queues = [site_queue(site)]
    register_task(app)
    click.echo(f"worker {context.name}: site {site}, queue site.{site}, {concurrency} part(s) at once, lease "
               f"{ttl:g} s", err=True)
    app.worker_main(["worker", "-Q", f"site.{site}", "-n", context.name, "-P", "threads", "-c", str(concurrency),
                     "--without-gossip", "--without-mingle", "-l", loglevel, "-E"])


@click.command(cls=Command, epilog="""Examples:
  remote-support workers
  remote-support workers --broker redis://127.0.0.1:6379/0 --json
  celery --broker amqp://guest:guest@127.0.0.1:5672// flower --address=127.0.0.1   # tasks and queues in a browser""")
@broker_option
@click.option("--site", "sites", multiple=True, metavar="NAME", help="Also show this site's queue (repeat).")
@click.option("--timeout", type=float, default=2.0, show_default=True, help="Seconds to wait for the workers' answers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
def workers(broker: str | None, sites, timeout: float, as_json: bool) -> None:
    """Live site workers (Celery ping) and the depth of each site's queue."""
    from ..errors import UsageError
    from ..workers.config import load_settings, redacted
    from ..workers.status import survey

    settings = load_settings()
    broker = broker or settings.broker
    if not broker:
        raise UsageError("no broker: pass --broker URL or set $REMOTE_SUPPORT_BROKER")
    found = survey(broker, extra_sites=tuple(sites) + tuple(settings.sites or ()), timeout=timeout)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"broker {redacted(broker)}")
    if not found["sites"]:
        click.echo("no live worker and no known site queue (start `remote-support worker --site NAME`)")
    for site, info in sorted(found["sites"].items()):
        depth = "?" if info["queued"] is None else str(info["queued"])
        click.echo(f"site {site}: {len(info['workers'])} live worker(s), {depth} message(s) queued")
        for name in info["workers"]:
            click.echo(f"  {name}")
    sys.stdout.flush()
