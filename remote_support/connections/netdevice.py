"""Network devices (switches, routers, firewalls) through netmiko's interactive CLI sessions.

One netmiko session per device for the whole run (the runner opens one Connection per host). Hosts say
``connection: network`` and ``device_type`` (a netmiko name such as ``cisco_ios``; Ansible's
``ansible_network_os`` is mapped by the inventory). Address, port, user and password, ~/.ssh/config and
the known_hosts files are resolved exactly as for SSH hosts (:func:`.ssh.resolve_settings`), and read and
decided as for SSH hosts (:func:`.ssh.verify_host_key`, ``@revoked`` and ``@cert-authority`` lines
included): an unknown key is refused unless ``--accept-new-host-keys`` (then recorded in the tool's
known_hosts), a changed or revoked key is always refused.

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

from ..errors import (AuthError, CommandTimeout, ConnectError, DeviceCommandError, HostKeyError, NotSupportedError,
                      UnreachableError, UsageError)
from ..results import CommandResult
from ..secrets import MASK
from .base import Connection, ConnectOptions
from .known_hosts import KnownKey
from .ssh import SSHConnection, SSHSettings, known_host_lines, resolve_settings, verify_host_key

if TYPE_CHECKING:
    from ..inventory import Host

#: a line a Cisco-like CLI (IOS, EOS, NX-OS, OS6, FTOS) prints when it rejects a command
CLI_ERROR = re.compile(r"^\s*% ?(Invalid|Incomplete command|Ambiguous command|Unknown command|"
                       r"Unrecognized command|Bad |Error|Access denied|Permission denied).*$", re.M | re.I)
#: what each platform family prints when it rejects a line, beyond the `%` messages above; the key
#: is a prefix of netmiko device types (the longest matching prefix wins)
PLATFORM_ERRORS = {
    # FastIron/ICX: `Invalid input -> frobnicate` (no %), `Error: ports ethe 1/1 are not ...`
    "brocade": r"^\s*(Invalid input ->.*|Error[:\s-].*|Incomplete command\..*|Ambiguous input ->.*)$",
    "ruckus": r"^\s*(Invalid input ->.*|Error[:\s-].*|Incomplete command\..*|Ambiguous input ->.*)$",
    # Junos CLI: `error: ...`, `syntax error, expecting ...`, `unknown command.`
    "juniper": r"^\s*(error:.*|syntax error.*|unknown command\..*|missing argument\..*)$",
    # Dell OS6/PowerConnect: besides `% Invalid input detected at '^' marker.`
    "dell": r"^(.*\bERROR: .*|\s*Command not found / Incomplete command.*|An invalid interface has been used.*|"
            r"\s*Invalid input\. .*|\s*VLANs failed to be configured.*|\s*These VLANs do not exist.*)$",
    # NX-OS: `% Invalid command at '^' marker.`, `ERROR: ...`
    "cisco_nxos": r"^\s*(ERROR:.*|Syntax error while parsing.*)$",
    # EOS: besides `% Invalid input`, `% Incomplete command`: `% Unavailable command`, `% Not supported`
    "arista": r"^\s*% (Unavailable command|Not supported|.* not found).*$",
}
DEFAULT_READ_TIMEOUT = 30.0


def cli_errors(device_type: str | None) -> re.Pattern:
    """The pattern of lines by which ``device_type``'s CLI rejects a command (multi-line, per line)."""
    best = max((prefix for prefix in PLATFORM_ERRORS if (device_type or "").startswith(prefix)), key=len,
               default=None)
    if best is None:
        return CLI_ERROR
    return re.compile(f"{CLI_ERROR.pattern}|{PLATFORM_ERRORS[best]}", re.M | re.I)


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
    """Every device key is decided here, as for SSH hosts (ssh.verify_host_key): the paramiko client is
    given no known keys, because paramiko.HostKeys cannot read ``@cert-authority`` / ``@revoked`` lines
    and would accept a revoked key that is also listed plainly."""

    def __init__(self, host: str, settings: SSHSettings, accept_new: bool, known: list[KnownKey]):
        self.host = host
        self.settings = settings
        self.accept_new = accept_new
        self.known = known

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        verify_host_key(self.host, key, self.known, self.settings, self.accept_new)


class NetworkConnection(Connection):
    """A network device's CLI over SSH with netmiko."""

    shell = "network-cli"
    shells = ("network-cli",)
    can_transfer_files = False
    can_push_config = True
    can_detect_reboot = False
    can_become = False  # privileged mode is `enable`, done at open

    def __init__(self, host: "Host", options: ConnectOptions):
        super().__init__(host, options)
        self.settings: SSHSettings | None = None
        self.device_type: str | None = None
        self._session = None  # netmiko BaseConnection
        self._log = io.BytesIO()
        self._log_read = 0
        self._lock = threading.Lock()  # one command at a time on the one CLI session
        self.errors: re.Pattern = CLI_ERROR  # the device's error lines (cli_errors(device_type) once open)

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
        params = dict(
            device_type=self.device_type, host=s.address, port=s.port, username=s.user,
            password=s.password or "", secret=enable,
            conn_timeout=s.connect_timeout, auth_timeout=s.connect_timeout, banner_timeout=s.connect_timeout,
            # host keys: none loaded by netmiko/paramiko, every key is decided by _HostKeyPolicy below
            ssh_strict=True, system_host_keys=False, alt_host_keys=False,
            use_keys=bool(explicit_key), key_file=explicit_key or None, allow_agent=False,
            session_log=SessionLog(buffered_io=self._log, no_log=no_log),
            keepalive=s.keepalive, auto_connect=False,
        )
        try:
            session = ConnectHandler(**params)
        except ValueError as exc:  # netmiko checks its arguments (key file...) before connecting
            raise UsageError(f"host {self.host.name}: {exc}") from None
        build = session._build_ssh_client

        known = known_host_lines(s)

        def build_client() -> paramiko.SSHClient:
            client = build()
            client.set_missing_host_key_policy(
                _HostKeyPolicy(self.host.name, s, self.options.accept_new_host_keys, known))
            connect = client.connect

            def transport(*args, **kwargs) -> paramiko.Transport:
                made = paramiko.Transport(*args, **kwargs)
                # ask for the key types known_hosts holds, as ssh does (else a device with an RSA and an
                # ed25519 key could present the one not listed, which reads as a changed key)
                SSHConnection._prefer_known_key_types(made, known)
                return made

            client.connect = lambda *args, **kwargs: connect(*args, transport_factory=transport, **kwargs)
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
        self.errors = cli_errors(self.device_type)
        _quick_config_mode_checks(session)
        try:
            # privileged mode: with the enable secret, or without one where the device allows it (a
            # privilege-15 login is there already; Dell OS6 may take an empty enable password)
            privileged = session.check_enable_mode()
            if not privileged:
                session.enable()
        except ValueError:
            self.close()
            if enable:
                raise AuthError(self.host.name, "enable refused: check enable_password",
                                "the device did not reach privileged mode with the enable secret") from None
            raise AuthError(self.host.name, "enable refused: the device wants an enable password",
                            "set enable_password (a secret reference) for this host in the inventory") from None
        except Exception as exc:  # noqa: BLE001 - netmiko raises its own and socket errors here
            self.close()
            raise UnreachableError(self.host.name, f"unreachable: connection lost during enable: "
                                   f"{exc or type(exc).__name__}") from None
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

        from netmiko.exceptions import NetmikoBaseException

        session = self._require()
        limit = self._remaining(timeout)
        started = time.monotonic()
        with self._lock:
            try:
                output = action(session, limit)
            except ReadTimeout as exc:
                log = self._take_log()
                waited = time.monotonic() - started
                said = [m.group(0).strip() for m in self.errors.finditer(MASK(log))]
                raise CommandTimeout(self.host.name, f"{_short(label)!r}: no answer after {waited:.1f}s: "
                                     f"{_waited_for(exc)} (the limit was {limit:g}s; raise it with --timeout "
                                     f"or the step's timeout)" + (f"; the device said: {said[0]}" if said else ""),
                                     partial=NetworkCommandResult(label, MASK(log), "", None, waited, log)) from None
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise UnreachableError(self.host.name, f"unreachable: connection lost during {_short(label)!r}: "
                                       f"{exc or type(exc).__name__}") from None
            except (NetmikoBaseException, ValueError) as exc:
                # netmiko's own failures (a mode it could not enter or leave, a prompt it did not
                # recognise): the device answered, not as expected; a failed command with the reason
                log = self._take_log()
                first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
                said = [m.group(0).strip() for m in self.errors.finditer(log)]
                reason = f"netmiko: {first}" + (f" The device said: {said[0]}" if said else
                                                 f" (device_type {self.device_type}: is it right for this device?)")
                return NetworkCommandResult(label, MASK(log), MASK(reason), 1, time.monotonic() - started, log)
            log = self._take_log()
        output = MASK(output)
        errors = [m.group(0).strip() for m in self.errors.finditer(output)]
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
                return session.send_config_set(lines, read_timeout=limit, error_pattern=self.errors.pattern)
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
        if result.rc and not result.stdout and result.stderr.startswith("netmiko: "):
            return result
        if result.rc:
            offending = _offending_line(result.stdout, lines, self.errors)
            reason = f"the device rejected {offending!r}: {result.stderr.splitlines()[0]}"
            return NetworkCommandResult(label, result.stdout, reason, 1, result.duration, result.session_log)
        return result

    def save_config(self, *, timeout: float | None = None) -> NetworkCommandResult:
        """Save the running config (``write memory`` on IOS; netmiko knows each platform's command)."""
        return self._call("save config", timeout, lambda session, limit: session.save_config())

    @property
    def configured_by_commit(self) -> bool:
        """Junos takes changes into a candidate and applies them with ``commit``."""
        return (self.device_type or "").startswith("juniper")

    def config_command(self) -> str:
        if self.configured_by_commit:
            display = " | display set" if str(self.host.get("config_format") or "") == "set" else ""
            return "show configuration" + display
        return "show running-config"

    def get_config(self, *, timeout: float | None = None) -> str:
        command = self.config_command()
        result = self.run(command, timeout=timeout)
        if result.rc:
            raise DeviceCommandError(self.host.name, f"{command} failed: {result.stderr}",
                                     f"is device_type {self.device_type} right, and may user "
                                     f"{self.settings.user if self.settings else '?'} read the configuration?")
        return result.stdout

    def commit_config(self, lines: Sequence[str], *, check: bool = False, confirmed: int | None = None,
                      timeout: float | None = None) -> NetworkCommandResult:
        """Junos CLI: load ``lines`` in configuration mode, then ``commit check`` (and roll back) or commit.

        Tested on recorded outputs of real Junos devices (the lab's Juniper models speak NETCONF only).
        """
        lines = [str(line).strip() for line in lines]
        verb = "commit check" if check else (f"commit confirmed {confirmed}" if confirmed else "commit")
        label = "\n".join([*lines, verb])

        from netmiko.exceptions import ConfigInvalidException

        def undo(session, limit: float) -> str:
            # leave nothing half-loaded in the candidate
            text = session.send_command("rollback 0", expect_string=r"[>#]\s*$", read_timeout=limit)
            session.exit_config_mode()
            return text

        def push(session, limit: float) -> str:
            try:
                output = session.send_config_set(lines, read_timeout=limit, error_pattern=self.errors.pattern,
                                                 exit_config_mode=False)
            except ConfigInvalidException as exc:
                undo(session, limit)
                rest = str(exc).partition("at command: ")[2]
                line, _, error = rest.rpartition(", matched error: ")
                return f"{line}\n{error.strip()}\n"
            if check:
                output += session.send_command("commit check", expect_string=r"[>#]\s*$", read_timeout=limit)
                return output + undo(session, limit)
            try:
                return output + session.commit(confirm=bool(confirmed), confirm_delay=confirmed or None,
                                               and_quit=True, read_timeout=limit)
            except ValueError as exc:  # netmiko: "Commit failed with the following errors: ..."
                undo(session, limit)
                return output + str(exc) + "\n"

        result = self._call(label, timeout, push)
        if result.rc and result.stdout and not result.stderr.startswith("netmiko: "):
            offending = _offending_line(result.stdout, lines, self.errors)
            return NetworkCommandResult(label, result.stdout, f"the device rejected {offending!r}: "
                                        f"{result.stderr.splitlines()[0]}", 1, result.duration, result.session_log)
        return result

    # -- files

    def put(self, source: str | Path | bytes | BinaryIO, remote_path: str, *, mode: int | None = None) -> None:
        raise NotSupportedError(self.host.name, "copying files is not supported on network devices",
                                "use config steps (connection: network)")

    def get(self, remote_path: str) -> bytes:
        raise NotSupportedError(self.host.name, "fetching files is not supported on network devices",
                                "use show steps (connection: network)")


def _short(label: str) -> str:
    first, _, rest = label.partition("\n")
    return first + (f" (+{rest.count(chr(10)) + 1} lines)" if rest else "")


def _waited_for(exc: Exception) -> str:
    """What netmiko was waiting for when it gave up, from its ReadTimeout message."""
    text = " ".join(str(exc).split())
    for marker in ("Pattern not detected:", "The command echo was not detected", "Search pattern never detected"):
        at = text.find(marker)
        if at >= 0:
            what = text[at:].split(" in output")[0].split(" Things you might")[0].rstrip(".")
            what = what.replace("Pattern not detected: ", "the pattern ").replace("The command echo", "the command's echo")
            return "waited for " + re.sub(r"\\+(.)", r"\1", what)  # netmiko shows the pattern regex-escaped
    return "waited for the device's prompt"


def _quick_config_mode_checks(session) -> None:
    """Make netmiko check config mode by reading up to the prompt, not by waiting for 2 s of silence.

    Without a pattern (FastIron, Dell OS6, ...) netmiko's check_config_mode sends a newline and waits
    until the device is quiet for 2 s; a config push checks four times (about 9 s per push).
    """
    import inspect

    check = session.check_config_mode
    default = inspect.signature(check).parameters.get("pattern")
    if default is None or default.default:
        return  # the platform's driver has its own pattern (IOS, Junos...)

    def check_config_mode(*args, **kwargs):
        if len(args) < 2 and not kwargs.get("pattern"):
            kwargs["pattern"] = r"[>#]"
        return check(*args, **kwargs)

    session.check_config_mode = check_config_mode


def _offending_line(output: str, lines: list[str], errors: re.Pattern = CLI_ERROR) -> str:
    """The config line echoed last before the first CLI error in ``output``."""
    last = ""
    wanted = {line.strip() for line in lines}
    for text in output.splitlines():
        if errors.match(text):
            return last or (lines[0] if lines else "")
        for candidate in wanted:
            if candidate and text.rstrip().endswith(candidate):
                last = candidate
    return last
