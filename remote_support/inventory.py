"""Inventories: hosts, groups and their variables, from native YAML and Ansible INI/YAML files.

(Skeleton: the loader and the pattern matcher are being written; the data model below is the contract
that connections, the runner and the CLI use.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .secrets import reveal

#: connection types a host may name; the classes live in remote_support.connections
CONNECTION_TYPES = ("ssh", "winrm", "network", "local")


@dataclass(frozen=True)
class Group:
    name: str
    vars: Mapping[str, Any] = field(default_factory=dict)
    children: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Host:
    """One host with its merged variables (our canonical names; Ansible's ``ansible_*`` mapped).

    Canonical variables: address, port, user, connection, password, private_key_file,
    private_key_passphrase, become, become_method, become_user, become_password, device_type,
    known_hosts_file, proxy_jump, connect_timeout. Values may be SecretRef; read them with
    :meth:`secret`.
    """

    name: str
    vars: Mapping[str, Any]
    groups: tuple[str, ...] = ()  # every group the host belongs to, ancestors included, 'all' first
    source: str = ""  # "file:line" where the host was first defined

    @property
    def address(self) -> str:
        return str(self.vars.get("address") or self.name)

    @property
    def port(self) -> int | None:
        port = self.vars.get("port")
        return int(port) if port not in (None, "") else None

    @property
    def user(self) -> str | None:
        user = self.vars.get("user")
        return str(user) if user else None

    @property
    def connection(self) -> str:
        return str(self.vars.get("connection") or "ssh")

    @property
    def become(self) -> bool:
        return _truthy(self.vars.get("become", False))

    def get(self, name: str, default: Any = None) -> Any:
        return self.vars.get(name, default)

    def secret(self, name: str) -> Any:
        """A variable's plain value, resolving a secret reference (env:, file:, prompt)."""
        return reveal(self.vars.get(name))


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "yes", "true", "on", "y")
    return bool(value)


class Inventory:
    """Hosts and groups from one or more sources; select hosts with Ansible-style patterns."""

    def __init__(self, hosts: Mapping[str, Host], groups: Mapping[str, Group], sources: Sequence[str]):
        self.hosts = dict(hosts)
        self.groups = dict(groups)
        self.sources = list(sources)

    def select(self, pattern: str | None = None) -> list[Host]:
        raise NotImplementedError


def load_inventory(paths: Sequence[str]) -> Inventory:
    raise NotImplementedError
