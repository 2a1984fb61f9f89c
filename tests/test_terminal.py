"""The terminal shows text, not control codes: a hostile host, ticket, note or name cannot retitle the
window, clear the screen, plant a hyperlink or write the clipboard (OSC 52); the journal and --json keep
the raw bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from remote_support.output import printable

# what a hostile host prints: OSC title, clear + home, DCS, an OSC 8 hyperlink, OSC 52 clipboard write,
# an 8-bit CSI, and a right-to-left override that reorders the rest of the line
EVIL = ("\x1b]0;pwned-title\x07" "\x1b[2J\x1b[H" "\x1bP1$qm\x1b\\" "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\"
        "\x1b]52;c;ZWNobyBwd25lZA==\x07" "\u009b2J" "\u202eabc")
# the same bytes as the printf(1) format that makes the host print them
PRINTF = (r"\033]0;pwned-title\007\033[2J\033[H\033P1$qm\033\\\033]8;;http://evil.example/\033\\click"
          r"\033]8;;\033\\\033]52;c;ZWNobyBwd25lZA==\007\302\2332J\342\200\256abc")
CONTROLS = ("\x1b", "\x07", "\x9b", "\u202e")


def cli(*args: str, env=None, check: int | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "remote_support", *args], capture_output=True, text=True,
                            timeout=120, env=env)
    if check is not None:
        assert result.returncode == check, result.stdout + result.stderr
    return result


def _harmless(text: str) -> None:
    for control in CONTROLS:
        assert control not in text, (control, text)


def test_printable_makes_every_sequence_visible():
    shown = printable(EVIL + "\ttab\r\nline\rover")
    _harmless(shown)
    assert shown.startswith("^[]0;pwned-title^G^[[2J") and "<U+009B>2J" in shown and "<U+202E>abc" in shown
    assert "\ttab\nline^Mover" in shown


@pytest.fixture()
def hostile(lab, tmp_path):
    entry = lab.status()[2]
    inv = tmp_path / "inv.yml"
    inv.write_text(f'hosts:\n  "{entry.name}":\n'
                   f"    {{address: {entry.address}, port: {entry.port}, user: {lab.user}, "
                   f"private_key_file: {lab.client_key_path}, known_hosts_file: {lab.known_hosts_path}}}\n")
    return inv, {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite")}


def test_a_host_name_with_escape_codes_is_refused_and_the_error_shows_none(tmp_path):
    inv = tmp_path / "inv.yml"
    inv.write_text('hosts:\n  "pc-1\\e]0;name-title\\a": {address: 10.0.0.1}\n')
    result = cli("inventory", "list", "-i", str(inv))
    assert result.returncode == 5 and "host name" in result.stderr
    _harmless(result.stdout + result.stderr)


def test_exec_run_and_the_journal_views_show_no_control_codes(hostile, tmp_path):
    inv, env = hostile
    ticket = "INC-7\x1b]52;c;cm0gLXJmIH4=\x07"
    command = f"printf '{PRINTF}'; printf '{PRINTF}' >&2; exit 3"
    for mode in ((), ("-o",), ("--group",)):
        executed = cli("exec", "all", "-i", str(inv), "--ticket", ticket, *mode, "--", command, env=env, check=2)
        _harmless(executed.stdout + executed.stderr)
        assert "^[]0;pwned-title^G" in executed.stdout
    task = tmp_path / "evil.yml"
    task.write_text(f"name: \"evil\\e[2J task\"\nsteps:\n  - name: \"step\\e]0;t\\a\"\n    command: |-\n      {command}\n")
    ran = cli("run", str(task), "-i", str(inv), "--ticket", ticket, env=env, check=2)
    _harmless(ran.stdout + ran.stderr)
    assert "^[]0;pwned-title^G" in ran.stderr

    runs = json.loads(cli("runs", "list", "--json", env=env, check=0).stdout)
    cli("runs", "note", runs[0]["id"], "looked at it \x1b[2J\x1b]0;note\x07", env=env, check=0)
    listed = cli("runs", "list", env=env, check=0)
    _harmless(listed.stdout + listed.stderr)
    for record in runs:
        shown = cli("runs", "show", record["id"], env=env, check=0)
        _harmless(shown.stdout + shown.stderr)
        assert "^[" in shown.stdout

    # the record keeps what the host sent, byte for byte
    raw = cli("exec", "all", "-i", str(inv), "--json", "--", f"printf '{PRINTF}'", env=env, check=0)
    assert json.loads(raw.stdout)["hosts"][0]["steps"][0]["stdout"] == EVIL
    recorded = json.loads(cli("runs", "show", runs[-1]["id"], "--json", env=env, check=0).stdout)
    assert recorded["hosts"][0]["steps"][0]["stdout"] == EVIL
    assert runs[0]["ticket"] == ticket
