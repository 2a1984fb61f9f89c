"""Junos devices over NETCONF (ncclient), for devices that offer NETCONF and no CLI session.

Hosts say ``connection: netconf`` (Ansible's ``ansible_connection: netconf``); ``device_type`` defaults to
``juniper_junos``. Address, port, user, password and known_hosts resolve as for SSH hosts; host keys are
checked as for SSH hosts, from the same known_hosts lines (``@revoked`` and ``@cert-authority`` included):
unknown: refused unless ``--accept-new-host-keys``, then recorded; changed or revoked: refused.

Configuration is by commit, as on the device: ``commit_config(lines)`` loads ``set``/``delete`` lines into
the candidate (``<edit-config>``, converted by :func:`.junos.set_to_xml`) under a lock, then either
validates and discards it (``check=True``: ``commit check``) or commits it (``commit confirmed N`` when
``confirmed`` minutes are given). ``get_config()`` is the running configuration in the curly form, or in
``set`` lines with the host variable ``config_format: set``. ``run()`` answers ``show configuration`` (and
``| display set``) from ``<get-config>`` and sends anything else as Junos' ``<command>`` RPC.

Tested against fake-switches' Juniper models (NETCONF only) in the lab: tests/connections/test_netconf.py.
"""

from __future__ import annotations

import atexit
import hashlib
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Sequence

import paramiko

from ..errors import AuthError, CommandTimeout, HostKeyError, UnreachableError, UsageError
from ..secrets import MASK
from .base import Connection, ConnectOptions
from .junos import SetSyntaxError, configuration_element, curly_to_set, rpc_error_text, set_to_xml, xml_to_curly
from ..errors import DeviceCommandError, NotSupportedError
from .netdevice import NetworkCommandResult
from .known_hosts import KnownKey
from .ssh import SSHSettings, known_host_lines, resolve_settings, verify_host_key

if TYPE_CHECKING:
    from ..inventory import Host

CONFIG_FORMATS = ("curly", "set")
DEFAULT_RPC_TIMEOUT = 30.0


class NetconfConnection(Connection):
    """A Junos device's NETCONF session over SSH with ncclient."""

    shell = "network-cli"
    shells = ("network-cli",)
    can_transfer_files = False
    can_push_config = True
    can_detect_reboot = False
    can_become = False
    configured_by_commit = True

    def __init__(self, host: "Host", options: ConnectOptions):
        super().__init__(host, options)
        self.settings: SSHSettings | None = None
        self.device_type = str(host.get("device_type") or "juniper_junos")
        self._manager = None
        self._lock = threading.Lock()

    # -- open / close

    def open(self) -> None:
        from ncclient import manager
        from ncclient.transport.errors import AuthenticationError, SSHError, SSHUnknownHostError

        if not self.device_type.startswith("juniper"):
            raise UsageError(f"host {self.host.name}: connection: netconf supports Junos devices (device_type "
                             f"juniper_junos), not {self.device_type!r}: use connection: network for it")
        config_format = str(self.host.get("config_format") or "curly")
        if config_format not in CONFIG_FORMATS:
            raise UsageError(f"host {self.host.name}: config_format {config_format!r}: use one of "
                             f"{', '.join(CONFIG_FORMATS)}")
        self.start_clock()
        self.settings = s = resolve_settings(self.host, self.options)
        MASK.add(s.password or "")
        known = known_host_lines(s)
        seen: list[str] = []
        verdicts: list[str] = []

        def unknown_host(host: str, fingerprint: str) -> bool:
            # ncclient is given no known_hosts of its own (_NO_KNOWN_HOSTS: paramiko.HostKeys cannot read
            # marker lines), so it asks here for every key, before authenticating; ncclient shows only the
            # MD5 fingerprint: the full key is checked again once connected
            seen.append(fingerprint)
            verdicts.append(_verdict_by_md5(fingerprint.lower(), known))
            return verdicts[-1] == "ok" or (verdicts[-1] == "unknown" and self.options.accept_new_host_keys)

        where = f"{s.address}:{s.port}"
        try:
            self._manager = manager.connect(
                host=s.address, port=s.port, username=s.user, password=s.password or "",
                hostkey_verify=True, unknown_host_cb=unknown_host, ssh_config=str(_no_known_hosts_config()),
                allow_agent=False, look_for_keys=False,
                key_filename=str(self.host.get("private_key_file")) if self.host.get("private_key_file") else None,
                timeout=s.connect_timeout, device_params={"name": "junos"}, manager_params={"timeout": 30})
        except SSHUnknownHostError:
            fingerprint = seen[0] if seen else "?"
            verdict = verdicts[0] if verdicts else "unknown"
            if verdict == "revoked":
                revoked = next(e for e in known if e.marker == "revoked" and _md5_blob(e.blob) == fingerprint.lower())
                raise HostKeyError(self.host.name, f"host key revoked for {self.host.name}: refusing",
                                   f"the host key is marked @revoked in {revoked.where}; it presents MD5 "
                                   f"{fingerprint}: this may be a stolen key impersonating the host") from None
            if verdict == "changed":
                entry = next(e for e in known if e.marker == "")
                raise HostKeyError(self.host.name, f"host key changed for {self.host.name}: refusing",
                                   f"it now presents MD5 {fingerprint}, {entry.where} holds another; if "
                                   f"the change is expected, remove the old key with "
                                   f"`ssh-keygen -R {s.host_key_names[0]} -f {entry.path}`") from None
            raise HostKeyError(self.host.name, f"host key unknown for {self.host.name}: refusing",
                               f"verify MD5 {fingerprint} and re-run with --accept-new-host-keys, "
                               "or add it to known_hosts") from None
        except AuthenticationError:
            raise AuthError(self.host.name, f"auth failed for user {s.user}",
                            "check user and password (a secret reference) in the inventory") from None
        except SSHError as exc:
            text = str(exc)
            if "Could not open socket" in text:
                raise UnreachableError(self.host.name, f"unreachable: connection refused by {where}",
                                       "is the device up and is NETCONF over SSH enabled on that port?") from None
            raise UnreachableError(self.host.name, f"unreachable: {where}: {text}") from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise UnreachableError(self.host.name, f"unreachable: {where}: {exc or type(exc).__name__}") from None
        try:
            # the whole key, as ssh checks it (records it with --accept-new-host-keys when it was unknown)
            verify_host_key(self.host.name, self._manager._session._transport.get_remote_server_key(), known, s,
                            self.options.accept_new_host_keys)
        except HostKeyError:
            self.close()
            raise
        capabilities = set(self._manager.server_capabilities)
        if not any(c.startswith("urn:ietf:params:netconf:capability:candidate") or
                   c.startswith("urn:ietf:params:xml:ns:netconf:capability:candidate") for c in capabilities):
            self.close()
            raise UsageError(f"host {self.host.name}: the NETCONF server offers no candidate configuration, "
                             "which commits need")

    def close(self) -> None:
        session, self._manager = self._manager, None
        if session is not None:
            try:
                session.close_session()
            except Exception:  # noqa: BLE001 - the device may be gone already; closing is best effort
                pass

    # -- commands

    def _require(self):
        if self._manager is None:
            raise UnreachableError(self.host.name, "unreachable: not connected (connection closed or lost)")
        return self._manager

    def _call(self, label: str, timeout: float | None, action) -> NetworkCommandResult:
        """Run ``action(manager) -> text``; an RPC error is rc 1 with Junos' ``error:`` lines."""
        from ncclient.operations.errors import TimeoutExpiredError
        from ncclient.operations.rpc import RPCError
        from ncclient.transport.errors import TransportError

        manager = self._require()
        limit = self.remaining(timeout)
        limit = DEFAULT_RPC_TIMEOUT if limit is None else limit
        if limit <= 0:
            raise CommandTimeout(self.host.name, "host timeout reached before the command could start")
        started = time.monotonic()
        with self._lock:
            manager.timeout = limit
            try:
                output = action(manager)
            except RPCError as exc:
                text = MASK(rpc_error_text(exc))
                return NetworkCommandResult(label, "", text, 1, time.monotonic() - started, f"{label}\n{text}\n")
            except SetSyntaxError as exc:
                return NetworkCommandResult(label, "", f"error: {exc}", 1, time.monotonic() - started, "")
            except TimeoutExpiredError:
                raise CommandTimeout(self.host.name, f"{label.splitlines()[0]!r}: no NETCONF reply after "
                                     f"{time.monotonic() - started:.1f}s (the limit was {limit:g}s)") from None
            except (TransportError, OSError, EOFError, socket.error, paramiko.SSHException) as exc:
                raise UnreachableError(self.host.name, f"unreachable: connection lost during "
                                       f"{label.splitlines()[0]!r}: {exc or type(exc).__name__}") from None
        output = MASK(output)
        return NetworkCommandResult(label, output, "", 0, time.monotonic() - started, f"{label}\n{output}")

    def _running(self, manager, config_format: str | None = None) -> str:
        reply = manager.get_config(source="running")
        curly = xml_to_curly(configuration_element(reply.data_xml if hasattr(reply, "data_xml") else reply.xml))
        fmt = config_format or str(self.host.get("config_format") or "curly")
        return "\n".join(curly_to_set(curly)) + "\n" if fmt == "set" else curly

    def run(self, command: str, *, timeout: float | None = None, stdin: bytes | str | None = None,
            become: bool = False) -> NetworkCommandResult:
        """``show configuration [| display set]`` from <get-config>; other commands as Junos' <command> RPC."""
        if stdin is not None:
            raise NotSupportedError(self.host.name, "a network device command takes no stdin")
        words = " ".join(command.split())
        if words in ("show configuration", "show configuration | display set"):
            fmt = "set" if words.endswith("display set") else "curly"
            return self._call(command, timeout, lambda m: self._running(m, fmt))

        def send(manager) -> str:
            reply = manager.command(command=command, format="text")
            return "".join(reply.xpath("//output/text()")) if hasattr(reply, "xpath") else str(reply)

        return self._call(command, timeout, send)

    def get_config(self, *, timeout: float | None = None) -> str:
        result = self._call("show configuration", timeout, self._running)
        if result.rc:
            raise DeviceCommandError(self.host.name, f"reading the configuration failed: {result.stderr}",
                                     "may this user read the configuration over NETCONF?")
        return result.stdout

    def commit_config(self, lines: Sequence[str], *, check: bool = False, confirmed: int | None = None,
                      timeout: float | None = None) -> NetworkCommandResult:
        """Load ``lines`` into the candidate and ``commit check`` (then discard) or ``commit``."""
        lines = [str(line).strip() for line in lines]
        verb = "commit check" if check else (f"commit confirmed {confirmed}" if confirmed else "commit")
        label = "\n".join([*lines, verb])

        def apply(manager) -> str:
            config = set_to_xml(lines)
            with manager.locked("candidate"):
                try:
                    manager.edit_config(target="candidate", config=config)
                    if check:
                        manager.validate(source="candidate")
                        return "configuration check succeeds"
                    if confirmed:
                        manager.commit(confirmed=True, timeout=str(int(confirmed) * 60))
                        return f"commit confirmed will be automatically rolled back in {confirmed} minutes " \
                               "unless confirmed\ncommit complete"
                    manager.commit()
                    return "commit complete"
                finally:
                    if check:
                        manager.discard_changes()
                    else:
                        _discard_quietly(manager)  # a failed load leaves nothing half-loaded behind

        result = self._call(label, timeout, apply)
        if result.rc and len(lines) > 1 and " at " not in result.stderr:
            culprit = self._first_rejected(lines, timeout)
            if culprit:
                reason = f"the device rejected {culprit!r}: {result.stderr.splitlines()[0]}"
                return NetworkCommandResult(label, result.stdout, reason, 1, result.duration, result.session_log)
        return result

    def _first_rejected(self, lines: list[str], timeout: float | None) -> str | None:
        """The first line the candidate refuses on its own (the device's error did not say which)."""
        from ncclient.operations.rpc import RPCError

        def probe(manager) -> str:
            for line in lines:
                try:
                    with manager.locked("candidate"):
                        try:
                            manager.edit_config(target="candidate", config=set_to_xml([line]))
                        finally:
                            manager.discard_changes()
                except (RPCError, SetSyntaxError):
                    return line
            return ""

        result = self._call("find the rejected line", timeout, probe)
        return result.stdout or None

    def send_config(self, lines: Sequence[str], *, timeout: float | None = None) -> NetworkCommandResult:
        """As :meth:`commit_config` (a Junos device is configured by commit)."""
        return self.commit_config(lines, timeout=timeout)

    def save_config(self, *, timeout: float | None = None) -> NetworkCommandResult:
        """Nothing to do: a commit is persistent on Junos."""
        return NetworkCommandResult("save config", "a commit is persistent", "", 0, 0.0, "")

    # -- files

    def put(self, source: str | Path | bytes | BinaryIO, remote_path: str, *, mode: int | None = None) -> None:
        raise NotSupportedError(self.host.name, "copying files is not supported on network devices",
                                "use config steps (connection: netconf)")

    def get(self, remote_path: str) -> bytes:
        raise NotSupportedError(self.host.name, "fetching files is not supported on network devices",
                                "use show steps (connection: netconf)")


def _discard_quietly(manager) -> None:
    try:
        manager.discard_changes()
    except Exception:  # noqa: BLE001 - after a commit there is nothing to discard; the device may say so
        pass


def _md5_blob(blob: bytes) -> str:
    digest = hashlib.md5(blob).hexdigest()  # noqa: S324 - ncclient names keys by their MD5 fingerprint
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _verdict_by_md5(fingerprint: str, known: list[KnownKey]) -> str:
    """known_hosts.check_host_key's answer for a plain key known only by its MD5 fingerprint."""
    if any(e.marker == "revoked" and _md5_blob(e.blob) == fingerprint for e in known):
        return "revoked"
    plain = [e for e in known if e.marker == ""]
    if any(_md5_blob(e.blob) == fingerprint for e in plain):
        return "ok"
    return "changed" if plain else "unknown"


def _no_known_hosts_config() -> Path:
    """An ssh_config for ncclient that points its own known_hosts at /dev/null (the check is ours)."""
    global _NO_KNOWN_HOSTS
    if _NO_KNOWN_HOSTS is None or not _NO_KNOWN_HOSTS.is_file():
        handle = tempfile.NamedTemporaryFile("w", prefix="rs-ncclient-", suffix=".ssh_config", delete=False)
        with handle:
            handle.write("Host *\n  UserKnownHostsFile /dev/null\n")
        _NO_KNOWN_HOSTS = Path(handle.name)
        atexit.register(_NO_KNOWN_HOSTS.unlink, missing_ok=True)
    return _NO_KNOWN_HOSTS


_NO_KNOWN_HOSTS: Path | None = None
