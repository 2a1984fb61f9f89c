"""The exception hierarchy.

Every message says what happened, where (file:line or host) and what to do next, so the CLI can print
``str(exc)`` as is and never a traceback (``--debug`` shows one).
"""

from __future__ import annotations


class RemoteSupportError(Exception):
    """Base of every error the tool raises on purpose."""

    #: process exit code when this error ends a command (Ansible's: 5 bad input, 1 internal)
    exit_code = 1


class UsageError(RemoteSupportError):
    """Bad command-line input: options, patterns, values."""

    exit_code = 5


class SourceError(UsageError):
    """A file the user wrote (inventory, task) that cannot be used; says file:line."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        self.source = source
        self.line = line
        where = ""
        if source:
            where = f"{source}:{line}: " if line else f"{source}: "
        super().__init__(where + message)


class InventoryError(SourceError):
    """An inventory file or directory that cannot be used."""


class SSHConfigError(SourceError):
    """An ssh_config file (``~/.ssh/config``, ``--ssh-config``, an Include) that ssh would reject too."""


class PatternError(UsageError):
    """A host pattern that is malformed or matches nothing."""


class SecretError(UsageError):
    """A secret reference that cannot be resolved."""


class KeyFileError(UsageError):
    """A private key file that cannot be read or decrypted."""


class TaskError(SourceError):
    """A task definition, or the parameters given to it, that cannot be used."""


class TemplateError(RemoteSupportError):
    """A template that does not exist, does not parse or does not render."""


class ConnectError(RemoteSupportError):
    """Reaching or talking to a host failed. ``reason`` is the one-line summary shown per host."""

    #: whether the host counts as unreachable (exit 4) rather than failed (exit 2)
    unreachable = True

    def __init__(self, host: str, reason: str, hint: str = ""):
        self.host = host
        self.reason = reason
        self.hint = hint
        super().__init__(f"{host}: {reason}" + (f" ({hint})" if hint else ""))


class UnreachableError(ConnectError):
    """Nothing answered: refused, no route, DNS failure, connect timeout."""


class AuthError(ConnectError):
    """The host answered but refused our credentials."""


class HostKeyError(ConnectError):
    """The host key is unknown or, worse, changed."""


class CommandTimeout(ConnectError):
    """A command ran past its deadline; it was stopped."""

    unreachable = False


class BecomeError(ConnectError):
    """sudo refused: wrong or missing password, user not allowed."""

    unreachable = False
