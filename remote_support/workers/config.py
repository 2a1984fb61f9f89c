"""Where the site workers' broker and journal are, and how long parts wait: environment, then a file.

The file is ``$REMOTE_SUPPORT_WORKERS_CONFIG``, else ``~/.config/remote-support/workers.yml``::

    broker: amqp://support:PASSWORD@mq.example.org:5672//   # or redis://host:6379/0
    journal: postgresql://support@db.example.org/journal
    sites: [branch-north, branch-south]   # optional: the routable sites; any other is an error
    default_site: hq                      # optional: hosts without a site go there instead of running here
    site_timeout: 300                     # seconds a part waits for a worker before its hosts give up
    lease_ttl: 30                         # seconds a worker's lease lives without a heartbeat
    visibility_timeout: 3600              # Redis only: seconds before an unacknowledged part is delivered again

The environment wins: ``REMOTE_SUPPORT_BROKER``, ``REMOTE_SUPPORT_JOURNAL``, ``REMOTE_SUPPORT_SITES``
(comma-separated), ``REMOTE_SUPPORT_DEFAULT_SITE``, ``REMOTE_SUPPORT_SITE_TIMEOUT``, ``REMOTE_SUPPORT_LEASE_TTL``,
``REMOTE_SUPPORT_VISIBILITY_TIMEOUT``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

CONFIG_ENV = "REMOTE_SUPPORT_WORKERS_CONFIG"
BROKER_ENV = "REMOTE_SUPPORT_BROKER"
DEFAULT_SITE_ENV = "REMOTE_SUPPORT_DEFAULT_SITE"
_ENV = {"broker": BROKER_ENV, "journal": "REMOTE_SUPPORT_JOURNAL", "sites": "REMOTE_SUPPORT_SITES",
        "default_site": DEFAULT_SITE_ENV, "site_timeout": "REMOTE_SUPPORT_SITE_TIMEOUT",
        "lease_ttl": "REMOTE_SUPPORT_LEASE_TTL", "visibility_timeout": "REMOTE_SUPPORT_VISIBILITY_TIMEOUT"}


@dataclass(frozen=True)
class Settings:
    broker: str | None = None
    journal: str | None = None
    sites: tuple[str, ...] | None = None  # None: every site is routable
    default_site: str | None = None
    site_timeout: float = 300.0
    lease_ttl: float = 30.0
    visibility_timeout: float | None = None  # Redis: None is app.REDIS_VISIBILITY_TIMEOUT
    source: str = "defaults"  # where the values came from, for messages


def config_path() -> Path:
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "remote-support" / "workers.yml"


def may_distribute() -> bool:
    """Cheap: could a run without any host site still go to workers (a default site configured)?"""
    return bool(os.environ.get(DEFAULT_SITE_ENV)) or config_path().is_file()


def load_settings() -> Settings:
    """The settings from the config file (if any) overridden by the environment."""
    from ..errors import SourceError
    from ..yamlfile import load_yaml

    values: dict = {}
    sources = []
    path = config_path()
    if path.is_file():
        try:
            data = load_yaml(path.read_text(encoding="utf-8"), str(path), SourceError)
        except OSError as exc:
            raise UsageError(f"{path}: cannot read the workers config ({exc.strerror})") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise SourceError("the workers config must be a mapping (broker:, journal:, sites:, ...)",
                              source=str(path))
        unknown = sorted(set(data) - set(_ENV))
        if unknown:
            raise SourceError(f"unknown setting(s) {', '.join(unknown)}: known are {', '.join(_ENV)}",
                              source=str(path))
        values.update(data)
        sources.append(str(path))
    for key, env in _ENV.items():
        if os.environ.get(env):
            values[key] = os.environ[env]
            sources.append(f"${env}")
    sites = values.get("sites")
    if isinstance(sites, str):
        sites = [s.strip() for s in sites.split(",") if s.strip()]
    where = ", ".join(sources) or "defaults"
    try:
        timeout = float(values.get("site_timeout", 300))
        ttl = float(values.get("lease_ttl", 30))
        visibility = float(values["visibility_timeout"]) if values.get("visibility_timeout") else None
    except (TypeError, ValueError):
        raise UsageError(f"site_timeout, lease_ttl and visibility_timeout must be numbers of seconds ({where})") from None
    if timeout <= 0 or ttl <= 0:
        raise UsageError(f"site_timeout and lease_ttl must be positive ({where})")
    return Settings(broker=values.get("broker") or None, journal=values.get("journal") or None,
                    sites=tuple(str(s) for s in sites) if sites else None,
                    default_site=values.get("default_site") or None, site_timeout=timeout, lease_ttl=ttl,
                    visibility_timeout=visibility, source=where)


def redacted(url: str) -> str:
    """A broker URL without its password, for messages."""
    try:
        from kombu.utils.url import maybe_sanitize_url

        return maybe_sanitize_url(url)
    except ImportError:
        import re

        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1**@", url)
