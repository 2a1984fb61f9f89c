"""Recorded sessions (`remote-support shell`), driven for real: the tool runs in a tmux pane of a given size
against the lab's sshd, keys are sent with `tmux send-keys` and what the technician saw is `capture-pane`.

The tmux server is this module's own (``-L`` socket name) and is killed by its PID at the end.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from remote_support.journal import Journal
from remote_support.sessions.cast import final_screen, load_cast, session_screen_text

REPO = Path(__file__).resolve().parents[1]
TMUX = "/usr/bin/tmux"

pytestmark = pytest.mark.skipif(not os.access(TMUX, os.X_OK), reason="needs tmux (apt-get install tmux)")


# --------------------------------------------------------------------------------------------- tmux


class Tmux:
    """A tmux server of our own; panes are sessions of it."""

    def __init__(self, socket_name: str):
        self.socket = socket_name
        self.pid: int | None = None
        self.socket_path: Path | None = None

    def __call__(self, *args: str, check: bool = True) -> str:
        done = subprocess.run([TMUX, "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True,
                              timeout=30)
        if check and done.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def pane(self, command: str, *, cols: int = 80, rows: int = 24, status_dir: Path | None = None) -> "Pane":
        """A new pane running ``command``; with ``status_dir``, its exit status is kept for dead_status()."""
        name = "p" + uuid.uuid4().hex[:8]
        status_file = None
        if status_dir is not None:
            status_file = status_dir / f"{name}.status"
            command = f"{command}; echo $? > {shlex.quote(str(status_file))}"
        self("new-session", "-d", "-s", name, "-x", str(cols), "-y", str(rows), "-c", str(REPO), command)
        self("set-option", "-t", name, "remain-on-exit", "on")
        if self.pid is None:
            self.pid = int(self("display-message", "-p", "-t", name, "#{pid}").strip())
            self.socket_path = Path(self("display-message", "-p", "-t", name, "#{socket_path}").strip())
        return Pane(self, name, status_file)

    def kill(self) -> None:
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.socket_path.unlink(missing_ok=True)


class Pane:
    def __init__(self, tmux: Tmux, name: str, status_file: Path | None = None):
        self.tmux = tmux
        self.name = name
        self.status_file = status_file

    @property
    def pid(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", self.name, "#{pane_pid}").strip())

    def send(self, text: str, enter: bool = True) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)
        if enter:
            self.tmux("send-keys", "-t", self.name, "Enter")

    def key(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def capture(self) -> list[str]:
        return [line.rstrip() for line in self.tmux("capture-pane", "-p", "-t", self.name).split("\n")][:self.rows]

    @property
    def rows(self) -> int:
        return int(self.tmux("display-message", "-p", "-t", self.name, "#{pane_height}").strip())

    def text(self) -> str:
        return "\n".join(self.capture())

    def wait_for(self, what: str | re.Pattern, timeout: float = 30) -> str:
        """Wait until the pane shows ``what``; fail with the pane's text if it never does."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if (what.search(text) if isinstance(what, re.Pattern) else what in text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"pane never showed {what!r}; it shows:\n{text}")
            time.sleep(0.1)

    def wait_prompt(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not [line for line in self.capture() if line][-1:] or not \
                [line for line in self.capture() if line][-1].endswith(("$", "#")):
            if time.monotonic() > deadline:
                raise AssertionError(f"no shell prompt; the pane shows:\n{self.text()}")
            time.sleep(0.1)

    def dead_status(self, timeout: float = 30) -> int:
        """The exit status of the pane's command (its shell writes it to a file; -1: none, it was killed
        with the shell, or tmux was asked for a pane whose command was not a `tool_command`)."""
        deadline = time.monotonic() + timeout
        while True:
            dead = self.tmux("display-message", "-p", "-t", self.name, "#{pane_dead}").strip() == "1"
            # read after asking tmux: a shell that wrote its file and exited in between is seen as such
            if self.status_file is not None and self.status_file.exists() and self.status_file.read_text().strip():
                return int(self.status_file.read_text())
            if dead:
                print(f"pane {self.name} died with no status; it shows:\n{self.text()}")
                return -1
            if time.monotonic() > deadline:
                raise AssertionError(f"the tool did not end; the pane shows:\n{self.text()}")
            time.sleep(0.1)

    @property
    def tool_pid(self) -> int:
        """The PID of remote-support in the pane (the pane's shell runs it as its child)."""
        found = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.pid)], capture_output=True, text=True)
        return int(found.stdout.split()[0])

    def settle(self, quiet: float = 0.6, timeout: float = 20) -> list[str]:
        """The pane once it stopped changing for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        last, since = self.capture(), time.monotonic()
        while time.monotonic() - since < quiet:
            time.sleep(0.1)
            now = self.capture()
            if now != last:
                last, since = now, time.monotonic()
            if time.monotonic() > deadline:
                break
        return last


@pytest.fixture(scope="module")
def tmux():
    server = Tmux(f"rs-sessions-{os.getpid()}")
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture()
def journal_path(tmp_path):
    return tmp_path / "journal.sqlite"


def tool_command(*args: str) -> str:
    """The shell command line that runs remote-support from this checkout, as a pane's command."""
    env = f"env REMOTE_SUPPORT_HOME={shlex.quote(os.environ['REMOTE_SUPPORT_HOME'])} PYTHONPATH={shlex.quote(str(REPO))}"
    line = f"{env} {shlex.quote(sys.executable)} -m remote_support {' '.join(shlex.quote(a) for a in args)}"
    return line


def shell_args(lab, journal_path, host: str = "lab-001", *extra: str) -> list[str]:
    return ["shell", host, "-i", str(lab.inventory_path), "--journal", str(journal_path), *extra]


def start_session(tmux, lab, journal_path, *extra: str, cols: int = 80, rows: int = 24, host: str = "lab-001"):
    pane = tmux.pane(tool_command(*shell_args(lab, journal_path, host, *extra)), cols=cols, rows=rows,
                     status_dir=journal_path.parent)
    pane.wait_prompt()
    return pane


def the_session(journal_path):
    with Journal.open(str(journal_path)) as journal:
        (record,) = journal.list_runs(kind="session")
        return journal.get_run(record.id), load_cast(journal, record.id)


def recorded_screen_of(pane, journal_path, timeout: float = 20) -> tuple[list[str], list[str]]:
    """(what the pane shows, the final screen of the session's recording), once they are the same or the
    timeout passed: the recorder writes as the session goes, and on a loaded machine its last write may
    come a moment after the pane settled."""
    deadline = time.monotonic() + timeout
    while True:
        live = pane.settle()
        with Journal.open(str(journal_path)) as journal:
            (record,) = journal.list_runs(kind="session")
            screen = final_screen(load_cast(journal, record.id))
        if screen == live or time.monotonic() > deadline:
            return live, screen
        time.sleep(0.2)


def outputs(cast) -> str:
    return "".join(data for _, kind, data in cast.events if kind == "o")


def inputs(cast) -> str:
    return "".join(data for _, kind, data in cast.events if kind == "i")


# --------------------------------------------------------------------------------------------- sessions


def test_a_command_and_its_output_are_in_the_recording(tmux, lab, journal_path, tmp_path):
    pane = start_session(tmux, lab, journal_path, "--ticket", "INC-7001", "--operator", "alice")
    pane.send("echo rs-$((6*7))-ok")
    pane.wait_for("rs-42-ok")
    pane.send("exit 3")
    assert pane.dead_status() == 3  # the remote shell's exit status is the tool's
    run, cast = the_session(journal_path)
    assert (run.kind, run.ticket, run.operator, run.pattern) == ("session", "INC-7001", "alice", "lab-001")
    assert run.started_at and run.ended_at and run.status == "ok"
    (host,) = run.hosts
    assert host.host == "lab-001" and host.steps[0].rc == 3
    assert "rs-42-ok" in host.steps[0].stdout  # the screen text, for `runs show` and the reports
    assert "rs-42-ok" in outputs(cast) and "echo rs-$((6*7))-ok" in outputs(cast)  # the echo is output
    assert not inputs(cast)  # keystrokes only with --record-input
    assert cast.header["version"] == 2 and (cast.header["width"], cast.header["height"]) == (80, 24)
    assert cast.header["env"]["TERM"]
    # export: a file asciinema itself reads (asciinema cat prints the output stream)
    out = tmp_path / "s.cast"
    done = subprocess.run([sys.executable, "-m", "remote_support", "sessions", "export", run.id, "-o", str(out),
                           "--journal", str(journal_path)], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    asciinema = Path(sys.executable).with_name("asciinema")
    if asciinema.exists():
        cat = subprocess.run([str(asciinema), "cat", str(out)], capture_output=True, timeout=30)
        assert cat.returncode == 0, cat.stderr
        assert cat.stdout.decode() == outputs(cast)
    lines = out.read_text().splitlines()
    assert json.loads(lines[0])["version"] == 2
    assert all(isinstance(json.loads(line)[0], float) for line in lines[1:])
    # search over what the screen showed
    found = subprocess.run([sys.executable, "-m", "remote_support", "sessions", "search", "rs-42-OK", "--json",
                            "--journal", str(journal_path)], capture_output=True, text=True, cwd=REPO)
    assert found.returncode == 0, found.stderr
    (hit,) = json.loads(found.stdout)
    assert hit["run_id"] == run.id and hit["kind"] == "session" and "rs-42-ok" in hit["snippet"].lower()
    everywhere = subprocess.run([sys.executable, "-m", "remote_support", "runs", "search", "rs-42-OK", "--json",
                                 "--journal", str(journal_path)], capture_output=True, text=True, cwd=REPO)
    assert json.loads(everywhere.stdout) == [hit]  # once, as the session (not again as its step's output)
    listed = subprocess.run([sys.executable, "-m", "remote_support", "sessions", "list", "--journal",
                             str(journal_path)], capture_output=True, text=True, cwd=REPO)
    assert run.id in listed.stdout and "INC-7001" in listed.stdout


def test_a_full_screen_program_and_quitting_it(tmux, lab, journal_path):
    pane = start_session(tmux, lab, journal_path)
    pane.send("clear; seq 7001 7200 | less")
    pane.wait_for("7023")
    shown_in_less = pane.settle()
    pane.send("q", enter=False)
    pane.wait_prompt()
    pane.send("echo after-less")
    pane.wait_for(re.compile(r"^after-less$", re.M))
    # leaving less, the screen came back as the technician saw it
    live, recorded = recorded_screen_of(pane, journal_path)
    assert recorded == live
    with Journal.open(str(journal_path)) as journal:
        (record,) = journal.list_runs(kind="session")
        cast = load_cast(journal, record.id)
        assert "\x1b[?1049h" in outputs(cast)  # less drew on the alternate screen
        text = session_screen_text(journal, record.id)
    assert "7010" in text and "7001" in text  # what less showed is searchable
    assert "7199" not in text  # never on screen
    assert any("7023" in line for line in shown_in_less)
    pane.send("exit")
    assert pane.dead_status() == 0


def test_a_resize_is_recorded_and_honoured_by_the_remote_side(tmux, lab, journal_path):
    pane = start_session(tmux, lab, journal_path, cols=80, rows=24)
    pane.send("stty size")
    pane.wait_for("24 80")
    tmux("resize-window", "-t", pane.name, "-x", "101", "-y", "31")
    pane.wait_for(re.compile(r"\$ $|\$$", re.M))
    pane.send("stty size")
    pane.wait_for("31 101")
    pane.send("exit")
    assert pane.dead_status() == 0
    _, cast = the_session(journal_path)
    resizes = [data for _, kind, data in cast.events if kind == "r"]
    assert resizes and resizes[-1] == "101x31"


def test_hidden_input_is_never_recorded_with_record_input(tmux, lab, journal_path):
    secret = "Hunter2-" + uuid.uuid4().hex[:10]
    quiet = "Quiet-" + uuid.uuid4().hex[:10]
    pane = start_session(tmux, lab, journal_path, "--record-input")
    pane.send("echo typed-and-shown")
    pane.wait_for(re.compile(r"^typed-and-shown$", re.M))
    # a password prompt: echo is off, and the prompt says so
    pane.send('read -s -p "Password: " x; echo; echo "got ${#x} chars"')
    pane.wait_for(re.compile(r"^Password:$", re.M))  # the prompt itself, not the command line's echo
    pane.send(secret)
    pane.wait_for(f"got {len(secret)} chars")
    # echo off without any prompt: typed bytes that never come back are hidden too
    pane.send("stty -echo; echo quiet-now; read y; stty echo; echo \"read ${#y}\"")
    pane.wait_for(re.compile(r"^quiet-now$", re.M))
    pane.send(quiet)
    pane.wait_for(f"read {len(quiet)}")
    # sudo's own prompt, with the lab user's real password
    pane.send("sudo -k; sudo true && echo sudo-ok")
    pane.wait_for(re.compile(r"^\[sudo\] password for \w+:$", re.M))
    pane.send(lab.password)
    pane.wait_for(re.compile(r"^sudo-ok$", re.M))
    pane.send("exit")
    assert pane.dead_status() == 0
    run, cast = the_session(journal_path)
    everything = json.dumps(cast.events)
    for hidden in (secret, quiet, lab.password):
        assert hidden not in everything
        assert hidden[:6] not in inputs(cast)
    assert "echo typed-and-shown" in inputs(cast)  # shown keystrokes are recorded
    assert run.hosts[0].steps[0].data["hidden_inputs"] >= 3


def test_become_answers_sudo_from_the_secret_reference_and_never_records_it(tmux, lab, journal_path):
    pane = start_session(tmux, lab, journal_path, "--become", "--record-input")
    pane.send("id -un")
    pane.wait_for(re.compile(r"^root$", re.M))
    assert "rs-sudo-" not in pane.text()
    pane.send(f"cat {lab.password_path}")  # the secret on screen: the technician sees it, the recording does not
    pane.wait_for(lab.password)
    pane.send("exit")
    assert pane.dead_status() == 0
    run, cast = the_session(journal_path)
    assert "sudo" in (run.command or "") and run.status == "ok"
    everything = json.dumps(cast.events) + json.dumps(cast.header)
    assert lab.password not in everything and "rs-sudo-" not in everything
    assert "********" in outputs(cast)
    assert re.search(r"\broot\r\n", outputs(cast))


def test_sigkill_mid_session_keeps_the_recording_up_to_then(tmux, lab, journal_path):
    pane = start_session(tmux, lab, journal_path)
    pane.send("echo before-the-$((1+1))-kill")
    pane.wait_for("before-the-2-kill")
    time.sleep(1.0)  # the promise: a kill loses at most the last second
    os.kill(pane.tool_pid, signal.SIGKILL)
    pane.dead_status()
    with Journal.open(str(journal_path)) as journal:  # opening marks the run interrupted (its process is gone)
        (record,) = journal.list_runs(kind="session")
        assert record.status == "interrupted"
        assert "before-the-2-kill" in outputs(load_cast(journal, record.id))


def test_playback_shows_what_was_shown(tmux, lab, journal_path, tmp_path):
    pane = start_session(tmux, lab, journal_path, cols=90, rows=20)
    pane.send("clear; printf '\\033[1;31mred\\033[0m plain\\n'; seq 1 30; printf 'a\\tb\\rX\\n'")
    pane.wait_for(re.compile(r'^X +b$', re.M))
    live, recorded = recorded_screen_of(pane, journal_path)
    assert recorded == live
    os.kill(pane.tool_pid, signal.SIGKILL)  # the recording ends here: nothing of the tool's own comes after
    pane.dead_status()
    with Journal.open(str(journal_path)) as journal:
        (record,) = journal.list_runs(kind="session")
    done = tmp_path / "played"
    player = tmux.pane(tool_command("sessions", "play", record.id, "--speed", "20", "--journal", str(journal_path),
) + f"; touch {done}; sleep 600", cols=90, rows=20)
    deadline = time.monotonic() + 30
    while not done.exists():
        assert time.monotonic() < deadline, player.text()
        time.sleep(0.1)
    assert player.capture() == live


def test_the_terminal_is_restored_after_sigterm_and_after_an_error(tmux, lab, journal_path, tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    line = tool_command(*shell_args(lab, journal_path))
    pane = tmux.pane(f"stty -g > {before}; {line}; echo rc=$? ; stty -g > {after}; sleep 600")
    pane.wait_prompt()
    os.kill(pane.tool_pid, signal.SIGTERM)
    pane.wait_for("rc=99")
    deadline = time.monotonic() + 10
    while not after.exists() or not after.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert after.read_text() == before.read_text()
    with Journal.open(str(journal_path)) as journal:
        (record,) = journal.list_runs(kind="session")
        assert record.status == "interrupted"
    # an error inside the session (sudo refuses the password) restores it too
    bad = tmp_path / "bad.password"
    bad.write_text("not-the-password\n")
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(lab.inventory_path.read_text().replace(str(lab.password_path), str(bad)))
    before.unlink()
    after.unlink()
    line = tool_command("shell", "lab-001", "-i", str(inventory), "--journal", str(journal_path), "--become")
    pane = tmux.pane(f"stty -g > {before}; {line}; echo rc=$? ; stty -g > {after}; sleep 600")
    text = pane.wait_for("rc=")
    assert "rc=2" in text and "sudo refused the become password" in text
    deadline = time.monotonic() + 10
    while not after.exists() or not after.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert after.read_text() == before.read_text()
    assert "not-the-password" not in text


# --------------------------------------------------------------------------------------------- bad input


def run_with_tty(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The tool with a terminal on stdin (a pty) and its output captured."""
    master, slave = pty.openpty()
    try:
        return subprocess.run([sys.executable, "-m", "remote_support", *args], stdin=slave, capture_output=True,
                              text=True, cwd=REPO, timeout=timeout)
    finally:
        os.close(master)
        os.close(slave)


def test_non_terminal_stdin_is_refused_with_a_hint_to_use_exec(lab, journal_path):
    done = subprocess.run([sys.executable, "-m", "remote_support", *shell_args(lab, journal_path)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 5
    assert "needs a terminal" in done.stderr and "remote-support exec lab-001 -- COMMAND" in done.stderr
    assert not journal_path.exists() or not Journal.open(str(journal_path)).list_runs()


def test_an_unknown_host_is_bad_input(lab, journal_path):
    done = run_with_tty(*shell_args(lab, journal_path, "no-such-host"))
    assert done.returncode == 5, done.stderr
    assert "no-such-host" in done.stderr


def test_a_changed_host_key_is_refused_as_runs_refuse_it(lab, journal_path, tmp_path):
    wrong = tmp_path / "known_hosts"
    other = lab.directory / "hosts" / "lab-002" / "host_key.pub"
    wrong.write_text(f"lab-001,127.0.0.1 {other.read_text().split(' ', 1)[0]} {other.read_text().split()[1]}\n")
    inventory = tmp_path / "inventory.yml"
    text = lab.inventory_path.read_text().replace(str(lab.known_hosts_path), str(wrong))
    address = re.search(r"lab-001: \{address: ([\d.]+)", text).group(1)
    wrong.write_text(f"lab-001,{address} {' '.join(other.read_text().split()[:2])}\n")
    inventory.write_text(text)
    done = run_with_tty("shell", "lab-001", "-i", str(inventory), "--journal", str(journal_path))
    assert done.returncode == 4, done.stderr
    ran = subprocess.run([sys.executable, "-m", "remote_support", "exec", "lab-001", "-i", str(inventory),
                          "--journal", str(journal_path), "--json", "--", "true"], capture_output=True, text=True,
                         cwd=REPO)
    reason = json.loads(ran.stdout)["hosts"][0]["reason"]
    assert "host key changed" in reason and reason in done.stderr
    with Journal.open(str(journal_path)) as journal:
        (record,) = journal.list_runs(kind="session")
        assert record.status == "unreachable"


def test_a_windows_host_gets_a_clear_message(journal_path, tmp_path):
    inventory = tmp_path / "win.yml"
    inventory.write_text("hosts:\n  win-01: {address: 127.0.0.9, connection: winrm, user: u}\n")
    done = run_with_tty("shell", "win-01", "-i", str(inventory), "--journal", str(journal_path))
    assert done.returncode == 5
    assert "WinRM" in done.stderr and "exec win-01" in done.stderr


# --------------------------------------------------------------------------------------------- bundles


def test_recordings_go_into_the_escalation_bundle(tmux, lab, journal_path, tmp_path):
    pane = start_session(tmux, lab, journal_path, "--ticket", "INC-7002")
    pane.send("echo in-the-bundle")
    pane.wait_for(re.compile(r"^in-the-bundle$", re.M))
    pane.send("exit")
    pane.dead_status()
    ran = subprocess.run([sys.executable, "-m", "remote_support", "exec", "lab-002", "-i", str(lab.inventory_path),
                          "--journal", str(journal_path), "--ticket", "INC-7002", "--json", "--", "uptime"],
                         capture_output=True, text=True, cwd=REPO)
    exec_id = json.loads(ran.stdout)["id"]
    with Journal.open(str(journal_path)) as journal:
        (session,) = journal.list_runs(kind="session")
        from remote_support.handover import escalate

        for run_id in (exec_id, session.id):
            bundle = escalate(journal, run_id, "L3", "see the session", out=tmp_path / f"{run_id}.zip")
            with zipfile.ZipFile(bundle) as z:
                cast = z.read(f"sessions/{session.id}.cast").decode()
                assert "in-the-bundle" in cast and json.loads(cast.splitlines()[0])["version"] == 2
                if run_id == session.id:  # the report shows the session's screen text
                    assert "in-the-bundle" in z.read("report.html").decode()


def test_an_idle_session_is_ended(tmux, lab, journal_path):
    pane = start_session(tmux, lab, journal_path, "--idle-timeout", "2s")
    text = pane.wait_for("no input for 2s")
    assert "ended" in text and pane.dead_status() == 2
    run, _ = the_session(journal_path)
    assert run.status == "failed" and "--idle-timeout" in run.hosts[0].reason


def test_a_bad_idle_timeout_is_bad_input(lab, journal_path):
    done = run_with_tty(*shell_args(lab, journal_path), "--idle-timeout", "soon")
    assert done.returncode == 5 and "--idle-timeout 'soon'" in done.stderr


def test_a_network_device_gets_its_cli_session(tmux, netlab, journal_path):
    from remote_support.inventory import load_inventory

    name = sorted(load_inventory([str(netlab.inventory_path)]).hosts)[0]
    pane = tmux.pane(tool_command("shell", name, "-i", str(netlab.inventory_path), "--journal", str(journal_path)),
                     status_dir=journal_path.parent)
    pane.wait_for(re.compile(r"[>#]$", re.M))
    pane.send("show running-config")
    pane.wait_for(re.compile(r"^end$", re.M))
    pane.send("exit")
    pane.dead_status()
    run, cast = the_session(journal_path)
    assert run.pattern == name and "interface FastEthernet0/12" in outputs(cast)
    assert run.status == "ok"


def test_a_session_through_a_bastion(tmux, lab, journal_path, tmp_path):
    bastion = lab.status()[0]
    inventory = tmp_path / "inventory.yml"
    text = lab.inventory_path.read_text()
    inventory.write_text(re.sub(r"(  lab-002: \{)", rf'\1proxy_jump: "{lab.user}@{bastion.address}:{bastion.port}", ',
                                text))
    log = lab.directory / "hosts" / bastion.name / "sshd.log"
    logins_before = log.read_text().count("Accepted publickey")
    pane = tmux.pane(tool_command("shell", "lab-002", "-i", str(inventory), "--journal", str(journal_path)),
                     status_dir=tmp_path)
    pane.wait_prompt()
    pane.send("uname -n")
    pane.wait_for(re.compile(r"^lab-002$", re.M))
    assert log.read_text().count("Accepted publickey") == logins_before + 1  # the bastion let us in
    pane.send("exit")
    assert pane.dead_status() == 0


def test_a_connection_lost_mid_session_is_unreachable(tmux, lab, journal_path):
    pane = start_session(tmux, lab, journal_path)
    pane.send("echo going; sleep 1; kill -9 $PPID")  # the sshd process serving this session dies
    assert pane.dead_status() == 4
    run, cast = the_session(journal_path)
    assert run.status == "unreachable" and "connection lost" in run.hosts[0].reason
    assert "going" in outputs(cast)
