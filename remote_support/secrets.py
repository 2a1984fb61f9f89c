"""Secret references and masking.

A secret is written in an inventory as a mapping ``{secret: "env:NAME"}``, ``{secret: "file:PATH"}`` or
``{secret: "prompt"}``; it is resolved only when a connection needs it. Every resolved secret value, and
every value of a variable named like a secret, is registered with the process-wide :data:`MASK` so that
live output, reports and the journal never show it.
"""

from __future__ import annotations

import fnmatch
import getpass
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import SecretError

MASKED = "********"

# Variable names whose values are secrets. Names ending in _file/_path name where a secret is, not the
# secret itself, and stay visible.
SECRET_NAME_PATTERNS = ("*password*", "*passwd*", "*_pass", "*secret*", "*token*", "*key*", "*passphrase*")
_NOT_SECRET_SUFFIXES = ("_file", "_path", "_checking", "_policy")


def is_secret_name(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith(_NOT_SECRET_SUFFIXES):
        return False
    return any(fnmatch.fnmatchcase(lowered, p) for p in SECRET_NAME_PATTERNS)


@dataclass(frozen=True)
class SecretRef:
    """Where a secret comes from: ``env:NAME``, ``file:PATH`` or ``prompt[:text]``."""

    spec: str
    source: str = ""  # file:line of the reference, for error messages

    def __repr__(self) -> str:
        return f"SecretRef({self.spec!r})"

    def __str__(self) -> str:
        return f"<secret {self.spec}>"

    def resolve(self) -> str:
        where = f" (referenced at {self.source})" if self.source else ""
        kind, _, arg = self.spec.partition(":")
        if kind == "env":
            value = os.environ.get(arg)
            if value is None:
                raise SecretError(f"secret env:{arg} is not set{where}: export {arg}=... before running")
        elif kind == "file":
            path = Path(os.path.expanduser(arg))
            try:
                value = path.read_text().rstrip("\r\n")
            except OSError as exc:
                raise SecretError(f"secret file {path} cannot be read{where}: {exc.strerror}") from None
        elif kind == "prompt":
            value = _prompt(arg or "secret")
        else:
            raise SecretError(f"unknown secret reference {self.spec!r}{where}: use env:NAME, file:PATH or prompt")
        MASK.add(value)
        return value


_prompt_lock = threading.Lock()
_prompted: dict[str, str] = {}


def _prompt(text: str) -> str:
    # Parallel hosts share one answer per prompt text; ask once.
    with _prompt_lock:
        if text not in _prompted:
            _prompted[text] = getpass.getpass(f"{text}: ")
        return _prompted[text]


def reveal(value: Any) -> Any:
    """The plain value of a variable: secret references are resolved (and registered for masking)."""
    if isinstance(value, SecretRef):
        return value.resolve()
    return value


class Mask:
    """Replaces every known secret value in text with ``********``."""

    # Shorter values would mask common words and numbers in output and hide more than they protect.
    MIN_LENGTH = 4

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, value: Any) -> None:
        if not isinstance(value, str) or len(value) < self.MIN_LENGTH:
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def __call__(self, text: str) -> str:
        pattern = self._pattern
        if not text or pattern is None:
            return text
        return pattern.sub(MASKED, text)

    def variables(self, variables: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``variables`` fit to show: secret-named values and references replaced."""
        return {k: _masked_value(k, v) for k, v in variables.items()}


def _masked_value(name: str, value: Any) -> Any:
    if isinstance(value, SecretRef):
        return str(value)
    if is_secret_name(name) and value not in (None, "", False):
        if isinstance(value, str):
            MASK.add(value)
        return MASKED
    if isinstance(value, dict):
        return {k: _masked_value(str(k), v) for k, v in value.items()}
    return value


MASK = Mask()
