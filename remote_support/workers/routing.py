"""The site split of a run: which hosts go to which site's queue, checked before anything runs."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterable, Sequence

from ..errors import InventoryError, UsageError
from .config import Settings, load_settings, may_distribute, redacted

if TYPE_CHECKING:
    from ..api import RunRequest
    from ..inventory import Host

#: a site name is part of a queue name (``site.NAME``)
SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_PROMPT = re.compile(r"^prompt(:.*)?$")


def queue_of(site: str) -> str:
    return f"site.{site}"


@dataclass(frozen=True)
class Plan:
    """Hosts of one run by site (inventory order); ``local`` are the ones this process runs itself."""

    hosts: list["Host"]
    sites: dict[str, tuple[str, ...]]
    local: tuple[str, ...]
    settings: Settings

    def site_of(self, host: str) -> str | None:
        for site, names in self.sites.items():
            if host in names:
                return site
        return None

    def only(self, names: Iterable[str]) -> "Plan":
        """The plan for a subset of its hosts (a resume: the unfinished ones)."""
        keep = set(names)
        sites = {s: tuple(n for n in names_ if n in keep) for s, names_ in self.sites.items()}
        return replace(self, hosts=[h for h in self.hosts if h.name in keep],
                       sites={s: n for s, n in sites.items() if n},
                       local=tuple(n for n in self.local if n in keep))

    @staticmethod
    def run_class():
        from .dispatch import DistributedRun

        return DistributedRun


def site_variable(host: "Host") -> str | None:
    value = host.vars.get("site")
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not SITE_NAME.match(value):
        where = f" ({host.source})" if host.source else ""
        raise InventoryError(f"host {host.name}{where}: site {value!r} is not a site name: use letters, digits, "
                             "'.', '-' and '_' (it names the queue site.NAME)")
    return value


def plan_sites(request: "RunRequest", hosts: Sequence["Host"]) -> Plan | None:
    """None when the run stays local (no host has a site, no ``--site``, no default site); else the plan.

    Bad input raises before anything runs: an unknown site (no route), ``--site`` matching no host, a
    prompt a worker cannot answer, a broker that cannot be reached."""
    if request.site is None and not any(host.vars.get("site") not in (None, "") for host in hosts) \
            and not may_distribute():
        return None
    settings = load_settings()
    default = settings.default_site
    if request.site is not None and not SITE_NAME.match(request.site):
        raise UsageError(f"--site {request.site!r}: not a site name (letters, digits, '.', '-', '_')")
    by_site: dict[str, list[str]] = {}
    local: list[str] = []
    kept: list["Host"] = []
    found: set[str] = set()
    for host in hosts:
        site = site_variable(host) or default
        found.add(site or "(none)")
        if request.site is not None and site != request.site:
            continue
        if site is not None and settings.sites is not None and site not in settings.sites:
            where = f" ({host.source})" if host.source else ""
            raise UsageError(f"host {host.name}{where}: site {site!r} has no route: the configured sites are "
                             f"{', '.join(settings.sites)} ({settings.source}): fix the host's site or add the "
                             "site there")
        kept.append(host)
        (by_site.setdefault(site, []) if site is not None else local).append(host.name)
    if request.site is not None and not kept:
        raise UsageError(f"--site {request.site}: no host of pattern {request.pattern!r} is at site "
                         f"{request.site} (their sites: {', '.join(sorted(found)) or 'none'})")
    if not by_site:
        return None if request.site is None else Plan(kept, {}, tuple(local), settings)
    _refuse_prompts(request, [h for h in kept if h.name not in local])
    if not settings.broker:
        raise UsageError(f"hosts at site(s) {', '.join(by_site)} go to site workers through a broker, and none "
                         f"is configured: set $REMOTE_SUPPORT_BROKER (e.g. amqp://guest:guest@127.0.0.1:5672//) "
                         "or broker: in the workers config")
    from .app import check_broker

    check_broker(settings.broker)
    return Plan(kept, {s: tuple(n) for s, n in by_site.items()}, tuple(local), settings)


def _refuse_prompts(request: "RunRequest", remote: Sequence["Host"]) -> None:
    """A worker has no terminal: a secret to be typed cannot reach it (and secrets never travel)."""
    from ..secrets import SecretRef

    hint = "give env:NAME or file:PATH instead, resolved by the worker from its own environment"
    for name, value in request.variables.items():
        if isinstance(value, str) and _PROMPT.match(value):
            raise UsageError(f"-e {name}=prompt: hosts at sites are run by site workers, which cannot prompt: {hint}")
    if request.become_password and _PROMPT.match(request.become_password):
        raise UsageError(f"-K (prompt for the sudo password): hosts at sites are run by site workers, which cannot "
                         f"prompt: {hint} (become_password in the inventory)")
    for host in remote:
        for key, value in host.vars.items():
            if isinstance(value, SecretRef) and value.spec.startswith("prompt"):
                where = f" ({value.source or host.source})" if (value.source or host.source) else ""
                raise UsageError(f"host {host.name}{where}: {key} is {{secret: prompt}}, which its site worker "
                                 f"cannot answer: {hint}")


def describe_broker(settings: Settings) -> str:
    return redacted(settings.broker or "")
