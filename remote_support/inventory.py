"""Inventories: hosts, groups and their variables, from native YAML and Ansible INI/YAML files.

Three file formats are read, and several sources (``-i`` paths) merge in order:

* **native YAML**: top-level keys among ``defaults``, ``groups`` and ``hosts`` (see ``inventories/example.yml``);
* **Ansible INI** and **Ansible YAML**, read the way ``ansible-inventory`` reads them, with host ranges
  such as ``web[01:10].example.com``;
* ``group_vars/`` and ``host_vars/`` next to an inventory file or inside an inventory directory.

Variables merge with Ansible's default precedence (``VARIABLE_PRECEDENCE`` in ansible-core), lowest first:

1. group ``all`` vars from inventory files (native ``defaults``);
2. other groups' vars from inventory files, in group order (depth from ``all``, then
   ``ansible_group_priority``, then name: parents before children);
3. ``group_vars/all`` files;
4. ``group_vars/<group>`` files, one source after another, groups in the same order inside each source;
5. host vars from inventory files;
6. ``host_vars/<host>`` files.

So a ``group_vars/all.yml`` beats ``[web:vars]`` in the INI file, as it does in Ansible. A later source
beats an earlier one at the same level; merging replaces whole values (``hash_behaviour=replace``).
Afterwards Ansible's names are copied to ours (``ansible_host`` -> ``address``, ...; see
:data:`ANSIBLE_NAMES`), keeping the originals.

Every error is an :class:`InventoryError` naming the file and line.
"""

from __future__ import annotations

import ast
import fnmatch
import ipaddress
import os
import re
import shlex
import string
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence


from .errors import InventoryError, PatternError
from .secrets import SecretRef, reveal
from .yamlfile import Map, Seq, load_yaml

#: connection types a host may name; the classes live in remote_support.connections
CONNECTION_TYPES = ("ssh", "winrm", "network", "netconf", "local")


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
    known_hosts_file, proxy_jump, proxy_command, connect_timeout; network devices: enable_password; WinRM hosts:
    winrm_transport, winrm_scheme, winrm_port, winrm_server_cert_validation, winrm_ca_trust_path,
    winrm_message_encryption, winrm_operation_timeout, winrm_allow_basic_http.
    Values may be SecretRef; read them with
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


# --------------------------------------------------------------------------------------------------
# Inventory and host patterns


class PatternWarning(UserWarning):
    """A host pattern that works but that Ansible warns about (the old ``[x-y]`` subscript). Raised with
    :func:`warnings.warn`; the CLI prints it as a warning line."""


class Inventory:
    """Hosts and groups from one or more sources; select hosts with Ansible-style patterns."""

    def __init__(self, hosts: Mapping[str, Host], groups: Mapping[str, Group], sources: Sequence[str],
                 all_hosts: Sequence[str] = ()):
        self.warnings: list[str] = []  # what loaded but looks wrong (host_vars of no host), for the CLI
        self.hosts = dict(hosts)
        self.groups = dict(groups)
        self.sources = list(sources)
        self._all_hosts = list(all_hosts)  # hosts listed directly under group all (``[all]``, ``all: hosts:``)
        self._group_hosts: dict[str, list[str]] = {}

    def select(self, pattern: str | None = None, *, limit: str | None = None) -> list[Host]:
        """Hosts matching an Ansible host pattern, in the order ``ansible PATTERN --list-hosts`` gives.

        ``None`` means ``all``. Terms are separated by ``,`` (or ``:``); each is a group, a host, a glob
        (``web*``) or ``~regex``, optionally with a subscript (``web[0]``, ``web[-1]``, ``web[0:2]``,
        ``web[1:]``) counted in the group's own host order; ``&term`` intersects and ``!term`` excludes,
        after the union of plain terms; ``@FILE`` reads one term per line (Ansible's retry files).
        ``limit`` keeps only the hosts it matches, as ``ansible PATTERN -l LIMIT``.
        """
        if not self.hosts:
            raise PatternError(f"the inventory {', '.join(self.sources)} defines no host (every host line "
                               f"is absent or commented out): add hosts, or check that -i names the right "
                               f"file or directory")
        names = self._evaluate(self._terms("all" if pattern is None else pattern))
        if limit is not None:
            allowed = set(self._evaluate(self._terms(limit)))
            names = [n for n in names if n in allowed]
        if not names:
            shown = pattern if limit is None else f"{pattern or 'all'} with limit {limit}"
            raise PatternError(f"pattern {shown!r} matches no host: check the & and ! terms, or list "
                               f"the hosts with `remote-support inventory`")
        return [self.hosts[n] for n in names]

    def group_hosts(self, group: str) -> list[str]:
        """A group's hosts in Ansible's order (Group.get_hosts): its own, then each descendant group's,
        level by level, children in the order they were added; each host once. Subscripts count here."""
        if group not in self._group_hosts:
            ordered = [group, *self._children(group)]
            seen = set(ordered)
            level = list(ordered)
            # Ansible walks each level as a set (an unordered walk); the level's order is used here, which
            # is the same whenever one group per level has children of its own.
            while level:
                following = []
                for name in level:
                    for child in self._children(name):
                        if child not in seen:
                            seen.add(child)
                            following.append(child)
                ordered += following
                level = following
            result: list[str] = []
            done: set[str] = set()
            for name in ordered:
                own = self._all_hosts if name == "all" else self.groups[name].hosts
                for host in own:
                    if host not in done and host in self.hosts:
                        done.add(host)
                        result.append(host)
            self._group_hosts[group] = result
        return self._group_hosts[group]

    def _children(self, group: str) -> list[str]:
        children = list(self.groups[group].children)
        if group == "all" and "ungrouped" in children:  # Ansible makes ungrouped all's first child
            children.remove("ungrouped")
            children.insert(0, "ungrouped")
        return children

    def _terms(self, pattern: str) -> list[str]:
        terms: list[str] = []
        for term in split_pattern(pattern):
            if term[0] == "@":
                terms += _limit_file(term[1:])
            else:
                terms.append(term)
        if not terms:
            raise PatternError(f"the host pattern {pattern!r} has no terms: give a group or host name, or 'all'")
        return terms

    def _evaluate(self, terms: list[str]) -> list[str]:
        """Ansible's _evaluate_patterns: plain terms in order (union), then & terms, then ! terms."""
        plain = [t for t in terms if t[0] not in "&!"] or ["all"]
        ordered = plain + [t for t in terms if t[0] == "&"] + [t for t in terms if t[0] == "!"]
        names: list[str] = []
        for term in ordered:
            if term in self.hosts:  # a plain host name, even one that looks like a subscript or glob
                if term not in names:
                    names.append(term)
                continue
            matched = self._match(term[1:] if term[0] in "&!" else term)
            if term[0] == "!":
                excluded = set(matched)
                names = [n for n in names if n not in excluded]
            elif term[0] == "&":
                kept = set(matched)
                names = [n for n in names if n in kept]
            else:
                known = set(names)
                names += [n for n in dict.fromkeys(matched) if n not in known]
        return names

    def _match(self, term: str) -> list[str]:
        """Ansible's _match_one_pattern: hosts of the matching groups, then matching host names, with
        repeats (as Ansible keeps them), then the subscript."""
        if not term:
            raise PatternError("a pattern term is empty after & or !: write &GROUP or !GROUP")
        if term in self.hosts:
            return [term]
        expr, subscript = _split_subscript(term)
        matcher = _compile_term(expr)
        groups = [g for g in self.groups if matcher.match(g)]
        names: list[str] = []
        for group in groups:
            names += self.group_hosts(group)
        # Like Ansible: host names are searched when no group matched or the term is a glob/regex.
        hosts_too = not groups or expr[0] == "~" or any(c in expr for c in ".?*[")
        if hosts_too:
            names += [h for h in self.hosts if matcher.match(h)]
        if not groups and not names:
            raise PatternError(f"pattern term {term!r} matches no host or group: known groups are "
                               f"{self._known_groups()}; use a group, a host name, a glob like web* or ~regex")
        if subscript is not None:
            names = _apply_subscript(term, names, subscript)
        return names

    def _known_groups(self, limit: int = 20) -> str:
        known = [g for g in self.groups if g not in ("all", "ungrouped")]
        if not known:
            return "(none besides all)"
        more = f" (and {len(known) - limit} more)" if len(known) > limit else ""
        return ", ".join(known[:limit]) + more


def _limit_file(path: str) -> list[str]:
    """The terms of an ``@FILE`` limit: one per line (Ansible's ``--limit @site.retry``), blanks skipped."""
    if not path:
        raise PatternError("@ needs a file name: write -l @FILE (one host or pattern per line)")
    if os.path.isdir(path):
        raise PatternError(f"limit file {path} is a directory: a limit starting with @ names a file with one "
                           f"host per line")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        raise PatternError(f"limit file {path} not found: a limit starting with @ names a file with one host "
                           f"per line (Ansible's .retry files)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PatternError(f"limit file {path} cannot be read ({exc}): check its permissions") from None
    terms = [line.strip() for line in lines if line.strip()]
    if not terms:
        raise PatternError(f"limit file {path} is empty: it lists no host, so nothing would run")
    return terms


# Ansible's PATTERN_WITH_SUBSCRIPT: [n], [-n], [x:y], [x:] and the old [x-y]
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")


def split_pattern(pattern: str) -> list[str]:
    """The terms of a host pattern: split on commas, or on colons when there is no comma.

    Colons inside ``[...]`` (ranges, subscripts) and in a bare IPv6 address do not split.
    """
    if not isinstance(pattern, str) or not pattern.strip():
        raise PatternError("the host pattern is empty: give a group or host name, or 'all'")
    if "," in pattern:
        parts = pattern.split(",")
    elif _is_ipv6(pattern.strip().strip("[]")):
        parts = [pattern]
    else:
        parts = re.findall(r"(?:[^\s:\[\]]|\[[^\]]*\])+", pattern)
    terms = [p.strip() for p in parts if p.strip()]
    if not terms:
        raise PatternError(f"the host pattern {pattern!r} has no terms: give a group or host name, or 'all'")
    return terms


def _split_subscript(term: str) -> tuple[str, tuple[int, int | None] | None]:
    if term[0] == "~":
        return term, None
    m = _SUBSCRIPT.match(term)
    if not m:
        return term, None
    if m.group(2) is not None:
        return m.group(1), (int(m.group(2)), None)
    if m.group(4) == "-":
        warnings.warn(f"pattern term {term!r}: use [x:y] inclusive subscripts instead of [x-y], which Ansible "
                      f"has removed (it still reads it, with this warning)", PatternWarning, stacklevel=2)
    return m.group(1), (int(m.group(3)), int(m.group(5)) if m.group(5) else -1)


def _apply_subscript(term: str, names: list[str], subscript: tuple[int, int | None]) -> list[str]:
    """Ansible's _apply_subscript, to the letter: ``[x:0]`` is ``[x]``, an empty selection stays empty."""
    if not names:
        return names
    start, end = subscript
    if end:
        end = len(names) - 1 if end == -1 else end
        return names[start:end + 1]
    try:
        return [names[start]]
    except IndexError:
        raise PatternError(f"pattern term {term!r}: index {start} is out of range, the selection has "
                           f"{len(names)} hosts (the first is [0])") from None


def _compile_term(expr: str) -> re.Pattern[str]:
    if expr[0] == "~":
        try:
            return re.compile(expr[1:])
        except re.error as exc:
            raise PatternError(f"pattern term {expr!r} is not a valid regular expression ({exc}): "
                               f"fix it or use a glob such as web*") from None
    return re.compile(fnmatch.translate(expr))


# --------------------------------------------------------------------------------------------------
# Loading


def load_inventory(paths: Sequence[str]) -> Inventory:
    """Read every path (file or directory) in order and merge them into one :class:`Inventory`."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise InventoryError("no inventory given: pass -i with an inventory file or directory")
    loader = _Loader()
    for path in paths:
        loader.load_source(path)
    inventory = loader.finish()
    _register_secrets(inventory)
    return inventory


def _register_secrets(inventory: Inventory) -> None:
    """Values of secret-named variables (``ansible_password``, ``api_token``...) are masked wherever they
    would show: live output, the journal, reports, even inside a command's stdout. ``secret_vars`` and
    ``not_secret_vars`` (lists of names or globs, usually in ``all``) add and exempt names first."""
    from .secrets import NAMES, register_secrets

    extra: list[str] = []
    exempt: list[str] = []
    for host in inventory.hosts.values():
        for name, into in (("secret_vars", extra), ("not_secret_vars", exempt)):
            value = host.vars.get(name)
            if value is None:
                continue
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise InventoryError(f"host {host.name}: {name} is a list of variable names (globs allowed), "
                                     f"not {type(value).__name__}")
            into.extend(v for v in value if v not in into)
    NAMES.configure(extra, exempt)
    for host in inventory.hosts.values():
        register_secrets(host.vars)


#: our variable -> Ansible's names for it. When several are set, the last listed wins (the order of
#: Ansible's ssh connection and sudo become plugins), and any of them wins over our own name.
ANSIBLE_NAMES: dict[str, tuple[str, ...]] = {
    "address": ("ansible_host", "ansible_ssh_host"),
    "port": ("ansible_port", "ansible_ssh_port"),
    "user": ("ansible_user", "ansible_ssh_user"),
    "connection": ("ansible_connection",),
    "password": ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password"),
    "private_key_file": ("ansible_private_key_file", "ansible_ssh_private_key_file"),
    "become": ("ansible_become",),
    "become_method": ("ansible_become_method",),
    "become_user": ("ansible_become_user",),
    "become_password": ("ansible_become_password", "ansible_become_pass", "ansible_sudo_pass"),
    "device_type": ("ansible_network_os",),
    "connect_timeout": ("ansible_timeout", "ansible_ssh_timeout"),
    "winrm_transport": ("ansible_winrm_transport",),
    "winrm_scheme": ("ansible_winrm_scheme",),
    "winrm_port": ("ansible_winrm_port",),
    "winrm_server_cert_validation": ("ansible_winrm_server_cert_validation",),
    "winrm_ca_trust_path": ("ansible_winrm_ca_trust_path",),
    "winrm_message_encryption": ("ansible_winrm_message_encryption",),
    "winrm_operation_timeout": ("ansible_winrm_operation_timeout_sec",),
}

#: host variables that say how to reach the host (what ANSIBLE_NAMES translates, and the ones only we have):
#: a task parameter of the same name is not taken from them (executor.variables)
CONNECTION_VARS = frozenset({*ANSIBLE_NAMES, "known_hosts_file", "proxy_jump", "proxy_command", "enable_password",
                             "private_key_passphrase", "winrm_shell", "winrm_read_timeout", "winrm_allow_basic_http",
                             "winrm_kerberos_hostname"})

#: ansible_connection value -> our connection type
ANSIBLE_CONNECTIONS = {
    "ssh": "ssh", "paramiko": "ssh", "paramiko_ssh": "ssh", "smart": "ssh",
    "winrm": "winrm", "psrp": "winrm",
    "network_cli": "network", "netconf": "netconf", "network": "network",
    "local": "local",
}

#: ansible_network_os value -> netmiko device_type; other values pass through unchanged
NETWORK_OS_DEVICE_TYPES = {
    "ios": "cisco_ios", "cisco.ios.ios": "cisco_ios",
    "nxos": "cisco_nxos", "cisco.nxos.nxos": "cisco_nxos",
    "eos": "arista_eos", "arista.eos.eos": "arista_eos",
    "junos": "juniper_junos", "junipernetworks.junos.junos": "juniper_junos",
    "iosxr": "cisco_xr", "cisco.iosxr.iosxr": "cisco_xr",
}

_GROUP_KEYS = ("vars", "children", "hosts")
_NATIVE_KEYS = {"defaults", "groups", "hosts"}
_ADDRESS_KEYS = ("address", "ansible_host", "ansible_ssh_host")
_YAML_EXTS = (".yml", ".yaml", ".json")
# What Ansible skips in an inventory directory (INVENTORY_IGNORE_EXTS): ansible.cfg and notes live there.
_IGNORED_EXTS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry")
_IGNORED_NAMES = ("group_vars", "host_vars", "vars_plugins")


@dataclass(frozen=True)
class _Var:
    """A variable's value and where it was set."""

    value: Any
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class _GroupDraft:
    name: str
    where: str
    vars: dict[str, _Var] = field(default_factory=dict)
    children: dict[str, tuple[str, int]] = field(default_factory=dict)  # child -> where it was listed
    hosts: list[str] = field(default_factory=list)
    priority: int = 1  # Ansible's default ansible_group_priority


@dataclass
class _HostDraft:
    name: str
    path: str  # where the host was first defined
    line: int
    native: bool  # only defined in native files: then it needs an address
    vars: dict[str, _Var] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)  # direct membership
    address: _Var | None = None  # the address its definitions set, to catch two different ones

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


class _Loader:
    """Collects hosts, groups and variables from every source, then merges them (:meth:`finish`)."""

    def __init__(self) -> None:
        self.sources: list[str] = []
        self.vars_dirs: list[str] = []  # where each source's group_vars/ and host_vars/ are, in order
        # Ansible always has these two; 'ungrouped' holds the hosts that are in no other group.
        self.groups: dict[str, _GroupDraft] = {name: _GroupDraft(name, "") for name in ("all", "ungrouped")}
        self.hosts: dict[str, _HostDraft] = {}
        self._vars_files: dict[str, dict[str, _Var]] = {}  # file -> its variables
        self._found: dict[tuple[str, str, str], dict[str, _Var]] = {}  # (dir, kind, name) -> variables

    # ---- sources

    def load_source(self, path: str) -> None:
        if not os.path.exists(path):
            raise InventoryError("inventory path does not exist: check the spelling, or pass another -i",
                                 source=path)
        self.sources.append(path)
        if os.path.isdir(path):
            self.vars_dirs.append(path)
            for file in _inventory_files(path):
                self.load_file(file)
        else:
            self.vars_dirs.append(os.path.dirname(path) or ".")
            self.load_file(path)

    def load_file(self, path: str) -> None:
        text = _read_text(path)
        ext = os.path.splitext(path)[1].lower()
        if ext in _YAML_EXTS:
            data = load_yaml(text, path, InventoryError)
            if data is None:
                return  # an empty file adds nothing; an inventory with no host at all is caught later
            if not isinstance(data, dict):
                raise InventoryError(f"a YAML inventory must be a mapping (of groups, or of defaults/groups/"
                                     f"hosts), not a {_kind(data)}: see inventories/example.yml",
                                     source=path, line=1)
        else:
            # Like Ansible: a file without a YAML extension is YAML if it parses as a mapping, else INI.
            try:
                data = load_yaml(text, path, InventoryError)
            except InventoryError:
                if _looks_like_yaml(text):
                    raise
                data = None
            if not isinstance(data, dict):
                _IniParser(self, path).parse(text)
                return
        if isinstance(data.get("plugin"), str):
            raise InventoryError(f"inventory plugins (plugin: {data['plugin']}) are not supported: export the "
                                 f"hosts with `ansible-inventory -i {path} --list -y` and use that file",
                                 source=path, line=data.line_of("plugin"))
        if data and set(data) <= _NATIVE_KEYS:
            self._load_native(data, path)
        else:
            for name, body in data.items():
                self._ansible_group(str(name), body, path, data.line_of(name))

    # ---- building blocks shared by the formats

    def group(self, name: str, path: str, line: int) -> _GroupDraft:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = _GroupDraft(name, f"{path}:{line}")
        elif not group.where:
            group.where = f"{path}:{line}"
        return group

    def add_child(self, parent: str, child: str, path: str, line: int) -> None:
        if child == "all":
            raise InventoryError(f"group all cannot be a child of {parent}: every group is already in all; "
                                 f"remove it from {parent}'s children", source=path, line=line)
        self.group(parent, path, line)
        self.group(child, path, line)
        self.groups[parent].children.setdefault(child, (path, line))

    def host(self, name: str, group: str | None, path: str, line: int, *, native: bool) -> _HostDraft:
        if not isinstance(name, str) or not name.strip() or _BAD_NAME.search(name):
            raise InventoryError(f"host name {name!r} cannot be used: a host name is one word without spaces "
                                 f"or control characters", source=path, line=line)
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = _HostDraft(name, path, line, native)
        else:
            host.native = host.native and native
        if group is not None:
            self.group(group, path, line)
            if group not in host.groups:
                host.groups.append(group)
                self.groups[group].hosts.append(name)
        return host

    def define_host(self, host: _HostDraft, variables: Iterable[tuple[Any, Any, int]], path: str) -> None:
        """Set the variables of one definition of ``host``: (name, value, line) triples."""
        variables = list(variables)
        address = None
        for key in _ADDRESS_KEYS:  # in the order the mapping applies them: the last one set wins
            for name, value, line in variables:
                if name == key and value is not None:
                    address = _Var(value, path, line)
        if address is not None:
            if host.address is not None and str(host.address.value) != str(address.value):
                raise InventoryError(f"host {host.name} has address {host.address.value} at {host.address.where} "
                                     f"and {address.value} at {address.where}: keep one",
                                     source=path, line=address.line)
            host.address = host.address or address
        for name, value, line in variables:
            host.vars[str(name)] = _Var(_value(value, path, line), path, line)

    def set_group_var(self, group: str, key: Any, value: Any, path: str, line: int) -> None:
        draft = self.group(group, path, line)
        if key == "ansible_group_priority":  # like Ansible: it orders the group and is not a variable
            try:
                draft.priority = int(value)
            except (TypeError, ValueError):
                raise InventoryError(f"ansible_group_priority of group {group} must be a whole number, "
                                     f"not {value!r}", source=path, line=line) from None
            return
        draft.vars[str(key)] = _Var(_value(value, path, line), path, line)

    # ---- native YAML

    def _load_native(self, data: Map, path: str) -> None:
        defaults = _mapping(data.get("defaults"), path, data.line_of("defaults"), "defaults",
                            "a mapping of variable names to values")
        for key, value in defaults.items():
            self.set_group_var("all", key, value, path, defaults.line_of(key))
        groups = _mapping(data.get("groups"), path, data.line_of("groups"), "groups",
                          "a mapping of group names to their vars/children/hosts")
        for name in groups:  # declared first so that groups keep the file's order
            self.group(str(name), path, groups.line_of(name))
        hosts = _mapping(data.get("hosts"), path, data.line_of("hosts"), "hosts",
                         "a mapping of host names to their variables")
        for name, body in hosts.items():
            line = hosts.line_of(name)
            host = self.host(str(name), None, path, line, native=True)
            body = _mapping(body, path, line, f"host {name}",
                            "a mapping of variables such as `address: 10.0.0.5` and `groups: [web]`")
            for group, gline in _names(body.get("groups"), path, body.line_of("groups"), f"groups of host {name}"):
                self.host(host.name, group, path, gline, native=True)
            self.define_host(host, [(k, v, body.line_of(k)) for k, v in body.items() if k != "groups"], path)
        for name, body in groups.items():
            name, line = str(name), groups.line_of(name)
            body = _mapping(body, path, line, f"group {name}", "a mapping with vars:, children: and hosts:")
            _check_group_keys(name, body, path)
            vars_ = _mapping(body.get("vars"), path, body.line_of("vars"), f"vars of group {name}",
                             "a mapping of variable names to values")
            for key, value in vars_.items():
                self.set_group_var(name, key, value, path, vars_.line_of(key))
            children = _names(body.get("children"), path, body.line_of("children"), f"children of group {name}")
            for child, cline in children:
                self.add_child(name, child, path, cline)
            if isinstance(body.get("hosts"), dict):
                raise InventoryError(f"hosts of group {name} is a list of host names, not a mapping: define "
                                     f"host variables under the top-level hosts:",
                                     source=path, line=body.line_of("hosts"))
            for host, hline in _names(body.get("hosts"), path, body.line_of("hosts"), f"hosts of group {name}"):
                self.host(host, name, path, hline, native=True)

    # ---- Ansible YAML

    def _ansible_group(self, name: str, body: Any, path: str, line: int) -> None:
        self.group(name, path, line)
        if body is None:
            return
        if not isinstance(body, dict):
            raise InventoryError(f"group {name} must be a mapping with hosts:, children: and vars:, not a "
                                 f"{_kind(body)}", source=path, line=line)
        _check_group_keys(name, body, path)
        for key, section in body.items():  # in the file's order, as Ansible does
            sline = body.line_of(key)
            if isinstance(section, str):  # Ansible allows `hosts: web1` for a single entry
                section = Map({section: None}, line=sline)
            if section is None:
                continue
            if not isinstance(section, dict):
                hint = " (write each host as `name:` on its own line)" if isinstance(section, list) else ""
                raise InventoryError(f"{key} of group {name} must be a mapping, not a {_kind(section)}{hint}",
                                     source=path, line=sline)
            if key == "vars":
                for var, value in section.items():
                    self.set_group_var(name, var, value, path, section.line_of(var))
            elif key == "children":
                for child, cbody in section.items():
                    cline = section.line_of(child)
                    self._ansible_group(str(child), cbody, path, cline)
                    self.add_child(name, str(child), path, cline)
            else:
                for pattern, hvars in section.items():
                    hline = section.line_of(pattern)
                    hvars = _mapping(hvars, path, hline, f"host {pattern}", "a mapping of variables")
                    names, port = _expand_host_pattern(str(pattern), path, hline)
                    variables = [("ansible_port", port, hline)] if port is not None else []
                    variables += [(var, value, hvars.line_of(var)) for var, value in hvars.items()]
                    for hostname in names:
                        self.define_host(self.host(hostname, name, path, hline, native=False), variables, path)

    # ---- group_vars/ and host_vars/

    def vars_from_files(self, kind: str, name: str) -> dict[str, _Var]:
        """Variables of ``group_vars/NAME`` or ``host_vars/NAME`` over every source, later sources winning."""
        merged: dict[str, _Var] = {}
        for directory in self.vars_dirs:
            merged.update(self.vars_in_dir(directory, kind, name))
        return merged

    def vars_in_dir(self, directory: str, kind: str, name: str) -> dict[str, _Var]:
        key = (directory, kind, name)
        if key not in self._found:  # asked once per host and group: spare the file system
            merged: dict[str, _Var] = {}
            for file in _vars_files(os.path.join(directory, kind), name):
                merged.update(self._vars_file(file))
            self._found[key] = merged
        return self._found[key]

    def _vars_file(self, path: str) -> dict[str, _Var]:
        if path not in self._vars_files:
            data = load_yaml(_read_text(path), path, InventoryError)
            if data is None:
                data = Map()
            if not isinstance(data, dict):
                raise InventoryError(f"a variables file must be a mapping of variable names to values, not a "
                                     f"{_kind(data)}", source=path, line=1)
            self._vars_files[path] = {str(k): _Var(_value(v, path, data.line_of(k)), path, data.line_of(k))
                                      for k, v in data.items()}
        return self._vars_files[path]

    # ---- merging

    def finish(self) -> Inventory:
        # No host at all (kubespray's sample, every host line commented out) reads as zero hosts, as in
        # Ansible: the inventory loads, and selecting hosts from it says why nothing can run.
        self._check_cycles()
        groups = self.groups
        for host in self.hosts.values():  # Ansible's reconcile step: hosts in no real group are 'ungrouped'
            if not [g for g in host.groups if g not in ("all", "ungrouped")]:
                if "ungrouped" not in host.groups:
                    host.groups.append("ungrouped")
            elif "ungrouped" in host.groups:
                host.groups.remove("ungrouped")
        # Ansible's order: hosts the files put in ungrouped (INI lines before any section) first, then the
        # hosts the reconcile step adds, in inventory order
        ungrouped = [h for h in groups["ungrouped"].hosts if "ungrouped" in self.hosts[h].groups]
        groups["ungrouped"].hosts = list(dict.fromkeys(
            ungrouped + [h for h in self.hosts if "ungrouped" in self.hosts[h].groups]))
        all_hosts = list(groups["all"].hosts)  # listed under all itself: first in Ansible's order of all
        groups["all"].hosts = []
        parents: dict[str, list[str]] = {name: [] for name in groups}
        for group in groups.values():
            for child in group.children:
                parents[child].append(group.name)
        for name in groups:
            if name != "all" and not parents[name]:
                groups["all"].children.setdefault(name, ("", 0))
                parents[name].append("all")
        depth = _depths(parents)

        def order(names: Iterable[str]) -> list[str]:
            return sorted(names, key=lambda g: (depth[g], groups[g].priority, g))

        all_files = self.vars_from_files("group_vars", "all")
        result_hosts: dict[str, Host] = {}
        for host in self.hosts.values():
            member_of = order(_ancestors(host.groups, parents) - {"all"})
            merged: dict[str, _Var] = dict(groups["all"].vars)
            for g in member_of:
                merged.update(groups[g].vars)
            merged.update(all_files)
            for directory in self.vars_dirs:  # source by source, as Ansible's vars plugins run
                for g in member_of:
                    merged.update(self.vars_in_dir(directory, "group_vars", g))
            merged.update(host.vars)
            merged.update(self.vars_from_files("host_vars", host.name))
            final = _canonical(host, merged)
            result_hosts[host.name] = Host(host.name, {k: v.value for k, v in final.items()},
                                           ("all", *member_of), host.where)
        result_groups = {}
        for g in groups.values():
            gvars = {**g.vars, **self.vars_from_files("group_vars", g.name)}
            result_groups[g.name] = Group(g.name, {k: v.value for k, v in gvars.items()}, tuple(g.children),
                                          tuple(g.hosts), g.where)
        inventory = Inventory(result_hosts, result_groups, self.sources, all_hosts)
        inventory.warnings = self._stray_host_vars()
        return inventory

    def _stray_host_vars(self) -> list[str]:
        """host_vars/NAME for a NAME the inventory lacks: most likely a typo, and its variables go unused."""
        found = []
        for directory in dict.fromkeys(self.vars_dirs):
            folder = os.path.join(directory, "host_vars")
            if not os.path.isdir(folder):
                continue
            for entry in sorted(os.listdir(folder)):
                stem, ext = os.path.splitext(entry)
                if entry.startswith(".") or entry.endswith("~"):
                    continue
                name = stem if ext in _YAML_EXTS else entry
                if name not in self.hosts:
                    found.append(f"{os.path.join(folder, entry)}: host_vars of {name!r}, which is not in the "
                                 f"inventory: its variables are not used (is the host name spelled right?)")
        return found

    def _check_cycles(self) -> None:
        # Depth-first search; a child already on the current path closes a cycle.
        done: set[str] = set()

        def visit(name: str, path: list[str]) -> None:
            for child, (file, line) in self.groups[name].children.items():
                if child in path:
                    cycle = " -> ".join(path[path.index(child):] + [name, child])
                    raise InventoryError(f"groups form a cycle: {cycle}: remove {child} from the children of "
                                         f"{name}", source=file, line=line)
                if child not in done:
                    visit(child, path + [name])
            done.add(name)

        for name in list(self.groups):
            if name not in done:
                visit(name, [])


def _depths(parents: Mapping[str, list[str]]) -> dict[str, int]:
    """Each group's longest distance from ``all``, which is how Ansible's Group.depth grows."""
    depth: dict[str, int] = {}

    def of(name: str) -> int:
        if name not in depth:
            depth[name] = 0 if name == "all" else 1 + max(of(p) for p in parents[name])
        return depth[name]

    for name in parents:
        of(name)
    return depth


def _ancestors(direct: Iterable[str], parents: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(direct)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(parents[name])
    return seen


def _canonical(host: _HostDraft, merged: dict[str, _Var]) -> dict[str, _Var]:
    """Copy Ansible's variables to our names, then check connection, port and address."""
    final = dict(merged)
    for ours, names in ANSIBLE_NAMES.items():
        found = None
        for name in names:
            if name in merged and merged[name].value is not None:
                found = merged[name]
        if found is None:
            continue
        value = found.value
        if ours == "connection":
            value = _ansible_connection(host.name, found)
        elif ours == "device_type":
            value = NETWORK_OS_DEVICE_TYPES.get(str(value), value)
        final[ours] = _Var(value, found.path, found.line)
    if "ansible_connection" not in merged and "connection" in final and final["connection"].value is not None:
        conn = final["connection"]
        if conn.value not in CONNECTION_TYPES:
            raise InventoryError(f"host {host.name} has unknown connection type {conn.value!r}: use one of "
                                 f"{', '.join(CONNECTION_TYPES)}", source=conn.path, line=conn.line)
    for name in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        args = merged.get(name)
        proxy = _ssh_proxy(args.value) if args is not None else None
        if proxy:  # as ssh reads its -o options: the first of ProxyJump and ProxyCommand wins
            final[proxy[0]] = _Var(proxy[1], args.path, args.line)
            break
    if "port" in final and final["port"].value not in (None, ""):
        final["port"] = _checked_port(host.name, final["port"])
    if "become" in final and final["become"].value is not None:
        final["become"] = _Var(_truthy(final["become"].value), final["become"].path, final["become"].line)
    connection = final["connection"].value if "connection" in final else None
    if host.native and connection != "local" and not (final.get("address") and final["address"].value):
        raise InventoryError(f"host {host.name} has no address: add `address: <IP or DNS name>` "
                             f"(or `connection: local` for this machine)", source=host.path, line=host.line)
    _check_values(host.name, final)
    return final


_BAD_NAME = re.compile(r"[\s\x00-\x1f\x7f]")
_HOP = re.compile(r"(?:[^@\s,]+@)?(?:\[[0-9A-Fa-f:.]+\]|[^@\s,:\[\]/]+)(?::\d{1,5})?")
#: canonical variables that are one word of text (a number is fine for a user or an address)
_WORD_VARS = ("address", "user", "become_user", "become_method", "device_type")


def _check_values(host: str, final: dict[str, _Var]) -> None:
    """Connection variables of the wrong type or shape fail now, with file:line, not on the first run."""
    for name in _WORD_VARS:
        var = final.get(name)
        if var is None or var.value is None:
            continue
        value = var.value
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip() \
                or _BAD_NAME.search(str(value)):
            raise InventoryError(f"host {host} has {name} {value!r}: {name} is one word of text (no spaces, "
                                 f"lists or mappings)", source=var.path, line=var.line)
    jump = final.get("proxy_jump")
    if jump is not None and jump.value not in (None, "", "none"):
        hops = str(jump.value).split(",") if isinstance(jump.value, str) else None
        if not hops or not all(_HOP.fullmatch(h.strip()) for h in hops):
            raise InventoryError(f"host {host} has proxy_jump {jump.value!r}: write [user@]bastion[:port], "
                                 f"comma-separated for several hops", source=jump.path, line=jump.line)
    timeout = final.get("connect_timeout")
    if timeout is not None and timeout.value not in (None, ""):
        try:
            ok = float(timeout.value) > 0 and not isinstance(timeout.value, bool)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InventoryError(f"host {host} has connect_timeout {timeout.value!r}: a number of seconds above 0",
                                 source=timeout.path, line=timeout.line)


def _ansible_connection(host: str, var: _Var) -> str:
    value = str(var.value)
    # Accept fully qualified names such as ansible.netcommon.network_cli.
    short = value.rsplit(".", 1)[-1] if value.count(".") >= 2 else value
    if short not in ANSIBLE_CONNECTIONS:
        valid = ", ".join(sorted(ANSIBLE_CONNECTIONS))
        raise InventoryError(f"host {host} has ansible_connection={value!r}, which this tool cannot use: use one "
                             f"of {valid}", source=var.path, line=var.line)
    return ANSIBLE_CONNECTIONS[short]


def _checked_port(host: str, var: _Var) -> _Var:
    value = var.value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise InventoryError(f"host {host} has port {var.value!r}: a port is a whole number from 1 to 65535",
                             source=var.path, line=var.line)
    return _Var(value, var.path, var.line)


def _ssh_proxy(args: Any) -> tuple[str, str] | None:
    """The first proxy in ssh arguments: ``-J host``, ``-o ProxyJump=host`` or ``-o ProxyCommand=...``.

    Returns ("proxy_jump", hosts) or ("proxy_command", command line as ssh would run it).
    """
    if not isinstance(args, str):
        return None
    try:
        tokens = shlex.split(args)
    except ValueError:
        return None
    for i, token in enumerate(tokens):
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token == "-J":
            return ("proxy_jump", following) if following else None
        if token.startswith("-J"):
            return "proxy_jump", token[2:]
        option = following if token == "-o" else token[2:] if token.startswith("-o") else ""
        m = re.match(r"(?i)proxyjump\s*[=\s]\s*(\S+)", option)
        if m:
            return "proxy_jump", m.group(1)
        m = re.match(r"(?i)proxycommand\s*[=\s]\s*(\S.*)", option, re.S)
        if m:
            return "proxy_command", m.group(1).strip()
    return None


# --------------------------------------------------------------------------------------------------
# Ansible INI


class _IniParser:
    """Ansible's INI inventory format, line by line, as ansible-core's ini plugin reads it."""

    _SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
    _GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:[#;].*)?$")

    def __init__(self, loader: _Loader, path: str):
        self.loader = loader
        self.path = path

    def parse(self, text: str) -> None:
        known_before = set(self.loader.groups)
        declared: set[str] = set()  # groups with a [g] or [g:children] section in this file
        references: list[tuple[int, str, str]] = []  # (line, group, section) that need a declaration
        group, state = "ungrouped", "hosts"
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            m = self._SECTION.match(line)
            if m:
                group, state = m.group(1), m.group(2) or "hosts"
                if state not in ("hosts", "vars", "children"):
                    self._error(f"section [{group}:{state}] has an unknown type: write [{group}], "
                                f"[{group}:vars] or [{group}:children]", number)
                self.loader.group(group, self.path, number)
                if state == "vars":
                    references.append((number, group, f"[{group}:vars] sets variables for"))
                else:
                    declared.add(group)
                continue
            if line.startswith("[") and line.endswith("]"):
                self._error(f"invalid section header {line}: write [name], [name:vars] or [name:children], "
                            f"without spaces", number)
            if state == "hosts":
                self._host_line(line, group, number)
            elif state == "vars":
                key, sep, value = line.partition("=")
                if not sep or not key.strip():
                    self._error(f"expected key=value in [{group}:vars], got {line!r}", number)
                self.loader.set_group_var(group, key.strip(), _ini_value(value.strip()), self.path, number)
            else:
                m = self._GROUP_NAME.match(line)
                if not m:
                    self._error(f"expected a group name in [{group}:children], got {line!r}", number)
                self.loader.add_child(group, m.group(1), self.path, number)
                references.append((number, m.group(1), f"[{group}:children] lists"))
        # Ansible insists that a group used as a child, or given vars, is declared by a section of its own.
        for number, name, what in references:
            if name not in known_before and name not in declared:
                self._error(f"{what} group {name!r}, which this file never defines: add a [{name}] section "
                            f"(it may be empty) or fix the name", number)

    def _host_line(self, line: str, group: str, number: int) -> None:
        if any(c in line for c in "'\"\\#"):
            try:
                tokens = shlex.split(line, comments=True)
            except ValueError as exc:
                self._error(f"cannot parse host line ({exc}): close the quotes", number)
        else:
            tokens = line.split()  # what shlex gives without quotes or comments, many times faster
        if not tokens:
            return
        names, port = _expand_host_pattern(tokens[0], self.path, number)
        pairs = [("ansible_port", port, number)] if port is not None else []
        for token in tokens[1:]:
            key, sep, value = token.partition("=")
            if not sep or not key:
                self._error(f"expected key=value after host {tokens[0]}, got {token!r}: write name=value "
                            f"and quote values that contain spaces", number)
            pairs.append((key, _ini_value(value), number))
        for name in names:
            host = self.loader.host(name, group, self.path, number, native=False)
            self.loader.define_host(host, pairs, self.path)

    def _error(self, message: str, line: int) -> None:
        raise InventoryError(message, source=self.path, line=line)


def _ini_value(text: str) -> Any:
    """A value the way Ansible's INI plugin reads it: a Python literal when it is one, else the string."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


# --------------------------------------------------------------------------------------------------
# Host names: ranges and ports


def _expand_host_pattern(pattern: str, path: str, line: int) -> tuple[list[str], int | None]:
    """Host names and port of ``web[01:03].example.com:2222``, ``[2001:db8::1]:22``, ``db-[a:c]``."""
    host, port = _split_port(pattern.strip())
    if "[" not in host or _is_ipv6(host):
        return [host], port
    return _expand_range(host, path, line), port


def _split_port(token: str) -> tuple[str, int | None]:
    m = re.fullmatch(r"\[([^\[\]]+)\]:(\d+)", token)
    if m and ":" in m.group(1) and _is_ipv6(m.group(1)):
        return m.group(1), int(m.group(2))
    if _is_ipv6(token):
        return token, None
    m = re.fullmatch(r"((?:[^:\[\]]|\[[^\]]*\])+):(\d+)", token)
    if m:
        return m.group(1), int(m.group(2))
    return token, None


#: hosts one INI line may expand to: web[1:100000000] would take gigabytes before anything ran
MAX_RANGE_HOSTS = 100_000


def _expand_range(name: str, path: str, line: int, limit: int = MAX_RANGE_HOSTS) -> list[str]:
    m = re.fullmatch(r"([^\[]*)\[([^\]]*)\](.*)", name)
    if not m:
        raise InventoryError(f"host name {name!r} has an unclosed range: write name[01:10] or name[a:f]",
                             source=path, line=line)
    head, spec, tail = m.groups()

    def bad(why: str) -> InventoryError:
        return InventoryError(f"host range [{spec}] in {name!r} {why}: write [start:end] or [start:end:step], "
                              f"e.g. web[01:10] or db-[a:c]", source=path, line=line)

    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise bad("is malformed")
    start, end = bounds[0] or "0", bounds[1]
    if not end:
        raise bad("has no end")
    try:
        step = int(bounds[2]) if len(bounds) == 3 else 1
    except ValueError:
        raise bad("has a step that is not a number") from None
    if step < 1:
        raise bad("has a step below 1")
    width = len(start) if start[0] == "0" and len(start) > 1 else 0
    if width and len(end) != width:
        raise bad("pads its start and end to different widths")
    letters = string.ascii_letters
    if len(start) == 1 and len(end) == 1 and start in letters and end in letters:
        if letters.index(start) > letters.index(end):
            raise bad("runs backwards")
        values: list[str] = list(letters[letters.index(start):letters.index(end) + 1:step])
    else:
        try:
            numbers = range(int(start), int(end) + 1, step)
        except ValueError:
            raise bad("mixes letters and numbers") from None
        if max(0, (numbers.stop - numbers.start + step - 1) // step) > limit:  # len() overflows past 2**63
            raise InventoryError(f"host range in {name!r} makes more than {MAX_RANGE_HOSTS} hosts: split the "
                                 f"inventory, or list fewer hosts per line", source=path, line=line)
        values = [str(i).zfill(width) for i in numbers]
    if not values:
        raise bad("is empty")
    names: list[str] = []
    for value in values:
        expanded = head + value + tail
        names.extend(_expand_range(expanded, path, line, max(1, limit // len(values))) if "[" in tail
                     else [expanded])
    return names


def _is_ipv6(text: str) -> bool:
    if ":" not in text:
        return False
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# YAML with line numbers (remote_support.yamlfile), and JSON


def _looks_like_yaml(text: str) -> bool:
    """Whether a file without a YAML extension was meant as YAML: so its syntax errors are reported as such."""
    for raw in text.splitlines():
        line = raw.strip()
        if line and line[0] not in "#;":
            return line.startswith(("---", "{")) or re.match(r"^[\w.\-\"']+:(\s|$)", line) is not None
    return False


# --------------------------------------------------------------------------------------------------
# Small helpers


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError:
        raise InventoryError("is not UTF-8 text: save it as UTF-8 (or remove it from the inventory "
                             "directory)", source=path) from None
    except OSError as exc:
        raise InventoryError(f"cannot be read ({exc.strerror}): check its permissions", source=path) from None


def _inventory_files(directory: str) -> list[str]:
    """Inventory files in a directory and its subdirectories, sorted, skipping what Ansible skips."""
    files: list[str] = []
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") or name in _IGNORED_NAMES or name.endswith(_IGNORED_EXTS):
            continue
        full = os.path.join(directory, name)
        files.extend(_inventory_files(full) if os.path.isdir(full) else [full])
    return files


def _vars_files(directory: str, name: str) -> list[str]:
    """Ansible's find_vars_files: the first of NAME, NAME.yml, NAME.yaml, NAME.json; a directory NAME/
    gives its files (no extension or a YAML one) in lexical order, recursively."""
    if not os.path.isdir(directory):
        return []
    base = os.path.join(directory, name)
    for candidate in (base, *(base + ext for ext in _YAML_EXTS)):
        if os.path.isdir(candidate):
            return _vars_dir_files(candidate)
        if os.path.exists(candidate):
            return [candidate]
    return []


def _vars_dir_files(directory: str) -> list[str]:
    found: list[str] = []
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") or name.endswith("~"):
            continue
        full = os.path.join(directory, name)
        ext = os.path.splitext(name)[1]
        if os.path.isdir(full) and not ext:
            found.extend(_vars_dir_files(full))
        elif os.path.isfile(full) and (not ext or ext in _YAML_EXTS):
            found.append(full)
    return found


def _value(value: Any, path: str, line: int) -> Any:
    """A variable's value; ``{secret: "env:NAME"}`` becomes a :class:`SecretRef`."""
    if isinstance(value, dict) and len(value) == 1 and "secret" in value:
        spec = value["secret"]
        if not isinstance(spec, str) or not spec:
            raise InventoryError(f"a secret reference needs a string such as env:NAME, file:PATH or prompt, "
                                 f"not {spec!r}", source=path, line=line)
        return SecretRef(spec, source=f"{path}:{line}")
    return value


def _mapping(value: Any, path: str, line: int, what: str, expected: str) -> Map:
    if value is None:
        return Map(line=line)
    if not isinstance(value, dict):
        raise InventoryError(f"{what} must be {expected}, not a {_kind(value)}", source=path, line=line)
    return value if isinstance(value, Map) else Map(value, line=line)


def _names(value: Any, path: str, line: int, what: str) -> list[tuple[str, int]]:
    """Names from a YAML list (or a single string), each with its line."""
    if value is None:
        return []
    if isinstance(value, str):
        return [(value, line)]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise InventoryError(f"{what} must be a list of names, e.g. [web, db]", source=path, line=line)
    lines = value.lines if isinstance(value, Seq) else [line] * len(value)
    return [(str(v), n) for v, n in zip(value, lines)]


def _check_group_keys(name: str, body: Map, path: str) -> None:
    for key in body:
        if key not in _GROUP_KEYS:
            raise InventoryError(f"group {name} has unknown key {key!r}: a group may only have "
                                 f"{', '.join(_GROUP_KEYS)} (put variables under vars:)",
                                 source=path, line=body.line_of(key))


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "string" if isinstance(value, str) else type(value).__name__
