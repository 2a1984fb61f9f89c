"""SSH hosts through paramiko: strict host keys, key/agent/password auth, ~/.ssh/config, ProxyJump, sudo.

One Transport per host for the whole run; each command is one exec channel on it.
"""

from __future__ import annotations

import io
import os
import select
import shlex
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Iterable

import paramiko

from ..errors import (AuthError, BecomeError, CommandTimeout, ConnectError, HostKeyError, KeyFileError,
                      UnreachableError)
from ..results import CommandResult
from ..secrets import MASK
from .base import Connection, ConnectOptions, data_dir

if TYPE_CHECKING:
    from ..inventory import Host

DEFAULT_IDENTITIES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
BECOME_METHODS = ("sudo",)
_CHUNK = 65536


# ---------------------------------------------------------------- shared, process-wide caches

class _FileCache:
    """Parsed files shared by all threads, re-read when the file changes."""

    def __init__(self, parse):
        self._parse = parse
        self._items: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get(self, path: str):
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            return None
        with self._lock:
            cached = self._items.get(path)
            if cached and cached[0] == mtime:
                return cached[1]
            value = self._parse(path)
            self._items[path] = (mtime, value)
            return value


class _KnownHostsFile:
    """One known_hosts file, indexed by host name once (HostKeys.lookup scans every line per call)."""

    def __init__(self, path: str):
        keys = paramiko.HostKeys()
        try:
            keys.load(path)
        except (OSError, paramiko.SSHException):
            # paramiko skips bad lines itself; an unreadable file simply contributes nothing
            pass
        self.plain: dict[str, dict[str, paramiko.PKey]] = {}
        self.hashed: list = []
        for entry in keys._entries:
            for name in entry.hostnames:
                if name.startswith("|1|"):
                    self.hashed.append(entry)
                else:
                    self.plain.setdefault(name, {}).setdefault(entry.key.get_name(), entry.key)

    def lookup(self, name: str) -> dict[str, paramiko.PKey]:
        found = dict(self.plain.get(name, {}))
        for entry in self.hashed:
            for hashed in entry.hostnames:
                if hashed.startswith("|1|") and paramiko.HostKeys.hash_host(name, hashed) == hashed:
                    found.setdefault(entry.key.get_name(), entry.key)
        return found


_known_hosts = _FileCache(_KnownHostsFile)
_ssh_configs = _FileCache(paramiko.SSHConfig.from_path)
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
    """Where and how to connect, after inventory, ~/.ssh/config and defaults are combined."""

    name: str
    address: str
    port: int
    user: str
    key_files: tuple[str, ...]
    explicit_key: bool  # key_files[0] came from the inventory: failing to load it is an error
    password: str | None
    proxy_jump: str | None
    known_hosts: tuple[str, ...]
    connect_timeout: float
    keepalive: int

    @property
    def host_key_names(self) -> list[str]:
        if self.port == 22:
            return [self.address, self.name]
        return [f"[{self.address}]:{self.port}", f"[{self.name}]:{self.port}"]


def resolve_settings(host: "Host", options: ConnectOptions) -> SSHSettings:
    """Inventory variables win over ~/.ssh/config, which wins over the defaults, as in Ansible."""
    explicit_address = host.get("address")
    lookup_name = str(explicit_address or host.name)
    config_path = options.ssh_config or os.path.expanduser("~/.ssh/config")
    config = _ssh_configs.get(config_path)
    cfg = config.lookup(lookup_name) if config is not None else {}

    address = str(explicit_address or cfg.get("hostname") or host.name)
    port = host.port or int(cfg.get("port", 22))
    user = host.user or cfg.get("user") or _local_user()

    key_files: list[str] = []
    explicit = host.get("private_key_file")
    if explicit:
        key_files.append(os.path.expanduser(str(explicit)))
    key_files += [os.path.expanduser(p) for p in cfg.get("identityfile", [])]

    known = [os.path.expanduser("~/.ssh/known_hosts"), str(tool_known_hosts())]
    known += [os.path.expanduser(p) for p in cfg.get("userknownhostsfile", "").split()]
    if host.get("known_hosts_file"):
        known.append(os.path.expanduser(str(host.get("known_hosts_file"))))
    known += list(options.known_hosts)

    password = host.secret("password")
    if password:
        MASK.add(str(password))
    proxy_jump = host.get("proxy_jump") or cfg.get("proxyjump")
    if proxy_jump in ("none", ""):
        proxy_jump = None
    connect_timeout = float(host.get("connect_timeout") or cfg.get("connecttimeout") or options.connect_timeout)
    keepalive = int(cfg.get("serveraliveinterval") or options.keepalive)
    return SSHSettings(name=host.name, address=address, port=int(port), user=str(user),
                       key_files=tuple(dict.fromkeys(key_files)), explicit_key=bool(explicit),
                       password=str(password) if password else None,
                       proxy_jump=str(proxy_jump) if proxy_jump else None,
                       known_hosts=tuple(dict.fromkeys(known)), connect_timeout=connect_timeout,
                       keepalive=keepalive)


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

    def __init__(self, host: "Host", options: ConnectOptions):
        super().__init__(host, options)
        self.settings: SSHSettings | None = None
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._jump: "SSHConnection | None" = None
        self._channels: set[paramiko.Channel] = set()  # commands in flight, stopped on close()

    # -- open / close

    def open(self) -> None:
        self.start_clock()
        self.settings = s = resolve_settings(self.host, self.options)
        sock = self._socket(s)
        try:
            transport = paramiko.Transport(sock)
            self._transport = transport
            known = self._known_keys(s)
            self._prefer_known_key_types(transport, known)
            transport.banner_timeout = s.connect_timeout
            try:
                transport.start_client(timeout=s.connect_timeout)
                if not transport.initial_kex_done:  # start_client returns quietly on its timeout
                    raise paramiko.SSHException(f"no answer within {s.connect_timeout:g}s")
            except (paramiko.SSHException, EOFError, OSError) as exc:
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

    def _jump_channel(self, s: SSHSettings):
        """A direct-tcpip channel through the bastion(s); the last hop of a comma list is nearest."""
        *earlier, last = [hop.strip() for hop in s.proxy_jump.split(",")]
        from ..inventory import Host

        user, _, hostport = last.rpartition("@")
        address, port = _split_hostport(hostport)
        bastion_vars: dict = {}  # no address: ~/.ssh/config may name the bastion (Host jumpbox / HostName ...)
        if port:
            bastion_vars["port"] = port
        if user:
            bastion_vars["user"] = user
        for name in ("private_key_file", "known_hosts_file", "connect_timeout"):
            if self.host.get(name) is not None:
                bastion_vars[name] = self.host.get(name)
        # "none" stops a wildcard ProxyJump in ~/.ssh/config from sending the bastion through itself
        bastion_vars["proxy_jump"] = ",".join(earlier) if earlier else "none"
        bastion = SSHConnection(Host(name=address, vars=bastion_vars), self.options)
        try:
            bastion.open()
        except ConnectError as exc:
            raise type(exc)(self.host.name, f"via bastion {last}: {exc.reason}", exc.hint) from None
        self._jump = bastion
        try:
            return bastion._transport.open_channel("direct-tcpip", (s.address, s.port), ("127.0.0.1", 0),
                                                   timeout=s.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise UnreachableError(self.host.name, f"unreachable: bastion {last} could not reach "
                                   f"{s.address}:{s.port}: {exc}") from None

    # -- host keys

    def _known_keys(self, s: SSHSettings) -> dict[str, tuple[paramiko.PKey, str]]:
        """Key type -> (known key, file it came from) for every name this host is known by."""
        found: dict[str, tuple[paramiko.PKey, str]] = {}
        for path in s.known_hosts:
            keys = _known_hosts.get(path)
            if keys is None:
                continue
            for name in s.host_key_names:
                for ktype, key in keys.lookup(name).items():
                    found.setdefault(ktype, (key, path))
        return found

    @staticmethod
    def _prefer_known_key_types(transport: paramiko.Transport, known: dict) -> None:
        if not known:
            return
        options = transport.get_security_options()
        preferred: list[str] = []
        for ktype in known:
            preferred += _KEY_ALGORITHMS.get(ktype, (ktype,))
        preferred = [k for k in preferred if k in options.key_types]
        if preferred:
            options.key_types = tuple(preferred) + tuple(k for k in options.key_types if k not in preferred)

    def _verify_host_key(self, key: paramiko.PKey, known: dict, s: SSHSettings) -> None:
        entry = known.get(key.get_name())
        if entry is not None:
            if entry[0] == key:
                return
            raise HostKeyError(self.host.name, f"host key changed for {self.host.name}: refusing",
                               f"it now presents {_fingerprint(key)}, {entry[1]} holds another; if the "
                               f"change is expected, remove the old key with "
                               f"`ssh-keygen -R {s.host_key_names[0]} -f {entry[1]}`")
        if known:
            other = next(iter(known.values()))
            raise HostKeyError(self.host.name, f"host key changed for {self.host.name}: refusing",
                               f"it presents a {key.get_name()} key where {other[1]} knows a "
                               f"{other[0].get_name()} key")
        if not self.options.accept_new_host_keys:
            raise HostKeyError(self.host.name, f"host key unknown for {self.host.name}: refusing",
                               f"verify {_fingerprint(key)} and re-run with --accept-new-host-keys, "
                               "or add it to known_hosts")
        _record_host_key(s, key)

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
            raise UnreachableError(self.host.name, f"unreachable: connection lost: {exc}") from None
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
                error = CommandTimeout(self.host.name, f"command timed out after {limit:g}s and was stopped")
                error.result = partial
                raise error
            rc = chan.recv_exit_status()
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise UnreachableError(self.host.name, f"unreachable: connection lost while running a command: "
                                   f"{exc}") from None
        finally:
            self._channels.discard(chan)
            chan.close()
        stdout = reader.stdout_text()
        stderr = reader.stderr_text()
        if become_session:
            stderr = become_session.clean(stderr)
        return CommandResult(command, stdout, stderr, rc if rc >= 0 else None, time.monotonic() - started)

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
                raise ConnectError(self.host.name, f"cannot start SFTP: {exc}",
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
            raise ConnectError(self.host.name, f"cannot write {remote_path}: {exc.strerror or exc}",
                               unreachable_hint(exc)) from None

    def get(self, remote_path: str) -> bytes:
        buffer = io.BytesIO()
        try:
            self._sftp_client().getfo(remote_path, buffer)
        except IOError as exc:
            raise ConnectError(self.host.name, f"cannot read {remote_path}: {exc.strerror or exc}",
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


def _split_hostport(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        address, _, rest = text[1:].partition("]")
        return address, int(rest[1:]) if rest.startswith(":") else None
    if text.count(":") == 1:
        address, port = text.split(":")
        return address, int(port)
    return text, None


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
            select.select([chan], [], [], wait)
        while chan.recv_ready():
            self.stdout += chan.recv(_CHUNK)
        while chan.recv_stderr_ready():
            self.stderr += chan.recv_stderr(_CHUNK)
        return True

    def read_until_closed(self) -> bool:
        chan = self.chan
        while True:
            if not self.poll():
                return False
            if chan.eof_received and chan.exit_status_ready() and not (chan.recv_ready() or chan.recv_stderr_ready()):
                # drain what arrived between the checks
                self.stdout += _drain(chan.recv, chan.recv_ready)
                self.stderr += _drain(chan.recv_stderr, chan.recv_stderr_ready)
                return True
            if chan.closed and not (chan.recv_ready() or chan.recv_stderr_ready()):
                return True

    def stdout_text(self) -> str:
        return MASK(self.stdout.decode("utf-8", "replace"))

    def stderr_text(self) -> str:
        return MASK(self.stderr.decode("utf-8", "replace"))


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
