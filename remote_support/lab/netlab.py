"""The emulated-switch lab: N switches from fake-switches, on loopback addresses of this machine.

The network counterpart of :mod:`remote_support.lab` (real sshd hosts). Used by the tests of network
devices, staff training and the benchmark. Switch *i* is ``sw-00i`` on 127.44.0.i (rolling into the third
octet after .254), port 22 as root, 2222 otherwise; it speaks real SSH (Twisted conch). By default every
switch is a Cisco IOS one; ``up(count, models="ios,eos,fastiron,os6,junos")`` deals the models of
:data:`SWITCH_MODELS` out in turn (``lab up --switches N --switch-models ...``), and the inventory gives each
switch its ``device_type`` (and ``connection: netconf`` for Junos) and a group named after its model.

fake-switches is a test peer, not a dependency of the tool: it lives in a virtual environment of its own
(default ``data_dir()/"netlab-venv"``, created on first use, about 10 s with a warm pip cache), and the
switches run in server processes started with that environment's python, :data:`SWITCHES_PER_PROCESS`
switches each. The server script is :data:`SERVER_SCRIPT`; it works around the emulator's gaps that real
netmiko/ncclient flows run into (see ``/work/shared/notes/network-lab.md``):

- all models: the enable password is given to the switch core as ``str`` (the packaged launcher gives
  bytes, so ``enable`` always answers ``% Access denied`` on Python 3); config mode learns ``end``
  (leave config mode from any sub-mode), which netmiko sends to exit;
- ios: an unknown command answers as IOS does (``% Invalid input detected at '^' marker.``) instead of
  the emulator's ``No such command``; an empty enable password is refused, as by IOS with an enable
  secret (the emulator let it in); EOS, FastIron and OS6 keep taking it (no enable secret set);
- eos: user mode learns ``terminal width/length`` with EOS's answers (netmiko waits for ``Width set
  to``); ``show running-config`` without argument (IndexError) prints the whole config; ``show version``
  and other unknown ``show`` commands (NotImplementedError, which killed the session) answer; netmiko's
  save, ``copy running-config startup-config``, is known;
- fastiron: ``show running-config`` and ``show vlan`` without argument (crashed) print the config and
  the VLANs; ``show version`` prints a FastIron (ICX) text that ntc-templates parses, not NetIron's;
- os6: ``show version`` (printed nothing) prints an OS6 one; the config stays flat as on OS6;
- junos: NETCONF only, no CLI (tests use ``connection: netconf``); ``<validate>`` (``commit check``),
  announced but missing, validates the candidate. ``commit confirmed`` is committed for good (the
  emulator does not roll back), and an interface the model does not have ends the NETCONF session.

Layout of the lab directory (default ``data_dir()/"netlab"``)::

    state.json       what is up: switches, server processes and their pidfiles
    server.py        the server script (rewritten by every `up`)
    known_hosts      every switch under name and address with the (shared, built-in) RSA host key
    inventory.yml    the lab as a native inventory (connection: network, device_type per model)
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


@dataclass(frozen=True)
class SwitchModel:
    """A kind of lab switch: the fake-switches model that emulates it and how the tool reaches it."""

    name: str  # what `lab up --switch-models` takes
    emulator: str  # fake-switches' model name
    device_type: str  # netmiko's device type (also picks the config platform)
    connection: str = "network"  # network (CLI over SSH, netmiko) or netconf (ncclient)
    description: str = ""


#: the models `lab up --switch-models` offers; the gaps of each emulator are patched in SERVER_SCRIPT
SWITCH_MODELS = {
    "ios": SwitchModel("ios", "cisco_generic", "cisco_ios", description="Cisco IOS (indented config)"),
    "eos": SwitchModel("eos", "arista_generic", "arista_eos", description="Arista EOS (indented config)"),
    "fastiron": SwitchModel("fastiron", "brocade_generic", "brocade_fastiron",
                            description="Brocade/Ruckus FastIron (indented, errors without %)"),
    "os6": SwitchModel("os6", "dell10g_generic", "dell_os6", description="Dell OS6 (flat config, blocks end with exit)"),
    "junos": SwitchModel("junos", "juniper_generic", "juniper_junos", "netconf",
                         description="Juniper Junos (NETCONF only, configured by commit)"),
}


def switch_models(names: str | list[str] | tuple[str, ...] | None) -> list[SwitchModel]:
    """The models named in ``names`` (comma-separated or a list); NetLabError naming the valid ones."""
    if names is None:
        return [SWITCH_MODELS["ios"]]
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in SWITCH_MODELS]
    if unknown or not names:
        raise NetLabError(f"unknown switch model(s) {', '.join(map(repr, unknown)) or '(none given)'}: use a "
                          f"comma-separated list of {', '.join(SWITCH_MODELS)}")
    return [SWITCH_MODELS[n] for n in names]
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


def _patch_cisco_enable():
    """IOS with an enable secret refuses an empty one; the emulator let any empty password in."""
    from fake_switches.cisco.command_processor.default import DefaultCommandProcessor

    enabling = DefaultCommandProcessor.continue_enabling

    def continue_enabling(self, line):
        if line == "" and any(self.switch_configuration.privileged_passwords):
            self.replace_input = False
            self.write_line("% Access denied")
            self.write_line("")
            self.show_prompt()
            return
        enabling(self, line)

    DefaultCommandProcessor.continue_enabling = continue_enabling


_patch_cisco_enable()


EOS_VERSION = """\
Arista vEOS
Hardware version:
Serial number:
System MAC address:  5254.0012.3456

Software image version: 4.20.8M
Architecture:           i386
Internal build version: 4.20.8M-9384033.4208M
Internal build ID:      5c08e74b-4b4b-4c36-8b3a-6a9d1c2c2d8d

Uptime:                 2 weeks, 1 day, 3 hours and 12 minutes
Total memory:           2017324 kB
Free memory:            1256004 kB

"""


def _patch_arista():
    """EOS (arista_generic): the gaps netmiko's arista_eos driver runs into."""
    from fake_switches.arista.command_processor.config import ConfigCommandProcessor as Config
    from fake_switches.arista.command_processor.default import DefaultCommandProcessor as Default
    from fake_switches.arista.command_processor.enabled import EnabledCommandProcessor as Enabled

    def _terminal(self, *args):
        # netmiko sends `terminal width 511` (before `enable`: user mode had no `terminal`) and waits
        # for EOS's answer; then `terminal length 0`
        if args and "width".startswith(args[0]):
            self.write_line("Width set to {} characters.".format(args[1] if len(args) > 1 else 80))
        else:
            self.write_line("Pagination disabled.")

    Default.do_terminal = _terminal
    Enabled.do_terminal = _terminal
    show = Default.do_show

    def do_show(self, *args):
        # `show version` (and any show the emulator lacks) raised NotImplementedError, killing the session
        if args and "version".startswith(args[0]):
            self.write(EOS_VERSION.format(name=self.switch_configuration.name))
            return
        try:
            show(self, *args)
        except (NotImplementedError, IndexError):
            self.write_line("% Invalid input")

    Default.do_show = do_show
    show_running = Enabled._show_running_config

    def _show_running_config(self, *args):
        # `show running-config` with no argument raised IndexError: the whole config, as EOS prints it
        if args:
            return show_running(self, *args)
        self._show_header()
        self._show_run_vlans(sorted(self.switch_configuration.vlans, key=lambda v: v.number))
        self._show_run_interfaces(sorted(self.switch_configuration.ports, key=lambda p: p.name))
        self.write_line("end")

    Enabled._show_running_config = _show_running_config
    Config.do_end = _end  # sub-modes fall back to this processor, as for IOS

    def _copy(self, *args):
        # netmiko saves with `copy running-config startup-config`; the emulator only knew `write`
        self.switch_configuration.commit()
        self.write_line("Copy completed successfully.")

    Enabled.do_copy = _copy


FASTIRON_VERSION = """\
  Copyright (c) 1996-2016 Brocade Communications Systems, Inc. All rights reserved.
    UNIT 1: compiled on Jul 27 2016 at 00:50:14 labeled as SPR08030e
      (10305500 bytes) from Primary SPR08030e.bin
        SW: Version 08.0.30eT203
  Boot-Monitor Image size = 786944, Version:10.1.06T205 (spz10106)
  HW: Stackable ICX7250-48P-POE
==========================================================================
UNIT 1: SL 1: ICX7250-48P POE 48-port Management Module
         Serial  #: DUK3841M0AB
         License: ICX7250_L3_SOFT_PACKAGE   (LID: fwmINJOpFlc)
         P-ENGINE  0: type E02B, rev 01
==========================================================================
  1000 MHz ARM processor ARMv7 88F6282 rev 1, 800 MHz bus
 2048 MB DRAM
STACKID 1  system uptime is 5 day(s) 2 hour(s) 19 minute(s) 37 second(s)
The system started at 08:49:12 GMT+00 Wed Nov 25 2026
"""


def _patch_brocade():
    """FastIron (brocade_generic): `show running-config` and `show version` as netmiko and ntc-templates expect."""
    from fake_switches.brocade.command_processor.config import ConfigCommandProcessor as Config
    from fake_switches.brocade.command_processor.enabled import EnabledCommandProcessor as Enabled

    show = Enabled.do_show

    def do_show(self, *args):
        if len(args) == 1 and "running-config".startswith(args[0]):
            # crashed without an argument: the vlan and interface parts, framed as FastIron frames them
            self.write_line("Current configuration:")
            self.write_line("!")
            self.write_line("ver 08.0.30eT203")
            self.write_line("!")
            self.write_line("hostname {}".format(self.switch_configuration.name))
            self.show_run_vlan()
            self.show_run_int(("running-config", "interface"))
            self.write_line("end")
        elif len(args) == 1 and "vlan".startswith(args[0]):
            self.show_vlan_brief()  # crashed without an argument
        elif args and "version".startswith(args[0]):
            # the emulator prints a NetIron banner that no FastIron template parses
            self.write(FASTIRON_VERSION)
        else:
            show(self, *args)

    Enabled.do_show = do_show
    Config.do_end = _end


OS6_VERSION = """\

Machine Description............................ Dell Networking Switch
System Model ID................................ N4032F
Machine Type................................... Dell Networking N4032F
Serial Number.................................. CN0F6GJK282984AJ0034A00
Manufacturer................................... 0xbc00
Burned In MAC Address.......................... F8B1.567E.FE22
System Object ID............................... 1.3.6.1.4.1.674.10895.3062
CPU Version.................................... XLP308H-B2
SOC Version.................................... BCM56842_A1
HW Version..................................... 3
CPLD Version................................... 17

unit active      backup      current-active next-active
---- ----------- ----------- -------------- --------------
1    6.3.3.10    6.3.2.4     6.3.3.10       6.3.3.10

"""


def _patch_dell10g():
    """Dell OS6 (dell10g_generic): `show version` printed nothing; config mode learns `end`."""
    from fake_switches.dell.command_processor.config import DellConfigCommandProcessor as Config
    from fake_switches.dell10g.command_processor.enabled import Dell10GEnabledCommandProcessor as Enabled

    show = Enabled.do_show

    def do_show(self, *args):
        if args and "version".startswith(args[0]):
            self.write(OS6_VERSION)
        else:
            show(self, *args)

    Enabled.do_show = do_show
    Config.do_end = _end


def _patch_junos():
    """Junos (juniper_generic, NETCONF only): `commit check` is <validate>, announced but missing."""
    from lxml import etree

    from fake_switches.netconf import CANDIDATE, Response
    from fake_switches.netconf import capabilities

    def validate(self, request):
        self.datastore._validate(self.datastore.configurations[CANDIDATE])  # raises the commit's errors
        return Response(etree.Element("ok"))

    capabilities.Validate1_0.validate = validate


_patch_arista()
_patch_brocade()
_patch_dell10g()
_patch_junos()


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
        core = factory.get(switch.get("model", config["model"]), switch["name"], str(enable))
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
        self._models: dict[str, SwitchModel] = {}

    def __repr__(self) -> str:
        return f"NetLab({str(self.directory)!r}, network={self.network!r})"

    @property
    def password(self) -> str | None:
        return _read(self.password_path)

    @property
    def enable_password(self) -> str | None:
        return _read(self.enable_password_path)

    # -- the three verbs ---------------------------------------------------------------------------

    def up(self, count: int, *, timeout: float | None = None,
           models: str | list[str] | tuple[str, ...] | None = None) -> list[NetLabDevice]:
        """Start ``count`` switches and return them once every one accepts TCP connections.

        ``models`` (names of :data:`SWITCH_MODELS`, default ``ios``) are dealt out in turn: with
        ``ios,eos`` switch 1 is IOS, 2 EOS, 3 IOS...
        """
        if not isinstance(count, int) or not 1 <= count <= MAX_SWITCHES:
            raise NetLabError(f"netlab size {count!r} is out of range: use 1 to {MAX_SWITCHES} switches")
        kinds = switch_models(models)
        switches = [(switch_name(i), host_address(self.network, i)) for i in range(1, count + 1)]
        self._models = {name: kinds[i % len(kinds)] for i, (name, _) in enumerate(switches)}
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
                    "switches": [{"name": n, "address": a, "port": self.port, "model": self._models[n].emulator}
                                 for n, a in chunk]}, indent=1))
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
        for name, address in switches:
            model = self._models[name]
            extra = f", device_type: {model.device_type}" if model.device_type != DEVICE_TYPE else ""
            extra += f", connection: {model.connection}" if model.connection != "network" else ""
            lines.append(f"  {name}: {{address: {address}, port: {self.port}, groups: [switches, {model.name}]"
                         f"{extra}}}")
        _write_text(self.inventory_path, "\n".join(lines) + "\n")

    def _write_state(self, switches, procs: list[_Proc], chunks) -> None:
        state = {
            "version": STATE_VERSION, "network": self.network, "port": self.port, "user": self.user,
            "venv": str(self.venv), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "procs": [{"index": p.index, "dir": str(p.dir), "pidfile": str(p.pidfile), "config": str(p.config),
                       "switches": [{"name": n, "address": a, "port": self.port, "model": self._models[n].name}
                                    for n, a in chunk]}
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

