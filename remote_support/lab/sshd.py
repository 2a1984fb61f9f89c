"""The practice lab: N real OpenSSH servers on loopback addresses of this machine.

Used by the README demo, staff training and the test fixtures. Host *i* is ``lab-00i``, one ``sshd`` of
its own (an sshd listens on at most 16 sockets) on its own loopback address: 127.42.0.1, 127.42.0.2, ...,
rolling into the third octet after .254 (all of 127.0.0.0/8 is local on Linux, no set-up needed).

Two modes, chosen by who runs it:

* **root**: port 22; each sshd runs under ``unshare --uts --mount`` with the host's name as hostname,
  so ``uname -n`` tells hosts apart, and a private /etc/hosts naming it (so sudo resolves it). Two lab
  users exist on the machine: ``rslab`` (sudo with its password, kept in ``<lab>/rslab.password``) and
  ``rslabnp`` (sudo without password). The accounts are machine-wide, so every root lab on the machine
  shares them and rslab's password (master copy in :data:`SHARED_PASSWORD_FILE`; each lab keeps a copy
  its inventory points at); each lab adds its own client key to their authorized_keys.
* **unprivileged**: port 2222; the sshds run as the calling user, only that user can log in (keys from
  ``<lab>/authorized_keys``), no hostnames, no sudo users.

Layout of the lab directory (default ``data_dir()/"lab"``, never inside the git repository)::

    state.json       what is up: hosts, addresses, pidfiles (so status/down work from any process)
    sshd_config      shared by every host; per host: -o ListenAddress/HostKey/PidFile and -E log
    client_key       the lab user's key pair (.pub beside it)
    known_hosts      every host key under name and address
    inventory.yml    the lab as a native inventory
    rslab.password   root mode: rslab's sudo password
    authorized_keys  unprivileged mode
    hosts/lab-001/   host_key (.pub), sshd.pid, sshd.log, etc_hosts (root mode)

``up(count)`` on a lab that is already up stops it first and starts ``count`` hosts afresh; host keys are
kept (also by ``down``), so ``known_hosts`` stays valid across restarts.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..connections.base import data_dir
from ..errors import LabError, RemoteSupportError  # noqa: F401 - LabError is part of this module's API

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"
SUDO = "/usr/bin/sudo"
SUDOERS_DROPIN = Path("/etc/sudoers.d/remote-support-lab")
#: root mode: machine-wide state of the machine-wide lab users (rslab's password, a lock)
SHARED_DIR = Path("/var/lib/remote-support-lab")
SHARED_PASSWORD_FILE = SHARED_DIR / "rslab.password"

BECOME_USER = "rslab"  # sudo with password
NOPASSWD_USER = "rslabnp"  # sudo without password
LAB_USERS = (BECOME_USER, NOPASSWD_USER)
ROOT_PORT = 22
USER_PORT = 2222
MAX_HOSTS = 1000  # each host is a real sshd (about 1.3 MB idle)

STATE_VERSION = 1
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LabHost:
    """One host of a lab that was just started."""

    name: str
    address: str
    port: int
    pid: int | None = None


@dataclass(frozen=True)
class LabHostStatus:
    """One host as ``status()`` finds it: ``running`` only if its pidfile names a live sshd of this lab."""

    name: str
    address: str
    port: int
    pid: int | None
    running: bool


def host_name(index: int) -> str:
    """The name of host ``index`` (1-based): ``lab-001``."""
    return f"lab-{index:03d}"


def host_address(network: str, index: int) -> str:
    """The loopback address of host ``index`` (1-based): .1 to .254, then on into the third octet."""
    base = int(_parse_network(network))
    third, last = divmod(index - 1, 254)
    address = ipaddress.IPv4Address(base + third * 256 + last + 1)
    if address not in ipaddress.IPv4Network("127.0.0.0/8") or address.packed[3] in (0, 255):
        raise LabError(f"host {index} does not fit in loopback network {network}: use fewer hosts "
                       "or a lower network address")
    return str(address)


def _parse_network(network: str) -> ipaddress.IPv4Address:
    try:
        address = ipaddress.IPv4Address(network)
    except ValueError:
        raise LabError(f"lab network {network!r} is not an IPv4 address: use one like 127.42.0.0") from None
    if address not in ipaddress.IPv4Network("127.0.0.0/8") or address.packed[3] != 0:
        raise LabError(f"lab network {network} must be a loopback address ending in .0 (127.x.y.0), "
                       "e.g. 127.42.0.0")
    return address


@dataclass(frozen=True)
class _HostFiles:
    name: str
    address: str
    port: int
    dir: Path

    @property
    def host_key(self) -> Path:
        return self.dir / "host_key"

    @property
    def pidfile(self) -> Path:
        return self.dir / "sshd.pid"

    @property
    def log(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def etc_hosts(self) -> Path:  # root mode: bind-mounted over /etc/hosts in the host's namespace
        return self.dir / "etc_hosts"


class Lab:
    """A lab of real sshd hosts on loopback, kept in ``directory``.

    ``Lab(directory, network)`` only names the lab; nothing happens until :meth:`up`. :meth:`status` and
    :meth:`down` read the state file, so they work from any process (and ignore ``network``).
    """

    def __init__(self, directory: Path | str | None = None, network: str = "127.42.0.0", *,
                 port: int | None = None):
        self.directory = Path(directory if directory is not None else data_dir() / "lab").expanduser().absolute()
        _parse_network(network)
        self.network = network
        self.as_root = os.geteuid() == 0
        self.port = port if port is not None else (ROOT_PORT if self.as_root else USER_PORT)
        self.user = BECOME_USER if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        self.state_path = self.directory / "state.json"
        self.config_path = self.directory / "sshd_config"
        self.inventory_path = self.directory / "inventory.yml"
        self.known_hosts_path = self.directory / "known_hosts"
        self.client_key_path = self.directory / "client_key"
        self.password_path = self.directory / "rslab.password"  # root mode only
        self.authorized_keys_path = self.directory / "authorized_keys"  # unprivileged mode only
        self._children: set[int] = set()  # sshds this process spawned (so it can reap them)
        if (_REPO_ROOT / ".git").exists() and self.directory.resolve().is_relative_to(_REPO_ROOT):
            raise LabError(f"lab directory {self.directory} is inside the git repository {_REPO_ROOT}: "
                           f"use a directory outside it (the default is {data_dir() / 'lab'})")

    def __repr__(self) -> str:
        return f"Lab({str(self.directory)!r}, network={self.network!r})"

    @property
    def password(self) -> str | None:
        """rslab's sudo password (root mode, after ``up``), else None."""
        try:
            return self.password_path.read_text().strip()
        except FileNotFoundError:
            return None

    # -- the three verbs ---------------------------------------------------------------------------

    def up(self, count: int, *, timeout: float | None = None) -> list[LabHost]:
        """Start ``count`` hosts and return them once every one accepts connections.

        A lab that is already up is stopped first (host keys are kept). On failure every sshd this call
        started is stopped again and :class:`LabError` names the host and shows the end of its log.
        """
        if not isinstance(count, int) or not 1 <= count <= MAX_HOSTS:
            raise LabError(f"lab size {count!r} is out of range: use 1 to {MAX_HOSTS} hosts")
        hosts = [_HostFiles(host_name(i), host_address(self.network, i), self.port,
                            self.directory / "hosts" / host_name(i)) for i in range(1, count + 1)]
        self._check_tools()
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise LabError(f"cannot create the lab directory {self.directory}: {exc.strerror}; "
                           "choose a directory you can write to") from None
        self._check_owner()
        with self._locked():
            self._stop()
            for host in hosts:
                host.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            _generate_keys([self.client_key_path] + [h.host_key for h in hosts], comment="remote-support-lab")
            if self.as_root:
                _run(["install", "-d", "-m", "755", "/run/sshd"])  # sshd's privilege separation dir
                self._prepare_root_users()
            else:
                _write_private(self.authorized_keys_path, _public_key(self.client_key_path) + "\n")
            self._write_config(hosts[0].host_key)
            self._write_known_hosts(hosts)
            self._write_inventory(hosts)
            self._write_state(hosts)
            pids = self._start(hosts, timeout if timeout is not None else 15.0 + 0.1 * count)
        return [LabHost(h.name, h.address, h.port, pids[h.name]) for h in hosts]

    def down(self) -> int:
        """Stop every sshd of this lab (by the PID in its pidfile); return how many were running.

        Keys, known_hosts and inventory stay, so a later ``up`` reuses the host keys. Idempotent.
        """
        if not self.state_path.exists():
            return 0
        self._check_owner()
        with self._locked():
            return self._stop()

    def status(self) -> list[LabHostStatus]:
        """Every host of the last ``up`` (empty if the lab was never started), running or not."""
        result = []
        for host in self._state_hosts():
            pid = _read_pid(host.pidfile)
            result.append(LabHostStatus(host.name, host.address, host.port, pid,
                                        pid is not None and self._is_our_sshd(pid)))
        return result

    def remove(self) -> int:
        """``down``, then forget the lab: its key leaves the lab users' authorized_keys and its files
        are deleted (only the lab's own; the machine-wide users and sudoers drop-in stay). Returns
        ``down``'s count."""
        stopped = self.down()
        if self.as_root and self.client_key_path.with_name("client_key.pub").exists():
            blob = _public_key(self.client_key_path).split()[1]
            with _shared_lock():
                for user in LAB_USERS:
                    _remove_authorized_key(user, blob)
        for host_dir in self.directory.glob("hosts/lab-*"):
            for name in ("host_key", "host_key.pub", "sshd.pid", "sshd.log", "etc_hosts"):
                (host_dir / name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                host_dir.rmdir()
        for path in (self.state_path, self.config_path, self.inventory_path, self.known_hosts_path,
                     self.client_key_path, self.client_key_path.with_name("client_key.pub"), self.password_path,
                     self.authorized_keys_path, self.directory / ".lock"):
            path.unlink(missing_ok=True)
        for directory in (self.directory / "hosts", self.directory):
            with contextlib.suppress(OSError):  # left in place if something else lives there
                directory.rmdir()
        return stopped

    # -- starting ----------------------------------------------------------------------------------

    def _check_owner(self) -> None:
        if not os.access(self.directory, os.W_OK):
            raise LabError(f"lab directory {self.directory} belongs to {self.directory.owner()}: run the "
                           "command as that user, or use a lab directory of your own")

    def _check_tools(self) -> None:
        needed = {SSHD: "apt-get install openssh-server", shutil.which("ssh-keygen") or "ssh-keygen":
                  "apt-get install openssh-client"}
        if self.as_root:
            needed |= {SUDO: "apt-get install sudo", "/usr/sbin/visudo": "apt-get install sudo",
                       shutil.which("unshare") or "unshare": "apt-get install util-linux",
                       shutil.which("mount") or "mount": "apt-get install mount",
                       shutil.which("hostname") or "hostname": "apt-get install hostname"}
        for path, fix in needed.items():
            if not os.access(path, os.X_OK):
                raise LabError(f"the lab needs {path}, which is missing: install it ({fix}) and retry")

    def _prepare_root_users(self) -> None:
        with _shared_lock():
            self._prepare_root_users_locked()

    def _prepare_root_users_locked(self) -> None:
        for user in LAB_USERS:
            try:
                pwd.getpwnam(user)
            except KeyError:
                # '*': no password login, but not locked, so key logins work even with UsePAM no
                _run(["useradd", "--create-home", "--shell", "/bin/bash", "--password", "*",
                      "--comment", "remote-support lab", user])
            else:
                if _shadow_password(user).startswith("!"):  # locked: sshd would refuse key logins
                    _run(["usermod", "--password", "*", user])
        if SHARED_PASSWORD_FILE.exists():
            password = SHARED_PASSWORD_FILE.read_text().strip()
        else:
            password = secrets.token_urlsafe(18)
            _write_private(SHARED_PASSWORD_FILE, password + "\n")
        _run(["chpasswd"], input=f"{BECOME_USER}:{password}\n")
        _write_private(self.password_path, password + "\n")
        key_line = f"{_public_key(self.client_key_path)} remote-support-lab:{self.directory}"
        for user in LAB_USERS:
            _add_authorized_key(user, key_line)
        _install_sudoers(f"# remote-support practice lab (remote_support/lab.py)\n"
                         f"{BECOME_USER} ALL=(ALL) ALL\n"
                         f"{NOPASSWD_USER} ALL=(ALL) NOPASSWD: ALL\n")

    def _write_config(self, any_host_key: Path) -> None:
        sftp = SFTP_SERVER if os.access(SFTP_SERVER, os.X_OK) else "internal-sftp"
        lines = [
            "# remote-support practice lab: shared by every host; each sshd adds -o ListenAddress,",
            "# HostKey and PidFile and logs with -E. Rewritten by every `up`.",
            "PubkeyAuthentication yes",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "UseDNS no",
            "MaxStartups 1000:30:2000",
            "MaxSessions 200",
            "PermitRootLogin no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            f"Subsystem sftp {sftp}",
        ]
        if self.as_root:
            lines += ["PasswordAuthentication yes",  # for password tests; only the lab users may log in
                      f"AllowUsers {' '.join(LAB_USERS)}",
                      "AuthorizedKeysFile .ssh/authorized_keys"]
        else:
            lines += ["PasswordAuthentication no",  # an unprivileged sshd cannot check passwords
                      f"AllowUsers {self.user}",
                      f"AuthorizedKeysFile {self.authorized_keys_path}",
                      "StrictModes no"]  # the lab dir may sit below a world-writable /tmp
        # OpenSSH 9.8+ penalises sources with failed logins; every lab client is 127.0.0.1.
        for extra in (["PerSourcePenalties no"], []):
            _write_text(self.config_path, "\n".join(lines + extra) + "\n")
            check = subprocess.run([SSHD, "-t", "-f", str(self.config_path), "-o", f"HostKey={any_host_key}"],
                                   capture_output=True, text=True)
            if check.returncode == 0:
                return
            if extra and "persourcepenalties" in check.stderr.lower():
                continue
            break
        raise LabError(f"sshd rejects the lab's configuration {self.config_path}: "
                       f"{check.stderr.strip() or check.stdout.strip()} (check the OpenSSH server install)")

    def _write_known_hosts(self, hosts: list[_HostFiles]) -> None:
        lines = []
        for host in hosts:
            names = [host.name, host.address]
            if host.port != 22:
                names = [f"[{n}]:{host.port}" for n in names]
            lines.append(f"{','.join(names)} {_public_key(host.host_key)}")
        _write_text(self.known_hosts_path, "\n".join(lines) + "\n")

    def _write_inventory(self, hosts: list[_HostFiles]) -> None:
        q = json.dumps  # a JSON string is a YAML string, quoted safely
        lines = [
            "# The remote-support practice lab; rewritten by every `lab up`.",
            "# Settings are the group's, not defaults: the lab's switches and Windows hosts share -i.",
            "groups:",
            "  lab:",
            "    vars:",
            "      connection: ssh",
            f"      user: {self.user}",
            f"      private_key_file: {q(str(self.client_key_path))}",
            f"      known_hosts_file: {q(str(self.known_hosts_path))}",
        ]
        if self.as_root:
            lines.append(f"      become_password: {{secret: {q('file:' + str(self.password_path))}}}")
        lines += ["hosts:"]
        lines += [f"  {h.name}: {{address: {h.address}, port: {h.port}, groups: [lab]}}" for h in hosts]
        _write_text(self.inventory_path, "\n".join(lines) + "\n")

    def _write_state(self, hosts: list[_HostFiles]) -> None:
        state = {
            "version": STATE_VERSION,
            "network": self.network,
            "port": self.port,
            "user": self.user,
            "mode": "root" if self.as_root else "unprivileged",
            "config": str(self.config_path),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "hosts": [{"name": h.name, "address": h.address, "port": h.port, "dir": str(h.dir)} for h in hosts],
        }
        _write_text(self.state_path, json.dumps(state, indent=1) + "\n")

    def _start(self, hosts: list[_HostFiles], timeout: float) -> dict[str, int]:
        """Spawn every sshd at once, then wait until each has written its pidfile and accepts TCP."""
        env = {"PATH": _SYSTEM_PATH, "LANG": "C.UTF-8"}
        spawned: dict[str, int] = {}
        etc_hosts = Path("/etc/hosts").read_text() if self.as_root else ""
        if etc_hosts and not etc_hosts.endswith("\n"):
            etc_hosts += "\n"
        try:
            for host in hosts:
                host.pidfile.unlink(missing_ok=True)
                argv = [SSHD, "-f", str(self.config_path), "-D", "-E", str(host.log),
                        "-o", f"ListenAddress={host.address}:{host.port}",
                        "-o", f"HostKey={host.host_key}", "-o", f"PidFile={host.pidfile}"]
                if self.as_root:
                    # Own UTS namespace, so `uname -n` answers the host's name, and own mount namespace
                    # with a private /etc/hosts naming it, so sudo on the host can resolve its name
                    # (slave: the machine's later mounts still show up in the host, none go back).
                    _write_text(host.etc_hosts, etc_hosts + f"{host.address}\t{host.name}\n")
                    argv = ["unshare", "--uts", "--mount", "--propagation", "slave", "sh", "-c",
                            'hostname "$0" && mount --bind "$1" /etc/hosts && shift && exec "$@"',
                            host.name, str(host.etc_hosts)] + argv
                log = os.open(host.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.close(log)  # a fresh log per start; stdout/stderr append to it too (sh, hostname)
                actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                           (os.POSIX_SPAWN_OPEN, 1, str(host.log), os.O_WRONLY | os.O_APPEND, 0),
                           (os.POSIX_SPAWN_DUP2, 1, 2)]
                pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setsid=True)
                spawned[host.name] = pid
                self._children.add(pid)
            self._wait_ready(hosts, spawned, time.monotonic() + timeout)
        except BaseException:
            self._kill(list(spawned.values()))
            for host in hosts:
                host.pidfile.unlink(missing_ok=True)
            raise
        return spawned

    def _wait_ready(self, hosts: list[_HostFiles], spawned: dict[str, int], deadline: float) -> None:
        pending = {h.name: h for h in hosts}
        while pending:
            for name, host in list(pending.items()):
                pid = spawned[name]
                if _reap(pid) is not None:
                    self._children.discard(pid)
                    raise self._start_error(host, "its sshd exited at start")
                if _read_pid(host.pidfile) == pid and _accepts_tcp(host.address, host.port):
                    del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                host = next(iter(pending.values()))
                raise self._start_error(host, f"not listening after the deadline ({len(pending)} of "
                                              f"{len(hosts)} hosts not ready; the machine may be overloaded)")
            time.sleep(0.02)

    def _start_error(self, host: _HostFiles, what: str) -> LabError:
        try:
            tail = host.log.read_text(errors="replace").strip().splitlines()[-8:]
        except OSError:
            tail = []
        text = "\n".join("    " + line for line in tail) or "    (empty)"
        hint = "fix the cause above and run `up` again"
        if any("Address already in use" in line for line in tail):
            hint = (f"something else listens on port {host.port} of {host.address} (a system sshd on "
                    f"0.0.0.0:{host.port}?): stop it, or choose another lab network or port")
        return LabError(f"lab host {host.name} ({host.address}:{host.port}) did not start: {what}.\n"
                        f"  last lines of {host.log}:\n{text}\n  {hint}")

    # -- stopping ----------------------------------------------------------------------------------

    def _stop(self) -> int:
        """Stop the hosts named by the state file; call with the lock held."""
        hosts = self._state_hosts()
        pids = []
        for host in hosts:
            pid = _read_pid(host.pidfile)
            if pid is not None and self._is_our_sshd(pid):
                pids.append(pid)
        self._kill(pids)
        for host in hosts:
            host.pidfile.unlink(missing_ok=True)
        return len(pids)

    def _kill(self, pids: list[int]) -> None:
        """SIGTERM, wait up to 5 s, then SIGKILL; only processes that are sshds of this lab."""
        for pid in pids:
            if pid in self._children and _reap(pid) is not None:  # ended on its own: just reap it
                self._children.discard(pid)
        pids = [p for p in pids if self._is_our_sshd(p) or (p in self._children and _alive(p))]
        self._children.difference_update(pids)  # reaped below (or not ours to reap)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        while True:
            pids = [p for p in pids if _reap(p) is None and _alive(p)]
            if not pids:
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _reap(pid, block=True)

    def _is_our_sshd(self, pid: int) -> bool:
        """Whether ``pid`` is a live sshd started with this lab's config (pids get reused)."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        # sshd retitles its listener "sshd: /usr/sbin/sshd -f CONFIG ... [listener] ..."
        return "sshd" in cmdline and f"-f {self.config_path} " in cmdline + " " and _alive(pid)

    # -- state -------------------------------------------------------------------------------------

    def _state_hosts(self) -> list[_HostFiles]:
        try:
            state = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return []
        except PermissionError:
            raise LabError(f"lab state file {self.state_path} is not readable by this user: the lab "
                           f"belongs to {self.directory.owner()}; run the command as that user") from None
        except (OSError, ValueError) as exc:
            raise LabError(f"lab state file {self.state_path} is unreadable ({exc}): stop any lab sshd "
                           f"yourself (see {self.directory}/hosts/*/sshd.pid), then delete the file") from None
        if state.get("version") != STATE_VERSION:
            raise LabError(f"lab state file {self.state_path} has version {state.get('version')!r}, "
                           f"expected {STATE_VERSION}: it was written by another remote-support version")
        return [_HostFiles(h["name"], h["address"], int(h["port"]), Path(h["dir"])) for h in state["hosts"]]

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        """One up/down at a time per lab directory, across processes."""
        return _flock(self.directory / ".lock")


# -- helpers ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _shared_lock() -> contextlib.AbstractContextManager[None]:
    """Root labs share the lab users: one process at a time edits them (authorized_keys, password)."""
    SHARED_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    return _flock(SHARED_DIR / ".lock")

def _run(argv: list[str], input: str | None = None) -> None:
    result = subprocess.run(argv, input=input, capture_output=True, text=True)
    if result.returncode != 0:
        raise LabError(f"lab set-up step `{' '.join(argv)}` failed (exit {result.returncode}): "
                       f"{result.stderr.strip()}")


def _write_text(path: Path, text: str, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` atomically; ``owner`` is set before the rename, so readers never see a wrong owner."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        if owner is not None:
            os.fchown(f.fileno(), *owner)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _write_private(path: Path, text: str) -> None:
    _write_text(path, text, 0o600)


def _generate_keys(paths: list[Path], comment: str, parallel: int = 32) -> None:
    """Create the missing ed25519 key pairs, ``parallel`` ssh-keygen at a time."""
    queue = [p for p in paths if not (p.exists() and p.with_name(p.name + ".pub").exists())]
    running: list[tuple[Path, subprocess.Popen[str]]] = []
    try:
        while queue or running:
            while queue and len(running) < parallel:
                path = queue.pop()
                path.unlink(missing_ok=True)
                path.with_name(path.name + ".pub").unlink(missing_ok=True)
                running.append((path, subprocess.Popen(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)))
            path, proc = running.pop(0)
            output = proc.communicate()[0]
            if proc.returncode != 0:
                raise LabError(f"ssh-keygen could not create {path}: {output.strip()}")
    finally:
        for _, proc in running:
            proc.kill()
            proc.wait()
    for path in paths:
        os.chmod(path, 0o600)


def _public_key(private_key: Path) -> str:
    """``ssh-ed25519 AAAA...`` from the .pub beside ``private_key`` (comment dropped)."""
    fields = private_key.with_name(private_key.name + ".pub").read_text().split()
    return f"{fields[0]} {fields[1]}"


def _shadow_password(user: str) -> str:
    for line in Path("/etc/shadow").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user and len(fields) > 1:
            return fields[1]
    return ""


def _user_ssh_dir(user: str) -> tuple[pwd.struct_passwd, Path]:
    entry = pwd.getpwnam(user)
    ssh_dir = Path(entry.pw_dir) / ".ssh"
    if ssh_dir.is_symlink():
        raise LabError(f"{ssh_dir} is a symlink: the lab will not write through it; remove it and retry")
    if not ssh_dir.exists():
        ssh_dir.mkdir(mode=0o700)
        os.chown(ssh_dir, entry.pw_uid, entry.pw_gid)
    return entry, ssh_dir


def _add_authorized_key(user: str, key_line: str) -> None:
    entry, ssh_dir = _user_ssh_dir(user)
    path = ssh_dir / "authorized_keys"
    blob = key_line.split()[1]
    # O_NOFOLLOW: root must not follow a link the (unprivileged) lab user could have planted
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "r+") as f:
        existing = f.read()
        if not any(len(line.split()) > 1 and line.split()[1] == blob for line in existing.splitlines()):
            f.write(("" if not existing or existing.endswith("\n") else "\n") + key_line + "\n")
        os.fchown(f.fileno(), entry.pw_uid, entry.pw_gid)
        os.fchmod(f.fileno(), 0o600)


def _remove_authorized_key(user: str, blob: str) -> None:
    try:
        entry, ssh_dir = _user_ssh_dir(user)
    except (KeyError, LabError):
        return
    path = ssh_dir / "authorized_keys"
    if path.is_symlink() or not path.exists():
        return
    lines = path.read_text().splitlines()
    kept = [line for line in lines if not (len(line.split()) > 1 and line.split()[1] == blob)]
    if kept != lines:
        # sshd of another running lab may read the file any moment: owner right before it appears
        _write_text(path, "".join(line + "\n" for line in kept), 0o600, owner=(entry.pw_uid, entry.pw_gid))


def _install_sudoers(text: str) -> None:
    try:
        if SUDOERS_DROPIN.read_text() == text:
            return
    except FileNotFoundError:
        pass
    tmp = SUDOERS_DROPIN.with_name("." + SUDOERS_DROPIN.name + ".new")  # sudo ignores names with a dot
    _write_text(tmp, text, 0o440)
    check = subprocess.run(["visudo", "-cf", str(tmp)], capture_output=True, text=True)
    if check.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise LabError(f"visudo rejects the lab's sudoers drop-in: {check.stdout.strip()} {check.stderr.strip()}")
    os.replace(tmp, SUDOERS_DROPIN)


def _read_pid(pidfile: Path) -> int | None:
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _reap(pid: int, block: bool = False) -> int | None:
    """The exit status of ``pid`` if it is our child and has ended (reaping it), else None."""
    try:
        done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return None
    return status if done else None


def _accepts_tcp(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((address, port)) == 0
