"""``remote-support shell HOST``: an interactive terminal on one host, recorded into the journal.

The connection is the one every run uses (inventory, ssh_config, host keys, bastions, credentials); the
terminal is a pty channel on its SSH transport (:meth:`SSHConnection.open_shell`), or the CLI session of a
network device. The local terminal is put in raw mode and restored on every way out: the remote shell
ending, the connection dropping, an idle timeout, an exception, SIGTERM or SIGHUP. The session is a run
of kind ``session`` (ticket, operator, host, start, end, exit status) whose recording
(:mod:`remote_support.sessions.recorder`) goes into the journal as the session goes.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shlex
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

from .. import __version__
from ..errors import BecomeError, ConnectError, ConnectionLost, UsageError
from ..results import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_UNREACHABLE, HostResult, RunResult, Status,
                       StepResult)
from ..secrets import MASK
from .recorder import SessionRecorder

if TYPE_CHECKING:
    from ..api import RunRequest
    from ..inventory import Host

#: default for --idle-timeout: a session nobody types into for this long is ended
IDLE_TIMEOUT = 30 * 60.0
#: seconds sudo -i is watched for its password prompt, from the start and after answering it
SUDO_WATCH = 10.0
_READ = 65536


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``30m``, ``2h`` as seconds; ``0`` means no limit."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not match:
        raise UsageError(f"--idle-timeout {text!r}: write a duration such as 30m, 90s or 2h (0: no limit)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


@dataclass
class SessionEnd:
    """How a session ended: the remote exit status (None if it gave none) and why, for the journal."""

    status: Status
    exit_status: int | None
    reason: str = ""

    @property
    def exit_code(self) -> int:
        if self.status is Status.UNREACHABLE:
            return EXIT_UNREACHABLE
        if self.status is Status.INTERRUPTED:
            return EXIT_INTERRUPTED
        if self.exit_status is not None:
            return self.exit_status
        return EXIT_FAILED if self.status is Status.FAILED else 0


class _Hangup(Exception):
    """SIGTERM or SIGHUP reached the tool during a session."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


# --------------------------------------------------------------------------------------------- become

class SudoAnswer:
    """``sudo -i`` on the pty, its password prompt answered from the inventory's secret reference.

    sudo is asked to prompt with a random marker; the marker is taken out of what the terminal shows (and
    so of the recording) and the password goes straight to the channel, never to the recorder.
    """

    def __init__(self, host: "Host"):
        self.host = host
        self.user = str(host.get("become_user") or "root")
        self.password = host.secret("become_password")
        if self.password:
            MASK.add(str(self.password))
        self.marker = f"[rs-sudo-{uuid.uuid4().hex[:16]}]".encode()
        self.asked = 0
        self._tail = b""
        self._watch_until: float | None = None  # after this, sudo is done asking: output passes untouched

    @property
    def command(self) -> str:
        return f"sudo -p {shlex.quote(self.marker.decode())} -u {shlex.quote(self.user)} -i"

    def filter(self, data: bytes, send: Callable[[bytes], None]) -> bytes:
        """What of ``data`` to show; answers the marker prompt. A second prompt means a wrong password.
        sudo is watched for :data:`SUDO_WATCH` seconds from the start and after the answer (sudo takes
        about 2 s to say a password was wrong), then left alone."""
        now = time.monotonic()
        if self._watch_until is None:
            self._watch_until = now + SUDO_WATCH
        data = self._tail + data
        self._tail = b""
        if now > self._watch_until:
            return data
        while True:
            index = data.find(self.marker)
            if index < 0:
                break
            self.asked += 1
            if not self.password:
                raise BecomeError(self.host.name, f"sudo asks for a password for {self.host.user or 'the login user'}"
                                  ", and the inventory gives none", "set become_password (a secret reference)")
            if self.asked > 1:
                raise BecomeError(self.host.name, "sudo refused the become password",
                                  "check become_password in the inventory")
            send((str(self.password) + "\n").encode())
            self._watch_until = time.monotonic() + SUDO_WATCH
            data = data[:index] + data[index + len(self.marker):]
        for keep in range(min(len(self.marker) - 1, len(data)), 0, -1):
            if self.marker.startswith(data[-keep:]):  # maybe the start of the marker: wait for the rest
                self._tail, data = data[-keep:], data[:-keep]
                break
        return data

    def pending(self) -> bytes:
        """Output held back as the possible start of the marker, once nothing more came: it was not."""
        tail, self._tail = self._tail, b""
        return tail


# --------------------------------------------------------------------------------------------- the terminal

@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    """The local terminal in raw mode, restored however the block ends."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd, termios.TCSANOW)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)


@contextlib.contextmanager
def _signals(wakeup: int) -> Iterator[dict[str, bool]]:
    """SIGWINCH wakes the loop to pass the new size on; SIGTERM and SIGHUP end the session cleanly."""
    flags = {"resized": False}

    def winch(signum, frame):
        flags["resized"] = True
        try:
            os.write(wakeup, b"w")
        except OSError:
            pass

    def hangup(signum, frame):
        raise _Hangup(signum)

    previous = {s: signal.signal(s, h) for s, h in ((signal.SIGWINCH, winch), (signal.SIGTERM, hangup),
                                                    (signal.SIGHUP, hangup))}
    try:
        yield flags
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _terminal_size(fd: int) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
        return size.columns or 80, size.lines or 24
    except OSError:
        return 80, 24


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def bridge(chan: Any, recorder: SessionRecorder, *, stdin: int, stdout: int, idle_timeout: float | None,
           become: SudoAnswer | None = None, clock: Callable[[], float] = time.monotonic,
           gives_exit_status: bool = True) -> SessionEnd:
    """Pass keystrokes to the channel and its output to the terminal (and the recorder) until it ends.
    ``gives_exit_status``: False for a device CLI, which closes without one when it is left."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    last_input = clock()
    try:
        with _signals(wake_w) as flags:
            while True:
                if flags["resized"]:
                    flags["resized"] = False
                    cols, rows = _terminal_size(stdin)
                    chan.resize_pty(width=cols, height=rows)
                    recorder.resize(cols, rows)
                wait = 1.0
                if idle_timeout:
                    left = idle_timeout - (clock() - last_input)
                    if left <= 0:
                        return SessionEnd(Status.FAILED, None, f"no input for {idle_timeout:g}s "
                                          "(--idle-timeout)")
                    wait = min(wait, left)
                if become is not None and become._tail:
                    wait = min(wait, 0.2)  # a held-back tail goes out if nothing completes it
                ready, _, _ = select.select([stdin, chan, wake_r], [], [], wait)
                if become is not None and not ready and not chan.recv_ready():
                    held = become.pending()
                    if held:
                        _write_all(stdout, held)
                        recorder.output(held)
                if wake_r in ready:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 512)
                if chan in ready or chan.recv_ready():
                    data = chan.recv(_READ)
                    if not data:
                        break
                    if become is not None:
                        data = become.filter(data, chan.sendall)
                    if data:
                        _write_all(stdout, data)
                        recorder.output(data)
                if stdin in ready:
                    data = os.read(stdin, _READ)
                    if not data:
                        break  # the terminal went away
                    chan.sendall(data)
                    recorder.input(data)
                    last_input = clock()
                if chan.closed or (chan.exit_status_ready() and not chan.recv_ready() and chan.eof_received):
                    break
    except _Hangup as exc:
        return SessionEnd(Status.INTERRUPTED, None, f"ended by {exc} on the controller")
    except OSError as exc:
        transport = getattr(chan, "transport", None)
        if transport is not None and not transport.is_active():
            return SessionEnd(Status.UNREACHABLE, None, f"unreachable: connection lost during the session: {exc}")
        raise
    finally:
        os.close(wake_r)
        os.close(wake_w)
    transport = getattr(chan, "transport", None)
    if not chan.exit_status_ready() and hasattr(chan, "status_event"):
        chan.status_event.wait(2)  # sshd sends the exit status around the channel's end
    status = chan.recv_exit_status() if chan.exit_status_ready() else -1
    if status >= 0:
        return SessionEnd(Status.OK, status)
    # no exit status (paramiko says -1): the connection went, or the remote side closed without one
    for _ in range(20):
        if transport is None or not transport.is_active():
            break
        time.sleep(0.05)  # the end of the channel can come a moment before the end of the connection
    if transport is not None and not transport.is_active() and gives_exit_status:
        return SessionEnd(Status.UNREACHABLE, None, "unreachable: connection lost during the session")
    if not gives_exit_status:
        return SessionEnd(Status.OK, None)
    return SessionEnd(Status.FAILED, None, "the remote side closed the terminal without an exit status")


# --------------------------------------------------------------------------------------------- the session

@dataclass
class ShellOptions:
    record_input: bool = False
    idle_timeout: float | None = IDLE_TIMEOUT


def _pick_host(request: "RunRequest") -> tuple[Any, "Host"]:
    from ..api import load_hosts

    inventory, hosts = load_hosts(request.inventory, request.pattern)
    if len(hosts) != 1:
        names = ", ".join(h.name for h in hosts[:5]) + (", ..." if len(hosts) > 5 else "")
        raise UsageError(f"shell {request.pattern}: matches {len(hosts)} hosts ({names}): a session is on one "
                         "host; give its name")
    return inventory, hosts[0]


def _terminal_channel(connection: Any, host: "Host", term: str, cols: int, rows: int,
                      become: SudoAnswer | None) -> Any:
    if host.connection == "ssh":
        return connection.open_shell(term, cols, rows, command=become.command if become else None)
    # a network device: netmiko's own interactive channel (a pty already), after its login and prompt;
    # read from NetworkConnection's netmiko session (no public accessor there yet)
    session = getattr(connection, "_session", None)
    chan = getattr(session, "remote_conn", None)
    if chan is None or not hasattr(chan, "resize_pty"):
        raise UsageError(f"{host.name}: this device's CLI session cannot be used interactively")
    with contextlib.suppress(Exception):
        chan.resize_pty(width=cols, height=rows)
    chan.sendall(b"\n")  # its prompt again, for the technician
    return chan


def check_shell_host(host: "Host", become: bool) -> None:
    """Refuse, before anything is recorded, a host that cannot have a terminal."""
    if host.connection == "winrm":
        raise UsageError(f"{host.name} is a Windows host (WinRM): WinRM has no interactive terminal, and pywinrm "
                         "and pypsrp give no interactive PowerShell host: use `remote-support exec "
                         f"{host.name} -- COMMAND` for single commands")
    if host.connection == "local":
        raise UsageError(f"{host.name} is the local machine (connection: local): open a terminal here instead")
    if host.connection == "network" and become:
        raise UsageError(f"{host.name} is a network device: --become is sudo, for Unix hosts (use `enable` "
                         "in its CLI)")
    if host.connection not in ("ssh", "network"):
        raise UsageError(f"{host.name}: connection {host.connection!r} has no interactive terminal")


def start_shell(request: "RunRequest", options: ShellOptions, *, stdin: int = 0, stdout: int = 1,
                say: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> tuple[str | None, SessionEnd]:
    """Run an interactive, recorded session on the one host ``request.pattern`` names; return the run id
    and how it ended. Bad input raises UsageError before anything is recorded."""
    from ..api import _preflight, _with_overrides
    from ..connections import connect
    from ..connections.base import ConnectOptions
    from ..journal import Journal

    if not os.isatty(stdin):
        raise UsageError("shell needs a terminal on stdin (this one is a pipe or a file): for a command "
                         f"without a terminal use `remote-support exec {request.pattern} -- COMMAND`")
    inventory, host = _pick_host(request)
    host = _with_overrides([host], become_user=request.become_user)[0]
    check_shell_host(host, request.become)
    _preflight([host], request.ssh_config)
    become = SudoAnswer(host) if request.become else None
    connect_options = ConnectOptions(connect_timeout=request.connect_timeout,
                                     accept_new_host_keys=request.accept_new_host_keys,
                                     known_hosts=request.known_hosts, ssh_config=request.ssh_config,
                                     insecure=request.insecure)
    journal = Journal.open(request.journal)
    params = {"record_input": options.record_input, "become": request.become,
              "idle_timeout": options.idle_timeout}
    run_id = journal.start_run(kind="session", name=f"shell {host.name}",
                               command=f"sudo -i -u {become.user}" if become else None,
                               params=params, inventory=inventory.sources, pattern=host.name, check=False,
                               diff=False, ticket=request.ticket, operator=request.operator, hosts=[host.name],
                               tool_version=__version__, request=request.to_record())
    started = time.time()
    recorder = None
    end = SessionEnd(Status.INTERRUPTED, None, "the tool stopped before the session ended")
    connection = connect(host, connect_options)
    try:
        try:
            connection.open()
        except ConnectError as exc:
            end = SessionEnd(Status.UNREACHABLE if exc.unreachable else Status.FAILED, None, exc.reason)
            raise
        cols, rows = _terminal_size(stdin)
        term = os.environ.get("TERM") or "xterm"
        chan = _terminal_channel(connection, host, term, cols, rows, become)
        recorder = SessionRecorder(journal, run_id, cols, rows, record_input=options.record_input,
                                   env={"TERM": term, "SHELL": os.environ.get("SHELL", "/bin/sh")},
                                   title=f"{host.name}" + (f" {request.ticket}" if request.ticket else ""),
                                   warn=lambda m: say(f"\r\nwarning: {m}\r"))
        how = "output and shown keystrokes" if options.record_input else "output"
        say(f"remote-support: session {run_id} on {host.name}: recording {how} in the journal; "
            "exit the shell to end it")
        with raw_terminal(stdin):
            try:
                end = bridge(chan, recorder, stdin=stdin, stdout=stdout, idle_timeout=options.idle_timeout,
                             become=become, gives_exit_status=host.connection == "ssh")
            except BecomeError as exc:
                end = SessionEnd(Status.FAILED, None, exc.reason)
                raise
            finally:
                with contextlib.suppress(Exception):
                    chan.close()
    except KeyboardInterrupt:
        end = SessionEnd(Status.INTERRUPTED, None, "interrupted on the controller")
        raise
    except ConnectionLost as exc:
        end = SessionEnd(Status.UNREACHABLE, None, exc.reason)
        raise
    except Exception as exc:  # recorded with the session, then reported by the CLI
        if end.status is Status.INTERRUPTED:
            end = SessionEnd(Status.FAILED, None, f"{exc}" if isinstance(exc, UsageError) else
                             f"internal error: {type(exc).__name__}: {exc}")
        raise
    finally:
        connection.close()
        try:
            if recorder is not None:
                recorder.close()
        finally:
            _finish(journal, run_id, host.name, end, started, recorder)
            journal.close()
    return run_id, end


def _finish(journal: Any, run_id: str, host: str, end: SessionEnd, started: float,
            recorder: SessionRecorder | None) -> None:
    from ..errors import JournalError
    from .cast import session_screen_text

    ended = time.time()
    data = {"recorded_events": recorder.events if recorder else 0,
            "hidden_inputs": recorder.hidden_inputs if recorder else 0}
    screen = ""
    if recorder is not None:  # what was on screen, as the step's output: `runs show`, reports and bundles show it
        try:
            screen = session_screen_text(journal, run_id)
        except JournalError as exc:
            data["screen_text_error"] = str(exc)
    step = StepResult("session", end.status, command="shell", rc=end.exit_status, reason=end.reason,
                      stdout=screen, duration=ended - started, data=data)
    result = HostResult(host, end.status, steps=(step,), reason=end.reason, started=started, ended=ended)
    journal.record_host(run_id, result)
    journal.finish_run(run_id, RunResult((result,), interrupted=end.status is Status.INTERRUPTED))
