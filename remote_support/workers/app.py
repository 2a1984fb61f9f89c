"""The Celery application of the site workers and the controller's side of the broker.

Celery (with kombu) is the distributed engine: RabbitMQ for teams, Redis accepted for a lab. Settings that
make delivery at-least-once and a redelivery harmless (the lease in the journal does the rest):
``task_acks_late`` (a message is acknowledged when its part has ended, so a dead worker's part is delivered
again), ``task_reject_on_worker_lost``, ``worker_prefetch_multiplier = 1`` (a busy worker holds no second
part hostage). Results go to the journal, not to a Celery result backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import BrokerError
from .config import redacted
from .messages import TASK_NAME
from .routing import queue_of

if TYPE_CHECKING:
    from celery import Celery

#: seconds Redis waits before delivering an unacknowledged message again (a part longer than this is
#: delivered twice; the lease makes the second wait for the first): above the longest part
REDIS_VISIBILITY_TIMEOUT = 3600


def _celery():
    try:
        import celery
    except ImportError:
        raise BrokerError("site workers need Celery: pip install 'remote-support[workers]'") from None
    return celery


def make_app(broker: str, *, visibility_timeout: float | None = None) -> "Celery":
    celery = _celery()
    app = celery.Celery("remote_support", broker=broker, set_as_current=False)
    options: dict[str, Any] = {}
    if broker.startswith(("redis://", "rediss://", "redis+socket://")):
        options["visibility_timeout"] = visibility_timeout or REDIS_VISIBILITY_TIMEOUT
    app.conf.update(
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_serializer="json", accept_content=["json"], task_ignore_result=True, result_backend=None,
        broker_transport_options=options, broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker outlives a broker restart
        # a lost broker connection must not cut a running part: its message is delivered again, and the
        # redelivery waits on the lease until this part ends
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False, worker_send_task_events=True, task_send_sent_event=False,
        task_create_missing_queues=True,
    )
    return app


def check_broker(url: str, timeout: float = 5.0) -> None:
    """Connect once; a broker that cannot be reached is an error naming its URL and what to start."""
    _celery()
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=timeout, transport_options={"max_retries": 0}) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:  # kombu raises the transport's own errors (socket, AMQP, Redis)
        kind = "Redis (redis-server)" if url.startswith("redis") else "RabbitMQ (rabbitmq-server)"
        raise BrokerError(f"the broker {redacted(url)} cannot be reached ({type(exc).__name__}: {exc}): start "
                          f"{kind} there, or point --broker / $REMOTE_SUPPORT_BROKER at a running broker") from None


def send_part(app: "Celery", site: str, body: dict[str, Any]) -> str:
    """Publish one part to its site's queue (declared durable, so it waits there for a worker)."""
    from kombu import Exchange, Queue

    queue = Queue(queue_of(site), Exchange(queue_of(site), type="direct"), routing_key=queue_of(site),
                  durable=True)
    try:
        result = app.send_task(TASK_NAME, args=[body], queue=queue, routing_key=queue_of(site),
                               declare=[queue], retry=True,
                               retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5})
    except Exception as exc:
        raise BrokerError(f"the part for site {site} could not be sent to {redacted(app.conf.broker_url)} "
                          f"({type(exc).__name__}: {exc}): start the broker there, then `runs resume` the run") from None
    return result.id


def site_queue(site: str):
    from kombu import Exchange, Queue

    return Queue(queue_of(site), Exchange(queue_of(site), type="direct"), routing_key=queue_of(site), durable=True)
