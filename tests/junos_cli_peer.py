"""A Junos CLI over SSH that answers with recorded outputs of a real EX switch (Junos 20.4), for netmiko's juniper_junos.

No emulator offers the Junos CLI (fake-switches' Juniper models speak NETCONF only), so the CLI commit
path is tested against this peer: a real SSH server (paramiko) with an interactive shell that echoes
what is typed and answers each command with the text a real device printed for it (prompts, ``[edit]``,
``syntax error.``, ``configuration check succeeds``, ``commit complete``...). It keeps the configuration
as ``set`` lines (recorded ``show configuration | display set``) with a candidate, so commits,
``commit check`` and ``rollback 0`` behave as on the device. Every command received is in ``commands``.
"""

from __future__ import annotations

import socket
import threading

import paramiko

PROMPT = "admin@ex-01> "
CONFIG_PROMPT = "\r\n[edit]\r\nadmin@ex-01# "

#: `show configuration | display set` of the recorded device
RUNNING = [
    "set version 20.4R3.8",
    "set system host-name ex-01",
    "set system services ssh",
    "set interfaces ge-0/0/1 description uplink",
    "set interfaces ge-0/0/1 unit 0 family ethernet-switching vlan members VOICE",
    "set vlans VOICE vlan-id 30",
]
#: statements the recorded device accepted (the first words); others get its `syntax error.`
KNOWN = ("set vlans ", "set interfaces ", "set system ", "set protocols ", "delete vlans ", "delete interfaces ")


def _syntax_error(line: str) -> str:
    column = len("admin@ex-01# ") + len(line.split()[0]) + 1 + len(line.split()[1]) + 1
    return f"{' ' * column}^\r\nsyntax error.\r\n"


def _check_failures(candidate: list[str]) -> str:
    for line in candidate:
        words = line.split()
        if words[:2] == ["set", "vlans"] and len(words) == 5 and words[3] == "vlan-id" and not 1 <= int(words[4]) <= 4094:
            return (f"[edit vlans {words[2]}]\r\n  'vlan-id {words[4]}'\r\n    Value {words[4]} is not within range "
                    f"(1..4094)\r\nerror: configuration check-out failed\r\n")
    return ""


class _Server(paramiko.ServerInterface):
    def __init__(self, password: str):
        self.password = password
        self.shell = threading.Event()

    def check_auth_password(self, username, password):
        return paramiko.AUTH_SUCCESSFUL if password == self.password else paramiko.AUTH_FAILED

    def get_allowed_auths(self, username):
        return "password"

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, *args):
        return True

    def check_channel_shell_request(self, channel):
        self.shell.set()
        return True


class JunosCLIPeer:
    """``with JunosCLIPeer(address, password) as peer:`` serves on ``peer.port`` until the block ends."""

    def __init__(self, address: str, password: str):
        self.address = address
        self.password = password
        self.host_key = paramiko.RSAKey.generate(2048)
        self.running = list(RUNNING)
        self.commands: list[str] = []
        self.locked_by: str | None = None  # another user holding the configuration database
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((address, 0))
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def known_hosts_line(self) -> str:
        return f"[{self.address}]:{self.port} {self.host_key.get_name()} {self.host_key.get_base64()}\n"

    def __enter__(self) -> "JunosCLIPeer":
        self._sock.listen(8)
        self._sock.settimeout(0.2)
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        server = _Server(self.password)
        try:
            transport.start_server(server=server)
            channel = transport.accept(10)
            if channel is None or not server.shell.wait(10):
                return
            self._session(channel)
        except (EOFError, OSError, paramiko.SSHException):
            pass
        finally:
            transport.close()

    def _session(self, channel: paramiko.Channel) -> None:
        channel.settimeout(0.2)
        channel.sendall("--- JUNOS 20.4R3.8 built 2021-12-17 02:39:41 UTC\r\n" + PROMPT)
        state = {"config": False, "candidate": None}
        buffer = ""
        while not self._stop.is_set() and not channel.closed:
            try:
                data = channel.recv(4096)
            except socket.timeout:
                continue
            if not data:
                return
            for char in data.decode("utf-8", "replace"):
                if char in "\r\n":
                    if char == "\n" and buffer == "" and getattr(self, "_last_cr", False):
                        self._last_cr = False
                        continue
                    self._last_cr = char == "\r"
                    channel.sendall("\r\n")
                    channel.sendall(self._answer(buffer.strip(), state))
                    buffer = ""
                else:
                    buffer += char
                    channel.sendall(char)  # the CLI echoes what is typed

    def _answer(self, line: str, state: dict) -> str:
        if line:
            self.commands.append(line)
        prompt = CONFIG_PROMPT if state["config"] else PROMPT
        if not line:
            return prompt  # in configuration mode Junos shows the [edit] line before each prompt
        if line == "set cli screen-width 511":
            return "Screen width set to 511\r\n\r\n" + PROMPT
        if line == "set cli complete-on-space off":
            return "Disabling complete-on-space\r\n\r\n" + PROMPT
        if line == "set cli screen-length 0":
            return "Screen length set to 0\r\n\r\n" + PROMPT
        if line == "show configuration | display set":
            return "\r\n".join(self.running) + "\r\n\r\n" + prompt
        if not state["config"]:
            if line in ("configure", "configure private") and self.locked_by:
                return (f"error: configuration database locked by:\r\n  {self.locked_by} terminal p0 (pid 4242) on "
                        f"since 2026-11-30 10:00:00 UTC\r\n      exclusive [edit]\r\n\r\n" + PROMPT)
            if line in ("configure", "configure private"):
                state["config"], state["candidate"] = True, list(self.running)
                return "Entering configuration mode\r\n" + CONFIG_PROMPT
            return f"{' ' * len(PROMPT)}^\r\nunknown command.\r\n\r\n" + PROMPT
        candidate = state["candidate"]
        if line.startswith(("set ", "delete ")):
            if not line.startswith(KNOWN):
                return _syntax_error(line) + CONFIG_PROMPT
            if line.startswith("set ") and line not in candidate:
                candidate.append(line)
            elif line.startswith("delete "):
                gone = "set " + line[len("delete "):]
                state["candidate"] = [c for c in candidate if c != gone and not c.startswith(gone + " ")]
            return CONFIG_PROMPT
        if line == "rollback 0":
            state["candidate"] = list(self.running)
            return "load complete\r\n" + CONFIG_PROMPT
        if line == "commit check":
            failure = _check_failures(candidate)
            return (failure or "configuration check succeeds\r\n") + CONFIG_PROMPT
        if line.startswith("commit"):
            failure = _check_failures(candidate)
            if failure:
                return failure + CONFIG_PROMPT
            words = line.split()
            text = ""
            if "confirmed" in words:
                minutes = words[words.index("confirmed") + 1] if words[words.index("confirmed") + 1].isdigit() else "10"
                text += f"commit confirmed will be automatically rolled back in {minutes} minutes unless confirmed\r\n"
            self.running = list(candidate)
            text += "commit complete\r\n"
            if line.endswith("and-quit"):
                state["config"] = False
                return text + "Exiting configuration mode\r\n\r\n" + PROMPT
            return text + CONFIG_PROMPT
        if line in ("exit configuration-mode", "exit", "quit"):
            if candidate != self.running:
                state["candidate"] = list(self.running)  # the recorded device asks; these tests never leave changes
            state["config"] = False
            return "Exiting configuration mode\r\n\r\n" + PROMPT
        return _syntax_error(line + " x") + CONFIG_PROMPT
