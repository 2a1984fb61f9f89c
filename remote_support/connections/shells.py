"""The shells a connection runs text in, and how each one quotes a value: the only place that knows.

A connection class declares its ``shell`` (what ``run()`` hands the command text to) and the ``shells``
it can run text in (see :class:`remote_support.connections.base.Connection`); steps and templates ask
for these names and quote with the functions here instead of testing connection type names.

- ``posix``: ``/bin/sh`` (ssh, local). Single quotes, as ``shlex.quote``.
- ``cmd``: cmd.exe, which WinRS runs every command line through (winrm). cmd.exe has no quoting that
  protects ``%``, ``!``, ``^``, ``"`` or a line break in every context, so such values are refused
  (:class:`QuotingError`) and must go to PowerShell instead; values with spaces or metacharacters are
  put in double quotes.
- ``powershell``: single-quoted string literals (``'it''s'``): nothing inside is expanded.
- ``network-cli``: a device's CLI; it has no quoting at all, text goes as it is.
"""

from __future__ import annotations

import base64
import re
import shlex
from typing import Any

POSIX = "posix"
CMD = "cmd"
POWERSHELL = "powershell"
NETWORK_CLI = "network-cli"
SHELLS = (POSIX, CMD, POWERSHELL, NETWORK_CLI)
#: shells of a Windows host
WINDOWS_SHELLS = frozenset({CMD, POWERSHELL})


class QuotingError(ValueError):
    """A value that no quoting of the shell can pass safely."""


def posix_quote(text: str) -> str:
    """A POSIX sh word holding ``text`` exactly."""
    return shlex.quote(text)


_CMD_UNSAFE = re.compile(r'["%!\r\n^]')
_CMD_SPECIAL = re.compile(r"[\s&|<>()@,;=]")


def cmd_quote(text: str) -> str:
    """A cmd.exe argument holding ``text``: bare when harmless, else in double quotes; QuotingError when
    cmd.exe would still read part of it (``"``, ``%``, ``!``, ``^``, line breaks)."""
    if _CMD_UNSAFE.search(text):
        raise QuotingError(f"the value {text!r} cannot be passed safely to cmd.exe (it holds \", %, !, ^ or a "
                           "line break): pass it to a powershell step's params instead")
    return f'"{text}"' if not text or _CMD_SPECIAL.search(text) else text


def ps_quote(text: str) -> str:
    """A PowerShell single-quoted string literal (nothing inside is expanded)."""
    return "'" + text.replace("'", "''") + "'"


def ps_value(value: Any) -> str:
    """A Python value as a PowerShell literal: strings (and numbers) quoted, lists as @(...), bools, $null."""
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if value is None:
        return "$null"
    if isinstance(value, (list, tuple)):
        return "@(" + ", ".join(ps_value(v) for v in value) + ")"
    return ps_quote(str(value))


def encode_ps(script: str) -> str:
    """A script as powershell.exe's -EncodedCommand wants it: base64 of UTF-16LE."""
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def quote(shell: str, text: str) -> str:
    """``text`` as one word of ``shell``."""
    if shell == POSIX:
        return posix_quote(text)
    if shell == CMD:
        return cmd_quote(text)
    if shell == POWERSHELL:
        return ps_quote(text)
    if shell == NETWORK_CLI:
        return text
    raise ValueError(f"unknown shell {shell!r}: one of {', '.join(SHELLS)}")


def in_dir(shell: str, directory: str, command: str) -> str:
    """``command`` run in ``directory`` by ``shell``."""
    if shell == POSIX:
        return f"cd {posix_quote(directory)} && {command}"
    if shell == CMD:
        if '"' in directory:
            raise QuotingError(f"the directory {directory!r} contains a double quote: cmd.exe cannot take it")
        return f'cd /d "{directory}" && {command}'
    if shell == POWERSHELL:
        return f"Set-Location -LiteralPath {ps_quote(directory)}\n{command}"
    raise ValueError(f"a {shell} shell has no working directory")
