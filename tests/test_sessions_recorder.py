"""The session recorder on its own: masking, hidden input, and the journal as the recording's store."""

from __future__ import annotations

import json
import uuid

import pytest

from remote_support import __version__
from remote_support.journal import Journal
from remote_support.secrets import MASK, MASKED
from remote_support.sessions.cast import Cast, final_screen, load_cast, screen_text, session_screen_text
from remote_support.sessions.recorder import SessionRecorder


@pytest.fixture()
def journal(tmp_path):
    with Journal.open(str(tmp_path / "journal.sqlite")) as journal:
        yield journal


def session(journal, **kw) -> tuple[str, SessionRecorder]:
    run_id = journal.start_run(kind="session", name="shell h1", command=None, params={}, inventory=[], pattern="h1",
                               check=False, diff=False, ticket=None, operator=None, hosts=["h1"],
                               tool_version=__version__)
    return run_id, SessionRecorder(journal, run_id, 80, 24, **kw)


def test_a_known_secret_is_masked_even_split_over_two_reads(journal):
    secret = "S3cr3t-" + uuid.uuid4().hex
    MASK.add(secret)
    run_id, recorder = session(journal)
    recorder.output(f"token: {secret[:9]}".encode())
    recorder.output(f"{secret[9:]} done\r\n".encode())
    recorder.output(f"again {secret}\r\n".encode())
    recorder.close()
    text = load_cast(journal, run_id).text()
    assert secret not in text and secret[:9] not in text and secret[9:] not in text
    assert text.count(MASKED) == 2


def test_a_multibyte_character_split_over_two_reads_is_kept_whole(journal):
    run_id, recorder = session(journal)
    data = "grüße\r\n".encode()
    recorder.output(data[:3])
    recorder.output(data[3:])
    recorder.close()
    assert "".join(d for _, k, d in load_cast(journal, run_id).events if k == "o") == "grüße\r\n"


def test_input_is_kept_only_when_echoed_and_never_after_a_password_prompt(journal):
    run_id, recorder = session(journal, record_input=True)
    recorder.input(b"ls")
    recorder.output(b"ls")  # echoed
    recorder.input(b"quiet-typed")  # never echoed: hidden
    recorder.output(b"\r\nPassword: ")
    recorder.input(b"after-prompt")  # after a password prompt: hidden even if it came back
    recorder.output(b"after-prompt")
    recorder.input(b"\r")
    recorder.output(b"\r\n$ ")
    recorder.input(b"pwd")
    recorder.output(b"pwd")
    recorder.close()
    typed = [d for _, k, d in load_cast(journal, run_id).events if k == "i"]
    assert typed == ["ls", "pwd"]
    assert recorder.hidden_inputs == 3


def test_without_record_input_no_keystroke_is_kept(journal):
    run_id, recorder = session(journal)
    recorder.input(b"ls")
    recorder.output(b"ls")
    recorder.close()
    assert [k for _, k, _ in load_cast(journal, run_id).events] == ["o"]


def test_the_screen_text_is_what_was_visible(journal):
    run_id, recorder = session(journal)
    recorder.output(b"overwritten\rvisible-one\r\n")
    recorder.output(b"\x1b[31mred-word\x1b[0m\r\n")
    recorder.close()
    text = session_screen_text(journal, run_id)
    assert "visible-one" in text and "red-word" in text
    assert "overwritten" not in text and "[31m" not in text
    assert journal.search_session_screens("RED-WORD") == [run_id]
    assert journal.search_session_screens("overwritten") == []
    assert journal.search_session_screens("%") == []  # LIKE wildcards are text


def test_lines_that_scroll_away_and_resizes_are_rendered():
    events = [(0.1, "o", "".join(f"line-{i}\r\n" for i in range(60))), (0.2, "r", "40x10"), (0.3, "o", "end")]
    cast = Cast("x", {"version": 2, "width": 80, "height": 24}, events, 3)
    assert "line-0" in screen_text(cast).splitlines()
    screen = final_screen(cast)
    assert len(screen) == 10 and screen[-2:] == ["line-59", "end"]


def test_the_header_is_asciicast_v2(journal):
    run_id, recorder = session(journal, env={"TERM": "xterm"}, title="h1 INC-1")
    recorder.close()
    header = json.loads(load_cast(journal, run_id).text().splitlines()[0])
    assert header["version"] == 2 and header["width"] == 80 and header["height"] == 24
    assert header["env"] == {"TERM": "xterm"} and isinstance(header["timestamp"], int)


def test_help_of_every_session_command_shows_an_example():
    import subprocess
    import sys
    from pathlib import Path

    for command in (["shell"], ["sessions"], ["sessions", "list"], ["sessions", "play"], ["sessions", "export"],
                    ["sessions", "search"]):
        done = subprocess.run([sys.executable, "-m", "remote_support", *command, "--help"], capture_output=True,
                              text=True, cwd=Path(__file__).resolve().parents[1])
        assert done.returncode == 0 and "Examples:\n  remote-support " in done.stdout, command


def test_sudo_prompt_split_over_reads_is_answered_once_and_never_shown(tmp_path):
    from remote_support.errors import BecomeError
    from remote_support.inventory import Host
    from remote_support.secrets import SecretRef
    from remote_support.sessions.shell import SudoAnswer

    secret = tmp_path / "pw"
    secret.write_text("become-pw-" + uuid.uuid4().hex + "\n")
    answer = SudoAnswer(Host(name="h1", vars={"become_password": SecretRef(f"file:{secret}")}))
    sent: list[bytes] = []
    marker = answer.marker
    shown = answer.filter(b"hello " + marker[:5], sent.append) + answer.filter(marker[5:] + b"\r\n# ", sent.append)
    assert shown == b"hello \r\n# " and sent == [secret.read_text().encode()]
    with pytest.raises(BecomeError, match="refused"):
        answer.filter(b"Sorry, try again.\r\n" + marker, sent.append)
    assert len(sent) == 1  # a wrong password is not sent again and again


def test_output_that_only_looks_like_the_start_of_the_sudo_prompt_is_shown(tmp_path):
    from remote_support.inventory import Host
    from remote_support.sessions.shell import SudoAnswer

    answer = SudoAnswer(Host(name="h1", vars={}))
    assert answer.filter(b"menu [", lambda b: None) == b"menu "  # held: it may be the marker's start
    assert answer.pending() == b"["  # nothing completed it: shown
    assert answer.filter(b"x", lambda b: None) == b"x"


def test_keystrokes_typed_fast_are_matched_to_their_echo_in_order(journal):
    run_id, recorder = session(journal, record_input=True)
    for key in (b"l", b"s", b"\r"):
        recorder.input(key)
    recorder.output(b"ls\r\n")
    recorder.input(b"x")  # echo off: what comes next is other output that merely contains an x
    recorder.output(b"\r\nsyntax error\r\n")
    recorder.close()
    typed = [d for _, k, d in load_cast(journal, run_id).events if k == "i"]
    assert typed == ["l", "s", "\r"]
