"""What ``remote-support workers`` shows: live workers per site (Celery's ping) and queue depths."""

from __future__ import annotations

from typing import Any

from .app import check_broker, make_app
from .config import redacted


def survey(broker: str, *, extra_sites: tuple[str, ...] = (), timeout: float = 2.0) -> dict[str, Any]:
    """{"sites": {site: {"workers": [name, ...], "queued": N | None}}} for every site with a live worker or
    named in ``extra_sites``."""
    check_broker(broker)
    app = make_app(broker)
    try:
        inspect = app.control.inspect(timeout=timeout)
        alive = set((inspect.ping() or {}).keys())
        queues = inspect.active_queues() or {}
        sites: dict[str, dict[str, Any]] = {s: {"workers": [], "queued": None} for s in extra_sites}
        for name, consumed in queues.items():
            if name not in alive:
                continue
            for queue in consumed:
                qname = queue.get("name", "")
                if qname.startswith("site."):
                    sites.setdefault(qname[5:], {"workers": [], "queued": None})["workers"].append(name)
        with app.connection_for_read() as conn:
            channel = conn.default_channel
            for site, info in sites.items():
                info["workers"].sort()
                try:
                    info["queued"] = channel.queue_declare(queue=f"site.{site}", passive=True).message_count
                except Exception:  # a queue nobody declared yet: nothing queued there
                    info["queued"] = 0
                    channel = conn.channel()
        return {"broker": redacted(broker), "sites": sites}
    finally:
        app.close()
