"""WinRMConnection with real pywinrm (HTTP, NTLM, message encryption, TLS) against the WinRM lab server."""

from __future__ import annotations

import base64
import os
import socket
import time

import pytest
from winrm.protocol import Protocol

from remote_support.connections.base import ConnectOptions
from remote_support.connections.winrm import (COMMAND_LINE_LIMIT, WinRMCommandError, WinRMConnection,
                                              clean_stderr, encode_ps)
from remote_support.errors import AuthError, BecomeError, CommandTimeout, UnreachableError, UsageError
from remote_support.inventory import Host
from winrm_support import WIN_PASSWORD, WIN_USER, connected, opened, win_host
from winrm_support import winrm_https_server, winrm_server  # noqa: F401 - fixtures (conftest.py is shared)


# ---------------------------------------------------------------- commands


def test_run_hostname_whoami_and_flushdns(winrm_server):
    with connected(win_host(winrm_server)) as c:
        assert c.run("hostname").stdout == "WIN-LAB01\r\n"
        assert c.run("whoami").stdout.strip() == f"win-lab01\\{WIN_USER}"
        result = c.run("ipconfig /flushdns")
    assert result.ok and "Successfully flushed the DNS Resolver Cache." in result.stdout
    # one shell per command: open() proves the connection with a WS-Man Identify, not a probe shell
    assert winrm_server.counters["shells_created"] == winrm_server.counters["shells_deleted"] == 3
    assert winrm_server.counters["identify"] == 1


def test_exit_codes_stderr_and_unknown_commands(winrm_server):
    with connected(win_host(winrm_server)) as c:
        assert c.run("cmd /c exit 3").rc == 3
        oops = c.run("echo oops 1>&2")
        assert (oops.rc, oops.stdout, oops.stderr) == (0, "", "oops\r\n")
        unknown = c.run("frobnicate --now")
    assert unknown.rc == 1
    assert unknown.stderr.startswith("'frobnicate' is not recognized as an internal or external command")


def test_large_output_arrives_whole(winrm_server):
    with connected(win_host(winrm_server)) as c:
        result = c.run(r"type C:\lab\big.log", timeout=20)
    assert result.ok and len(result.stdout) > 1_000_000
    assert result.stdout.count("\r\n") == len(result.stdout) // 94


def test_shell_is_utf8(winrm_server):
    with connected(win_host(winrm_server)) as c:
        assert c.run("echo grüße from Zürich").stdout == "grüße from Zürich\r\n"


def test_stdin_reaches_the_command(winrm_server):
    with connected(win_host(winrm_server)) as c:
        data = "line\r\n" * 30000  # several Send messages
        assert c.run("more", stdin=data, timeout=10).stdout == data


def test_powershell_encoded_command_and_clixml_stderr(winrm_server):
    with connected(win_host(winrm_server)) as c:
        assert c.run_ps("$PSVersionTable.PSVersion.Major").stdout.strip() == "5"
        spooler = c.run_ps("Get-Service Spooler")
        assert spooler.ok and "Running  Spooler" in spooler.stdout
        missing = c.run_ps("Get-Service NoSuchSvc")
        failed = c.run_ps("Write-Output 'before'; Write-Error 'disk is full'")
    assert missing.rc == 1 and "Cannot find any service with service name 'NoSuchSvc'" in missing.stderr
    assert failed.rc == 1 and failed.stdout == "before\r\n"
    # CLIXML and the progress record are gone; the error text is plain
    assert failed.stderr.startswith("Write-Error disk is full : disk is full\r\n")
    assert "CLIXML" not in failed.stderr and "Preparing modules" not in failed.stderr
    sent = [line for line in winrm_server.commands if "-EncodedCommand" in line]
    assert base64.b64decode(sent[0].split()[-1]).decode("utf-16-le") == "$PSVersionTable.PSVersion.Major"


def test_long_script_goes_through_stdin_not_the_command_line(winrm_server):
    script = "\n".join(["Write-Output 'start'"] + [f"# padding line {i} " + "x" * 60 for i in range(200)]
                       + ["Write-Output 'end'"])
    assert len(f"powershell -EncodedCommand {encode_ps(script)}") > COMMAND_LINE_LIMIT
    with connected(win_host(winrm_server)) as c:
        result = c.run_ps(script, timeout=10)
    assert (result.rc, result.stdout) == (0, "start\r\nend\r\n")
    assert max(len(line) for line in winrm_server.commands) < COMMAND_LINE_LIMIT


def test_command_line_limit(winrm_server):
    with connected(win_host(winrm_server)) as c:
        with pytest.raises(WinRMCommandError, match="over the Windows limit of 8191"):
            c.run("echo " + "x" * 8200)
    # the server enforces it too, as cmd.exe does
    protocol = Protocol(winrm_server.endpoint, transport="ntlm", username=WIN_USER, password=WIN_PASSWORD,
                        ca_trust_path=None)
    shell = protocol.open_shell()
    try:
        command = protocol.run_command(shell, "echo " + "x" * 8200)
        out, err, rc = protocol.get_command_output(shell, command)
    finally:
        protocol.close_shell(shell)
    assert (rc, err) == (1, b"The command line is too long.\r\n")


def test_hanging_command_times_out_and_its_shell_is_deleted(winrm_server):
    with connected(win_host(winrm_server)) as c:
        started = time.monotonic()
        with pytest.raises(CommandTimeout, match="timed out after 2s") as info:
            c.run("ping -t 127.0.0.1", timeout=2)
        assert time.monotonic() - started < 4
        assert "Reply from 127.0.0.1" in info.value.partial.stdout
        assert winrm_server.open_shells == 0
        assert winrm_server.counters["signals"] >= 1
        assert c.run("hostname").ok  # the connection is still good


def test_put_and_get_round_trip(winrm_server):
    payload = os.urandom(300_000)  # several base64 lines and Send messages
    with connected(win_host(winrm_server)) as c:
        c.put(payload, r"C:\Windows\Temp\payload.bin")
        assert winrm_server.files[r"c:\windows\temp\payload.bin"] == payload
        assert c.get(r"C:\Windows\Temp\payload.bin") == payload
        with pytest.raises(WinRMCommandError, match=r"cannot write C:\\NoSuchDir\\x.txt"):
            c.put(b"x", r"C:\NoSuchDir\x.txt")
        with pytest.raises(WinRMCommandError, match="cannot read"):
            c.get(r"C:\Windows\Temp\missing.bin")


def test_become_is_refused_clearly(winrm_server):
    with connected(win_host(winrm_server)) as c:
        with pytest.raises(BecomeError, match="not supported over WinRM"):
            c.run("whoami", become=True)


# ---------------------------------------------------------------- errors


def test_wrong_password_is_an_auth_error_with_the_hint(winrm_server):
    with pytest.raises(AuthError) as info:
        opened(win_host(winrm_server, password="wrong-password"))
    assert str(info.value) == ("win-lab01: auth failed for user rsadmin "
                               "(check the password and the auth transport: ntlm/kerberos)")


def test_nothing_listening_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = Host("win-gone", {"connection": "winrm", "address": "127.0.0.1", "winrm_port": port,
                             "user": WIN_USER, "password": WIN_PASSWORD})
    with pytest.raises(UnreachableError) as info:
        opened(host, connect_timeout=2)
    assert info.value.reason == f"unreachable: listener not reachable on 127.0.0.1:{port}"
    assert info.value.hint == "is WinRM enabled? winrm quickconfig"


def test_basic_over_http_is_refused_before_sending_anything(winrm_server):
    with pytest.raises(UsageError, match="Basic auth over HTTP would send the password in clear text"):
        WinRMConnection(win_host(winrm_server, winrm_transport="basic"), ConnectOptions()).open()
    # allowed explicitly: the host (like a default Windows) refuses it
    with pytest.raises(AuthError, match="auth failed for user rsadmin"):
        opened(win_host(winrm_server, winrm_transport="basic", winrm_allow_basic_http=True))
    assert winrm_server.counters.get("logins", 0) == 0


def test_unencrypted_messages_are_refused_over_http(winrm_server):
    with pytest.raises(AuthError, match="unencrypted messages refused") as info:
        opened(win_host(winrm_server, winrm_message_encryption="never"))
    assert "AllowUnencrypted" in info.value.hint
    assert winrm_server.counters["unencrypted_refused"] >= 1


def test_unknown_shell_is_a_fault(winrm_server):
    protocol = Protocol(winrm_server.endpoint, transport="ntlm", username=WIN_USER, password=WIN_PASSWORD,
                        ca_trust_path=None)
    from winrm.exceptions import WSManFaultError

    with pytest.raises(WSManFaultError) as info:
        protocol.run_command("00000000-0000-0000-0000-000000000000", "hostname")
    assert info.value.wsman_fault_code == 2150858843


# ---------------------------------------------------------------- HTTPS


def test_https_basic_with_ca_bundle(winrm_https_server):
    host = win_host(winrm_https_server, winrm_transport="basic")
    with connected(host) as c:
        assert c.run("hostname").stdout == "WIN-LAB01\r\n"


def test_https_ntlm(winrm_https_server):
    with connected(win_host(winrm_https_server)) as c:
        assert c.run_ps("$env:COMPUTERNAME").stdout == "WIN-LAB01\r\n"


def test_https_untrusted_certificate(winrm_https_server):
    from remote_support.errors import HostKeyError

    with pytest.raises(HostKeyError, match="TLS certificate of 127.0.0.1:.* not trusted"):
        opened(win_host(winrm_https_server, winrm_ca_trust_path=None))


# ---------------------------------------------------------------- helpers


def test_clean_stderr_keeps_errors_and_drops_progress():
    clixml = ('#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
              '<Obj S="progress" RefId="0"><MS><PR N="Record"><AV>Preparing modules for first use.</AV></PR></MS>'
              '</Obj><S S="Error">boom_x000D__x000A_</S><S S="warning">careful_x000D__x000A_</S></Objs>')
    assert clean_stderr(clixml) == "boom\r\nWARNING: careful\r\n"
    assert clean_stderr("plain\r\n") == "plain\r\n"


# ---------------------------------------------------------------- a real Windows host, when given


REAL = all(os.environ.get(name) for name in ("RS_WINRM_HOST", "RS_WINRM_USER", "RS_WINRM_PASSWORD"))


@pytest.mark.skipif(not REAL, reason="set RS_WINRM_HOST, RS_WINRM_USER, RS_WINRM_PASSWORD to test a real host")
def test_real_windows_host():
    variables = {"connection": "winrm", "address": os.environ.get("RS_WINRM_HOST"),
                 "user": os.environ.get("RS_WINRM_USER"), "password": os.environ.get("RS_WINRM_PASSWORD")}
    for name in ("winrm_scheme", "winrm_port", "winrm_transport", "winrm_ca_trust_path",
                 "winrm_server_cert_validation"):
        if os.environ.get("RS_" + name.upper()):
            variables[name] = os.environ["RS_" + name.upper()]
    with connected(Host("real-windows", variables)) as c:
        assert c.run("hostname").ok
        assert c.run("cmd /c exit 3").rc == 3
        assert c.run_ps("$PSVersionTable.PSVersion.Major").stdout.strip().isdigit()
        with pytest.raises(CommandTimeout):
            c.run("ping -t 127.0.0.1", timeout=3)
        payload = os.urandom(100_000)
        c.put(payload, r"C:\Windows\Temp\remote-support-test.bin")
        assert c.get(r"C:\Windows\Temp\remote-support-test.bin") == payload
        c.run(r"del C:\Windows\Temp\remote-support-test.bin")
