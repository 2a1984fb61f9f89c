"""A protocol-level WinRM server on loopback: the Windows peer for tests and the training lab.

There is no Windows here and no WS-Management server for Linux worth talking to, so this module speaks
the wire protocol itself: HTTP/1.1 with keep-alive (NTLM authenticates a TCP connection, not a request),
NTLM through pyspnego's acceptor, MS-WSMV message encryption (``multipart/encrypted`` with
``application/HTTP-SPNEGO-session-encrypted``, sealed and unsealed with the connection's NTLM context),
Basic only over HTTPS (a self-signed certificate made at start), and the WinRS actions Create, Command,
Send, Receive (long-poll, ``w:TimedOut`` fault 2150858793), Signal and Delete in Windows-shaped envelopes.

Commands do not run: they are answered from a table of canned Windows behaviours (:data:`CMD_COMMANDS`,
:data:`PS_SCRIPTS`): ``hostname``, ``whoami``, ``ipconfig /flushdns``, ``cmd /c exit N``, ``echo``,
a 1 MB ``type C:\\lab\\big.log``, ``ping -t`` (runs until signalled), ``powershell -EncodedCommand``
(decoded, matched statement by statement, errors and progress as CLIXML on stderr like the real thing),
the 8191-character command-line limit, unknown commands (``'x' is not recognized ...``, rc 1). Files
written by remote-support's own upload script live in an in-memory file system (:attr:`files`).

Use in-process (``with WinRMLabServer(users={"rsadmin": "pw"}) as server: server.endpoint``) or as a
subprocess (``python -m remote_support.winrm_server --port 0 --user rsadmin:pw``; it prints its endpoint
on the first line of stdout; stop it by its PID with SIGTERM).

Stdlib + pyspnego (+ ``cryptography`` for the HTTPS certificate only).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import signal
import ssl
import struct
import sys
import tempfile
import threading
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import escape

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "x": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "p": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
}
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
ACTION_CREATE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create"
ACTION_DELETE = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete"
ACTION_COMMAND = SHELL_URI + "/Command"
ACTION_SEND = SHELL_URI + "/Send"
ACTION_RECEIVE = SHELL_URI + "/Receive"
ACTION_SIGNAL = SHELL_URI + "/Signal"
SIGNAL_TERMINATE = SHELL_URI + "/signal/terminate"
SIGNAL_CTRL_C = SHELL_URI + "/signal/ctrl_c"
STATE_DONE = SHELL_URI + "/CommandState/Done"
STATE_RUNNING = SHELL_URI + "/CommandState/Running"

FAULT_TIMED_OUT = 2150858793  # OperationTimeout expired with nothing to report: the client polls again
FAULT_SHELL_NOT_FOUND = 2150858843
FAULT_ENCRYPTION = 2150858770
CMD_LINE_LIMIT = 8191
MAX_STREAM_CHUNK = 32 * 1024  # raw bytes per rsp:Stream element; three per response stay under 150 KB
ENCRYPTED_BOUNDARY = b"--Encrypted Boundary"
ENCRYPTED_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
CLIXML_NS = "http://schemas.microsoft.com/powershell/2004/04"
PUT_MARKER = "# remote-support:put"
GET_MARKER = "# remote-support:get"
STDIN_MARKER = "# remote-support:stdin-script"


# ---------------------------------------------------------------- shells and commands


class Process:
    """One command of a shell: what it wrote, whether it ended, what came on stdin."""

    def __init__(self, command_line: str, codepage: int):
        self.id = str(uuid.uuid4()).upper()
        self.command_line = command_line
        self.codepage = codepage
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.stdin = bytearray()
        self.stdin_closed = False
        self.done = False
        self.rc: int | None = None
        self.signalled: str | None = None
        self.cond = threading.Condition()

    # -- used by behaviours (in the process's thread)

    def encode(self, text: str) -> bytes:
        codec = "utf-8" if self.codepage == 65001 else f"cp{self.codepage}"
        try:
            return text.encode(codec, "replace")
        except LookupError:
            return text.encode("cp437", "replace")

    def out(self, text: str | bytes) -> None:
        with self.cond:
            self.stdout += text if isinstance(text, bytes) else self.encode(text)
            self.cond.notify_all()

    def err(self, text: str | bytes) -> None:
        with self.cond:
            self.stderr += text if isinstance(text, bytes) else self.encode(text)
            self.cond.notify_all()

    def read_stdin(self) -> bytes | None:
        """Everything sent on stdin once the client closes it; None when the command was signalled."""
        with self.cond:
            self.cond.wait_for(lambda: self.stdin_closed or self.signalled)
            return None if self.signalled else bytes(self.stdin)

    def sleep(self, seconds: float) -> bool:
        """Wait like a running program; False when signalled meanwhile."""
        with self.cond:
            return not self.cond.wait_for(lambda: self.signalled, timeout=seconds)

    def finish(self, rc: int) -> None:
        with self.cond:
            if not self.done:
                self.done, self.rc = True, rc
            self.cond.notify_all()

    # -- used by the protocol handler

    def signal(self, code: str) -> None:
        with self.cond:
            self.signalled = code
            if not self.done:
                # what cmd.exe reports for a process killed by WinRS: STATUS_CONTROL_C_EXIT or 1
                self.done, self.rc = True, (-1073741510 if code == SIGNAL_CTRL_C else 1)
            self.cond.notify_all()


@dataclass
class Shell:
    id: str
    codepage: int
    owner: str
    processes: dict[str, Process] = field(default_factory=dict)


# ---------------------------------------------------------------- canned Windows behaviours

Behaviour = Callable[["WinRMLabServer", Process, str], None]


def _echo(server: "WinRMLabServer", proc: Process, args: str) -> None:
    text = args.strip()
    to_err = False
    for redirect in ("1>&2", ">&2"):
        if text.endswith(redirect):
            text, to_err = text[: -len(redirect)].rstrip(), True
    line = (text or "ECHO is on.") + "\r\n"
    (proc.err if to_err else proc.out)(line)
    proc.finish(0)


def _big_output_lines() -> bytes:
    line = b"0123456789 the quick brown fox jumps over the lazy dog ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghij\r\n"
    return line * ((1024 * 1024) // len(line))  # about 1 MB of 95-byte lines


BIG_LOG = _big_output_lines()


def _type(server: "WinRMLabServer", proc: Process, args: str) -> None:
    path = args.strip().strip('"')
    if path.lower() == r"c:\lab\big.log":
        for start in range(0, len(BIG_LOG), 256 * 1024):  # written in pieces, as a real program would
            proc.out(BIG_LOG[start:start + 256 * 1024])
        return proc.finish(0)
    data = server.files.get(path.lower())
    if data is None:
        proc.err("The system cannot find the file specified.\r\n")
        return proc.finish(1)
    proc.out(data)
    proc.finish(0)


def _ping(server: "WinRMLabServer", proc: Process, args: str) -> None:
    target = args.split()[-1] if args.split() else "127.0.0.1"
    forever = "-t" in args.split()
    proc.out(f"\r\nPinging {target} with 32 bytes of data:\r\n")
    count = 0
    while forever or count < 4:
        proc.out(f"Reply from {target}: bytes=32 time<1ms TTL=128\r\n")
        count += 1
        if not proc.sleep(0.5):
            return
    proc.finish(0)


def _timeout(server: "WinRMLabServer", proc: Process, args: str) -> None:
    match = re.search(r"/t\s+(-?\d+)", args, re.I)
    seconds = int(match.group(1)) if match else -1
    if not proc.sleep(seconds if seconds >= 0 else 10**9):
        return
    proc.out(f"\r\nWaiting for {seconds} seconds, press CTRL+C to quit ...0\r\n")
    proc.finish(0)


def _cmd(server: "WinRMLabServer", proc: Process, args: str) -> None:
    match = re.fullmatch(r"\s*/c\s+(.*)", args, re.I | re.S)
    if not match:
        proc.out("Microsoft Windows [Version 10.0.20348.2340]\r\n")
        return proc.finish(0)
    inner = match.group(1).strip()
    exit_match = re.fullmatch(r"exit(?:\s+/b)?\s+(-?\d+)", inner, re.I)
    if exit_match:
        return proc.finish(int(exit_match.group(1)))
    server.dispatch(proc, inner)


def _more(server: "WinRMLabServer", proc: Process, args: str) -> None:
    data = proc.read_stdin()
    if data is None:
        return
    proc.out(data)
    proc.finish(0)


CMD_COMMANDS: dict[str, Behaviour] = {
    "hostname": lambda server, proc, args: (proc.out(server.hostname + "\r\n"), proc.finish(0)),
    "whoami": lambda server, proc, args: (proc.out(f"{server.hostname.lower()}\\{proc_owner(server, proc)}\r\n"),
                                          proc.finish(0)),
    "ipconfig": lambda server, proc, args: _ipconfig(proc, args),
    "echo": _echo,
    "type": _type,
    "ping": _ping,
    "timeout": _timeout,
    "cmd": _cmd,
    "more": _more,
    "powershell": lambda server, proc, args: _powershell(server, proc, args),
}


def proc_owner(server: "WinRMLabServer", proc: Process) -> str:
    for shell in list(server.shells.values()):
        if proc.id in shell.processes:
            return shell.owner.lower()
    return "unknown"


def _ipconfig(proc: Process, args: str) -> None:
    if args.strip().lower() == "/flushdns":
        proc.out("\r\nWindows IP Configuration\r\n\r\nSuccessfully flushed the DNS Resolver Cache.\r\n")
    else:
        proc.out("\r\nWindows IP Configuration\r\n\r\n\r\nEthernet adapter Ethernet:\r\n\r\n"
                 "   Connection-specific DNS Suffix  . : lab.local\r\n"
                 "   IPv4 Address. . . . . . . . . . . : 10.0.0.15\r\n"
                 "   Subnet Mask . . . . . . . . . . . : 255.255.255.0\r\n"
                 "   Default Gateway . . . . . . . . . : 10.0.0.1\r\n")
    proc.finish(0)


# ---------------------------------------------------------------- PowerShell

SERVICES = {"spooler": ("Running", "Spooler", "Print Spooler"), "winrm": ("Running", "WinRM",
            "Windows Remote Management (WS-Management)"), "wuauserv": ("Stopped", "wuauserv", "Windows Update")}


class _PSResult:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.errors: list[str] = []
        self.progress = False
        self.rc = 0


def _powershell(server: "WinRMLabServer", proc: Process, args: str) -> None:
    tokens = args.split()
    script = None
    for index, token in enumerate(tokens):
        if token.lower() in ("-encodedcommand", "-enc", "-e", "-ec") and index + 1 < len(tokens):
            try:
                script = base64.b64decode(tokens[index + 1]).decode("utf-16-le")
            except (ValueError, UnicodeDecodeError):
                proc.err("Cannot process the command because the value specified with -EncodedCommand is "
                         "not properly encoded. The value must be Base64 encoded.\r\n")
                return proc.finish(1)
            break
        if token.lower() in ("-command", "-c") and index + 1 < len(tokens):
            script = " ".join(tokens[index + 1:])
            break
    if script is None:
        proc.out("Windows PowerShell\r\nCopyright (C) Microsoft Corporation. All rights reserved.\r\n")
        return proc.finish(0)
    if script.strip() == "-":
        data = proc.read_stdin()
        if data is None:
            return
        script = data.decode("utf-8", "replace")
    if STDIN_MARKER in script:  # remote-support's loader: the real script comes base64 on stdin
        data = proc.read_stdin()
        if data is None:
            return
        try:
            script = base64.b64decode(b"".join(data.split())).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            proc.err(_clixml_errors(["Exception calling \"FromBase64String\": invalid Base64 input"]))
            return proc.finish(1)
    if PUT_MARKER in script:
        return _ps_put(server, proc, script)
    if GET_MARKER in script:
        return _ps_get(server, proc, script)
    result = _PSResult()
    for statement in _statements(script):
        if not _ps_statement(server, proc, statement, result):
            break
        if proc.signalled:
            return
    if result.out:
        proc.out("".join(line + "\r\n" for line in result.out))
    if result.errors or result.progress:
        proc.err(_clixml_errors(result.errors))
    proc.finish(result.rc)


def _statements(script: str) -> list[str]:
    """Split a script into statements at newlines and semicolons outside quotes (enough for the table)."""
    statements, current, quote = [], [], None
    for char in script:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char in ";\n":
            statements.append("".join(current))
            current = []
        else:
            current.append(char)
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip() and not s.strip().startswith("#")]


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _ps_statement(server: "WinRMLabServer", proc: Process, stmt: str, result: _PSResult) -> bool:
    """Run one statement into ``result``; False stops the script (exit)."""
    lowered = stmt.lower()
    if lowered.startswith("$erroractionpreference") or lowered.startswith("$progresspreference"):
        return True
    if lowered == "$psversiontable.psversion.major":
        result.out.append("5")
    elif lowered == "$env:computername" or lowered == "hostname":
        result.out.append(server.hostname)
    elif re.fullmatch(r"exit(\s+-?\d+)?", lowered):
        parts = stmt.split()
        result.rc = int(parts[1]) if len(parts) > 1 else 0
        return False
    elif lowered.startswith(("write-output ", "echo ", "write-host ")):
        result.out.append(_unquote(stmt.split(None, 1)[1]))
    elif re.fullmatch(r"'[^']*'|\"[^\"]*\"", stmt):
        result.out.append(_unquote(stmt))
    elif lowered.startswith("write-error"):
        message = _unquote(re.sub(r"^write-error\s+(-message\s+)?", "", stmt, flags=re.I))
        result.errors.append(f"Write-Error {message} : {message}\r\n    + CategoryInfo          : NotSpecified: "
                             f"(:) [Write-Error], WriteErrorException\r\n    + FullyQualifiedErrorId : "
                             f"Microsoft.PowerShell.Commands.WriteErrorException\r\n")
        result.rc = 1
    elif lowered.startswith("write-progress"):
        result.progress = True
    elif lowered.startswith("start-sleep"):
        match = re.search(r"(\d+(?:\.\d+)?)", stmt)
        if not proc.sleep(float(match.group(1)) if match else 1):
            return False
    elif lowered.startswith("get-service"):
        name = _unquote(re.sub(r"^get-service\s+(-name\s+)?", "", stmt, flags=re.I))
        info = SERVICES.get(name.lower())
        if info is None:
            result.errors.append(f"Get-Service : Cannot find any service with service name '{name}'.\r\n"
                                 f"    + CategoryInfo          : ObjectNotFound: ({name}:String) [Get-Service], "
                                 f"ServiceCommandException\r\n    + FullyQualifiedErrorId : NoServiceFoundForGivenName,"
                                 f"Microsoft.PowerShell.Commands.GetServiceCommand\r\n")
            result.rc = 1
        else:
            status, svc, display = info
            result.out += ["", "Status   Name               DisplayName", "------   ----               -----------",
                           f"{status:<8} {svc:<18} {display}", ""]
    else:
        word = stmt.split()[0]
        result.errors.append(f"{word} : The term '{word}' is not recognized as the name of a cmdlet, function, "
                             "script file, or operable program. Check the spelling of the name, or if a path was "
                             "included, verify that the path is correct and try again.\r\n")
        result.rc = 1
    return True


def _clixml_text(text: str) -> str:
    text = escape(text).replace("\r", "_x000D_").replace("\n", "_x000A_")
    return text


def _clixml_errors(errors: list[str]) -> str:
    """stderr as powershell.exe writes it when its output is redirected: a CLIXML document."""
    progress = ('<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject</T>'
                '<T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing modules for '
                'first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T><SR>-1</SR><SD> </SD></PR>'
                '</MS></Obj>')
    body = "".join(f'<S S="Error">{_clixml_text(line)}</S>' for error in errors
                   for line in error.splitlines(keepends=True))
    return f'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="{CLIXML_NS}">{progress}{body}</Objs>'


def _script_path(script: str) -> str | None:
    match = re.search(r"^\$path\s*=\s*'((?:[^']|'')*)'", script, re.M)
    return match.group(1).replace("''", "'") if match else None


def _ps_put(server: "WinRMLabServer", proc: Process, script: str) -> None:
    path = _script_path(script)
    data = proc.read_stdin()
    if data is None:
        return
    if path is None:
        proc.err(_clixml_errors(["The variable '$path' cannot be retrieved because it has not been set.\r\n"]))
        return proc.finish(1)
    try:
        content = b"".join(base64.b64decode(line) for line in data.split() if line)
    except ValueError:
        proc.err(_clixml_errors(['Exception calling "FromBase64String" with "1" argument(s): "The input is not '
                                 'a valid Base-64 string"\r\n']))
        return proc.finish(1)
    parent = path.replace("/", "\\").rsplit("\\", 1)[0].lower()
    if parent not in server.directories:
        proc.err(_clixml_errors([f"Could not find a part of the path '{path}'.\r\n"]))
        return proc.finish(1)
    server.files[path.lower()] = content
    proc.out(hashlib.sha256(content).hexdigest().upper() + "\r\n")
    proc.finish(0)


def _ps_get(server: "WinRMLabServer", proc: Process, script: str) -> None:
    path = _script_path(script)
    data = server.files.get((path or "").lower())
    if data is None:
        proc.err(_clixml_errors([f"Could not find file '{path}'.\r\n"]))
        return proc.finish(1)
    for start in range(0, len(data), 57 * 1024):
        proc.out(base64.b64encode(data[start:start + 57 * 1024]) + b"\r\n")
    proc.out("SHA256:" + hashlib.sha256(data).hexdigest().upper() + "\r\n")
    proc.finish(0)


# ---------------------------------------------------------------- envelopes


def _envelope(action: str, relates_to: str, body: str) -> bytes:
    return ('<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
            'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
            'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
            'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd">'
            f'<s:Header><a:Action>{action}</a:Action><a:MessageID>uuid:{str(uuid.uuid4()).upper()}</a:MessageID>'
            '<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>'
            f'<a:RelatesTo>{escape(relates_to)}</a:RelatesTo></s:Header><s:Body>{body}</s:Body></s:Envelope>'
            ).encode("utf-8")


class WSManFault(Exception):
    def __init__(self, code: int, subcode: str, reason: str, value: str = "s:Receiver"):
        super().__init__(reason)
        self.code, self.subcode, self.reason, self.value = code, subcode, reason, value

    def envelope(self, relates_to: str, machine: str) -> bytes:
        body = (f'<s:Fault><s:Code><s:Value>{self.value}</s:Value><s:Subcode><s:Value>{self.subcode}</s:Value>'
                f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{escape(self.reason)}</s:Text></s:Reason>'
                '<s:Detail><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" '
                f'Code="{self.code}" Machine="{escape(machine)}"><f:Message>{escape(self.reason)}</f:Message>'
                '</f:WSManFault></s:Detail></s:Fault>')
        return _envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", relates_to, body)


def _timed_out() -> WSManFault:
    return WSManFault(FAULT_TIMED_OUT, "w:TimedOut", "The WS-Management service cannot complete the operation "
                      "within the time specified in OperationTimeout.  ")


def _iso_seconds(text: str | None, default: float = 60.0) -> float:
    match = re.fullmatch(r"PT(\d+(?:\.\d+)?)S", (text or "").strip())
    return float(match.group(1)) if match else default


# ---------------------------------------------------------------- HTTP


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    lab: "WinRMLabServer"

    def setup(self) -> None:
        super().setup()
        self.auth_ctx = None  # the NTLM context of this TCP connection
        self.auth_user: str | None = None

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        if self.lab.verbose:
            sys.stderr.write("winrm-lab: " + (format % args) + "\n")

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _challenge(self) -> None:
        headers = {"WWW-Authenticate": "Negotiate"}
        if self.lab.https and self.lab.allow_basic:
            headers["WWW-Authenticate"] = 'Negotiate, Basic realm="WSMAN"'
        self.lab.count("auth_failures")
        self._send(401, b"", headers)

    def do_GET(self) -> None:
        self._send(405, b"", {"Allow": "POST"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.split("?")[0].lower() != "/wsman":
            return self._send(404)
        authorization = self.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() in ("negotiate", "ntlm"):
            if not self._ntlm_step(scheme, token.strip()):
                return
        elif scheme.lower() == "basic":
            if not self._basic(token.strip()):
                return
        elif self.auth_user is None or self.auth_ctx is None:
            return self._challenge()

        content_type = self.headers.get("Content-Type", "")
        encrypted = content_type.lower().startswith("multipart/encrypted")
        if encrypted:
            if self.auth_ctx is None or not self.auth_ctx.complete:
                return self._send(400)
            try:
                body = self._unseal(body)
            except Exception:  # noqa: BLE001 - any failure to unseal is a bad request, as on Windows
                self.lab.count("bad_encryption")
                return self._send(400)
        elif body and not self.lab.https and self.lab.require_encryption:
            # AllowUnencrypted=false: Windows refuses the message (and pywinrm calls it "credentials rejected")
            self.lab.count("unencrypted_refused")
            return self._send(401, b"", {"WWW-Authenticate": "Negotiate"})
        if not body:  # pywinrm's empty POST that only sets up the authenticated connection
            return self._send(200)
        status, reply = self.lab.handle_soap(body, self.auth_user or "")
        if encrypted:
            sealed = self._seal(reply)
            return self._send(status, sealed, {"Content-Type": f'multipart/encrypted;protocol="{ENCRYPTED_PROTOCOL}";'
                                                               'boundary="Encrypted Boundary"'})
        self._send(status, reply, {"Content-Type": "application/soap+xml;charset=UTF-8"})

    # -- authentication

    def _ntlm_step(self, scheme: str, token_b64: str) -> bool:
        import spnego

        try:
            token = base64.b64decode(token_b64)
        except ValueError:
            self._challenge()
            return False
        if token[:8] == b"NTLMSSP\x00" and token[8:12] == b"\x01\x00\x00\x00":
            self.auth_ctx, self.auth_user = spnego.server(protocol="ntlm"), None
        if self.auth_ctx is None:
            self._challenge()
            return False
        try:
            out = self.auth_ctx.step(token)
        except Exception:  # noqa: BLE001 - pyspnego raises a family of errors for a bad password
            self.auth_ctx = None
            self._challenge()
            return False
        if not self.auth_ctx.complete:
            self._send(401, b"", {"WWW-Authenticate": f"{scheme} {base64.b64encode(out or b'').decode()}"})
            return False
        self.auth_user = (self.auth_ctx.client_principal or "").split("\\")[-1]
        self.lab.count("logins")
        return True

    def _basic(self, token_b64: str) -> bool:
        if not (self.lab.https and self.lab.allow_basic):
            self._challenge()
            return False
        try:
            user, _, password = base64.b64decode(token_b64).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            self._challenge()
            return False
        if self.lab.users.get(user.split("\\")[-1].lower()) != password:
            self._challenge()
            return False
        self.auth_user = user.split("\\")[-1]
        return True

    # -- MS-WSMV 2.2.9.1 message encryption

    def _unseal(self, body: bytes) -> bytes:
        parts = [p for p in body.split(ENCRYPTED_BOUNDARY + b"\r\n") if p]
        message = b""
        for index in range(0, len(parts) - 1, 2):
            header, payload = parts[index], parts[index + 1]
            expected = int(re.search(rb"Length=(\d+)", header).group(1))
            if payload.endswith(ENCRYPTED_BOUNDARY + b"--\r\n"):
                payload = payload[: -len(ENCRYPTED_BOUNDARY + b"--\r\n")]
            payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
            sig_len = struct.unpack("<i", payload[:4])[0]
            plain = self.auth_ctx.unwrap_winrm(payload[4:4 + sig_len], payload[4 + sig_len:])
            if len(plain) != expected:
                raise ValueError("length mismatch")
            message += plain
        return message

    def _seal(self, message: bytes) -> bytes:
        wrapped = self.auth_ctx.wrap_winrm(message)
        return (ENCRYPTED_BOUNDARY + b"\r\n\tContent-Type: " + ENCRYPTED_PROTOCOL.encode() + b"\r\n"
                b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(message)).encode()
                + b"\r\n" + ENCRYPTED_BOUNDARY + b"\r\n\tContent-Type: application/octet-stream\r\n"
                + struct.pack("<i", len(wrapped.header)) + wrapped.header + wrapped.data
                + ENCRYPTED_BOUNDARY + b"--\r\n")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


# ---------------------------------------------------------------- the server


class WinRMLabServer:
    """A WinRM endpoint on 127.0.0.1 answering from canned Windows behaviours.

    ``users``: user name -> password (NTLM and, over HTTPS, Basic). ``port=0`` picks a free port.
    Counters (:attr:`counters`) and :attr:`open_shells` let tests assert that every shell was deleted.
    """

    def __init__(self, users: dict[str, str], *, host: str = "127.0.0.1", port: int = 0, https: bool = False,
                 allow_basic: bool = True, require_encryption: bool = True, hostname: str = "WIN-LAB01",
                 workdir: str | Path | None = None, verbose: bool = False):
        self.users = {name.lower(): password for name, password in users.items()}
        self.host, self.requested_port = host, port
        self.https, self.allow_basic, self.require_encryption = https, allow_basic, require_encryption
        self.hostname = hostname
        self.verbose = verbose
        self.shells: dict[str, Shell] = {}
        self.files: dict[str, bytes] = {}  # lower-cased Windows path -> content
        self.directories = {"c:\\windows\\temp", "c:\\users\\public", "c:\\temp", "c:\\lab"}
        self.commands: list[str] = []  # every command line received, in order
        self.counters: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="winrm-lab-") if workdir is None else None
        self.workdir = Path(workdir or self._tmp.name)
        self.cert_path: Path | None = None  # PEM of the self-signed certificate (HTTPS): the clients' CA bundle

    # -- lifecycle

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self.requested_port

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.https else 'http'}://{self.host}:{self.port}/wsman"

    def start(self) -> "WinRMLabServer":
        self._write_user_file()
        handler = type("Handler", (_Handler,), {"lab": self})
        self._httpd = _HTTPServer((self.host, self.requested_port), handler)
        if self.https:
            self.cert_path, key_path = _self_signed_cert(self.workdir, self.host)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.cert_path, key_path)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"winrm-lab-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            shells = list(self.shells.values())
        for shell in shells:
            for proc in shell.processes.values():
                proc.signal(SIGNAL_TERMINATE)
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "WinRMLabServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_user_file(self) -> None:
        """pyspnego's NTLM acceptor reads credentials from the file named by $NTLM_USER_FILE.

        The variable is process-wide: every server of this process shares one file (users are merged).
        """
        path = Path(os.environ.get("NTLM_USER_FILE") or (Path(tempfile.gettempdir()) / f"winrm-lab-{os.getpid()}.users"))
        existing = path.read_text() if path.exists() else ""
        lines = existing.splitlines()
        for user, password in self.users.items():
            for domain in ("", self.hostname):
                line = f"{domain}:{user}:{password}"
                if line not in lines:
                    lines.append(line)
        path.write_text("\n".join(lines) + "\n")
        os.chmod(path, 0o600)
        os.environ["NTLM_USER_FILE"] = str(path)

    # -- counters

    def count(self, name: str, by: int = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + by

    @property
    def open_shells(self) -> int:
        with self._lock:
            return len(self.shells)

    # -- WS-Man

    def handle_soap(self, body: bytes, user: str) -> tuple[int, bytes]:
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            fault = WSManFault(2150858817, "w:SchemaValidationError", "The SOAP XML in the message does not "
                               "match the corresponding XML schema definition.", value="s:Sender")
            return 400, fault.envelope("", self.hostname)
        header = root.find("s:Header", NS)
        action = (header.findtext("a:Action", "", NS) or "").strip() if header is not None else ""
        message_id = (header.findtext("a:MessageID", "", NS) or "").strip() if header is not None else ""
        timeout = _iso_seconds(header.findtext("w:OperationTimeout", None, NS) if header is not None else None)
        shell_id = None
        if header is not None:
            for selector in header.iterfind("w:SelectorSet/w:Selector", NS):
                if selector.get("Name") == "ShellId":
                    shell_id = (selector.text or "").strip()
        request_body = root.find("s:Body", NS)
        try:
            if action == ACTION_CREATE:
                reply = self._create(header, request_body, user)
            else:
                shell = self._shell(shell_id)
                if action == ACTION_DELETE:
                    reply = self._delete(shell)
                elif action == ACTION_COMMAND:
                    reply = self._command(shell, request_body)
                elif action == ACTION_SEND:
                    reply = self._send_input(shell, request_body)
                elif action == ACTION_RECEIVE:
                    reply = self._receive(shell, request_body, timeout)
                elif action == ACTION_SIGNAL:
                    reply = self._signal(shell, request_body)
                else:
                    raise WSManFault(2150858770, "a:ActionNotSupported", f"The action {action} is not supported by "
                                     "the service.", value="s:Sender")
        except WSManFault as fault:
            self.count("faults")
            return 500, fault.envelope(message_id, self.hostname)
        response_action, xml = reply
        return 200, _envelope(response_action, message_id, xml)

    def _shell(self, shell_id: str | None) -> Shell:
        with self._lock:
            shell = self.shells.get((shell_id or "").upper())
        if shell is None:
            raise WSManFault(FAULT_SHELL_NOT_FOUND, "w:InvalidSelectors", f"The request for the Windows Remote Shell "
                             f"with ShellId {shell_id} failed because the shell was not found on the server. Possible "
                             "causes are: the specified ShellId is incorrect or the shell no longer exists on the "
                             "server. Provide the correct ShellId or create a new shell and try again.",
                             value="s:Sender")
        return shell

    def _create(self, header, body, user: str) -> tuple[str, str]:
        codepage = 437
        if header is not None:
            for option in header.iterfind("w:OptionSet/w:Option", NS):
                if option.get("Name") == "WINRS_CODEPAGE" and (option.text or "").strip().isdigit():
                    codepage = int(option.text.strip())
        shell = Shell(id=str(uuid.uuid4()).upper(), codepage=codepage, owner=user)
        with self._lock:
            self.shells[shell.id] = shell
        self.count("shells_created")
        xml = (f'<x:ResourceCreated><a:Address>{self.endpoint}</a:Address><a:ReferenceParameters>'
               f'<w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI>'
               f'<w:SelectorSet><w:Selector Name="ShellId">{shell.id}</w:Selector></w:SelectorSet>'
               f'</a:ReferenceParameters></x:ResourceCreated>'
               f'<rsp:Shell xmlns:rsp="{SHELL_URI}"><rsp:ShellId>{shell.id}</rsp:ShellId>'
               f'<rsp:ResourceUri>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</rsp:ResourceUri>'
               f'<rsp:Owner>{escape(self.hostname)}\\{escape(user)}</rsp:Owner><rsp:ClientIP>{self.host}</rsp:ClientIP>'
               f'<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>stdin</rsp:InputStreams>'
               f'<rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>')
        return "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse", xml

    def _delete(self, shell: Shell) -> tuple[str, str]:
        for proc in list(shell.processes.values()):
            proc.signal(SIGNAL_TERMINATE)
        with self._lock:
            self.shells.pop(shell.id, None)
        self.count("shells_deleted")
        return "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse", ""

    def _command(self, shell: Shell, body) -> tuple[str, str]:
        line = body.find("rsp:CommandLine", NS) if body is not None else None
        command = (line.findtext("rsp:Command", "", NS) if line is not None else "").strip()
        arguments = " ".join((a.text or "") for a in line.iterfind("rsp:Arguments", NS)) if line is not None else ""
        command_line = f"{command} {arguments}".strip() if arguments else command
        proc = Process(command_line, shell.codepage)
        shell.processes[proc.id] = proc
        self.commands.append(command_line)
        self.count("commands")
        threading.Thread(target=self._execute, args=(proc,), daemon=True, name=f"winrm-lab-cmd-{proc.id[:8]}").start()
        return SHELL_URI + "/CommandResponse", f"<rsp:CommandResponse><rsp:CommandId>{proc.id}</rsp:CommandId>" \
                                               "</rsp:CommandResponse>"

    def _execute(self, proc: Process) -> None:
        try:
            if len(proc.command_line) > CMD_LINE_LIMIT:
                proc.err("The command line is too long.\r\n")
                return proc.finish(1)
            self.dispatch(proc, proc.command_line)
        except Exception as exc:  # noqa: BLE001 - a bug in a behaviour must still end the command
            proc.err(f"winrm-lab internal error: {exc!r}\r\n")
            proc.finish(1)

    def dispatch(self, proc: Process, command_line: str) -> None:
        word, _, args = command_line.strip().partition(" ")
        name = word.strip('"').lower().replace("/", "\\").rsplit("\\", 1)[-1]
        if name.endswith(".exe"):
            name = name[:-4]
        behaviour = CMD_COMMANDS.get(name)
        if behaviour is None:
            proc.err(f"'{word}' is not recognized as an internal or external command,\r\n"
                     "operable program or batch file.\r\n")
            return proc.finish(1)
        behaviour(self, proc, args)

    def _process(self, shell: Shell, command_id: str | None) -> Process:
        proc = shell.processes.get((command_id or "").upper())
        if proc is None:
            raise WSManFault(2150858843, "w:InvalidSelectors", f"The request for the Windows Remote Shell command "
                             f"{command_id} failed because the command was not found.", value="s:Sender")
        return proc

    def _send_input(self, shell: Shell, body) -> tuple[str, str]:
        stream = body.find("rsp:Send/rsp:Stream", NS) if body is not None else None
        if stream is None:
            raise WSManFault(2150858817, "w:SchemaValidationError", "Send without rsp:Stream.", value="s:Sender")
        proc = self._process(shell, stream.get("CommandId"))
        data = base64.b64decode(stream.text or "")
        with proc.cond:
            if proc.stdin_closed:
                raise WSManFault(2150859214, "w:InvalidParameter", "The stdin stream was already closed.")
            proc.stdin += data
            if (stream.get("End") or "").lower() == "true":
                proc.stdin_closed = True
            proc.cond.notify_all()
        return SHELL_URI + "/SendResponse", "<rsp:SendResponse/>"

    def _receive(self, shell: Shell, body, timeout: float) -> tuple[str, str]:
        desired = body.find("rsp:Receive/rsp:DesiredStream", NS) if body is not None else None
        proc = self._process(shell, desired.get("CommandId") if desired is not None else None)
        with proc.cond:
            ready = proc.cond.wait_for(lambda: proc.stdout or proc.stderr or proc.done, timeout=timeout)
            if not ready:
                raise _timed_out()
            chunks: list[str] = []
            budget = 3 * MAX_STREAM_CHUNK
            for name, buffer in (("stdout", proc.stdout), ("stderr", proc.stderr)):
                while buffer and budget > 0:
                    size = min(MAX_STREAM_CHUNK, budget, len(buffer))
                    data = bytes(buffer[:size])
                    del buffer[:size]
                    budget -= size
                    chunks.append(f'<rsp:Stream Name="{name}" CommandId="{proc.id}">'
                                  f'{base64.b64encode(data).decode()}</rsp:Stream>')
            finished = proc.done and not proc.stdout and not proc.stderr
            if finished:
                chunks.append(f'<rsp:Stream Name="stdout" CommandId="{proc.id}" End="true"></rsp:Stream>'
                              f'<rsp:Stream Name="stderr" CommandId="{proc.id}" End="true"></rsp:Stream>'
                              f'<rsp:CommandState CommandId="{proc.id}" State="{STATE_DONE}">'
                              f'<rsp:ExitCode>{proc.rc}</rsp:ExitCode></rsp:CommandState>')
            else:
                chunks.append(f'<rsp:CommandState CommandId="{proc.id}" State="{STATE_RUNNING}"/>')
        return SHELL_URI + "/ReceiveResponse", "<rsp:ReceiveResponse>" + "".join(chunks) + "</rsp:ReceiveResponse>"

    def _signal(self, shell: Shell, body) -> tuple[str, str]:
        element = body.find("rsp:Signal", NS) if body is not None else None
        proc = self._process(shell, element.get("CommandId") if element is not None else None)
        code = (element.findtext("rsp:Code", "", NS) or "").strip()
        proc.signal(code or SIGNAL_TERMINATE)
        self.count("signals")
        if code == SIGNAL_TERMINATE:
            shell.processes.pop(proc.id, None)
        return SHELL_URI + "/SignalResponse", "<rsp:SignalResponse/>"


def _self_signed_cert(directory: Path, address: str) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for ``address`` (and localhost); returns (cert, key) paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "winrm-lab")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "winrm-lab.crt", directory / "winrm-lab.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    return cert_path, key_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m remote_support.winrm_server",
                                     description="A WinRM lab endpoint on loopback answering canned Windows behaviours.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD", required=True)
    parser.add_argument("--https", action="store_true")
    parser.add_argument("--hostname", default="WIN-LAB01")
    parser.add_argument("--workdir", help="where the HTTPS certificate is written")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    users = dict(entry.split(":", 1) for entry in args.user)
    server = WinRMLabServer(users, host=args.host, port=args.port, https=args.https, hostname=args.hostname,
                            workdir=args.workdir, verbose=args.verbose).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(server.endpoint + (f" {server.cert_path}" if server.cert_path else ""), flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
