"""The emulated-switch lab: N Cisco IOS switches from fake-switches, on loopback addresses of this machine.

The network counterpart of :mod:`remote_support.lab` (real sshd hosts). Used by the tests of network
devices, staff training and the benchmark. Switch *i* is ``sw-00i`` on 127.44.0.i (rolling into the third
octet after .254), port 22 as root, 2222 otherwise; it speaks real SSH (Twisted conch), has a Cisco IOS
CLI (user mode, ``enable``, ``configure terminal``, ``show running-config``, ``write memory``...).

fake-switches is a test peer, not a dependency of the tool: it lives in a virtual environment of its own
(default ``data_dir()/"netlab-venv"``, created on first use, about 10 s with a warm pip cache), and the
switches run in server processes started with that environment's python, :data:`SWITCHES_PER_PROCESS`
switches each. The server script is :data:`SERVER_SCRIPT`; it applies the two workarounds the
emulator needs for netmiko (see ``/work/shared/notes/network-lab.md``):

1. the enable password is given to the switch core as ``str`` (the packaged launcher gives bytes, so
   ``enable`` always answers ``% Access denied`` on Python 3);
2. config mode learns ``end`` (leave config mode from any sub-mode), which netmiko's ``send_config_set``
   sends to exit; and an unknown command answers as IOS does (``% Invalid input detected at '^'
   marker.``) instead of the emulator's ``No such command``.

Layout of the lab directory (default ``data_dir()/"netlab"``)::

    state.json       what is up: switches, server processes and their pidfiles
    server.py        the server script (rewritten by every `up`)
    known_hosts      every switch under name and address with the (shared, built-in) RSA host key
    inventory.yml    the lab as a native inventory (connection: network, device_type: cisco_ios)
    password         the login password; enable_password: the enable secret (both mode 600)
    procs/NN/        switches.json, server.pid, server.log of server process NN

``up(count)`` on a lab that is already up stops it first. Passwords are kept across ``up``/``down``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..connections.base import data_dir
from ..errors import NetLabError, RemoteSupportError  # noqa: F401
from .sshd import (_accepts_tcp, _alive, _flock, _parse_network, _reap, _write_private, _write_text,
                  host_address)

FAKE_SWITCHES = "fake-switches==1.5.0"
#: fake-switches' own requirements pin Twisted<17, which does not build on Python 3.11: these instead
VENV_REQUIREMENTS = ("twisted[conch]", "tftpy", "netaddr", "lxml")
SWITCHES_PER_PROCESS = 25
MAX_SWITCHES = 1000
ROOT_PORT = 22
USER_PORT = 2222
USER = "admin"
DEVICE_TYPE = "cisco_ios"
MODEL = "cisco_generic"
STATE_VERSION = 1
_VENV_MARKER = ".remote-support-netlab"


def switch_name(index: int) -> str:
    """The name of switch ``index`` (1-based): ``sw-001``."""
    return f"sw-{index:03d}"


def default_venv() -> Path:
    return data_dir() / "netlab-venv"


@dataclass(frozen=True)
class NetLabDevice:
    """One switch of a lab that was just started."""

    name: str
    address: str
    port: int
    pid: int | None = None  # the server process that serves it


@dataclass(frozen=True)
class NetLabDeviceStatus:
    """One switch as ``status()`` finds it: ``running`` only if its server process is alive and ours."""

    name: str
    address: str
    port: int
    pid: int | None
    running: bool


# --------------------------------------------------------------------------------------------------
# the virtual environment


def ensure_venv(path: Path | str | None = None, *, python: str = sys.executable) -> tuple[Path, float]:
    """The python of a virtual environment with fake-switches, created when missing.

    Returns (python path, seconds spent creating; 0.0 when it existed). Safe to call from several
    processes at once (a file lock serializes creation).
    """
    venv = Path(path if path is not None else default_venv()).expanduser().absolute()
    venv_python = venv / "bin" / "python"
    marker = venv / _VENV_MARKER
    wanted = f"{FAKE_SWITCHES} {' '.join(VENV_REQUIREMENTS)}\n"
    if _venv_ready(marker, wanted):
        return venv_python, 0.0
    venv.parent.mkdir(parents=True, exist_ok=True)
    with _flock(venv.parent / f".{venv.name}.lock"):
        if _venv_ready(marker, wanted):
            return venv_python, 0.0
        started = time.monotonic()
        steps = [
            [python, "-m", "venv", "--clear", str(venv)],
            [str(venv_python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
             FAKE_SWITCHES],
            [str(venv_python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *VENV_REQUIREMENTS],
        ]
        for argv in steps:
            result = subprocess.run(argv, capture_output=True, text=True)
            if result.returncode != 0:
                tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-6:])
                raise NetLabError(f"cannot create the netlab environment {venv}: `{' '.join(argv)}` failed "
                                  f"(exit {result.returncode}):\n{tail}\n  check access to PyPI (or a pip "
                                  f"mirror: PIP_INDEX_URL), then retry")
        _write_text(marker, wanted)
        return venv_python, time.monotonic() - started


def _venv_ready(marker: Path, wanted: str) -> bool:
    try:
        return marker.read_text() == wanted and (marker.parent / "bin" / "python").exists()
    except OSError:
        return False


# --------------------------------------------------------------------------------------------------
# the server script (runs with the netlab venv's python, never imported by the tool)

SERVER_SCRIPT = r'''
"""remote-support netlab: serve fake-switches Cisco IOS switches over SSH (see remote_support/netlab.py)."""
import json
import logging
import os
import sys

from twisted.internet import reactor

from fake_switches.cisco import cisco_core
from fake_switches.cisco.command_processor.config import ConfigCommandProcessor
from fake_switches.switch_factory import SwitchFactory
from fake_switches.transports import ssh_service
from fake_switches.transports.ssh_service import SwitchSshService, getRSAKeys
from twisted.conch.ssh import keys


def _end(self, *_):
    # Workaround 2: IOS leaves config mode, from any sub-mode, with `end` (netmiko's exit command).
    # Sub-modes hand commands they do not know to this processor, so one method covers them all.
    self.is_done = True


ConfigCommandProcessor.do_end = _end


def _unknown(self, line):
    # IOS's answer to a command it does not know, rather than the emulator's "No such command"
    self.command_processor.terminal_controller.write(
        "% Invalid input detected at '^' marker.\n\n")


cisco_core.CiscoShellSession.handle_unknown_command = _unknown


class _SharedKeys:
    """Every switch serves the same built-in RSA host key: parse it once (0.1 s each), not per switch."""

    class Key:
        _parsed = {}

        @classmethod
        def fromString(cls, data, *args, **kwargs):
            if data not in cls._parsed:
                cls._parsed[data] = keys.Key.fromString(data, *args, **kwargs)
            return cls._parsed[data]


ssh_service.keys = _SharedKeys


def main():
    if sys.argv[1:2] == ["--public-key"]:
        print(getRSAKeys()[0].split()[0], getRSAKeys()[0].split()[1])
        return
    config = json.load(open(sys.argv[1]))
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    password = open(config["password_file"]).read().rstrip("\r\n")
    enable = open(config["enable_file"]).read().rstrip("\r\n")
    factory = SwitchFactory()
    for switch in config["switches"]:
        # Workaround 1: the enable password as str (bytes never compare equal on Python 3)
        core = factory.get(config["model"], switch["name"], str(enable))
        SwitchSshService(ip=switch["address"], port=switch["port"], switch_core=core,
                         users={config["user"]: password.encode()}).hook_to_reactor(reactor)
    with open(config["pidfile"] + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.replace(config["pidfile"] + ".tmp", config["pidfile"])
    reactor.run()


main()
'''


# --------------------------------------------------------------------------------------------------
# the lab


@dataclass(frozen=True)
class _Proc:
    index: int
    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / "switches.json"

    @property
    def pidfile(self) -> Path:
        return self.dir / "server.pid"

    @property
    def log(self) -> Path:
        return self.dir / "server.log"


class NetLab:
    """A lab of emulated Cisco IOS switches on loopback, kept in ``directory``.

    ``NetLab(directory, network)`` only names the lab; nothing happens until :meth:`up`. :meth:`status`
    and :meth:`down` read the state file, so they work from any process (and ignore ``network``).
    """

    def __init__(self, directory: Path | str | None = None, network: str = "127.44.0.0", *,
                 port: int | None = None, venv: Path | str | None = None):
        self.directory = Path(directory if directory is not None else data_dir() / "netlab").expanduser().absolute()
        _parse_network(network)
        self.network = network
        self.port = port if port is not None else (ROOT_PORT if os.geteuid() == 0 else USER_PORT)
        self.venv = Path(venv if venv is not None else default_venv()).expanduser().absolute()
        self.user = USER
        self.state_path = self.directory / "state.json"
        self.inventory_path = self.directory / "inventory.yml"
        self.known_hosts_path = self.directory / "known_hosts"
        self.password_path = self.directory / "password"
        self.enable_password_path = self.directory / "enable_password"
        self.server_path = self.directory / "server.py"
        self.venv_seconds = 0.0  # time the last up() spent creating the venv (0.0 when it existed)
        self._children: set[int] = set()

    def __repr__(self) -> str:
        return f"NetLab({str(self.directory)!r}, network={self.network!r})"

    @property
    def password(self) -> str | None:
        return _read(self.password_path)

    @property
    def enable_password(self) -> str | None:
        return _read(self.enable_password_path)

    # -- the three verbs ---------------------------------------------------------------------------

    def up(self, count: int, *, timeout: float | None = None) -> list[NetLabDevice]:
        """Start ``count`` switches and return them once every one accepts TCP connections."""
        if not isinstance(count, int) or not 1 <= count <= MAX_SWITCHES:
            raise NetLabError(f"netlab size {count!r} is out of range: use 1 to {MAX_SWITCHES} switches")
        switches = [(switch_name(i), host_address(self.network, i)) for i in range(1, count + 1)]
        python, self.venv_seconds = ensure_venv(self.venv)
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise NetLabError(f"cannot create the netlab directory {self.directory}: {exc.strerror}; "
                              "choose a directory you can write to") from None
        with _flock(self.directory / ".lock"):
            self._stop()
            for path in (self.password_path, self.enable_password_path):
                if not path.exists():
                    _write_private(path, secrets.token_urlsafe(15) + "\n")
            _write_text(self.server_path, SERVER_SCRIPT)
            public_key = self._public_key(python)
            chunks = [switches[i:i + SWITCHES_PER_PROCESS] for i in range(0, count, SWITCHES_PER_PROCESS)]
            procs = [_Proc(n, self.directory / "procs" / f"{n:02d}") for n in range(len(chunks))]
            for proc, chunk in zip(procs, chunks):
                proc.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                _write_text(proc.config, json.dumps({
                    "model": MODEL, "user": self.user, "password_file": str(self.password_path),
                    "enable_file": str(self.enable_password_path), "pidfile": str(proc.pidfile),
                    "switches": [{"name": n, "address": a, "port": self.port} for n, a in chunk]}, indent=1))
            self._write_known_hosts(switches, public_key)
            self._write_inventory(switches)
            self._write_state(switches, procs, chunks)
            pids = self._start(python, procs, chunks, timeout if timeout is not None else 20.0 + 0.1 * count)
        return [NetLabDevice(name, address, self.port, pids[proc.index])
                for proc, chunk in zip(procs, chunks) for name, address in chunk]

    def down(self) -> int:
        """Stop every server process of this lab (by the PID in its pidfile); return how many ran."""
        if not self.state_path.exists():
            return 0
        with _flock(self.directory / ".lock"):
            return self._stop()

    def status(self) -> list[NetLabDeviceStatus]:
        """Every switch of the last ``up`` (empty if the lab was never started), running or not."""
        state = self._state()
        if state is None:
            return []
        result = []
        for proc in state["procs"]:
            pid = _read_pid(Path(proc["pidfile"]))
            running = pid is not None and self._is_our_server(pid, Path(proc["config"]))
            for switch in proc["switches"]:
                result.append(NetLabDeviceStatus(switch["name"], switch["address"], int(switch["port"]), pid,
                                                 running))
        return result

    # -- files -------------------------------------------------------------------------------------

    def _public_key(self, python: Path) -> str:
        """The switches' (shared, built-in) host key, asked from fake-switches once per venv."""
        cached = self.venv / "fake-switches-host-key.pub"
        text = _read(cached)
        if text and text.startswith("ssh-"):
            return text
        result = subprocess.run([str(python), str(self.server_path), "--public-key"], capture_output=True,
                                text=True)
        if result.returncode != 0 or not result.stdout.startswith("ssh-"):
            raise NetLabError(f"cannot read the switches' host key with {python}: {result.stderr.strip()} "
                              f"(delete {self.venv} to have it created again)")
        _write_text(cached, result.stdout.strip() + "\n")
        return result.stdout.strip()

    def _write_known_hosts(self, switches: list[tuple[str, str]], public_key: str) -> None:
        lines = []
        for name, address in switches:
            names = [name, address] if self.port == 22 else [f"[{name}]:{self.port}", f"[{address}]:{self.port}"]
            lines.append(f"{','.join(names)} {public_key}")
        _write_text(self.known_hosts_path, "\n".join(lines) + "\n")

    def _write_inventory(self, switches: list[tuple[str, str]]) -> None:
        q = json.dumps
        lines = [
            "# The remote-support emulated-switch lab; rewritten by every `netlab up`.",
            "groups:",
            "  switches:",
            "    vars:",
            "      connection: network",
            f"      device_type: {DEVICE_TYPE}",
            f"      user: {self.user}",
            f"      password: {{secret: {q('file:' + str(self.password_path))}}}",
            f"      enable_password: {{secret: {q('file:' + str(self.enable_password_path))}}}",
            f"      known_hosts_file: {q(str(self.known_hosts_path))}",
            "hosts:",
        ]
        lines += [f"  {name}: {{address: {address}, port: {self.port}, groups: [switches]}}"
                  for name, address in switches]
        _write_text(self.inventory_path, "\n".join(lines) + "\n")

    def _write_state(self, switches, procs: list[_Proc], chunks) -> None:
        state = {
            "version": STATE_VERSION, "network": self.network, "port": self.port, "user": self.user,
            "venv": str(self.venv), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "procs": [{"index": p.index, "dir": str(p.dir), "pidfile": str(p.pidfile), "config": str(p.config),
                       "switches": [{"name": n, "address": a, "port": self.port} for n, a in chunk]}
                      for p, chunk in zip(procs, chunks)],
        }
        _write_text(self.state_path, json.dumps(state, indent=1) + "\n")

    def _state(self) -> dict | None:
        try:
            state = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise NetLabError(f"netlab state file {self.state_path} is unreadable ({exc}): stop the servers "
                              f"yourself (see {self.directory}/procs/*/server.pid), then delete it") from None
        if state.get("version") != STATE_VERSION:
            raise NetLabError(f"netlab state file {self.state_path} has version {state.get('version')!r}, "
                              f"expected {STATE_VERSION}: it was written by another remote-support version")
        return state

    # -- processes ---------------------------------------------------------------------------------

    def _start(self, python: Path, procs: list[_Proc], chunks, timeout: float) -> dict[int, int]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        spawned: dict[int, int] = {}
        try:
            for proc in procs:
                proc.pidfile.unlink(missing_ok=True)
                argv = [str(python), str(self.server_path), str(proc.config)]
                log = os.open(proc.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.close(log)
                actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                           (os.POSIX_SPAWN_OPEN, 1, str(proc.log), os.O_WRONLY | os.O_APPEND, 0),
                           (os.POSIX_SPAWN_DUP2, 1, 2)]
                pid = os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
                spawned[proc.index] = pid
                self._children.add(pid)
            self._wait_ready(procs, chunks, spawned, time.monotonic() + timeout)
        except BaseException:
            self._kill(list(spawned.values()))
            for proc in procs:
                proc.pidfile.unlink(missing_ok=True)
            raise
        return spawned

    def _wait_ready(self, procs: list[_Proc], chunks, spawned: dict[int, int], deadline: float) -> None:
        pending = {p.index: (p, [a for _, a in chunk]) for p, chunk in zip(procs, chunks)}
        while pending:
            for index, (proc, addresses) in list(pending.items()):
                pid = spawned[index]
                if _reap(pid) is not None:
                    self._children.discard(pid)
                    raise self._start_error(proc, "its server process exited at start")
                if _read_pid(proc.pidfile) == pid and all(_accepts_tcp(a, self.port) for a in addresses):
                    del pending[index]
            if not pending:
                return
            if time.monotonic() > deadline:
                proc = next(iter(pending.values()))[0]
                raise self._start_error(proc, f"not listening after the deadline ({len(pending)} of "
                                              f"{len(procs)} server processes not ready)")
            time.sleep(0.05)

    def _start_error(self, proc: _Proc, what: str) -> NetLabError:
        try:
            tail = proc.log.read_text(errors="replace").strip().splitlines()[-8:]
        except OSError:
            tail = []
        text = "\n".join("    " + line for line in tail) or "    (empty)"
        hint = "fix the cause above and run `up` again"
        if any("Address already in use" in line or "CannotListenError" in line for line in tail):
            hint = (f"something else listens on port {self.port} of the lab addresses (a system sshd on "
                    f"0.0.0.0:{self.port}?): stop it, or choose another network or port")
        return NetLabError(f"netlab server {proc.index} did not start: {what}.\n  last lines of {proc.log}:\n"
                           f"{text}\n  {hint}")

    def _stop(self) -> int:
        state = self._state()
        if state is None:
            return 0
        pids = []
        for proc in state["procs"]:
            pid = _read_pid(Path(proc["pidfile"]))
            if pid is not None and self._is_our_server(pid, Path(proc["config"])):
                pids.append(pid)
        self._kill(pids)
        for proc in state["procs"]:
            Path(proc["pidfile"]).unlink(missing_ok=True)
        return len(pids)

    def _kill(self, pids: list[int]) -> None:
        """SIGTERM, wait up to 5 s, then SIGKILL; reap our own children."""
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        remaining = list(pids)
        while remaining and time.monotonic() < deadline:
            for pid in list(remaining):
                if pid in self._children and _reap(pid) is not None:
                    self._children.discard(pid)
                if not _alive(pid):
                    remaining.remove(pid)
            time.sleep(0.02)
        for pid in remaining:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if pid in self._children:
                _reap(pid, block=True)
                self._children.discard(pid)

    def _is_our_server(self, pid: int, config: Path) -> bool:
        """Whether ``pid`` is this lab's server for ``config`` (pids get reused)."""
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        return (str(self.server_path).encode() in cmdline and str(config).encode() in cmdline
                and _alive(pid))


# -- helpers ---------------------------------------------------------------------------------------



def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def _read_pid(pidfile: Path) -> int | None:
    text = _read(pidfile)
    return int(text) if text and text.isdigit() else None

