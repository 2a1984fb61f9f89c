"""A protocol-level WinRM server on loopback: the Windows peer for tests and the training lab.

There is no Windows here and no WS-Management server for Linux worth talking to, so this module speaks
the wire protocol itself: HTTP/1.1 with keep-alive (NTLM authenticates a TCP connection, not a request),
NTLM through pyspnego's acceptor, MS-WSMV message encryption (``multipart/encrypted`` with
``application/HTTP-SPNEGO-session-encrypted``, sealed and unsealed with the connection's NTLM context),
Basic only over HTTPS (a self-signed certificate made at start), and the WinRS actions Create, Command,
Send, Receive (long-poll, ``w:TimedOut`` fault 2150858793), Signal and Delete in Windows-shaped envelopes.

Commands do not run: they are answered from a table of canned Windows behaviours (:data:`CMD_COMMANDS`,
:data:`PS_SCRIPTS`): ``hostname``, ``whoami``, ``ipconfig /flushdns``, ``cmd /c exit N``, ``echo``,
a 1 MB ``type C:\\lab\\big.log`` (``type C:\\lab\\huge-NNNmb.log``: NNN MB, made as they are read),
``ping -t`` (runs until signalled), ``powershell -EncodedCommand``
(decoded, matched statement by statement, errors and progress as CLIXML on stderr like the real thing),
the 8191-character command-line limit, unknown commands (``'x' is not recognized ...``, rc 1). Files
written by remote-support's own upload script live in an in-memory file system (:attr:`files`).

Use in-process (``with WinRMLabServer(users={"rsadmin": "pw"}) as server: server.endpoint``) or as a
subprocess (``python -m remote_support.lab.winrm_server --port 0 --user rsadmin --password-file PATH``; it prints its endpoint
on the first line of stdout; stop it by its PID with SIGTERM).

Stdlib + pyspnego (+ ``cryptography`` for the HTTPS certificate only).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import ssl
import struct
import sys
import tempfile
import threading
import time
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
WSMID_NS = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd"
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
#: MS-WSMV 2.2.9.1.2: the protocol string of the Kerberos auth scheme (pywinrm sends the SPNEGO one for Kerberos
#: too); the reply is sealed under whichever of the two the request used
ENCRYPTED_PROTOCOL_KERBEROS = "application/HTTP-Kerberos-session-encrypted"
ENCRYPTED_PROTOCOLS = (ENCRYPTED_PROTOCOL, ENCRYPTED_PROTOCOL_KERBEROS)
#: DER of the mech OIDs as they appear in a GSS InitialContextToken (0x60 ...)
_OID_KRB5 = bytes.fromhex("06092a864886f712010202")  # 1.2.840.113554.1.2.2
_OID_SPNEGO = bytes.fromhex("06062b0601050502")  # 1.3.6.1.5.5.2
CLIXML_NS = "http://schemas.microsoft.com/powershell/2004/04"
PUT_MARKER = "# remote-support:put"
GET_MARKER = "# remote-support:get"
STDIN_MARKER = "# remote-support:stdin-script"
FACTS_MARKER = "# remote-support:facts"
CONTRACT_MARKER = "# remote-support:contract:"
STDIN_SCRIPTS = {"file-write", "win-user-set"}  # contract scripts that read their input from stdin


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


def _huge_log(proc: Process, size: int) -> None:
    """``size`` bytes of BIG_LOG's lines (then ``the-end``), made as the client reads them: a program that
    prints hundreds of MB without the lab server holding them (it waits while 1 MB is unread)."""
    sent = 0
    while sent < size:
        piece = BIG_LOG[:min(256 * 1024, size - sent)]
        with proc.cond:
            if not proc.cond.wait_for(lambda: len(proc.stdout) < 1024 * 1024 or proc.signalled, timeout=60) \
                    or proc.signalled:
                return
        proc.out(piece)
        sent += len(piece)
    proc.out(b"the-end\r\n")
    proc.finish(0)


def _type(server: "WinRMLabServer", proc: Process, args: str) -> None:
    path = args.strip().strip('"')
    huge = re.fullmatch(r"c:\\lab\\huge-(\d+)mb\.log", path.lower())
    if huge:  # type C:\lab\huge-300mb.log: that many MB, generated as they are read
        return _huge_log(proc, int(huge.group(1)) * 1024 * 1024)
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
    "ipconfig": lambda server, proc, args: _ipconfig(server, proc, args),
    "echo": _echo,
    "type": _type,
    "ping": _ping,
    "timeout": _timeout,
    "cmd": _cmd,
    "more": _more,
    "powershell": lambda server, proc, args: _powershell(server, proc, args),
    "shutdown": lambda server, proc, args: server.windows.shutdown(proc, args),
    "winget": lambda server, proc, args: server.windows.external(proc, "winget " + args),
    "choco": lambda server, proc, args: server.windows.external(proc, "choco " + args),
}


def proc_owner(server: "WinRMLabServer", proc: Process) -> str:
    for shell in list(server.shells.values()):
        if proc.id in shell.processes:
            return shell.owner.lower()
    return "unknown"


def _ipconfig(server: "WinRMLabServer", proc: Process, args: str) -> None:
    if args.strip().lower() == "/flushdns":
        server.windows.dns_cache.clear()
        proc.out("\r\nWindows IP Configuration\r\n\r\nSuccessfully flushed the DNS Resolver Cache.\r\n")
    else:
        proc.out("\r\nWindows IP Configuration\r\n\r\n\r\nEthernet adapter Ethernet:\r\n\r\n"
                 "   Connection-specific DNS Suffix  . : lab.local\r\n"
                 "   IPv4 Address. . . . . . . . . . . : 10.0.0.15\r\n"
                 "   Subnet Mask . . . . . . . . . . . : 255.255.255.0\r\n"
                 "   Default Gateway . . . . . . . . . : 10.0.0.1\r\n")
    proc.finish(0)


# ---------------------------------------------------------------- PowerShell

class _PSResult:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.errors: list[str] = []
        self.progress = False
        self.rc = 0
        self.vars: dict[str, str] = {}  # $name = 'value' assignments (strings only)
        self.last_exit = 0  # $LASTEXITCODE (and $p.ExitCode of Start-Process -PassThru)


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
    if CONTRACT_MARKER in script:
        return _ps_contract(server, proc, script)
    if PUT_MARKER in script:
        return _ps_put(server, proc, script)
    if GET_MARKER in script:
        return _ps_get(server, proc, script)
    if FACTS_MARKER in script:
        server.count("facts")
        proc.out(server.windows.facts_json() + "\r\n")
        return proc.finish(0)
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
    """Split a script into statements at newlines and semicolons outside quotes, braces and parentheses
    (enough for the table: ``if (...) { ...; ... }`` and ``@{a=1; b=2}`` stay one statement)."""
    statements, current, quote, depth = [], [], None, 0
    script = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    for char in script:
        if quote:
            current.append(char)
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char in "{(":
            depth += 1
            current.append(char)
        elif char in "})":
            depth = max(0, depth - 1)
            current.append(char)
        elif char in ";\n" and depth == 0:
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
    elif lowered in ("exit $lastexitcode", "exit $p.exitcode"):
        result.rc = result.last_exit
        return False
    elif re.fullmatch(r"if \(\$lastexitcode -ne 0\) \{\s*exit \$lastexitcode\s*\}", lowered):
        if result.last_exit != 0:
            result.rc = result.last_exit
            return False
    elif re.fullmatch(r"\$\w+\s*=\s*'(?:[^']|'')*'", stmt):
        name, _, value = stmt.partition("=")
        result.vars[name.strip()[1:].lower()] = value.strip()[1:-1].replace("''", "'")
    elif server.windows.statement(proc, stmt, result):
        pass
    elif lowered.startswith(("write-output ", "echo ", "write-host ")):
        text = stmt.split(None, 1)[1].strip()
        if text.startswith('"'):  # expandable string: $name from the script's assignments
            text = re.sub(r"\$(\w+)", lambda m: result.vars.get(m.group(1).lower(), ""), text)
        result.out.append(_unquote(text))
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


class ScriptFailure(Exception):
    """What a contract script throws on the fake host: its message goes to stderr, exit code 1."""


def _prelude_params(script: str) -> dict[str, object]:
    """The ``$name = <literal>`` lines after a contract script's marker line: strings ('' escapes, may span
    lines), $true, $false, $null and @(...) lists of those."""
    text = script.split("\n", 1)[1] if "\n" in script else ""
    params: dict[str, object] = {}
    pos = 0

    def literal(at: int) -> tuple[object, int]:
        if text.startswith("'", at):
            out, i = [], at + 1
            while True:
                j = text.index("'", i)
                out.append(text[i:j])
                if text.startswith("''", j):
                    out.append("'")
                    i = j + 2
                    continue
                return "".join(out), j + 1
        for word, value in (("$true", True), ("$false", False), ("$null", None)):
            if text.startswith(word, at):
                return value, at + len(word)
        if text.startswith("@(", at):
            items, i = [], at + 2
            while not text.startswith(")", i):
                value, i = literal(i)
                items.append(value)
                if text.startswith(", ", i):
                    i += 2
            return items, i + 1
        raise ValueError(f"not a literal at {text[at:at + 20]!r}")

    while True:
        match = re.compile(r"\$(\w+) = ").match(text, pos)
        if not match or match.group(1) == "ErrorActionPreference":  # the fixed script begins
            return params
        value, pos = literal(match.end())
        params[match.group(1)] = value
        pos = text.index("\n", pos) + 1 if "\n" in text[pos:] else len(text)


def _ps_contract(server: "WinRMLabServer", proc: Process, script: str) -> None:
    """A script of remote-support's Windows steps, answered by name from the fake host's state."""
    name = script.split(CONTRACT_MARKER, 1)[1].split(None, 1)[0]
    params = _prelude_params(script)
    handler = server.windows.contracts().get(name)
    if handler is None:
        proc.err(_clixml_errors([f"remote-support lab: no fake for the script {name}\r\n"]))
        return proc.finish(1)
    server.count(f"script:{name}")
    if name in STDIN_SCRIPTS:
        data = proc.read_stdin()  # before the lock: other hosts' commands go on meanwhile
        if data is None:
            return
        params["__stdin__"] = data
    try:
        with server.windows.lock:
            answer = handler(proc, params)
    except ScriptFailure as exc:
        proc.err(_clixml_errors([f"{exc}\r\n"]))
        return proc.finish(1)
    if answer is None:  # signalled while it read stdin
        return
    proc.out(json.dumps(answer, separators=(",", ":")) + "\r\n")
    proc.finish(0)


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


# ---------------------------------------------------------------- a small, stateful fake Windows

WINGET_NOT_FOUND = -1978335212  # 0x8A150014 APPINSTALLER_CLI_ERROR_NO_APPLICATIONS_FOUND
WINGET_NO_UPGRADE = -1978335189  # 0x8A15002B APPINSTALLER_CLI_ERROR_UPDATE_NOT_APPLICABLE
SPOOL_DIR = r"C:\Windows\System32\spool\PRINTERS"
UNINSTALL_KEY = r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
_START_TYPES = {"automatic": "Auto", "manual": "Manual", "disabled": "Disabled", "automaticdelayedstart": "Auto"}


@dataclass
class FakeService:
    name: str
    display: str
    state: str  # Running | Stopped
    start_mode: str  # Auto | Manual | Disabled (Win32_Service.StartMode)


def _arg(stmt: str, option: str) -> str | None:
    """The value after ``-Option`` (quoted or not) in a statement."""
    match = re.search(rf"-{option}\s+('(?:[^']|'')*'|\"[^\"]*\"|\S+)", stmt, re.I)
    return _unquote(match.group(1)).replace("''", "'") if match else None


def _ps_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _service_error(cmdlet: str, name: str) -> str:
    return (f"{cmdlet} : Cannot find any service with service name '{name}'.\r\n"
            f"    + CategoryInfo          : ObjectNotFound: ({name}:String) [{cmdlet}], ServiceCommandException\r\n"
            f"    + FullyQualifiedErrorId : NoServiceFoundForGivenName,Microsoft.PowerShell.Commands."
            f"{cmdlet.replace('-', '')}Command\r\n")


class FakeWindows:
    """What the lab's Windows host holds: services, packages (winget, choco, MSI products), the print
    queue, the DNS client cache, event logs, temp files and its boot id. Behaviours read and change it
    under one lock; each answers the exact commands remote-support's steps and win-* tasks send."""

    def __init__(self, server: "WinRMLabServer"):
        self.server = server
        self.lock = threading.RLock()
        self.services = {s.name.lower(): s for s in (
            FakeService("Spooler", "Print Spooler", "Running", "Auto"),
            FakeService("WinRM", "Windows Remote Management (WS-Management)", "Running", "Auto"),
            FakeService("wuauserv", "Windows Update", "Stopped", "Manual"),
            FakeService("BITS", "Background Intelligent Transfer Service", "Running", "Manual"),
            FakeService("Dnscache", "DNS Client", "Running", "Auto"),
            FakeService("MapsBroker", "Downloaded Maps Manager", "Stopped", "Auto"),
            FakeService("Fax", "Fax", "Stopped", "Disabled"))}
        # winget: id -> (name, version); installed: id -> version
        self.winget_catalogue = {"Git.Git": ("Git", "2.44.0"), "7zip.7zip": ("7-Zip", "23.01"),
                                 "Notepad++.Notepad++": ("Notepad++", "8.6.4"),
                                 "Mozilla.Firefox": ("Mozilla Firefox", "124.0.1")}
        self.winget_installed = {"Mozilla.Firefox": "123.0"}
        self.choco_catalogue = {"git": "2.44.0", "7zip": "23.1.0", "notepadplusplus": "8.6.4",
                                "sysinternals": "2024.2.13"}
        self.choco_installed = {"sysinternals": "2024.2.13"}
        # MSI: file on the host -> product code; product code -> (name, version); installed product codes
        self.msi_files = {r"c:\lab\7z2301-x64.msi": "{23170F69-40C1-2702-2301-000001000000}"}
        self.msi_products = {"{23170F69-40C1-2702-2301-000001000000}": ("7-Zip 23.01 (x64 edition)", "23.01.00.0")}
        self.msi_installed: set[str] = set()
        self.print_jobs = ["00012.SHD", "00012.SPL", "00013.SHD", "00013.SPL"]
        self.dns_cache = ["intranet.corp.example", "fileserver.corp.example", "www.microsoft.com"]
        self.temp_files = [("setup-1.log", 120_000, 30), ("old.tmp", 5_000_000, 12), ("new.tmp", 1000, 1)]
        self.events = {"System": [("2024-03-11T08:15:02", 7000, "Error", "Service Control Manager",
                                   "The Downloaded Maps Manager service failed to start.")],
                       "Application": [("2024-03-11T09:01:44", 1000, "Error", "Application Error",
                                        "Faulting application name: legacy.exe")]}
        self.reboot_pending = False
        self.open_ports = {("127.0.0.1", 5985), ("localhost", 5985), ("127.0.0.1", 445), ("localhost", 445)}
        self.corrupt_uploads = False  # change a byte of every file-write upload (tests of the SHA-256 check)
        # registry: lower-cased key path -> {"path": as written, "values": {lower name: [name, kind, data]}}
        self.registry: dict[str, dict] = {}
        for key, values in ((r"HKCU:\Software\Microsoft\Windows\CurrentVersion\Internet Settings",
                             [("ProxyEnable", "DWord", 0), ("ProxyOverride", "String", "<local>")]),
                            (r"HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate",
                             [("WUServer", "String", "http://wsus-old.corp.example:8530")]),
                            (r"HKLM:\SOFTWARE\Policies\Microsoft\Windows\WindowsUpdate\AU",
                             [("UseWUServer", "DWord", 1), ("NoAutoUpdate", "DWord", 0)])):
            self.registry_key(key, create=True)["values"].update({n.lower(): [n, k, d] for n, k, d in values})
        # local accounts and groups
        self.users = {u["name"].lower(): u for u in (
            dict(name="Administrator", enabled=True, locked=False, full_name="", description="Built-in account for "
                 "administering the computer/domain", password="x", password_set="2024-01-10T09:00:00"),
            dict(name="Guest", enabled=False, locked=False, full_name="", description="Built-in account for guest "
                 "access", password="", password_set=""),
            dict(name=server.users and next(iter(server.users)) or "rsadmin", enabled=True, locked=False,
                 full_name="Remote support", description="", password="x", password_set="2024-02-01T10:00:00"),
            dict(name="jdoe", enabled=False, locked=True, full_name="Jane Doe", description="Accounting",
                 password="old", password_set="2023-11-02T08:30:00"))}
        self.groups = {g["name"].lower(): g for g in (
            dict(name="Administrators", description="Administrators have complete and unrestricted access",
                 members=["Administrator", "rsadmin"]),
            dict(name="Users", description="Users are prevented from making system-wide changes", members=["jdoe"]),
            dict(name="Remote Desktop Users", description="Members are granted the right to logon remotely",
                 members=[]))}
        # scheduled tasks: lower-cased folder + name -> definition
        self.tasks: dict[str, dict] = {"\\microsoft\\windows\\windowsupdate\\scheduled start": dict(
            folder="\\Microsoft\\Windows\\WindowsUpdate\\", name="Scheduled Start", enabled=True, state="Ready",
            execute="C:\\Windows\\System32\\sc.exe", arguments="start wuauserv", trigger="daily", at="06:00",
            user="SYSTEM", runs=0)}
        # features: (kind, lower-cased name) -> {"name", "installed", "restart"}
        self.features = {(kind, name.lower()): dict(name=name, installed=installed, restart=restart)
                         for kind, name, installed, restart in (
                             ("feature", "Web-Server", False, False), ("feature", "FS-SMB1", True, True),
                             ("feature", "Telnet-Client", False, False),
                             ("optional", "TelnetClient", False, False), ("optional", "SMB1Protocol", True, True),
                             ("capability", "Rsat.Dns.Tools~~~~0.0.1.0", False, False),
                             ("capability", "OpenSSH.Client~~~~0.0.1.0", True, False))}
        self.boot_id = str(uuid.uuid4())
        self.boot_time = time.time() - 3 * 86400 - 5 * 3600
        self.boots = 0
        self.downtime = 1.0  # seconds the host refuses connections while it reboots
        self.hotfixes = [("KB5034439", "Security Update", "2024-02-13"), ("KB5035857", "Update", "2024-03-12")]

    # -- dispatch of one PowerShell statement; False: not ours

    def statement(self, proc: Process, stmt: str, result: "_PSResult") -> bool:
        low = stmt.lower()
        for prefix, handler in (
                ("get-ciminstance -classname win32_service", self._service_query),
                ("get-service |", self._auto_not_running),
                ("get-service", self._get_service),
                ("start-service", self._service_action), ("stop-service", self._service_action),
                ("restart-service", self._service_action), ("set-service", self._set_service),
                ("winget ", self._external_ps), ("choco ", self._external_ps),
                ("$p = start-process -filepath msiexec.exe", self._msiexec),
                ("get-itemproperty -path 'hklm:\\software\\microsoft\\windows\\currentversion\\uninstall\\",
                 self._uninstall_key),
                ("test-path", self._test_path),
                ("(get-dnsclientcache).count", lambda p, s, r: r.out.append(str(len(self.dns_cache)))),
                ("clear-dnsclientcache", lambda p, s, r: self.dns_cache.clear()),
                ("(get-childitem -literalpath '" + SPOOL_DIR.lower() + "' -file).count",
                 lambda p, s, r: r.out.append(str(len(self.print_jobs)))),
                ("remove-item -path '" + SPOOL_DIR.lower() + "\\*'", self._clear_spool),
                ("(get-childitem -literalpath ", self._count_files),
                ("get-childitem -path $env:temp", self._temp_files),
                ("get-winevent", self._get_winevent),
                ("wevtutil ", self._wevtutil),
                ("(get-item -literalpath $path).length", self._file_length),
                ("restart-computer", lambda p, s, r: self.shutdown(None, "/r")),
                ("(get-ciminstance -classname win32_operatingsystem).lastbootuptime",
                 lambda p, s, r: r.out.append(self.boot_id_value())),
        ):
            if low.startswith(prefix):
                # $name of the script's own assignments, as the values the handlers read
                expanded = re.sub(r"\$(\w+)", lambda m: _ps_literal(result.vars[m.group(1).lower()])
                                  if m.group(1).lower() in result.vars else m.group(0), stmt)
                with self.lock:
                    handler(proc, expanded, result)
                return True
        return False

    # -- services

    def _service_query(self, proc, stmt, result) -> None:
        match = re.search(r"Name='([^']*)'", stmt)
        service = self.services.get((match.group(1) if match else "").lower())
        if service is not None:
            result.out.append(json.dumps({"Name": service.name, "DisplayName": service.display,
                                          "State": service.state, "StartMode": service.start_mode},
                                         separators=(",", ":")))

    def _auto_not_running(self, proc, stmt, result) -> None:
        result.out += [s.name for s in self.services.values() if s.start_mode == "Auto" and s.state != "Running"]

    def _get_service(self, proc, stmt, result) -> None:
        name = _arg(stmt, "Name") or _unquote(stmt.split(None, 1)[1] if " " in stmt else "")
        service = self.services.get(name.lower())
        if service is None:
            result.errors.append(_service_error("Get-Service", name))
            result.rc = 1
            return
        result.out += ["", "Status   Name               DisplayName", "------   ----               -----------",
                       f"{service.state:<8} {service.name:<18} {service.display}", ""]

    def _service_action(self, proc, stmt, result) -> None:
        cmdlet = stmt.split()[0]
        verb = cmdlet.lower().split("-")[0]
        name = _arg(stmt, "Name") or ""
        service = self.services.get(name.lower())
        if service is None:
            result.errors.append(_service_error(cmdlet, name))
            result.rc = 1
            return
        if verb in ("start", "restart") and service.start_mode == "Disabled":
            result.errors.append(f"{cmdlet} : Service '{service.display} ({service.name})' cannot be started due to "
                                 f"the following error: Cannot start service {service.name} on computer '.'.\r\n"
                                 f"    + CategoryInfo          : OpenError: (System.ServiceProcess.ServiceController:"
                                 f"ServiceController) [{cmdlet}], ServiceCommandException\r\n")
            result.rc = 1
            return
        if verb == "restart":
            self.server.count(f"service_restarts:{service.name.lower()}")
        service.state = "Stopped" if verb == "stop" else "Running"

    def _set_service(self, proc, stmt, result) -> None:
        name = _arg(stmt, "Name") or ""
        service = self.services.get(name.lower())
        if service is None:
            result.errors.append(_service_error("Set-Service", name))
            result.rc = 1
            return
        wanted = (_arg(stmt, "StartupType") or "").lower()
        if wanted not in _START_TYPES:
            result.errors.append(f"Set-Service : Cannot bind parameter 'StartupType'. Cannot convert value "
                                 f"\"{wanted}\" to type \"System.ServiceProcess.ServiceStartMode\".\r\n")
            result.rc = 1
            return
        service.start_mode = _START_TYPES[wanted]

    # -- external programs (from PowerShell or cmd): winget, choco

    def _external_ps(self, proc, stmt, result) -> None:
        words = [_unquote(w) for w in re.findall(r"'(?:[^']|'')*'|\"[^\"]*\"|\S+", stmt)]
        out, code = (self._winget if words[0].lower() == "winget" else self._choco)(words[1:])
        result.out.append(out.rstrip("\r\n"))
        result.last_exit = code
        result.rc = 0 if code == 0 else 1  # $? of the last statement, as powershell.exe exits without `exit`

    def external(self, proc: Process, command: str) -> None:
        words = [_unquote(w) for w in re.findall(r"'(?:[^']|'')*'|\"[^\"]*\"|\S+", command)]
        with self.lock:
            out, code = (self._winget if words[0].lower() == "winget" else self._choco)(words[1:])
        proc.out(out)
        proc.finish(code)

    def _winget(self, args: list[str]) -> tuple[str, int]:
        verb = args[0].lower() if args else ""
        ident = args[args.index("--id") + 1] if "--id" in args and args.index("--id") + 1 < len(args) else ""
        key = next((k for k in self.winget_catalogue if k.lower() == ident.lower()), ident)
        if verb == "source" and args[1:2] == ["update"]:
            return "Updating all sources...\r\nUpdating source: winget...\r\nDone\r\n", 0
        if verb == "list":
            if key not in self.winget_installed:
                return "No installed package found matching input criteria.\r\n", WINGET_NOT_FOUND
            name, offered = self.winget_catalogue.get(key, (key, ""))
            version = self.winget_installed[key]
            available = offered if offered and offered != version else ""
            return (f"Name{' ' * 14}Id{' ' * 22}Version   Available Source\r\n{'-' * 70}\r\n"
                    f"{name:<18}{key:<24}{version:<10}{available:<10}winget\r\n"), 0
        if key not in self.winget_catalogue:
            if verb == "uninstall":
                return "No installed package found matching input criteria.\r\n", WINGET_NOT_FOUND
            return "No package found matching input criteria.\r\n", WINGET_NOT_FOUND
        name, version = self.winget_catalogue[key]
        if verb == "show":
            return (f"Found {name} [{key}]\r\nVersion: {version}\r\nPublisher: {name} project\r\n"
                    f"Installer:\r\n  Installer Type: exe\r\n"), 0
        if verb in ("install", "upgrade"):
            if self.winget_installed.get(key) == version:
                return ("Found an existing package already installed. Trying to upgrade the installed package...\r\n"
                        "No available upgrade found.\r\nNo newer package versions are available from the "
                        "configured sources.\r\n"), WINGET_NO_UPGRADE
            self.winget_installed[key] = version
            return (f"Found {name} [{key}] Version {version}\r\nThis application is licensed to you by its owner.\r\n"
                    f"Downloading https://example.invalid/{key}.exe\r\nSuccessfully verified installer hash\r\n"
                    f"Starting package install...\r\nSuccessfully installed\r\n"), 0
        if verb == "uninstall":
            if self.winget_installed.pop(key, None) is None:
                return "No installed package found matching input criteria.\r\n", WINGET_NOT_FOUND
            return f"Found {name} [{key}]\r\nStarting package uninstall...\r\nSuccessfully uninstalled\r\n", 0
        return f"Unrecognized command: '{verb}'\r\n", -1978335230

    def _choco(self, args: list[str]) -> tuple[str, int]:
        verb = args[0].lower() if args else ""
        names = [a for a in args[1:] if not a.startswith("-")]
        header = "Chocolatey v2.2.2\r\n" if "--limit-output" not in args else ""
        if verb == "list":
            return "".join(f"{n}|{self.choco_installed[n]}\r\n" for n in names if n in self.choco_installed), 0
        if verb == "search":
            return "".join(f"{n}|{self.choco_catalogue[n]}\r\n" for n in names if n in self.choco_catalogue), 0
        lines, failed = [header], []
        for name in names:
            if verb in ("install", "upgrade"):
                if name not in self.choco_catalogue:
                    lines.append(f"{name} not installed. The package was not found with the source(s) listed.\r\n")
                    failed.append(name)
                    continue
                self.choco_installed[name] = self.choco_catalogue[name]
                lines.append(f"The install of {name} was successful.\r\n")
            elif verb == "uninstall":
                if self.choco_installed.pop(name, None) is None:
                    lines.append(f"{name} is not installed. Cannot uninstall a non-existent package.\r\n")
                    failed.append(name)
                    continue
                lines.append(f"{name} has been successfully uninstalled.\r\n")
        return "".join(lines), 1 if failed else 0

    # -- MSI

    def _msiexec(self, proc, stmt, result) -> None:
        arguments = _arg(stmt, "ArgumentList") or ""
        words = re.findall(r'"[^"]*"|\S+', arguments)
        verb, target = (words[0].lower(), _unquote(words[1])) if len(words) > 1 else ("", "")
        if verb == "/i":
            code = self.msi_files.get(target.lower())
            if code is None:
                result.last_exit = 1619  # ERROR_INSTALL_PACKAGE_OPEN_FAILED
                return
            self.msi_installed.add(code)
            result.last_exit = 0
        elif verb == "/x":
            code = target.upper()
            if code not in self.msi_installed:
                result.last_exit = 1605  # ERROR_UNKNOWN_PRODUCT
                return
            self.msi_installed.discard(code)
            result.last_exit = 0
        else:
            result.last_exit = 1639  # ERROR_INVALID_COMMAND_LINE

    def _uninstall_key(self, proc, stmt, result) -> None:
        match = re.search(r"Uninstall\\(\{[0-9A-Fa-f-]+\})", stmt)
        code = match.group(1).upper() if match else ""
        if code in self.msi_installed:
            result.out.append(f"{code}|{self.msi_products[code][1]}")

    def _test_path(self, proc, stmt, result) -> None:
        path = (_arg(stmt, "LiteralPath") or _arg(stmt, "Path") or "").lower()
        if path.endswith("\\rebootpending"):
            exists = self.reboot_pending
        else:
            exists = path in self.msi_files or path in self.server.files or path in self.server.directories
        result.out.append("True" if exists else "False")

    # -- print queue, temp files, event logs

    def _clear_spool(self, proc, stmt, result) -> None:
        if self.services["spooler"].state == "Running" and self.print_jobs:
            result.errors.append(f"Remove-Item : Cannot remove item {SPOOL_DIR}\\{self.print_jobs[0]}: The process "
                                 "cannot access the file because it is being used by another process.\r\n")
            result.rc = 1
            return
        self.print_jobs.clear()

    def _count_files(self, proc, stmt, result) -> None:
        """``(Get-ChildItem -LiteralPath DIR -Recurse -File ... | Measure-Object).Count`` over the fake files."""
        top = (_arg(stmt, "LiteralPath") or "").lower().rstrip("\\")
        result.out.append(str(sum(1 for path in self.server.files if path.startswith(top + "\\"))))

    def _temp_files(self, proc, stmt, result) -> None:
        days = int(result.vars.get("days", "7") or 7)
        old = [f for f in self.temp_files if f[2] > days]
        if "remove-item" in stmt.lower():
            self.temp_files = [f for f in self.temp_files if f[2] <= days]
        if "measure-object" in stmt.lower():
            result.out.append(f"{len(old)} {sum(f[1] for f in old)}")

    def _get_winevent(self, proc, stmt, result) -> None:
        match = re.search(r"LogName\s*=\s*('[^']*'|\$\w+)", stmt)
        log = (result.vars.get(match.group(1)[1:].lower(), "") if match and match.group(1).startswith("$")
               else _unquote(match.group(1)) if match else "System")
        for created, event_id, level, provider, message in self.events.get(log, []):
            result.out += [f"TimeCreated      : {created}", f"Id               : {event_id}",
                           f"LevelDisplayName : {level}", f"ProviderName     : {provider}",
                           f"Message          : {message}", ""]

    def _wevtutil(self, proc, stmt, result) -> None:
        words = [_unquote(w) for w in re.findall(r"'[^']*'|\"[^\"]*\"|\S+", stmt)]
        words = [result.vars.get(w[1:].lower(), w) if w.startswith("$") else w for w in words]
        if len(words) < 4 or words[1].lower() not in ("epl", "export-log"):
            result.errors.append("The parameter is incorrect.\r\n")
            result.last_exit, result.rc = 87, 1
            return
        log, path = words[2], words[3]
        if log not in self.events:
            result.out.append(f"Failed to export log {log}. The specified channel could not be found.")
            result.last_exit, result.rc = 15007, 1
            return
        body = "".join(f"{e[0]}|{e[1]}|{e[2]}|{e[3]}|{e[4]}\n" for e in self.events[log]).encode()
        self.server.files[path.lower()] = b"ElfFile\x00" + body
        result.last_exit = 0

    def _file_length(self, proc, stmt, result) -> None:
        data = self.server.files.get(result.vars.get("path", "").lower())
        if data is None:
            result.errors.append(f"Get-Item : Cannot find path '{result.vars.get('path')}' because it does not exist."
                                 "\r\n")
            result.rc = 1
        else:
            result.out.append(str(len(data)))

    # -- contract scripts of the Windows steps (steps/winscripts.py): name -> handler(proc, params) -> answer

    def contracts(self) -> dict[str, Callable[[Process, dict], dict | None]]:
        return {"file-probe": self._file_probe, "file-write": self._file_write,
                "registry-get": self._registry_get, "registry-set": self._registry_set,
                "win-file-get": self._win_file_get, "win-file-set": self._win_file_set,
                "win-user-get": self._user_get, "win-user-set": self._user_set,
                "win-group-get": self._group_get, "win-group-set": self._group_set,
                "win-task-get": self._task_get, "win-task-set": self._task_set,
                "win-feature-get": self._feature_get, "win-feature-set": self._feature_set,
                "win-wait-probe": self._wait_probe}

    def _wait_probe(self, proc, params) -> dict:
        if params.get("kind") == "path":
            path = str(params["path"]).lower()
            return {"ready": path in self.server.files or path in self.server.directories}
        return {"ready": (str(params["target"]).lower(), int(params["port"])) in self.open_ports}

    # registry

    def registry_key(self, path: str, create: bool = False) -> dict | None:
        key = path.lower().rstrip("\\")
        if key not in self.registry and create:
            parent = key.rsplit("\\", 1)[0]
            if "\\" in key and parent not in self.registry and not parent.endswith(":"):
                self.registry_key(path.rstrip("\\").rsplit("\\", 1)[0], create=True)  # New-Item -Force: parents too
            self.registry[key] = {"path": path.rstrip("\\"), "values": {}}
        return self.registry.get(key)

    def _registry_get(self, proc, params) -> dict:
        answer = {"key": False, "exists": False, "type": "", "data": None}
        key = self.registry_key(str(params["path"]))
        if key is not None:
            answer["key"] = True
            name = params.get("name")
            if name is not None and str(name).lower() in key["values"]:
                _, kind, data = key["values"][str(name).lower()]
                if params.get("digest"):  # as the script does: an HMAC of the data under the given key
                    text = "\0".join(map(str, data)) if isinstance(data, list) else "" if data is None else str(data)
                    data = hmac.new(str(params["digest"]).encode(), text.encode("utf-8"), hashlib.sha256).hexdigest()
                answer.update(exists=True, type=kind, data=data)
        return answer

    def _registry_set(self, proc, params) -> dict:
        path, name = str(params["path"]), params.get("name")
        if params.get("state") == "absent":
            if name is None:
                gone = path.lower().rstrip("\\")
                for key in [k for k in self.registry if k == gone or k.startswith(gone + "\\")]:
                    del self.registry[key]  # Remove-Item -Recurse: subkeys too
            elif self.registry_key(path) is not None:
                self.registry_key(path)["values"].pop(str(name).lower(), None)
        else:
            if path.lower().startswith("hklm:") and proc_owner(self.server, proc) not in self.admins():
                raise ScriptFailure(f"New-Item : Requested registry access is not allowed. ({path})")
            key = self.registry_key(path, create=True)
            if name is not None:
                kind, data = str(params["type"]), params.get("data")
                if kind in ("DWord", "QWord"):
                    data = int(str(data), 0)
                key["values"][str(name).lower()] = [str(name), kind, data]
        return self._registry_get(proc, params)

    def admins(self) -> set[str]:
        return {m.lower() for m in self.groups["administrators"]["members"]}

    # win_file

    def _win_file_get(self, proc, params) -> dict:
        path = str(params["path"])
        key = path.lower()
        state = "directory" if key in self.server.directories else "file" if key in self.server.files else "absent"
        return {"path": path, "state": state, "size": len(self.server.files.get(key, b"")),
                "parent": key.rsplit("\\", 1)[0] in self.server.directories}

    def _win_file_set(self, proc, params) -> dict:
        key, state = str(params["path"]).lower(), params.get("state")
        if state == "absent":
            for name in [f for f in self.server.files if f == key or f.startswith(key + "\\")]:
                del self.server.files[name]
            self.server.directories -= {d for d in self.server.directories if d == key or d.startswith(key + "\\")}
        elif state == "directory":
            parts = key.split("\\")
            for index in range(2, len(parts) + 1):  # New-Item -Force: parents too
                self.server.directories.add("\\".join(parts[:index]))
        elif state == "touch" and key not in self.server.files:
            if key.rsplit("\\", 1)[0] not in self.server.directories:
                raise ScriptFailure(f"New-Item : Could not find a part of the path '{params['path']}'.")
            self.server.files[key] = b""
        return self._win_file_get(proc, params)

    # local users and groups

    def _user_get(self, proc, params) -> dict:
        user = self.users.get(str(params["name"]).lower())
        if user is None:
            return {"exists": False, "enabled": False, "locked": False, "full_name": "", "description": "",
                    "password_set": ""}
        return {"exists": True, **{k: user[k] for k in ("enabled", "locked", "full_name", "description",
                                                         "password_set")}}

    def _user_set(self, proc, params) -> dict:
        name = str(params["name"])
        line = params["__stdin__"].decode("utf-8").split("\n", 1)[0].rstrip("\r")
        user = self.users.get(name.lower())
        if params.get("state") == "absent":
            if user is not None:
                del self.users[name.lower()]
                for group in self.groups.values():
                    group["members"] = [m for m in group["members"] if m.lower() != name.lower()]
            return self._user_get(proc, params)
        now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        if line and len(line) < 8:  # the local password policy
            raise ScriptFailure("Set-LocalUser : Unable to update the password. The value provided for the new "
                                "password does not meet the length, complexity, or history requirements of the domain.")
        if user is None:
            user = self.users[name.lower()] = dict(name=name, enabled=True, locked=False, full_name="", description="",
                                                   password=line, password_set=now if line else "")
        elif line and params.get("set_password"):
            user.update(password=line, password_set=now)
            self.server.count(f"password_resets:{name.lower()}")
        for key in ("full_name", "description"):
            if params.get(key) is not None:
                user[key] = str(params[key])
        if params.get("enabled") is not None:
            user["enabled"] = bool(params["enabled"])
        if params.get("unlock"):
            user["locked"] = False
        return self._user_get(proc, params)

    def _group_get(self, proc, params) -> dict:
        group = self.groups.get(str(params["name"]).lower())
        if group is None:
            return {"exists": False, "description": "", "members": []}
        return {"exists": True, "description": group["description"],
                "members": [f"{self.server.hostname}\\{m}" for m in group["members"]]}

    def _group_set(self, proc, params) -> dict:
        name = str(params["name"])
        group = self.groups.get(name.lower())
        if params.get("state") == "absent":
            self.groups.pop(name.lower(), None)
            return self._group_get(proc, params)
        if group is None:
            group = self.groups[name.lower()] = dict(name=name, description="", members=[])
        if params.get("description") is not None:
            group["description"] = str(params["description"])
        for member in params.get("add") or []:
            short = str(member).rsplit("\\", 1)[-1]
            if short.lower() not in self.users:
                raise ScriptFailure(f"Add-LocalGroupMember : Principal {member} was not found.")
            if short.lower() not in {m.lower() for m in group["members"]}:
                group["members"].append(self.users[short.lower()]["name"])
        for member in params.get("remove") or []:
            short = str(member).rsplit("\\", 1)[-1].lower()
            group["members"] = [m for m in group["members"] if m.lower() != short]
        return self._group_get(proc, params)

    # scheduled tasks

    def _task_get(self, proc, params) -> dict:
        task = self.tasks.get((str(params["folder"]) + str(params["name"])).lower())
        if task is None:
            return {"exists": False, "enabled": False, "state": "", "execute": "", "arguments": "", "trigger": "",
                    "at": "", "user": ""}
        return {"exists": True, "enabled": task["enabled"], "state": task["state"] if task["enabled"] else "Disabled",
                **{k: task[k] for k in ("execute", "arguments", "trigger", "at", "user")}}

    def _task_set(self, proc, params) -> dict:
        key = (str(params["folder"]) + str(params["name"])).lower()
        if params.get("state") == "absent":
            self.tasks.pop(key, None)
            return self._task_get(proc, params)
        task = self.tasks.get(key)
        if params.get("define"):
            previous = task or {}
            task = self.tasks[key] = dict(folder=str(params["folder"]), name=str(params["name"]),
                                          enabled=previous.get("enabled", True), state="Ready", runs=previous.get("runs", 0),
                                          **{k: str(params.get(k) or "") for k in ("execute", "arguments", "trigger",
                                                                                   "at", "user")})
        if task is None:
            raise ScriptFailure(f"Enable-ScheduledTask : The system cannot find the file specified. ({params['name']})")
        if params.get("enabled") is not None:
            task["enabled"] = bool(params["enabled"])
        if params.get("run"):
            if not task["enabled"]:
                raise ScriptFailure("Start-ScheduledTask : The task is disabled.")
            task["runs"] += 1
            self.server.count(f"task_runs:{task['name'].lower()}")
        return self._task_get(proc, params)

    # features

    def _feature_get(self, proc, params, restart: bool = False) -> dict:
        feature = self.features.get((str(params["kind"]), str(params["name"]).lower()))
        if feature is None:
            return {"known": False, "installed": False, "state": "", "reboot_required": False}
        state = {"feature": ("Available", "Installed"), "optional": ("Disabled", "Enabled"),
                 "capability": ("NotPresent", "Installed")}[str(params["kind"])][feature["installed"]]
        return {"known": True, "installed": feature["installed"], "state": state, "reboot_required": restart}

    def _feature_set(self, proc, params) -> dict:
        feature = self.features.get((str(params["kind"]), str(params["name"]).lower()))
        if feature is None:
            raise ScriptFailure(f"ArgumentException: The role, role service, or feature name is not valid: "
                                f"'{params['name']}'.")
        feature["installed"] = params.get("state") == "present"
        self.server.count(f"feature_changes:{feature['name'].lower()}")
        return self._feature_get(proc, params, restart=feature["restart"])

    def _file_probe(self, proc, params) -> dict:
        path = str(params["path"])
        key = path.lower()
        parent = key.rsplit("\\", 1)[0]
        answer = {"path": path, "state": "absent", "size": 0, "sha256": "", "text": None}
        if key in self.server.directories:
            answer["state"] = "dir"
        elif parent not in self.server.directories:
            answer["state"] = "nodir"
        elif key in self.server.files:
            data = self.server.files[key]
            digest = hashlib.sha256(data).hexdigest().upper()
            answer.update(state="file", size=len(data), sha256=digest)
            if params.get("want_text") and digest != str(params.get("sha256")).upper() \
                    and len(data) <= int(params.get("limit") or 0):
                answer["text"] = base64.b64encode(data).decode()
        return answer

    def _file_write(self, proc, params) -> dict:
        path = str(params["path"])
        key = path.lower()
        parent = key.rsplit("\\", 1)[0]
        if parent not in self.server.directories:
            raise ScriptFailure(f"Exception calling \"Open\" with \"4\" argument(s): \"Could not find a part of the "
                                f"path '{path}'.\"")
        if key in self.server.read_only:
            raise ScriptFailure(f"Exception calling \"Replace\" with \"3\" argument(s): \"Access to the path "
                                f"'{path}' is denied.\"")
        content = b"".join(base64.b64decode(line) for line in params["__stdin__"].split() if line)
        if self.corrupt_uploads and content:
            content = bytes([content[0] ^ 0x20]) + content[1:]  # a transport fault the SHA-256 check must catch
        digest = hashlib.sha256(content).hexdigest().upper()
        if digest != str(params["sha256"]).upper():
            raise ScriptFailure(f"the content arrived incomplete (SHA-256 {digest}, expected {params['sha256']})")
        saved = ""
        if key in self.server.files and params.get("backup"):
            saved = path + "." + time.strftime("%Y-%m-%d@%H.%M.%S") + "~"
            self.server.files[saved.lower()] = self.server.files[key]
        self.server.files[key] = content  # File.Replace: the old content or the new, never half
        self.server.count("file_writes")
        return {"sha256": digest, "backup": saved}

    # -- facts and reboot

    def facts_json(self) -> str:
        with self.lock:
            disks = [{"device": "C:", "mount": "C:\\", "filesystem": "NTFS", "size_bytes": 136_365_211_648,
                      "free_bytes": 81_819_127_808},
                     {"device": "D:", "mount": "D:\\", "filesystem": "NTFS", "size_bytes": 53_684_989_952,
                      "free_bytes": 2_684_354_560}]
            data = {
                "caption": "Microsoft Windows Server 2022 Standard", "version": "10.0.20348", "build": "20348",
                "architecture": "64-bit", "hostname": self.server.hostname, "domain": "corp.example",
                "part_of_domain": True, "uptime_seconds": int(time.time() - self.boot_time),
                "last_boot": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.boot_time)),
                "memory_total_bytes": 8_589_463_552, "memory_available_bytes": 3_221_225_472,
                "cpus": 2, "user": f"{self.server.hostname.lower()}\\rsadmin", "disks": disks,
                "hotfixes": [{"id": h[0], "description": h[1], "installed_on": h[2]} for h in self.hotfixes],
                "winget": True, "choco": True, "powershell_version": "5.1.20348.2340",
            }
        return json.dumps(data, separators=(",", ":"))

    def boot_id_value(self) -> str:
        """Win32_OperatingSystem.LastBootUpTime as FILETIME ticks: changes with every boot."""
        return str(int(self.boot_time * 10_000_000) + 116_444_736_000_000_000)

    def shutdown(self, proc: Process | None, args: str) -> None:
        """``shutdown /r /t 0`` (or Restart-Computer): the host goes down shortly after and comes back."""
        if "/r" not in args.lower().split():
            if proc is not None:
                proc.err("Usage: shutdown [/i | /l | /s | /sg | /r | /g | /a | /p | /h | /e | /o] ...\r\n")
                proc.finish(1)
            return
        self.server.count("reboots_requested")
        threading.Thread(target=self.server.reboot, args=(0.3,), daemon=True, name="winrm-lab-reboot").start()
        if proc is not None:
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


def _identify_response() -> bytes:
    """What Windows answers a WS-Management Identify: the protocol version and the product."""
    return (f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:wsmid="{WSMID_NS}"><s:Header/><s:Body><wsmid:IdentifyResponse>'
            '<wsmid:ProtocolVersion>http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd</wsmid:ProtocolVersion>'
            '<wsmid:ProductVendor>Microsoft Corporation</wsmid:ProductVendor>'
            '<wsmid:ProductVersion>OS: 10.0.20348 SP: 0.0 Stack: 3.0</wsmid:ProductVersion>'
            '<wsmid:SecurityProfiles><wsmid:SecurityProfileName>http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/'
            'http/spnego-kerberos</wsmid:SecurityProfileName></wsmid:SecurityProfiles>'
            '</wsmid:IdentifyResponse></s:Body></s:Envelope>').encode("utf-8")


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
        with self.lab._lock:
            self.lab._sockets.add(self.connection)
        self.auth_ctx = None  # the NTLM or Kerberos context of this TCP connection
        self.auth_user: str | None = None
        self._auth_reply: str | None = None  # WWW-Authenticate of the final (mutual auth) token, sent once

    def finish(self) -> None:
        with self.lab._lock:
            self.lab._sockets.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass  # the lab host "rebooted" under the connection

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        if self.lab.verbose:
            sys.stderr.write("winrm-lab: " + (format % args) + "\n")

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if self._auth_reply and status != 401:
            self.send_header("WWW-Authenticate", self._auth_reply)
        self._auth_reply = None
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
        if scheme.lower() in ("negotiate", "ntlm", "kerberos"):
            if not self._ntlm_step(scheme, token.strip()):
                return
        elif scheme.lower() == "basic":
            if not self._basic(token.strip()):
                return
        elif self.auth_user is None or self.auth_ctx is None:
            return self._challenge()

        content_type = self.headers.get("Content-Type", "")
        encrypted = content_type.lower().startswith("multipart/encrypted")
        sealed_as = next((p for p in ENCRYPTED_PROTOCOLS if p.lower() in content_type.lower()), ENCRYPTED_PROTOCOL)
        if encrypted:
            if self.auth_ctx is None or not self.auth_ctx.complete:
                # sealed with a context this TCP connection never set up (Windows: "invalid MIC")
                self.lab.count("bad_encryption")
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
            sealed = self._seal(reply, sealed_as)
            return self._send(status, sealed, {"Content-Type": f'multipart/encrypted;protocol="{sealed_as}";'
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
        elif token[:1] == b"\x60" and (_OID_KRB5 in token[:24] or _OID_SPNEGO in token[:24]):
            # a new GSS initial token (Kerberos AP-REQ, or SPNEGO around Kerberos/NTLM): a new context
            self.auth_ctx, self.auth_user = self._gss_acceptor(_OID_KRB5 in token[:24]), None
        if self.auth_ctx is None:
            self._challenge()
            return False
        try:
            out = self.auth_ctx.step(token)
        except Exception as exc:  # noqa: BLE001 - pyspnego raises a family of errors for a bad password
            self.log_message("authentication failed: %s", exc)
            self.auth_ctx = None
            self._challenge()
            return False
        if not self.auth_ctx.complete:
            self._send(401, b"", {"WWW-Authenticate": f"{scheme} {base64.b64encode(out or b'').decode()}"})
            return False
        if out:  # Kerberos mutual auth (AP-REP): the client checks it on the reply to this request
            self._auth_reply = f"{scheme} {base64.b64encode(out).decode()}"
        principal = self.auth_ctx.client_principal or ""
        self.auth_user = principal.split("\\")[-1].split("@")[0]
        self.lab.count("logins")
        return True

    def _gss_acceptor(self, raw_kerberos: bool):
        """A Kerberos (or SPNEGO) acceptor with the keys of $KRB5_KTNAME (see ``kerberos_keytab``); None when
        Kerberos is not set up here (no keytab, or pyspnego without gssapi): the client gets a 401."""
        import spnego

        if not self.lab.kerberos_keytab:
            return None
        try:
            return spnego.server(protocol="kerberos" if raw_kerberos else "negotiate")
        except Exception as exc:  # noqa: BLE001 - ImportError for gssapi, GSSError for the keytab
            self.log_message("Kerberos acceptor unavailable: %s", exc)
            return None

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

    def _seal(self, message: bytes, protocol: str = ENCRYPTED_PROTOCOL) -> bytes:
        wrapped = self.auth_ctx.wrap_winrm(message)
        return (ENCRYPTED_BOUNDARY + b"\r\n\tContent-Type: " + protocol.encode() + b"\r\n"
                b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=" + str(len(message)).encode()
                + b"\r\n" + ENCRYPTED_BOUNDARY + b"\r\n\tContent-Type: application/octet-stream\r\n"
                + struct.pack("<i", len(wrapped.header)) + wrapped.header + wrapped.data
                + ENCRYPTED_BOUNDARY + b"--\r\n")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        # a client that gave up on a reply (read timeout, Ctrl-C, a "reboot") is not a server error
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


# ---------------------------------------------------------------- the server


_USER_FILE_LOCK = threading.Lock()


class WinRMLabServer:
    """A WinRM endpoint on 127.0.0.1 answering from canned Windows behaviours.

    ``users``: user name -> password (NTLM and, over HTTPS, Basic). ``port=0`` picks a free port.
    ``kerberos_keytab``: a keytab with the ``HTTP/<name>`` service key: Kerberos (raw or in SPNEGO, ``Authorization:
    Negotiate|Kerberos``) is accepted with it, mutual auth answered, messages sealed with the Kerberos context. MIT
    reads acceptor keys from $KRB5_KTNAME, which is process-wide: :meth:`start` sets it to this keytab.
    Counters (:attr:`counters`) and :attr:`open_shells` let tests assert that every shell was deleted.
    """

    def __init__(self, users: dict[str, str], *, host: str = "127.0.0.1", port: int = 0, https: bool = False,
                 allow_basic: bool = True, require_encryption: bool = True, hostname: str = "WIN-LAB01",
                 workdir: str | Path | None = None, verbose: bool = False,
                 kerberos_keytab: str | Path | None = None):
        self.kerberos_keytab = str(kerberos_keytab) if kerberos_keytab else None
        self.users = {name.lower(): password for name, password in users.items()}
        self.host, self.requested_port = host, port
        self.https, self.allow_basic, self.require_encryption = https, allow_basic, require_encryption
        self.hostname = hostname
        self.verbose = verbose
        self.shells: dict[str, Shell] = {}
        self.files: dict[str, bytes] = {}  # lower-cased Windows path -> content
        self.directories = {"c:\\windows\\temp", "c:\\users\\public", "c:\\temp", "c:\\lab", "c:\\programdata"}
        self.directories |= {"c:\\windows\\softwaredistribution", "c:\\windows\\softwaredistribution\\download",
                             "c:\\windows\\softwaredistribution\\download\\5f1c"}
        for name, size in (("5f1c\\windows10.0-kb5035857-x64.cab", 300_000), ("5f1c\\express.psf", 120_000)):
            self.files["c:\\windows\\softwaredistribution\\download\\" + name] = b"MSCF" + bytes(size)
        self.read_only: set[str] = set()  # lower-cased paths the login user may not replace (ACL denies it)
        self.commands: list[str] = []  # every command line received, in order
        self.counters: dict[str, int] = {}
        self.stall_receive = 0.0  # seconds a Receive of a running command goes unanswered (a host that hangs)
        self._lock = threading.Lock()
        self._reboot_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="winrm-lab-") if workdir is None else None
        self.workdir = Path(workdir or self._tmp.name)
        self.cert_path: Path | None = None  # PEM of the self-signed certificate (HTTPS): the clients' CA bundle
        self.windows = FakeWindows(self)  # the state behind the canned behaviours
        self._sockets: set = set()  # open client connections, cut when the host "reboots"
        self._ssl_context: ssl.SSLContext | None = None

    # -- lifecycle

    @property
    def port(self) -> int:
        return self._httpd.server_address[1] if self._httpd else self.requested_port

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.https else 'http'}://{self.host}:{self.port}/wsman"

    def start(self) -> "WinRMLabServer":
        self._write_user_file()
        if self.kerberos_keytab:
            os.environ["KRB5_KTNAME"] = "FILE:" + str(Path(self.kerberos_keytab).resolve())
        if self.https:
            self.cert_path, key_path = _self_signed_cert(self.workdir, self.host)
            self._ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ssl_context.load_cert_chain(self.cert_path, key_path)
        self._listen(self.requested_port)
        return self

    def _listen(self, port: int) -> None:
        handler = type("Handler", (_Handler,), {"lab": self})
        self._httpd = _HTTPServer((self.host, port), handler)
        if self._ssl_context is not None:
            self._httpd.socket = self._ssl_context.wrap_socket(self._httpd.socket, server_side=True,
                                                               do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"winrm-lab-{self.port}", daemon=True)
        self._thread.start()

    def _unlisten(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def reboot(self, delay: float = 0.0) -> None:
        """Go down after ``delay``: listener closed (connections refused), connections cut, shells gone;
        back after ``windows.downtime`` seconds on the same port with a new boot id."""
        time.sleep(delay)
        with self._reboot_lock:
            if self._httpd is None:
                return  # stopped meanwhile
            port = self.port
            self._unlisten()
            with self._lock:
                sockets, self._sockets = list(self._sockets), set()
                shells, self.shells = list(self.shells.values()), {}
            for shell in shells:
                for proc in list(shell.processes.values()):
                    proc.signal(SIGNAL_TERMINATE)
            for sock in sockets:
                try:
                    sock.shutdown(2)
                except OSError:
                    pass
            self.count("reboots")
            if self._stopping.wait(self.windows.downtime):
                return
            with self.windows.lock:
                self.windows.boot_id = str(uuid.uuid4())
                self.windows.boot_time = time.time()
                self.windows.boots += 1
                self.windows.reboot_pending = False
            self._listen(port)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            shells = list(self.shells.values())
        for shell in shells:
            for proc in shell.processes.values():
                proc.signal(SIGNAL_TERMINATE)
        with self._reboot_lock:
            self._unlisten()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> "WinRMLabServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_user_file(self) -> None:
        """pyspnego's NTLM acceptor reads credentials from the file named by $NTLM_USER_FILE.

        The variable is process-wide: every server of this process shares one file (users are merged). The
        file is named after this process, never taken from an inherited variable: a lab server started by
        another process (a test, the CLI) must not write into that process's file at the same time.
        """
        path = Path(tempfile.gettempdir()) / f"winrm-lab-{os.getpid()}.users"
        with _USER_FILE_LOCK:
            existing = path.read_text() if path.exists() else ""
            lines = existing.splitlines()
            for user, password in self.users.items():
                for domain in ("", self.hostname):
                    line = f"{domain}:{user}:{password}"
                    if line not in lines:
                        lines.append(line)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write("\n".join(lines) + "\n")
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
        if request_body is not None and request_body.find(f"{{{WSMID_NS}}}Identify") is not None:
            self.count("identify")
            return 200, _identify_response()
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
        chdir = re.fullmatch(r'\s*cd /d "([^"]+)" && (.*)', command_line, re.S)
        if chdir:
            if chdir.group(1).rstrip("\\").lower() not in self.directories:
                proc.err("The system cannot find the path specified.\r\n")
                return proc.finish(1)
            command_line = chdir.group(2)
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
        if self.stall_receive and not proc.done:
            # a host that stops answering (overloaded, a network fault): the client's read times out
            self.count("stalled_receives")
            time.sleep(self.stall_receive)
            raise WSManFault(FAULT_TIMED_OUT, "w:TimedOut", "stalled")
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
            proc.cond.notify_all()  # a program waiting for its output to be read goes on
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
    parser = argparse.ArgumentParser(prog="python -m remote_support.lab.winrm_server",
                                     description="A WinRM lab endpoint on loopback answering canned Windows behaviours.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--user", action="append", default=[], metavar="NAME[:PASSWORD]", required=True,
                        help="a user; without :PASSWORD the password is the first line of --password-file")
    parser.add_argument("--password-file", metavar="PATH",
                        help="the password of users given without one (not on the command line, visible in ps)")
    parser.add_argument("--https", action="store_true")
    parser.add_argument("--hostname", default="WIN-LAB01")
    parser.add_argument("--workdir", help="where the HTTPS certificate is written")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--keytab", help="accept Kerberos with the HTTP/<name> key of this keytab "
                        "(KRB5_CONFIG must name the realm's krb5.conf)")
    args = parser.parse_args(argv)
    file_password = None
    if args.password_file:
        file_password = Path(args.password_file).read_text().splitlines()[0].strip()
    users = {}
    for entry in args.user:
        name, colon, password = entry.partition(":")
        if not colon and file_password is None:
            parser.error(f"--user {name} has no password: give NAME:PASSWORD or --password-file")
        users[name] = password if colon else file_password
    server = WinRMLabServer(users, host=args.host, port=args.port, https=args.https, hostname=args.hostname,
                            workdir=args.workdir, verbose=args.verbose, kerberos_keytab=args.keytab).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(server.endpoint + (f" {server.cert_path}" if server.cert_path else ""), flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
