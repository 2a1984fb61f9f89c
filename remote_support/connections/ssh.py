"""SSH hosts through paramiko: strict host keys, key/agent/password auth, ~/.ssh/config, ProxyJump, sudo.

One Transport per host for the whole run; each command is one exec channel on it.
"""

from __future__ import annotations

import io
import os
import shlex
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Iterable


def _import_paramiko():
    """paramiko, imported without `invoke`: paramiko.config imports it (60-80 ms of CPU, a third of
    paramiko's import) only for ``Match exec`` in paramiko's own SSHConfig, which this tool never uses
    (ssh_config.py parses OpenSSH's files itself). Blocked only while paramiko is first imported; a later
    ``import invoke`` works as usual. Code in the same process that uses paramiko.SSHConfig with
    ``Match exec`` should import paramiko before remote_support.connections.ssh."""
    import sys

    if "paramiko" in sys.modules or "invoke" in sys.modules:
        import paramiko
        return paramiko
    sys.modules["invoke"] = None  # `from invoke import Context` raises ImportError, which paramiko expects
    try:
        import paramiko
    finally:
        if sys.modules.get("invoke", 0) is None:
            del sys.modules["invoke"]
    return paramiko


paramiko = _import_paramiko()

from ..errors import (AuthError, BecomeError, CommandTimeout, ConnectError, ConnectionLost, HostError, HostKeyError, KeyFileError,
                      UnreachableError)
from ..results import CommandResult
from ..secrets import MASK
from ..spill import SPILL_AT, Spool
from . import ssh_config
from .base import Connection, ConnectOptions, data_dir
from .known_hosts import CERT_SUFFIX, KnownHostsCache, KnownKey, check_host_key
from .ssh_config import JumpHost

if TYPE_CHECKING:
    from ..inventory import Host

DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
BECOME_METHODS = ("sudo",)
_CHUNK = 65536
MAX_JUMPS = 16  # a ProxyJump chain longer than this is a loop in ssh_config


# ---------------------------------------------------------------- shared, process-wide caches

_known_hosts = KnownHostsCache()
_keys: dict[tuple[str, str | None], paramiko.PKey] = {}
_keys_lock = threading.Lock()
_accept_lock = threading.Lock()


def load_private_key(path: str, passphrase: str | None = None) -> paramiko.PKey:
    """Load (once per process) a private key; raise KeyFileError saying what is wrong with it."""
    path = os.path.expanduser(path)
    cache_key = (path, passphrase)
    with _keys_lock:
        if cache_key in _keys:
            return _keys[cache_key]
    try:
        # paramiko 5 hands the password to cryptography, which wants bytes
        key = paramiko.PKey.from_path(path, password=passphrase.encode() if passphrase else None)
    except FileNotFoundError:
        raise KeyFileError(f"private key file {path} does not exist: fix private_key_file") from None
    except PermissionError:
        raise KeyFileError(f"private key file {path} is not readable by this user: check its permissions") from None
    except IsADirectoryError:
        raise KeyFileError(f"private key file {path} is a directory: point private_key_file at the key") from None
    except (TypeError, ValueError, paramiko.SSHException, paramiko.UnknownKeyType) as exc:
        if _is_encrypted(path):
            if passphrase is None:
                raise KeyFileError(f"private key file {path} is encrypted: give its passphrase "
                                   "(private_key_passphrase in the inventory, as a secret reference)") from None
            raise KeyFileError(f"wrong passphrase for private key file {path}") from None
        raise KeyFileError(f"private key file {path} is not a private key that can be used: {exc}") from None
    with _keys_lock:
        _keys[cache_key] = key
    return key


def _is_encrypted(path: str) -> bool:
    from cryptography.hazmat.primitives import serialization

    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    if b"BEGIN OPENSSH PRIVATE KEY" in data:
        try:
            serialization.load_ssh_private_key(data, password=None)
        except TypeError:  # "Key is password-protected, but password was not provided"
            return True
        except ValueError:
            return False
        return False
    return b"ENCRYPTED" in data


def tool_known_hosts() -> Path:
    """The tool's own known_hosts, where --accept-new-host-keys records first-contact keys."""
    return data_dir() / "known_hosts"


def _fingerprint(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {key.fingerprint}"


# Known-hosts key names -> host key algorithms to offer first when such a key is known.
_KEY_ALGORITHMS = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}


# ---------------------------------------------------------------- settings


@dataclass(frozen=True)
class SSHSettings:
    """Where and how to connect, after inventory, ssh_config and defaults are combined."""

    name: str
    address: str
    port: int
    user: str
    key_files: tuple[str, ...]
    explicit_key: bool  # key_files[0] came from the inventory: failing to load it is an error
    password: str | None
    proxy_jump: JumpHost | None
    known_hosts: tuple[str, ...]
    connect_timeout: float
    keepalive: int
    proxy_command: str | None = None  # expanded, run with $SHELL -c as ssh runs it
    host_key_alias: str | None = None
    config_name: str = ""  # the name ssh_config was read for (ssh's %n)

    @property
    def host_key_names(self) -> list[str]:
        if self.host_key_alias:
            return [self.host_key_alias]  # as ssh: the alias alone, no [alias]:port
        names = [self.address, self.name]
        if self.port == 22:
            return names
        return [f"[{n}]:{self.port}" for n in names]

    @property
    def principal_names(self) -> list[str]:
        """The names a host certificate must list (ssh: the host name or HostKeyAlias)."""
        if self.host_key_alias:
            return [self.host_key_alias]
        return list(dict.fromkeys([self.address.lower(), self.name.lower()]))


def ssh_config_preset(host: "Host") -> list[tuple[str, str]]:
    """The inventory's settings as ``ssh -o`` options: they win over ssh_config, as Ansible passes them."""
    preset: list[tuple[str, str]] = []
    if host.user:  # quoted: a user name may hold a blank ("john doe" on a Windows OpenSSH server)
        preset.append(("inventory variable user", f'User="{host.user}"' if " " in host.user else f"User={host.user}"))
    if host.port:
        preset.append(("inventory variable port", f"Port={host.port}"))
    if host.get("proxy_command"):
        preset.append(("inventory variable proxy_command", f"ProxyCommand={host.get('proxy_command')}"))
    if host.get("proxy_jump"):
        preset.append(("inventory variable proxy_jump", f"ProxyJump={host.get('proxy_jump')}"))
    return preset


def resolve_settings(host: "Host", options: ConnectOptions) -> SSHSettings:
    """Inventory variables win over ssh_config (read as OpenSSH reads it), which wins over the defaults."""
    explicit_address = host.get("address")
    lookup_name = str(explicit_address or host.name)  # as Ansible runs `ssh ansible_host`
    cfg = ssh_config.resolve(lookup_name, config=options.ssh_config, preset=ssh_config_preset(host))

    address = str(explicit_address) if explicit_address else cfg.hostname
    key_files: list[str] = []
    explicit = host.get("private_key_file")
    if explicit:
        key_files.append(os.path.expanduser(str(explicit)))
    if cfg.identities_explicit:
        key_files += cfg.identity_files_expanded

    known = [os.path.expanduser("~/.ssh/known_hosts"), str(tool_known_hosts())]
    known += cfg.user_known_hosts_files + cfg.global_known_hosts_files
    if host.get("known_hosts_file"):
        known.append(os.path.expanduser(str(host.get("known_hosts_file"))))
    known += list(options.known_hosts)

    password = host.secret("password")
    if password:
        MASK.add(str(password))
    connect_timeout = float(host.get("connect_timeout") or cfg.connect_timeout or options.connect_timeout)
    keepalive = int(cfg.server_alive_interval or options.keepalive)
    return SSHSettings(name=host.name, address=address, port=cfg.port, user=cfg.user,
                       key_files=tuple(dict.fromkeys(key_files)), explicit_key=bool(explicit),
                       password=str(password) if password else None, proxy_jump=cfg.proxy_jump,
                       known_hosts=tuple(dict.fromkeys(known)), connect_timeout=connect_timeout,
                       keepalive=keepalive, proxy_command=cfg.expanded_proxy_command(),
                       host_key_alias=cfg.host_key_alias, config_name=lookup_name)


def _local_user() -> str:
    import getpass

    return getpass.getuser()


# ---------------------------------------------------------------- the connection


class SSHConnection(Connection):
    """A host reached over SSH with paramiko."""

    shell = "posix"
    shells = ("posix",)
    can_transfer_files = True
    can_detect_reboot = True
    can_become = True

    def __init__(self, host: "Host", options: ConnectOptions, *, _hops: int = 0):
        super().__init__(host, options)
        self._hops = _hops  # bastions between us and this host, to stop a ProxyJump loop
        self.settings: SSHSettings | None = None
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._jump: "SSHConnection | None" = None
        self._channels: set[paramiko.Channel] = set()  # commands in flight, stopped on close()

    # -- open / close

    def open(self) -> None:
        self.start_clock()
        s = resolve_settings(self.host, self.options)
        # --host-timeout bounds the TCP connect, the handshake and auth too: no wait is longer than what is
        # left of it, and a watchdog closes the transport at the deadline (a server that trickles bytes)
        if self._deadline is not None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise self._host_timeout()
            s = replace(s, connect_timeout=min(s.connect_timeout, left))
        self.settings = s
        watchdog = None
        if self._deadline is not None:
            watchdog = threading.Timer(self._deadline - time.monotonic(), self._expire)
            watchdog.daemon = True
            watchdog.start()
        try:
            self._open(s)
        except ConnectError:
            if self._deadline is not None and time.monotonic() >= self._deadline - 0.05:
                raise self._host_timeout() from None
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()

    def _host_timeout(self) -> UnreachableError:
        return UnreachableError(self.host.name, f"unreachable: host timeout ({self.options.host_timeout:g}s) "
                                "reached while connecting", "raise --host-timeout if the host is just slow")

    def _expire(self) -> None:
        for part in (self._transport, self._jump):
            if part is not None:
                part.close()

    def _open(self, s: SSHSettings) -> None:
        sock = self._socket(s)
        try:
            transport = _Transport(sock)
            self._transport = transport
            known = self._known_keys(s)
            self._prefer_known_key_types(transport, known)
            transport.banner_timeout = s.connect_timeout
            try:
                transport.start_client(timeout=s.connect_timeout)
                if not transport.initial_kex_done:  # start_client returns quietly on its timeout
                    raise paramiko.SSHException(f"no answer within {s.connect_timeout:g}s")
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if isinstance(sock, _ShellProxy):
                    raise UnreachableError(self.host.name, f"unreachable: SSH handshake through ProxyCommand "
                                           f"failed: {exc or type(exc).__name__}",
                                           f"`{s.proxy_command}` said: {sock.error_text() or 'nothing'}") from None
                raise UnreachableError(self.host.name, f"unreachable: SSH handshake with {s.address}:{s.port} "
                                       f"failed: {exc or type(exc).__name__}",
                                       "is an SSH server listening there?") from None
            self._verify_host_key(transport.get_remote_server_key(), known, s)
            self._authenticate(transport, s)
            if s.keepalive:
                transport.set_keepalive(s.keepalive)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        # Closing from another thread (Ctrl-C) must not leave the commands running on the host.
        for chan in list(self._channels):
            self._stop(chan)
        if self._sftp is not None:
            try:
                self._sftp.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass  # the transport is about to go anyway
            self._sftp = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._jump is not None:
            self._jump.close()
            self._jump = None

    def _socket(self, s: SSHSettings):
        if s.proxy_jump:
            return self._jump_channel(s)
        if s.proxy_command:
            return self._proxy_command(s)
        try:
            sock = socket.create_connection((s.address, s.port), timeout=s.connect_timeout)
        except socket.timeout:
            raise UnreachableError(self.host.name, f"unreachable: connect to {s.address}:{s.port} timed out "
                                   f"after {s.connect_timeout:g}s") from None
        except ConnectionRefusedError:
            raise UnreachableError(self.host.name, f"unreachable: connection refused by {s.address}:{s.port}",
                                   "is sshd running and is the port right?") from None
        except socket.gaierror as exc:
            raise UnreachableError(self.host.name, f"unreachable: cannot resolve {s.address}: {exc.strerror}",
                                   "check the host's address") from None
        except OSError as exc:
            raise UnreachableError(self.host.name, f"unreachable: {s.address}:{s.port}: "
                                   f"{exc.strerror or exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _proxy_command(self, s: SSHSettings):
        """ProxyCommand as ssh runs it: ``$SHELL -c "exec COMMAND"``, talking SSH on its stdin/stdout."""
        try:
            return _ShellProxy(s.proxy_command)
        except OSError as exc:
            raise UnreachableError(self.host.name, f"unreachable: ProxyCommand could not start: {exc}",
                                   f"check ProxyCommand ({s.proxy_command})") from None

    def _jump_channel(self, s: SSHSettings):
        """A direct-tcpip channel through the bastion nearest the target, as ``ssh -W`` through it.

        As ssh, the bastion is itself read from ssh_config, so its own ProxyJump (or ProxyCommand) is
        followed: target -> inner -> outer makes the first TCP connection to outer. Hops listed before
        it in one ProxyJump value go to it as ``-J`` and win over its own.
        """
        from ..inventory import Host

        jump = s.proxy_jump
        if self._hops >= MAX_JUMPS:
            raise UnreachableError(self.host.name, f"unreachable: more than {MAX_JUMPS} ProxyJump hops",
                                   "a bastion's ProxyJump leads back to itself in ssh_config: add "
                                   "`ProxyJump none` for it or exclude it with `Host * !bastion`")
        bastion_vars: dict = {}  # no address: ssh_config may name the bastion (Host jumpbox / HostName ...)
        if jump.port:
            bastion_vars["port"] = jump.port
        if jump.user:
            bastion_vars["user"] = jump.user
        if jump.extra:
            bastion_vars["proxy_jump"] = jump.extra
        for name in ("private_key_file", "known_hosts_file", "connect_timeout"):
            if self.host.get(name) is not None:
                bastion_vars[name] = self.host.get(name)
        bastion = SSHConnection(Host(name=jump.host, vars=bastion_vars), self.options, _hops=self._hops + 1)
        bastion_settings = resolve_settings(bastion.host, self.options)
        if (bastion_settings.address.lower(), bastion_settings.port, bastion_settings.user) == \
                (s.address.lower(), s.port, s.user):
            raise UnreachableError(self.host.name, f"unreachable: jumphost loop via {jump.host}",
                                   "the bastion's ssh_config sends it through itself: add `ProxyJump none` "
                                   "for it or exclude it with `Host * !bastion`")
        try:
            bastion.open()
        except ConnectError as exc:
            raise type(exc)(self.host.name, f"via bastion {jump}: {exc.reason}", exc.hint) from None
        self._jump = bastion
        try:
            return bastion._transport.open_channel("direct-tcpip", (s.address, s.port), ("127.0.0.1", 0),
                                                   timeout=s.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise UnreachableError(self.host.name, f"unreachable: bastion {jump} could not reach "
                                   f"{s.address}:{s.port}: {exc}") from None

    # -- host keys

    def _known_keys(self, s: SSHSettings) -> list[KnownKey]:
        return known_host_lines(s)

    @staticmethod
    def _prefer_known_key_types(transport: "_Transport", known: list[KnownKey]) -> None:
        """Ask first for the key types known_hosts holds, certificates first when a CA is listed (as ssh)."""
        if not known:
            return
        if any(k.marker == "cert-authority" for k in known):
            transport.certificates_first = True
        options = transport.get_security_options()
        preferred: list[str] = []
        for entry in known:
            if entry.marker == "":
                preferred += _KEY_ALGORITHMS.get(entry.key_type, (entry.key_type,))
        preferred = [k for k in dict.fromkeys(preferred) if k in options.key_types]
        if preferred:
            options.key_types = tuple(preferred) + tuple(k for k in options.key_types if k not in preferred)

    def _verify_host_key(self, key: paramiko.PKey, known: list[KnownKey], s: SSHSettings) -> None:
        verify_host_key(self.host.name, key, known, s, self.options.accept_new_host_keys)

    # -- authentication

    def _authenticate(self, transport: paramiko.Transport, s: SSHSettings) -> None:
        tried: list[str] = []
        allowed: list[str] | None = None

        def allows(kind: str) -> bool:
            return allowed is None or kind in allowed

        for label, key in self._candidate_keys(s):
            if not allows("publickey"):
                break
            tried.append(label)
            try:
                transport.auth_publickey(s.user, key)
            except paramiko.BadAuthenticationType as exc:
                allowed = list(exc.allowed_types)
            except paramiko.AuthenticationException:
                continue
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise UnreachableError(self.host.name, f"unreachable: connection lost during auth: {exc}") from None
            if transport.is_authenticated():
                return
        if s.password and (allows("password") or allows("keyboard-interactive")):
            tried.append("password")
            try:
                transport.auth_password(s.user, s.password)
            except paramiko.BadAuthenticationType as exc:
                if "keyboard-interactive" in exc.allowed_types:
                    try:
                        transport.auth_interactive(s.user, lambda _t, _i, prompts: [s.password] * len(prompts))
                    except paramiko.AuthenticationException:
                        pass
            except paramiko.AuthenticationException:
                pass
            if transport.is_authenticated():
                return
        hint = f"tried {', '.join(tried)}" if tried else "no key, agent or password to try"
        if allowed is not None:
            hint += f"; server accepts {', '.join(allowed)}"
        raise AuthError(self.host.name, f"auth failed for user {s.user}", hint)

    def _candidate_keys(self, s: SSHSettings) -> Iterable[tuple[str, paramiko.PKey]]:
        passphrase = self.host.secret("private_key_passphrase")
        for index, path in enumerate(s.key_files):
            if index == 0 and s.explicit_key:
                yield f"key {path}", load_private_key(path, passphrase)
            elif os.path.exists(path):
                try:
                    yield f"key {path}", load_private_key(path, passphrase)
                except KeyFileError:
                    continue  # ~/.ssh/config identities are best effort, as in OpenSSH
        for key in _agent_keys():
            yield f"agent key {key.fingerprint}", key
        if not s.key_files:
            for path in DEFAULT_IDENTITIES:
                path = os.path.expanduser(path)
                if os.path.exists(path):
                    try:
                        yield f"key {path}", load_private_key(path, passphrase)
                    except KeyFileError:
                        continue

    # -- commands

    def run(self, command: str, *, timeout: float | None = None, stdin: bytes | str | None = None,
            become: bool = False) -> CommandResult:
        transport = self._require_transport()
        limit = self.remaining(timeout)
        if limit is not None and limit <= 0:
            raise CommandTimeout(self.host.name, "host timeout reached before the command could start")
        started = time.monotonic()
        deadline = started + limit if limit is not None else None
        try:
            chan = transport.open_session(timeout=limit or 30)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectionLost(self.host.name, f"unreachable: connection lost: {exc}") from None
        become_session = _Become(self.host) if become else None
        wire_command = become_session.wrap(command) if become_session else command
        self._channels.add(chan)
        try:
            chan.exec_command(wire_command)
            reader = _ChannelReader(chan, deadline)
            if become_session:
                become_session.handshake(chan, reader)
            if stdin is not None:
                chan.sendall(stdin.encode() if isinstance(stdin, str) else stdin)
            chan.shutdown_write()
            if not reader.read_until_closed():
                self._stop(chan)
                partial = CommandResult(command, reader.stdout_text(), reader.stderr_text(), None,
                                        time.monotonic() - started)
                raise CommandTimeout(self.host.name, f"command timed out after {limit:g}s and was stopped",
                                     partial=partial)
            rc = chan.recv_exit_status()
            if rc < 0 and not transport.is_active():
                # the channel closed with no exit status because the session went away under it
                raise ConnectionLost(self.host.name, "unreachable: connection lost while running a command",
                                     partial=CommandResult(command, reader.stdout_text(), reader.stderr_text(),
                                                           None, time.monotonic() - started))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectionLost(self.host.name, f"unreachable: connection lost while running a command: "
                                 f"{exc}") from None
        finally:
            self._channels.discard(chan)
            chan.close()
        stdout = reader.stdout_text()
        stderr = reader.stderr_text()
        if become_session:
            stderr = become_session.clean(stderr)
        return CommandResult(command, stdout, stderr, rc if rc >= 0 else None, time.monotonic() - started)

    def open_shell(self, term: str, cols: int, rows: int, command: str | None = None) -> paramiko.Channel:
        """An interactive terminal on this connection's Transport (``remote-support shell``): a pty of
        ``cols`` x ``rows`` running the login shell, or ``command`` (e.g. sudo -i). The caller owns it."""
        transport = self._require_transport()
        try:
            chan = transport.open_session(timeout=30)
            chan.get_pty(term=term, width=cols, height=rows)
            if command:
                chan.exec_command(command)
            else:
                chan.invoke_shell()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectionLost(self.host.name, f"unreachable: cannot open a terminal: {exc}") from None
        return chan

    @staticmethod
    def _stop(chan: paramiko.Channel) -> None:
        """Ask sshd to kill the command (RFC 4254 'signal'), then drop the channel."""
        try:
            message = paramiko.Message()
            message.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
            message.add_int(chan.remote_chanid)
            message.add_string("signal")
            message.add_boolean(False)
            message.add_string("KILL")
            chan.transport._send_user_message(message)
        except (paramiko.SSHException, EOFError, OSError, AttributeError):
            pass  # best effort: closing the channel still ends our side

    # -- files

    def _sftp_client(self) -> paramiko.SFTPClient:
        if self._sftp is None:
            try:
                self._sftp = self._require_transport().open_sftp_client()
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise HostError(self.host.name, f"cannot start SFTP: {exc}",
                                   "is the sftp Subsystem enabled in sshd_config?") from None
        return self._sftp

    def put(self, source: str | Path | bytes | BinaryIO, remote_path: str, *, mode: int | None = None) -> None:
        sftp = self._sftp_client()
        try:
            if isinstance(source, (bytes, bytearray)):
                sftp.putfo(io.BytesIO(source), remote_path, confirm=True)
            elif isinstance(source, (str, Path)):
                with open(source, "rb") as handle:
                    sftp.putfo(handle, remote_path, confirm=True)
            else:
                sftp.putfo(source, remote_path, confirm=True)
            if mode is not None:
                sftp.chmod(remote_path, mode)
        except IOError as exc:
            raise HostError(self.host.name, f"cannot write {remote_path}: {exc.strerror or exc}",
                               unreachable_hint(exc)) from None

    def get(self, remote_path: str) -> bytes:
        buffer = io.BytesIO()
        try:
            self._sftp_client().getfo(remote_path, buffer)
        except IOError as exc:
            raise HostError(self.host.name, f"cannot read {remote_path}: {exc.strerror or exc}",
                               unreachable_hint(exc)) from None
        return buffer.getvalue()

    def _require_transport(self) -> paramiko.Transport:
        if self._transport is None or not self._transport.is_active():
            raise UnreachableError(self.host.name, "unreachable: not connected (connection closed or lost)")
        return self._transport


def unreachable_hint(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "does the directory exist?"
    if isinstance(exc, PermissionError):
        return "the login user may not write there"
    return ""


class _Transport(paramiko.Transport):
    """paramiko's Transport, able to ask for host certificates first (paramiko offers them last)."""

    certificates_first = False

    @property
    def preferred_keys(self):
        keys = super().preferred_keys
        if not self.certificates_first:
            return keys
        certs = tuple(k for k in keys if k.endswith(CERT_SUFFIX))
        return certs + tuple(k for k in keys if k not in certs)


class _ShellProxy(paramiko.ProxyCommand):
    """paramiko's ProxyCommand socket, started as ssh starts it: ``$SHELL -c COMMAND``, stderr kept."""

    def __init__(self, command: str):  # not super().__init__(): it would shlex-split the command
        import tempfile

        shell = os.environ.get("SHELL") or "/bin/sh"
        self.cmd = [shell, "-c", command]
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.stderr, bufsize=0)
        self.timeout = None

    @property
    def closed(self) -> bool:
        return self.process.poll() is not None

    def recv(self, size: int) -> bytes:
        """paramiko's recv, except that the proxy's end of output is EOF (paramiko's spins on it)."""
        import select as _select

        buffer = b""
        started = time.monotonic()
        while len(buffer) < size:
            wait = None
            if self.timeout is not None:
                wait = self.timeout - (time.monotonic() - started)
                if wait <= 0:
                    if buffer:
                        return buffer
                    raise socket.timeout()
            ready, _, _ = _select.select([self.process.stdout], [], [], wait)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), size - len(buffer))
                if not chunk:
                    return buffer  # the proxy closed its output: b"" tells paramiko the connection ended
                buffer += chunk
        return buffer

    def error_text(self) -> str:
        try:
            self.stderr.seek(0)
            return MASK(self.stderr.read(4096).decode("utf-8", "replace")).strip()
        except (OSError, ValueError):
            return ""

    def close(self) -> None:
        # called by paramiko's thread and by us: once is enough, and the proxy may have exited already
        if self.process.poll() is None:
            self.process.terminate()  # our own child, by its PID
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _record_host_key(s: SSHSettings, key: paramiko.PKey) -> None:
    path = tool_known_hosts()
    with _accept_lock:
        path.parent.mkdir(parents=True, exist_ok=True)
        names = ",".join(dict.fromkeys(s.host_key_names))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(f"{names} {key.get_name()} {key.get_base64()}\n")


_agent_lock = threading.Lock()
_agent_cache: list | None = None


def _agent_keys() -> list:
    """The ssh-agent's keys, asked once per process (an agent round trip per host adds up)."""
    global _agent_cache
    if not os.environ.get("SSH_AUTH_SOCK"):
        return []
    with _agent_lock:
        if _agent_cache is None:
            try:
                _agent_cache = list(paramiko.Agent().get_keys())
            except (paramiko.SSHException, OSError):
                _agent_cache = []
        return _agent_cache


class _ChannelReader:
    """Collects stdout and stderr of one channel until it closes or the deadline passes."""

    def __init__(self, chan: paramiko.Channel, deadline: float | None):
        self.chan = chan
        self.deadline = deadline
        self.stdout = bytearray()
        self.stderr = bytearray()
        # Set by paramiko whenever either stream gets data or closes: poll() blocks on it as paramiko's own
        # reads do. select() on the channel would make paramiko create a pipe per channel and write and
        # read a byte through it for every packet: syscalls and GIL hand-offs that 50 threads pay for.
        self._ready = threading.Event()
        chan.in_buffer.set_event(self._ready)
        chan.in_stderr_buffer.set_event(self._ready)
        # a stream past SPILL_AT bytes goes to a temp file as it arrives (a host may print 300 MB)
        self._spools = {"stdout": Spool(), "stderr": Spool()}

    def _spill(self) -> None:
        for name, spool in self._spools.items():
            buffer = getattr(self, name)
            if len(buffer) > SPILL_AT or (spool.spilled and buffer):
                spool.write(buffer)
                buffer.clear()

    def _text(self, name: str) -> str:
        spool = self._spools[name]
        if spool.spilled:
            self._spill()
            spool.write(getattr(self, name))
            getattr(self, name).clear()
            return spool.text(MASK)
        return MASK(getattr(self, name).decode("utf-8", "replace"))

    def poll(self) -> bool:
        """Read what is there, waiting a little; False once the deadline has passed."""
        chan = self.chan
        wait = 1.0
        if self.deadline is not None:
            wait = min(wait, self.deadline - time.monotonic())
            if wait <= 0:
                return False
        if chan.recv_ready() or chan.recv_stderr_ready():
            pass
        elif chan.eof_received or chan.closed:
            # only the exit status is still to come: wait for it rather than spin
            chan.status_event.wait(wait)
        else:
            # no lost wake-up: the event is cleared only by our own reads, and feeds after the check set it
            self._ready.wait(wait)
        for _ in range(64):  # at most 4 MiB a call, so that the caller can spill in between
            if not chan.recv_ready():
                break
            self.stdout += chan.recv(_CHUNK)
        for _ in range(64):
            if not chan.recv_stderr_ready():
                break
            self.stderr += chan.recv_stderr(_CHUNK)
        return True

    def read_until_closed(self) -> bool:
        chan = self.chan
        while True:
            if not self.poll():
                return False
            self._spill()
            if chan.eof_received and chan.exit_status_ready() and not (chan.recv_ready() or chan.recv_stderr_ready()):
                # drain what arrived between the checks
                self.stdout += _drain(chan.recv, chan.recv_ready)
                self.stderr += _drain(chan.recv_stderr, chan.recv_stderr_ready)
                return True
            if chan.closed and not (chan.recv_ready() or chan.recv_stderr_ready()):
                return True

    def stdout_text(self) -> str:
        return self._text("stdout")

    def stderr_text(self) -> str:
        return self._text("stderr")


def _drain(recv, ready) -> bytes:
    data = bytearray()
    while ready():
        data += recv(_CHUNK)
    return bytes(data)


class _Become:
    """sudo without a terminal: the password goes on stdin only when sudo asks, never on a command line.

    A random marker echoed by the wrapped shell tells "sudo let us in" apart from "sudo is asking".
    """

    def __init__(self, host: "Host"):
        self.host = host
        method = str(host.get("become_method") or "sudo")
        if method not in BECOME_METHODS:
            raise BecomeError(host.name, f"become_method {method!r} is not supported",
                              f"use one of {', '.join(BECOME_METHODS)}")
        self.user = str(host.get("become_user") or "root")
        self.password = host.secret("become_password")
        if self.password:
            MASK.add(str(self.password))
        token = uuid.uuid4().hex
        self.marker = f"RS-BECOME-{token}"
        self.prompt = f"[rs-sudo-{token}]"

    def wrap(self, command: str) -> str:
        inner = shlex.quote(f"echo {self.marker}; {command}")
        user = shlex.quote(self.user)
        if self.password:
            return f"sudo -H -S -p {shlex.quote(self.prompt)} -u {user} /bin/sh -c {inner}"
        return f"sudo -H -n -u {user} /bin/sh -c {inner}"

    def handshake(self, chan: paramiko.Channel, reader: _ChannelReader) -> None:
        marker = self.marker.encode()
        prompt = self.prompt.encode()
        sent = False
        while True:
            index = reader.stdout.find(marker)
            if index >= 0:
                del reader.stdout[: index + len(marker) + 1]
                return
            if reader.stderr.count(prompt) > (1 if sent else 0):
                if sent:
                    raise BecomeError(self.host.name, f"sudo refused the become password for user "
                                      f"{self.host.user or 'the login user'}",
                                      "check become_password or --ask-become-pass")
                chan.sendall((str(self.password) + "\n").encode())
                sent = True
            if chan.exit_status_ready() and not chan.recv_ready() and not chan.recv_stderr_ready():
                reader.poll()
                if reader.stdout.find(marker) >= 0:
                    continue
                raise self._failure(reader.stderr.decode("utf-8", "replace"))
            if not reader.poll():
                raise CommandTimeout(self.host.name, "timed out waiting for sudo")

    def _failure(self, stderr: str) -> BecomeError:
        text = MASK(stderr.replace(self.prompt, "")).strip()
        if "password is required" in text:
            return BecomeError(self.host.name, "sudo needs a password",
                               "set become_password in the inventory or use --ask-become-pass")
        if "not in the sudoers" in text or "not allowed" in text:
            return BecomeError(self.host.name, f"user {self.host.user or 'the login user'} may not sudo "
                               f"to {self.user} here", text.splitlines()[-1] if text else "")
        if "incorrect password" in text:
            return BecomeError(self.host.name, "sudo refused the become password",
                               "check become_password or --ask-become-pass")
        last = text.splitlines()[-1] if text else "no message"
        return BecomeError(self.host.name, f"sudo failed: {last}")

    def clean(self, stderr: str) -> str:
        return stderr.replace(self.prompt, "")


def known_host_lines(s: SSHSettings) -> list[KnownKey]:
    """Every known_hosts line (keys, @cert-authority, @revoked) that names this host, in all its files."""
    found: list[KnownKey] = []
    for path in s.known_hosts:
        keys = _known_hosts.get(path)
        if keys is not None:
            found += keys.lookup(s.host_key_names)
    return found


def verify_host_key(name: str, key: paramiko.PKey, known: list[KnownKey], s: SSHSettings, accept_new: bool) -> None:
    """Accept ``key`` for host ``name`` as OpenSSH would (see known_hosts.check_host_key), or raise
    HostKeyError: revoked and changed keys always, unknown ones unless ``accept_new`` (then recorded).
    Shared by SSH hosts and network devices (netdevice.py, netconf.py)."""
    verdict = check_host_key(key, known, s.principal_names)
    if verdict.status == "ok":
        return
    if verdict.status == "revoked":
        raise HostKeyError(name, f"host key revoked for {name}: refusing",
                           f"{verdict.detail}; it presents {_fingerprint(key)}: this may be a stolen key "
                           "impersonating the host")
    if verdict.status == "changed":
        entry = verdict.found
        if entry.key_type == key.get_name():
            hint = (f"it now presents {_fingerprint(key)}, {entry.where} holds another; if the "
                    f"change is expected, remove the old key with "
                    f"`ssh-keygen -R {s.host_key_names[0]} -f {entry.path}`")
        else:
            hint = (f"it presents a {key.get_name()} key where {entry.where} knows a "
                    f"{entry.key_type} key")
        raise HostKeyError(name, f"host key changed for {name}: refusing",
                           verdict.detail + hint)
    if not accept_new:
        raise HostKeyError(name, f"host key unknown for {name}: refusing",
                           f"{verdict.detail}verify {_fingerprint(key)} and re-run with "
                           "--accept-new-host-keys, or add it to known_hosts")
    _record_host_key(s, key)
