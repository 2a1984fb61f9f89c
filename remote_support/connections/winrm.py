"""Windows hosts over WinRM (WS-Management / WinRS) through pywinrm's ``Protocol``.

Safe defaults, because that is where pywinrm users trip: NTLM with message encryption over HTTP (5985),
Kerberos when asked, Basic only over HTTPS (5986) unless ``winrm_allow_basic_http: true``; the server
certificate is checked (``winrm_ca_trust_path`` names a CA bundle). Every command gets its own shell,
opened with codepage 65001 (UTF-8), and the shell is always deleted, also when the command timed out
(it is sent Signal terminate first). Long PowerShell scripts go through stdin, never over the 8191
character command-line limit; files are copied as chunked base64 through PowerShell with a SHA-256 check.

Host variables: ``address``, ``user``, ``password``, ``winrm_port`` (or ``port``), ``winrm_scheme``
(http/https), ``winrm_transport`` (ntlm, kerberos, basic), ``winrm_server_cert_validation``
(validate/ignore), ``winrm_ca_trust_path``, ``winrm_allow_basic_http``, ``winrm_message_encryption``
(auto/always/never), ``winrm_operation_timeout``, ``winrm_kerberos_hostname`` (the name in the service
principal ``HTTP/<name>`` when ``address`` is an IP or an alias; Kerberos needs a ticket from ``kinit``, a
``user`` with ``@REALM`` picks that principal from the cache, no password is used; delegation is off).
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..errors import (AuthError, BecomeError, CommandTimeout, ConnectError, HostKeyError,
                      UnreachableError, UsageError, WinRMCommandError)
from ..results import CommandResult
from ..secrets import MASK
from ..spill import Collected, SpilledText
from .base import Connection, ConnectOptions
from .shells import CMD, POWERSHELL, encode_ps, ps_quote

if TYPE_CHECKING:
    from ..inventory import Host

log = logging.getLogger(__name__)

TRANSPORTS = ("ntlm", "kerberos", "basic")
CODEPAGE_UTF8 = 65001
#: cmd.exe's limit on a command line; a WinRS command runs through cmd.exe
COMMAND_LINE_LIMIT = 8191
#: stdin bytes per WinRS Send message: base64 of it plus the envelope stays under MaxEnvelopeSize (150 KB)
STDIN_CHUNK = 64 * 1024
#: file bytes per base64 line of an upload or download
FILE_CHUNK = 48 * 1024
POWERSHELL_EXE = "powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass"


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "yes", "true", "on", "y")
    return bool(value)


@dataclass(frozen=True)
class WinRMSettings:
    name: str
    address: str
    port: int
    scheme: str
    transport: str
    user: str | None
    password: str | None
    cert_validation: str  # validate | ignore
    ca_trust_path: str | None
    message_encryption: str  # auto | always | never
    connect_timeout: float
    operation_timeout: int
    kerberos_hostname: str | None = None  # SPN host name: HTTP/<this>
    read_timeout: float = 0.0  # seconds an answer may take; more than operation_timeout (0: it + 10)

    def __post_init__(self) -> None:
        if not self.read_timeout or self.read_timeout <= self.operation_timeout:
            object.__setattr__(self, "read_timeout", float(self.operation_timeout + 10))

    @property
    def spn(self) -> str:
        return f"HTTP/{self.kerberos_hostname or self.address}"

    @property
    def endpoint(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{host}:{self.port}/wsman"

    @property
    def encrypted(self) -> bool:
        """Whether message bodies are protected: by TLS, or by NTLM/Kerberos sealing."""
        return self.scheme == "https" or (self.transport != "basic" and self.message_encryption != "never")


def resolve_settings(host: "Host", options: ConnectOptions) -> WinRMSettings:
    """Inventory variables over defaults; refuses combinations that send passwords in clear text."""
    scheme = str(host.get("winrm_scheme") or "").lower() or None
    port = host.get("winrm_port") or host.port
    if scheme is None:
        scheme = "https" if port is not None and int(port) == 5986 else "http"
    if scheme not in ("http", "https"):
        raise UsageError(f"host {host.name}: winrm_scheme {scheme!r} is not http or https")
    port = int(port) if port else (5986 if scheme == "https" else 5985)
    transport = str(host.get("winrm_transport") or "ntlm").lower().split(",")[0].strip()
    if transport == "negotiate":
        transport = "ntlm"
    if transport not in TRANSPORTS:
        raise UsageError(f"host {host.name}: winrm_transport {transport!r} is not supported: use one of "
                         f"{', '.join(TRANSPORTS)}")
    if transport == "basic" and scheme == "http" and not _truthy(host.get("winrm_allow_basic_http")):
        raise UsageError(f"host {host.name}: Basic auth over HTTP would send the password in clear text and a "
                         "default Windows host refuses it: use winrm_transport: ntlm (encrypted over HTTP), or "
                         "winrm_scheme: https, or set winrm_allow_basic_http: true if you really mean it")
    validation = str(host.get("winrm_server_cert_validation") or "validate").lower()
    if options.insecure:
        validation = "ignore"
    if validation not in ("validate", "ignore"):
        raise UsageError(f"host {host.name}: winrm_server_cert_validation {validation!r} is not validate or ignore")
    encryption = str(host.get("winrm_message_encryption") or "auto").lower()
    if encryption not in ("auto", "always", "never"):
        raise UsageError(f"host {host.name}: winrm_message_encryption {encryption!r} is not auto, always or never")
    password = host.secret("password")
    if password:
        MASK.add(str(password))
    user = host.user
    if transport != "kerberos" and (not user or password in (None, "")):
        raise UsageError(f"host {host.name}: WinRM {transport} auth needs user and password "
                         "(password as a secret reference, e.g. {secret: env:WIN_PASSWORD})")
    kerberos_hostname = str(host.get("winrm_kerberos_hostname") or "").strip() or None
    if transport == "kerberos" and kerberos_hostname is None and _is_ip(host.address):
        raise UsageError(f"host {host.name}: Kerberos to an IP address ({host.address}) finds no service principal: "
                         "set winrm_kerberos_hostname to the host's DNS name (its SPN is HTTP/<name>)")
    connect_timeout = float(host.get("connect_timeout") or options.connect_timeout)
    operation_timeout = int(host.get("winrm_operation_timeout") or 20)
    read_timeout = float(host.get("winrm_read_timeout") or 0)
    return WinRMSettings(name=host.name, address=host.address, port=port, scheme=scheme, transport=transport,
                         user=str(user) if user else None, password=str(password) if password else None,
                         cert_validation=validation, ca_trust_path=host.get("winrm_ca_trust_path"),
                         message_encryption=encryption, connect_timeout=connect_timeout,
                         operation_timeout=max(1, operation_timeout), kerberos_hostname=kerberos_hostname,
                         read_timeout=read_timeout)


def _is_ip(address: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------- PowerShell helpers


_CLIXML = "#< CLIXML"
_CLIXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def clean_stderr(text: str) -> str:
    """powershell.exe's stderr without CLIXML: progress records dropped, error/warning text kept as text."""
    if _CLIXML not in text or isinstance(text, SpilledText):
        return text  # a spilled stream's head and tail are no whole document: kept as it came
    import xml.etree.ElementTree as ET

    before, _, rest = text.partition(_CLIXML)
    document = rest.lstrip("\r\n")
    try:
        root = ET.fromstring(document)
    except ET.ParseError:
        return text  # not what we expected: show it as it is rather than lose it
    lines = []
    for element in root.iter():
        if element.tag.endswith("}S") and element.text is not None:
            kind = (element.get("S") or "").lower()
            value = _CLIXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), element.text)
            lines.append(value if kind in ("error", "") else f"{kind.upper()}: {value}")
    return before + "".join(lines)


# The loader: a short -EncodedCommand that runs the real script, sent base64 on stdin. The marker lets the
# lab server (remote_support.lab.winrm_server) recognise it.
_STDIN_LOADER = """# remote-support:stdin-script
$ErrorActionPreference = 'Stop'
$b64 = [Console]::In.ReadToEnd() -replace '\\s', ''
$script = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($b64))
& ([scriptblock]::Create($script))
"""

#: WS-Management Identify (DSP0226 11): answered by any WinRM listener, opens no shell
_IDENTIFY = ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
             'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
             '<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>')

_PUT_SCRIPT = """# remote-support:put
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$path = {path}
$tmp = $path + '.rs-upload'
$out = [IO.File]::Create($tmp)
try {{
    while ($null -ne ($line = [Console]::In.ReadLine())) {{
        if ($line) {{ $bytes = [Convert]::FromBase64String($line); $out.Write($bytes, 0, $bytes.Length) }}
    }}
}} finally {{ $out.Dispose() }}
Move-Item -LiteralPath $tmp -Destination $path -Force
(Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash
"""

_GET_SCRIPT = """# remote-support:get
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$path = {path}
$hash = (Get-FileHash -LiteralPath $path -Algorithm SHA256).Hash
$in = [IO.File]::OpenRead($path)
try {{
    $buffer = New-Object byte[] {chunk}
    while (($n = $in.Read($buffer, 0, $buffer.Length)) -gt 0) {{
        [Console]::Out.WriteLine([Convert]::ToBase64String($buffer, 0, $n))
    }}
}} finally {{ $in.Dispose() }}
"SHA256:$hash"
"""


# ---------------------------------------------------------------- the connection


class WinRMConnection(Connection):
    """A Windows host reached over WinRM with pywinrm; one WinRS shell per command."""

    shell = CMD  # WinRS runs a command line through cmd.exe
    shells = (CMD, POWERSHELL)
    can_transfer_files = True
    can_detect_reboot = True
    can_become = False

    def __init__(self, host: "Host", options: ConnectOptions):
        super().__init__(host, options)
        self.settings: WinRMSettings | None = None
        self._protocol = None
        # Shells with a running command (shell id -> command id) and whether close() was called: close()
        # from another thread (Ctrl-C) takes them over and stops them; the worker then stops polling.
        self._active: dict[str, str | None] = {}
        self._active_lock = threading.Lock()
        self._closing = threading.Event()

    # -- open / close

    def open(self) -> None:
        self.close()  # opening again starts afresh
        self._closing.clear()
        self.start_clock()  # a reopen (after a reboot) keeps the host's deadline
        self.settings = resolve_settings(self.host, self.options)
        self._protocol = protocol = self._new_protocol()
        s = self.settings
        # --host-timeout bounds the connect and the first answer too: no wait of the Identify (TCP connect,
        # each HTTP read of the auth exchange) is longer than what is left of it
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise self._host_timeout()
            protocol.transport.read_timeout_sec = (min(s.connect_timeout, left), min(s.read_timeout, left))
        # One WS-Man Identify proves reachability, TLS trust, credentials and encryption up front, without a
        # shell: every command then opens exactly one shell.
        try:
            if self._deadline is None:
                self._call(protocol.send_message, _IDENTIFY)
            else:
                self._identify_by_deadline(protocol)
        except ConnectError:
            if self._deadline is not None and time.monotonic() >= self._deadline - 0.05:
                raise self._host_timeout() from None
            raise
        finally:
            protocol.transport.read_timeout_sec = (s.connect_timeout, s.read_timeout)

    def _identify_by_deadline(self, protocol) -> None:
        """The Identify in a thread of its own, given up at the host deadline: a server that trickles its
        answer a byte at a time never lets a read time out. The abandoned thread ends with its socket."""
        outcome: dict[str, BaseException] = {}

        def identify() -> None:
            try:
                self._call(protocol.send_message, _IDENTIFY)
            except BaseException as exc:  # noqa: BLE001 - handed to the opening thread, which raises it
                outcome["error"] = exc

        worker = threading.Thread(target=identify, name=f"winrm-identify-{self.host.name}", daemon=True)
        worker.start()
        while worker.is_alive() and time.monotonic() < self._deadline and not self._closing.is_set():
            worker.join(min(0.2, max(0.0, self._deadline - time.monotonic())))
        if worker.is_alive():
            self._protocol = None  # still in use by the abandoned thread: never again by us
            self._check_open()
            raise self._host_timeout()
        if "error" in outcome:
            raise outcome["error"]

    def _host_timeout(self) -> UnreachableError:
        return UnreachableError(self.host.name, f"unreachable: host timeout ({self.options.host_timeout:g}s) "
                                "reached while connecting", "raise --host-timeout if the host is just slow")

    def _new_protocol(self):
        """A pywinrm Protocol with its own transport session (authenticated on its first message)."""
        from winrm.protocol import Protocol

        s = self.settings
        transport = "ssl" if s.transport == "basic" and s.scheme == "https" else s.transport
        if s.transport == "basic" and s.scheme == "http":
            transport = "basic"
        kerberos = {}
        if s.transport == "kerberos":
            # the ticket comes from the credential cache (kinit); a user only selects user@REALM in it
            kerberos = dict(username=s.user if s.user and "@" in s.user else None, password=None,
                            service="HTTP", kerberos_delegation=False,
                            kerberos_hostname_override=s.kerberos_hostname)
        try:
            protocol = Protocol(s.endpoint, **{"transport": transport, "username": s.user, "password": s.password,
                                               **kerberos},
                                server_cert_validation=s.cert_validation,
                                ca_trust_path=s.ca_trust_path if s.ca_trust_path else None,
                                message_encryption=s.message_encryption,
                                operation_timeout_sec=s.operation_timeout,
                                read_timeout_sec=s.read_timeout, proxy=None)
        except Exception as exc:  # pywinrm validates its arguments with WinRMError/ValueError
            raise self._mapped(exc) from None
        # (connect, read): a dead address fails after connect_timeout, not after the read timeout
        protocol.transport.read_timeout_sec = (s.connect_timeout, s.read_timeout)
        return protocol

    def close(self) -> None:
        """Close the session. Called from another thread while a command runs (Ctrl-C, SIGTERM), it stops
        that command: the worker stops polling, and the command is signalled and its shell deleted over a
        fresh session of this thread's own (the worker's session is busy, and pywinrm would only rebuild it)."""
        self._closing.set()
        with self._active_lock:
            running, self._active = dict(self._active), {}
        if running and self.settings is not None:
            # In a thread of its own, so that stopping many hosts takes as long as the slowest, not the sum;
            # not a daemon: the process waits for it at exit (a second Ctrl-C exits at once).
            threading.Thread(target=self._clean_up_fresh, args=(running,), name=f"winrm-stop-{self.host.name}",
                             daemon=False).start()
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            try:
                protocol.transport.close_session()
            except Exception as exc:  # noqa: BLE001 - closing sockets must not fail the run
                log.debug("%s: closing the WinRM session: %s", self.host.name, exc)

    def _clean_up_fresh(self, running: dict[str, str | None]) -> None:
        """Signal terminate and Delete ``running`` shells (shell id -> command id) over a new session."""
        try:
            protocol = self._new_protocol()
        except Exception as exc:  # noqa: BLE001 - clean-up must not hide what is being reported
            log.warning("%s: WinRM clean-up could not start a session: %s", self.host.name, exc)
            return
        try:
            for shell_id, command_id in running.items():
                if command_id is not None:
                    self._quietly(protocol.cleanup_command, shell_id, command_id)
                self._quietly(protocol.close_shell, shell_id, close_session=False)
        finally:
            try:
                protocol.transport.close_session()
            except Exception:  # noqa: BLE001 - see above
                pass

    # -- commands

    def run(self, command: str, *, timeout: float | None = None, stdin: bytes | str | None = None,
            become: bool = False) -> CommandResult:
        if become:
            raise BecomeError(self.host.name, "become is not supported over WinRM",
                              "connect as a user with the rights the step needs (e.g. a local administrator)")
        if len(command) > COMMAND_LINE_LIMIT:
            raise WinRMCommandError(self.host.name, f"command line of {len(command)} characters is over the "
                                    f"Windows limit of {COMMAND_LINE_LIMIT}",
                                    "put a long script in a powershell step or a .ps1 script step (they are sent "
                                    "on stdin), or with exec: --shell powershell")
        return self._run(command, timeout=timeout, stdin=stdin)

    def default_shell(self) -> str:
        """The host's ``winrm_shell`` (cmd or powershell): what exec runs a command line in by default."""
        wanted = str(self.host.get("winrm_shell") or CMD).strip().lower()
        if wanted not in self.shells:
            raise UsageError(f"host {self.host.name}: winrm_shell {wanted!r} is not one of {', '.join(self.shells)}")
        return wanted

    def run_in(self, shell: str, text: str, *, timeout: float | None = None, stdin: bytes | str | None = None,
               become: bool = False) -> CommandResult:
        if shell == POWERSHELL:
            if become:
                self.run(text, become=True)  # raises the BecomeError saying what to do instead
            return self.run_ps(text, timeout=timeout, stdin=stdin)
        return super().run_in(shell, text, timeout=timeout, stdin=stdin, become=become)

    def run_ps(self, script: str, *, timeout: float | None = None, stdin: bytes | str | None = None) -> CommandResult:
        """Run a PowerShell script: as -EncodedCommand when it fits the command line, else through stdin."""
        line = f"{POWERSHELL_EXE} -EncodedCommand {encode_ps(script)}"
        if len(line) <= COMMAND_LINE_LIMIT:
            result = self._run(line, timeout=timeout, stdin=stdin)
        else:
            if stdin is not None:
                raise WinRMCommandError(self.host.name, f"PowerShell script of {len(script)} characters is too "
                                        "long for the command line and stdin is taken",
                                        "copy the script to the host first (a copy step) and run it with "
                                        "powershell -File PATH")
            payload = base64.encodebytes(script.encode("utf-8"))
            result = self._run(f"{POWERSHELL_EXE} -EncodedCommand {encode_ps(_STDIN_LOADER)}", timeout=timeout,
                               stdin=payload)
        return CommandResult(script, result.stdout, result.stderr, result.rc, result.duration)

    def _run(self, command: str, *, timeout: float | None, stdin: bytes | str | None) -> CommandResult:
        from winrm.exceptions import WinRMOperationTimeoutError

        protocol = self._require_protocol()
        limit = self.remaining(timeout)
        if limit is not None and limit <= 0:
            raise CommandTimeout(self.host.name, "host timeout reached before the command could start")
        started = time.monotonic()
        deadline = started + limit if limit is not None else None
        # a stream past SPILL_AT bytes goes to a temp file as it arrives (a host may print 300 MB)
        stdout, stderr = Collected(), Collected()
        shell_id = self._call(protocol.open_shell, codepage=CODEPAGE_UTF8, noprofile=True)
        with self._active_lock:
            self._active[shell_id] = None
        command_id = None
        done = False
        lost = False  # the transport failed: its session (and the NTLM context bound to its TCP connection) is dead
        try:
            self._check_open()
            command_id = self._call(protocol.run_command, shell_id, command)
            with self._active_lock:
                if shell_id in self._active:
                    self._active[shell_id] = command_id
            if stdin is not None:
                data = stdin.encode("utf-8") if isinstance(stdin, str) else bytes(stdin)
                chunks = [data[i:i + STDIN_CHUNK] for i in range(0, len(data), STDIN_CHUNK)] or [b""]
                for index, chunk in enumerate(chunks):
                    self._check_open()
                    self._call(protocol.send_command_input, shell_id, command_id, chunk, end=index == len(chunks) - 1)
            rc = None
            while not done:
                self._check_open()
                wait = self.settings.operation_timeout
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    wait = max(1, min(wait, int(left + 0.999)))
                protocol.operation_timeout_sec = wait  # the next Receive long-polls at most this long
                try:
                    out, err, rc, done = self._call(protocol.get_command_output_raw, shell_id, command_id)
                except WinRMOperationTimeoutError:
                    continue  # nothing new yet: poll again (until the deadline)
                stdout.add(out)
                stderr.add(err)
            self._check_open()
            if not done:
                partial = CommandResult(command, stdout.text(MASK), clean_stderr(stderr.text(MASK)), None,
                                        time.monotonic() - started)
                raise CommandTimeout(self.host.name, f"command timed out after {limit:g}s and was stopped",
                                     partial=partial)
        except UnreachableError:
            lost = not self._closing.is_set()
            raise
        finally:
            protocol.operation_timeout_sec = self.settings.operation_timeout
            with self._active_lock:
                mine = self._active.pop(shell_id, "taken") != "taken"  # else close() stops it
            if mine:
                if lost:
                    # a fresh session: the old one would seal Signal/Delete with a context the host dropped
                    self._reset_session(protocol)
                if command_id is not None:
                    self._quietly(protocol.cleanup_command, shell_id, command_id)  # Signal terminate
                self._quietly(protocol.close_shell, shell_id, close_session=False)
        return CommandResult(command, stdout.text(MASK), clean_stderr(stderr.text(MASK)), rc,
                             time.monotonic() - started)

    def _check_open(self) -> None:
        """Stop a command whose connection was closed under it (Ctrl-C, SIGTERM): no more polling."""
        if self._closing.is_set():
            raise UnreachableError(self.host.name, "connection closed while the command ran (interrupted)")

    def _reset_session(self, protocol) -> None:
        """Drop the transport session: the next message authenticates a new one (new TCP connection, new
        NTLM/Kerberos context)."""
        try:
            protocol.transport.close_session()
        except Exception as exc:  # noqa: BLE001 - it is being replaced anyway
            log.debug("%s: dropping the WinRM session: %s", self.host.name, exc)

    def _quietly(self, call, *args, **kwargs) -> None:
        """Clean-up calls: a failure is logged, never raised over the error that is being reported."""
        try:
            call(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - see docstring
            log.warning("%s: WinRM clean-up (%s) failed: %s", self.host.name, getattr(call, "__name__", call),
                        self._mapped(exc))

    # -- files

    def put(self, source: str | Path | bytes | BinaryIO, remote_path: str, *, mode: int | None = None) -> None:
        """Write a file on the host (``mode`` has no meaning on Windows and is ignored)."""
        if isinstance(source, (bytes, bytearray)):
            data = bytes(source)
        elif isinstance(source, (str, Path)):
            data = Path(source).read_bytes()
        else:
            data = source.read()
        lines = b"".join(base64.b64encode(data[i:i + FILE_CHUNK]) + b"\n" for i in range(0, len(data), FILE_CHUNK))
        result = self.run_ps(_PUT_SCRIPT.format(path=ps_quote(remote_path)), stdin=lines)
        if result.rc != 0:
            raise WinRMCommandError(self.host.name, f"cannot write {remote_path}: {_first_line(result.stderr)}",
                                    "does the directory exist and may the user write there?")
        expected = hashlib.sha256(data).hexdigest().upper()
        if result.stdout.strip().upper() != expected:
            raise WinRMCommandError(self.host.name, f"upload of {remote_path} is corrupt: SHA-256 on the host is "
                                    f"{result.stdout.strip() or 'missing'}, expected {expected}", "try again")

    def get(self, remote_path: str) -> bytes:
        result = self.run_ps(_GET_SCRIPT.format(path=ps_quote(remote_path), chunk=FILE_CHUNK))
        if result.rc != 0:
            raise WinRMCommandError(self.host.name, f"cannot read {remote_path}: {_first_line(result.stderr)}")
        buffer = io.BytesIO()
        expected = None
        for line in result.stdout.split():
            if line.startswith("SHA256:"):
                expected = line[7:].upper()
            else:
                buffer.write(base64.b64decode(line))
        data = buffer.getvalue()
        if expected is None or hashlib.sha256(data).hexdigest().upper() != expected:
            raise WinRMCommandError(self.host.name, f"download of {remote_path} is corrupt: SHA-256 mismatch",
                                    "try again")
        return data

    # -- errors

    def _require_protocol(self):
        if self._protocol is None:
            raise UnreachableError(self.host.name, "unreachable: not connected (connection closed or never opened)")
        return self._protocol

    def _call(self, call, *args, **kwargs):
        from winrm.exceptions import WinRMOperationTimeoutError

        try:
            return call(*args, **kwargs)
        except WinRMOperationTimeoutError:
            raise
        except Exception as exc:  # noqa: BLE001 - mapped to one of ours, or re-raised as is
            mapped = self._mapped(exc)
            if mapped is exc:
                raise
            raise mapped from None

    def _mapped(self, exc: BaseException) -> BaseException:
        """A pywinrm/requests error as a ConnectError saying what to check."""
        import requests
        from winrm.exceptions import InvalidCredentialsError, WinRMError, WinRMTransportError, WSManFaultError

        s = self.settings
        where = f"{s.address}:{s.port}"
        name = self.host.name
        if s.transport == "kerberos":
            kerberos_error = _kerberos_error(name, s, exc)
            if kerberos_error is not None:
                return kerberos_error
        if isinstance(exc, AttributeError) and _raised_in(exc, "winrm/encryption.py"):
            # pywinrm meets an HTTP server that never asked for NTLM: it has no session to encrypt with
            return ConnectError(name, f"{where} answers HTTP but not as WinRM (no authentication was asked for)",
                                "is this the WinRM listener? (winrm quickconfig; 5985 for http, 5986 for https)")
        if isinstance(exc, InvalidCredentialsError):
            if s.scheme == "http" and s.message_encryption == "never":
                return AuthError(name, f"auth failed for user {s.user} or unencrypted messages refused",
                                 "a default Windows host refuses unencrypted WinRM over HTTP (AllowUnencrypted="
                                 "false): remove winrm_message_encryption: never or use HTTPS")
            if s.transport == "basic":
                return AuthError(name, f"auth failed for user {s.user}",
                                 "check the password; Basic needs a local account and winrm set "
                                 "winrm/config/service/auth @{Basic=\"true\"}" +
                                 ("; over HTTP the host must also allow unencrypted traffic, prefer ntlm"
                                  if s.scheme == "http" else ""))
            if s.transport == "kerberos":
                return AuthError(name, "Kerberos auth failed: the host refused the ticket",
                                 f"check that the host's keytab has the SPN {s.spn} (setspn -L <host>), the clocks "
                                 "are in sync and kinit/klist shows a valid ticket")
            return AuthError(name, f"auth failed for user {s.user}",
                             "check the password and the auth transport: ntlm/kerberos")
        if isinstance(exc, requests.exceptions.SSLError):
            return HostKeyError(name, f"TLS certificate of {where} not trusted: {_short(exc)}",
                                "set winrm_ca_trust_path to the CA bundle that signed it "
                                "(winrm_server_cert_validation: ignore only in a lab)")
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return UnreachableError(name, f"unreachable: connect to {where} timed out after {s.connect_timeout:g}s",
                                    "is the host up and the port open in its firewall?")
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return UnreachableError(name, f"unreachable: {where} stopped answering", "is the host overloaded?")
        if isinstance(exc, requests.exceptions.ConnectionError):
            text = str(exc)
            if "Name or service not known" in text or "nodename nor servname" in text or "NameResolution" in text:
                return UnreachableError(name, f"unreachable: cannot resolve {s.address}", "check the host's address")
            if "refused" in text.lower():
                return UnreachableError(name, f"unreachable: listener not reachable on {where}",
                                        "is WinRM enabled? winrm quickconfig")
            return UnreachableError(name, f"unreachable: {where}: {_short(exc)}", "is WinRM enabled? winrm quickconfig")
        if isinstance(exc, WSManFaultError):
            return WinRMCommandError(name, f"WinRM fault {exc.wsman_fault_code or exc.code}: {exc.reason.strip()}")
        if isinstance(exc, WinRMTransportError):
            if exc.code in (400, 415) and s.message_encryption != "never" and s.scheme == "http":
                return ConnectError(name, f"{where} refused the encrypted WinRM message (HTTP {exc.code})",
                                    "check the auth transport (ntlm/kerberos) or use HTTPS")
            return ConnectError(name, f"WinRM HTTP error {exc.code} from {where}", _short(exc))
        if isinstance(exc, WinRMError):
            text = str(exc)
            if "kerberos" in text.lower() and "not installed" in text.lower():
                return UsageError(f"host {name}: Kerberos needs pywinrm's Kerberos extra: "
                                  "pip install 'pywinrm[kerberos]' (and a ticket from kinit)")
            return ConnectError(name, f"WinRM error: {text}")
        return exc


def _kerberos_error(name: str, s: WinRMSettings, exc: BaseException) -> ConnectError | None:
    """pykerberos/GSSAPI failures (raised by pywinrm's requests_kerberos) as AuthErrors naming what to check."""
    try:
        from winrm.vendor.requests_kerberos.exceptions import KerberosExchangeError, MutualAuthenticationError
    except ImportError:  # pywinrm without its vendored requests_kerberos: nothing of ours to map
        return None
    if isinstance(exc, MutualAuthenticationError):
        return AuthError(name, "Kerberos mutual authentication failed: the reply was not from the host holding "
                         f"the SPN {s.spn}", "check that the address reaches the right host and its keytab")
    if not isinstance(exc, KerberosExchangeError):
        return None
    text = str(exc)
    lowered = text.lower()
    detail = _kerberos_detail(text)
    if "no kerberos credentials" in lowered or "credentials cache" in lowered and "not found" in lowered \
            or "no credentials were supplied" in lowered or "ticket expired" in lowered \
            or "credentials have been revoked" in lowered:
        return AuthError(name, f"Kerberos: no valid ticket ({detail})",
                         "run kinit user@REALM first (klist shows the ticket cache and its expiry)")
    if "not found in kerberos database" in lowered or "server not found" in lowered:
        return AuthError(name, f"Kerberos: service principal {s.spn} unknown to the KDC ({detail})",
                         f"check the SPN: set winrm_kerberos_hostname to the host's name registered as {s.spn} "
                         "(setspn -L <host>), not an IP or alias")
    if "clock skew" in lowered:
        return AuthError(name, f"Kerberos: clock skew too great ({detail})",
                         "sync the time of this machine, the KDC and the host (NTP, w32tm /resync)")
    if "cannot find kdc" in lowered or "cannot contact any kdc" in lowered or "for realm" in lowered:
        return AuthError(name, f"Kerberos: no KDC reachable for the realm ({detail})",
                         "check /etc/krb5.conf (or KRB5_CONFIG): default_realm and the realm's kdc")
    return AuthError(name, f"Kerberos failed: {detail}", f"check kinit/klist, the SPN {s.spn} and time sync")


def _kerberos_detail(text: str) -> str:
    """The most useful message of a pykerberos error tuple: the minor (krb5) one when there is one."""
    messages = re.findall(r"\('([^']*)', -?\d+\)", text)
    return messages[-1] if messages else _short(Exception(text))


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return "no error text"


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."


def _raised_in(exc: BaseException, path_end: str) -> bool:
    """Whether the innermost frame of ``exc`` is in a file whose path ends with ``path_end``."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename.replace("\\", "/").endswith(path_end)
