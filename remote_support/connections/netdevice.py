"""Network devices (switches, routers, firewalls) through netmiko's interactive CLI sessions.

One netmiko session per device for the whole run (the runner opens one Connection per host). Hosts say
``connection: network`` and ``device_type`` (a netmiko name such as ``cisco_ios``; Ansible's
``ansible_network_os`` is mapped by the inventory). Address, port, user and password, ~/.ssh/config and
the known_hosts files are resolved exactly as for SSH hosts (:func:`.ssh.resolve_settings`); host keys
are checked strictly: an unknown key is refused unless ``--accept-new-host-keys`` (then recorded in the
tool's known_hosts), a changed key is always refused.

``run`` sends one CLI command (``send_command``); a CLI error (``% Invalid input ...``) gives rc 1 with the
error line in stderr. Network devices add ``send_config(lines)``, ``save_config()`` and ``get_config()``.
Every result carries the session transcript of that command (``session_log``), secrets masked.
"""

from __future__ import annotations

import io
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Sequence

import paramiko

from ..errors import (AuthError, CommandTimeout, ConnectError, HostError, HostKeyError, NotSupportedError,
                      UnreachableError, UsageError)
from ..results import CommandResult
from ..secrets import MASK
from .base import Connection, ConnectOptions
from .ssh import SSHSettings, _fingerprint, _record_host_key, resolve_settings, tool_known_hosts

if TYPE_CHECKING:
    from ..inventory import Host

#: a line a Cisco-like CLI prints when it rejects a command
CLI_ERROR = re.compile(r"^\s*% ?(Invalid input|Incomplete command|Ambiguous command|Unknown command|"
                       r"Unrecognized command|Bad |Error).*$", re.M | re.I)
DEFAULT_READ_TIMEOUT = 30.0


@dataclass(frozen=True)
class NetworkCommandResult(CommandResult):
    """A CommandResult with what the device's session showed while the command ran (secrets masked)."""

    session_log: str = ""


def device_types() -> list[str]:
    """The netmiko device types usable over SSH (netmiko's own dispatch dict)."""
    from netmiko.ssh_dispatcher import CLASS_MAPPER

    return sorted(name for name in CLASS_MAPPER if not name.endswith(("_telnet", "_serial")))


def resolve_device_type(host: "Host") -> str:
    value = host.get("device_type")
    if not value:
        raise UsageError(f"host {host.name} has connection: network but no device_type: set device_type "
                         f"(a netmiko name such as cisco_ios) or ansible_network_os in the inventory")
    value = str(value)
    known = device_types()
    if value not in known:
        raise UsageError(f"host {host.name}: unknown device_type {value!r}: use one of netmiko's "
                         f"{', '.join(known)}")
    return value


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """No known key for the device: refuse, or record it with --accept-new-host-keys."""

    def __init__(self, host: str, settings: SSHSettings, accept_new: bool):
        self.host = host
        self.settings = settings
        self.accept_new = accept_new

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        if not self.accept_new:
            raise HostKeyError(self.host, f"host key unknown for {self.host}: refusing",
                               f"verify {_fingerprint(key)} and re-run with --accept-new-host-keys, "
                               "or add it to known_hosts")
        _record_host_key(self.settings, key)


class NetworkConnection(Connection):
    """A network device's CLI over SSH with netmiko."""

    def __init__(self, host: "Host", options: ConnectOptions):
        super().__init__(host, options)
        self.settings: SSHSettings | None = None
        self.device_type: str | None = None
        self._session = None  # netmiko BaseConnection
        self._log = io.BytesIO()
        self._log_read = 0
        self._lock = threading.Lock()  # one command at a time on the one CLI session

    # -- open / close

    def open(self) -> None:
        from netmiko import ConnectHandler
        from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException
        from netmiko.session_log import SessionLog

        self.device_type = resolve_device_type(self.host)
        self.start_clock()
        self.settings = s = resolve_settings(self.host, self.options)
        enable = (self.host.secret("enable_password") or self.options.become_password
                  or self.host.secret("become_password"))
        enable = str(enable) if enable else ""
        MASK.add(enable)
        no_log = {name: value for name, value in (("password", s.password), ("secret", enable)) if value}
        explicit_key = str(self.host.get("private_key_file") or "")
        alt_file = str(self.host.get("known_hosts_file") or tool_known_hosts())
        params = dict(
            device_type=self.device_type, host=s.address, port=s.port, username=s.user,
            password=s.password or "", secret=enable,
            conn_timeout=s.connect_timeout, auth_timeout=s.connect_timeout, banner_timeout=s.connect_timeout,
            # strict host keys: ~/.ssh/known_hosts, the host's (or the tool's) file, then the rest below
            ssh_strict=True, system_host_keys=True, alt_host_keys=True, alt_key_file=alt_file,
            use_keys=bool(explicit_key), key_file=explicit_key or None, allow_agent=False,
            session_log=SessionLog(buffered_io=self._log, no_log=no_log),
            keepalive=s.keepalive, auto_connect=False,
        )
        try:
            session = ConnectHandler(**params)
        except ValueError as exc:  # netmiko checks its arguments (key file...) before connecting
            raise UsageError(f"host {self.host.name}: {exc}") from None
        build = session._build_ssh_client

        def build_client() -> paramiko.SSHClient:
            client = build()
            loaded = {str(Path(alt_file).expanduser())}
            for path in s.known_hosts:
                if path not in loaded and Path(path).is_file():
                    try:
                        client.get_host_keys().load(path)
                    except (OSError, paramiko.SSHException):
                        pass  # an unreadable file contributes nothing, as for SSH hosts
            client.set_missing_host_key_policy(_HostKeyPolicy(self.host.name, s, self.options.accept_new_host_keys))
            return client

        session._build_ssh_client = build_client
        where = f"{s.address}:{s.port}"
        try:
            session._open()
        except HostKeyError:
            raise
        except NetmikoAuthenticationException:
            raise AuthError(self.host.name, f"auth failed for user {s.user}",
                            "check user and password (a secret reference) in the inventory") from None
        except NetmikoTimeoutException as exc:
            cause = exc.__context__
            if isinstance(cause, paramiko.BadHostKeyException):
                raise HostKeyError(self.host.name, f"host key changed for {self.host.name}: refusing",
                                   f"it now presents {_fingerprint(cause.key)}, known_hosts holds another; "
                                   f"if the change is expected, remove the old key with "
                                   f"`ssh-keygen -R {s.host_key_names[0]} -f <file>`") from None
            first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            if isinstance(cause, (ConnectionRefusedError, paramiko.ssh_exception.NoValidConnectionsError)):
                raise UnreachableError(self.host.name, f"unreachable: connection refused by {where}",
                                       "is the device up and is SSH enabled on that port?") from None
            raise UnreachableError(self.host.name, f"unreachable: {where}: {first}",
                                   "is the device up, and the address and port right?") from None
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise UnreachableError(self.host.name, f"unreachable: {where}: {exc or type(exc).__name__}") from None
        except Exception as exc:  # netmiko raises plain exceptions when the prompt never shows up
            self._close_session(session)
            raise ConnectError(self.host.name, f"session set-up failed: {exc}",
                               f"is device_type {self.device_type} right for this device?") from None
        self._session = session
        if enable:
            try:
                session.enable()
            except (ValueError, Exception) as exc:
                self.close()
                if isinstance(exc, ValueError):
                    raise AuthError(self.host.name, "enable refused: check enable_password",
                                    "the device did not reach privileged mode with the enable secret") from None
                raise UnreachableError(self.host.name, f"unreachable: connection lost during enable: {exc}") from None
        self._take_log()  # the login banner and prompts are not part of the first command

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            self._close_session(session)

    @staticmethod
    def _close_session(session) -> None:
        try:
            session.disconnect()
        except Exception:  # noqa: BLE001 - the device may be gone already; closing is best effort
            pass

    # -- commands

    def _remaining(self, timeout: float | None) -> float:
        limit = self.remaining(timeout)
        limit = DEFAULT_READ_TIMEOUT if limit is None else limit
        if limit <= 0:
            raise CommandTimeout(self.host.name, "host timeout reached before the command could start")
        return limit

    def _require(self):
        if self._session is None:
            raise UnreachableError(self.host.name, "unreachable: not connected (connection closed or lost)")
        return self._session

    def _take_log(self) -> str:
        session = self._session
        if session is not None and session.session_log is not None:
            session.session_log.flush()
        data = self._log.getvalue()
        text, self._log_read = data[self._log_read:], len(data)
        return MASK(text.decode("utf-8", "replace"))

    def _call(self, label: str, timeout: float | None, action) -> NetworkCommandResult:
        """Run ``action(session, read_timeout) -> output`` and make a result of it; errors mapped."""
        from netmiko.exceptions import ReadTimeout

        session = self._require()
        limit = self._remaining(timeout)
        started = time.monotonic()
        with self._lock:
            try:
                output = action(session, limit)
            except ReadTimeout:
                log = self._take_log()
                raise CommandTimeout(self.host.name, f"{label!r}: no prompt within {limit:g}s",
                                     partial=NetworkCommandResult(label, MASK(log), "", None,
                                                                  time.monotonic() - started, log)) from None
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise UnreachableError(self.host.name, f"unreachable: connection lost during {label!r}: "
                                       f"{exc or type(exc).__name__}") from None
            log = self._take_log()
        output = MASK(output)
        errors = [m.group(0).strip() for m in CLI_ERROR.finditer(output)]
        return NetworkCommandResult(label, output, "\n".join(errors), 1 if errors else 0,
                                    time.monotonic() - started, log)

    def run(self, command: str, *, timeout: float | None = None, stdin: bytes | str | None = None,
            become: bool = False) -> NetworkCommandResult:
        """One CLI command in privileged mode (``become`` changes nothing: the session is enabled)."""
        if stdin is not None:
            raise NotSupportedError(self.host.name, "a network device command takes no stdin")
        return self._call(command, timeout,
                          lambda session, limit: session.send_command(command, read_timeout=limit))

    def send_config(self, lines: Sequence[str], *, timeout: float | None = None) -> NetworkCommandResult:
        """Apply config lines in config mode; rc 1 and the offending line when the device rejects one.

        The device stops taking lines at the first rejected one (what came before it is applied).
        """
        from netmiko.exceptions import ConfigInvalidException

        lines = [str(line) for line in lines]
        label = "\n".join(lines)
        failed: dict[str, str] = {}

        def push(session, limit: float) -> str:
            try:
                return session.send_config_set(lines, read_timeout=limit, error_pattern=CLI_ERROR.pattern)
            except ConfigInvalidException as exc:
                text = str(exc)
                rest = text.partition("at command: ")[2]
                line, _, error = rest.rpartition(", matched error: ")
                failed["line"], failed["error"] = line, error.strip()
                session.exit_config_mode()  # the device is still in config mode
                return ""

        result = self._call(label, timeout, push)
        if failed:
            reason = f"the device rejected {failed['line']!r}: {failed['error']}"
            return NetworkCommandResult(label, result.session_log, reason, 1, result.duration, result.session_log)
        if result.rc:
            offending = _offending_line(result.stdout, lines)
            reason = f"the device rejected {offending!r}: {result.stderr.splitlines()[0]}"
            return NetworkCommandResult(label, result.stdout, reason, 1, result.duration, result.session_log)
        return result

    def save_config(self, *, timeout: float | None = None) -> NetworkCommandResult:
        """Save the running config (``write memory`` on IOS; netmiko knows each platform's command)."""
        return self._call("save config", timeout, lambda session, limit: session.save_config())

    def get_config(self, *, timeout: float | None = None) -> str:
        result = self.run("show running-config", timeout=timeout)
        if result.rc:
            raise HostError(self.host.name, f"show running-config failed: {result.stderr}", "")
        return result.stdout

    # -- files

    def put(self, source: str | Path | bytes | BinaryIO, remote_path: str, *, mode: int | None = None) -> None:
        raise NotSupportedError(self.host.name, "copying files is not supported on network devices",
                                "use config steps (connection: network)")

    def get(self, remote_path: str) -> bytes:
        raise NotSupportedError(self.host.name, "fetching files is not supported on network devices",
                                "use show steps (connection: network)")


def _offending_line(output: str, lines: list[str]) -> str:
    """The config line echoed last before the first CLI error in ``output``."""
    last = ""
    wanted = {line.strip() for line in lines}
    for text in output.splitlines():
        if CLI_ERROR.match(text):
            return last or (lines[0] if lines else "")
        for candidate in wanted:
            if candidate and text.rstrip().endswith(candidate):
                last = candidate
    return last
