"""Site workers: a run split by site, each part run by a Celery worker inside that site.

Hosts carry a ``site`` variable. :func:`remote_support.api.prepare` asks :mod:`.routing` for a plan: no host
with a site (and no default site configured) keeps the local path exactly as it was; otherwise the run is a
:class:`.dispatch.DistributedRun`, which sends one message per site to the queue ``site.NAME``
(:mod:`.messages`, through the broker of :mod:`.app`), runs the hosts without a site itself, and follows the
remote parts in the journal, never through the broker.

A worker (``remote-support worker --site NAME``, :mod:`.task`) takes a lease on its part in the shared
journal (:mod:`.leases`: a row per part, ``SELECT ... FOR UPDATE SKIP LOCKED``, a heartbeat), then runs it
through the same application layer, each host committed as it finishes. Delivery is at-least-once
(``acks_late``, reject on worker loss, prefetch 1); the lease makes a second delivery harmless: it waits for
a live holder, or takes over a dead one's part on exactly its unfinished hosts, leaving the in-flight ones.

Only :mod:`.app`, :mod:`.task` and :mod:`.status` import Celery (the ``workers`` extra).
"""
