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
from typing import Any, Iterable, Iterator, Mapping

from .errors import SecretError

MASKED = "********"

# What makes a variable name secret (issue 11, "Pinned down"): a whole word of it is one of SECRET_WORDS
# (a plural too), or it ends in one of KEY_NAMES. Words, not letters: `keystone_service_proto` and
# `bypass_proxy` are not secrets, or every "http" in the output would be masked.
SECRET_WORDS = frozenset({"password", "passwd", "pass", "secret", "token", "credential"})
KEY_NAMES = frozenset({"api", "private", "access", "secret", "auth"})  # <word>_key, <word>key
#: names whose last word says where a secret is or how it is checked, not the secret itself
_NOT_SECRET_LAST_WORDS = frozenset({"file", "path", "checking", "policy"})
#: connection variables that hold secrets although no word of their name is one
CONNECTION_SECRETS = frozenset({"private_key_passphrase"})
#: the inventory's own lists of names, which are no secrets themselves
_NAME_LISTS = frozenset({"secret_vars", "not_secret_vars"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


class SecretNames:
    """The names an inventory adds (``secret_vars: [...]``) or exempts (``not_secret_vars: [...]``);
    either may hold globs (``*_pin``)."""

    def __init__(self) -> None:
        self.extra: tuple[str, ...] = ()
        self.exempt: tuple[str, ...] = ()

    def configure(self, extra: Any = (), exempt: Any = ()) -> None:
        self.extra = tuple(str(n).lower() for n in extra)
        self.exempt = tuple(str(n).lower() for n in exempt)
        _JUDGED.clear()


NAMES = SecretNames()


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(name)]


def _singular(word: str) -> str:
    return word[:-1] if word.endswith("s") and word[:-1] in SECRET_WORDS | {"key"} else word


#: names judged so far (the same few names are asked about for every host and step); cleared by configure()
_JUDGED: dict[str, bool] = {}


def is_secret_name(name: str) -> bool:
    """Whether a variable called ``name`` holds a secret, by the whole-word rule and the inventory's lists."""
    name = str(name)
    judged = _JUDGED.get(name)
    if judged is None:
        if len(_JUDGED) > 4096:
            _JUDGED.clear()
        judged = _JUDGED[name] = _judge(name)
    return judged


def _judge(name: str) -> bool:
    lowered = name.lower()
    if any(fnmatch.fnmatchcase(lowered, p) for p in NAMES.exempt):
        return False
    if any(fnmatch.fnmatchcase(lowered, p) for p in NAMES.extra) or lowered in CONNECTION_SECRETS:
        return True
    if lowered in _NAME_LISTS:
        return False
    words = [_singular(w) for w in _words(name)]
    if not words or words[-1] in _NOT_SECRET_LAST_WORDS:
        return False
    if any(w in SECRET_WORDS for w in words):
        return True
    last = words[-1]
    if last == "key" and len(words) > 1 and words[-2] in KEY_NAMES:
        return True
    return any(last in (k + "key", k + "keys") for k in KEY_NAMES)


def register_secrets(value: Any, secret: bool = False) -> None:
    """Register with MASK every value under a secret-named key, whatever its shape (text, number, list,
    mapping), so it is masked wherever it shows up: output, the journal, reports, bundles."""
    if isinstance(value, SecretRef):
        return
    if isinstance(value, Mapping) and list(value) == ["secret"]:
        return  # a reference written out ({secret: "env:NAME"}): where the secret is, not the secret
    if isinstance(value, Mapping):
        for key, item in value.items():
            register_secrets(item, secret or is_secret_name(str(key)))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            register_secrets(item, secret)
    elif secret and value is not None and not isinstance(value, bool):
        MASK.add(str(value))


def masked(value: Any, secret: bool = False) -> Any:
    """A copy of ``value`` fit to show: references as such, secret-named values (any shape) as ********."""
    if isinstance(value, SecretRef):
        return str(value)
    if secret and value not in (None, "", False):
        register_secrets(value, True)
        return MASKED
    if isinstance(value, Mapping):
        return {k: masked(v, is_secret_name(str(k))) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    return value


def shown(name: str, value: Any) -> str:
    """``value`` for an error message about the variable or argument ``name``: never a secret's value."""
    return MASKED if is_secret_name(name) else repr(value)


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

    def stream(self, chunks: Iterable[str]) -> Iterator[str]:
        """Mask text that comes in chunks (a spilled 300 MB output) without holding it: a secret cut in two
        by a chunk boundary is still found, as the end of each chunk waits for the next."""
        carry = ""
        for chunk in chunks:
            text = carry + chunk
            pattern = self._pattern
            if pattern is None:
                carry = ""
                yield text
                continue
            longest = max(len(v) for v in self._values)
            cut = max(0, len(text) - longest + 1)
            for match in pattern.finditer(text, max(0, cut - longest)):
                if match.start() < cut < match.end():
                    cut = match.start()
                    break
            carry = text[cut:]
            if cut:
                yield pattern.sub(MASKED, text[:cut])
        if carry:
            yield self(carry)

    def deep(self, value: Any) -> Any:
        """Every text inside JSON-like data (dicts, lists) masked; other values as they are."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.deep(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.deep(v) for v in value]
        return value

    def variables(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``variables`` fit to show: secret-named values and references replaced."""
        return {k: masked(v, is_secret_name(str(k))) for k, v in variables.items()}


MASK = Mask()
