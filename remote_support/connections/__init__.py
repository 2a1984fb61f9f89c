"""Connection types, chosen by a host's ``connection`` variable through one dictionary."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from ..inventory import Host
    from .base import Connection, ConnectOptions

# type name -> "module:Class"; modules are imported only when a host of that type is used, so
# `remote-support --help` does not pay for paramiko, pywinrm or netmiko.
CONNECTION_CLASSES = {
    "ssh": "remote_support.connections.ssh:SSHConnection",
    "local": "remote_support.connections.local:LocalConnection",
    "winrm": "remote_support.connections.winrm:WinRMConnection",
    "network": "remote_support.connections.netdevice:NetworkConnection",
    "netconf": "remote_support.connections.netconf:NetconfConnection",
}


def connection_class(kind: str) -> type["Connection"]:
    try:
        target = CONNECTION_CLASSES[kind]
    except KeyError:
        valid = ", ".join(sorted(CONNECTION_CLASSES))
        raise UsageError(f"unknown connection type {kind!r}: use one of {valid}") from None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def connect(host: "Host", options: "ConnectOptions") -> "Connection":
    """A new, not yet opened connection for ``host``."""
    return connection_class(host.connection)(host, options)
