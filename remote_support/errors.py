"""The exception hierarchy.

Every message says what happened, where (file:line or host) and what to do next, so the CLI can print
``str(exc)`` as is and never a traceback (``--debug`` shows one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .results import CommandResult


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
    """Reaching or talking to a host failed. ``reason`` is the one-line summary shown per host.

    Two words that mean one thing each, because users and exit codes depend on them:
    ``unreachable`` (exit 4) = no session could be opened, or it was lost; ``failed`` (exit 2) = the
    host answered and said no (:class:`HostError` and its subclasses).
    """

    #: whether the host counts as unreachable (exit 4) rather than failed (exit 2)
    unreachable = True

    def __init__(self, host: str, reason: str, hint: str = "", *, partial: "CommandResult | None" = None):
        self.host = host
        self.reason = reason
        self.hint = hint
        #: what the command printed before it was stopped (a timeout, a lost connection), if anything
        self.partial = partial
        super().__init__(f"{host}: {reason}" + (f" ({hint})" if hint else ""))


class UnreachableError(ConnectError):
    """Nothing answered: refused, no route, DNS failure, connect timeout."""


class ConnectionLost(UnreachableError):
    """The session was open and went away (the host rebooted, sshd died, the network dropped)."""


class AuthError(ConnectError):
    """The host answered but refused our credentials: no session could be opened."""


class HostKeyError(ConnectError):
    """The host key is unknown or, worse, changed: no session is opened."""


class HostError(ConnectError):
    """The host answered and said no: a file it cannot read or write, facts it cannot give, a device
    that refuses a command. The host is ``failed``, with the host's own words as the reason."""

    unreachable = False


class CommandTimeout(HostError):
    """A command ran past its deadline; it was stopped (``partial`` holds what it printed)."""


class BecomeError(HostError):
    """sudo refused: wrong or missing password, user not allowed."""


class DeviceCommandError(HostError):
    """A network device answered a command the tool needs (reading its config) with an error."""


class NotSupportedError(HostError):
    """The host's platform cannot do what a step asks (a step kind a device type has no way to do)."""


class JournalError(RemoteSupportError):
    """The journal cannot be opened, read or written; the message says which journal and what to do."""


class UnknownRunError(JournalError):
    """A run id (or prefix) that matches no run, or more than one."""

    exit_code = 5


class LabError(RemoteSupportError):
    """The practice lab cannot be started, stopped or read."""


class NetLabError(LabError):
    """The emulated-switch lab cannot be set up, started, stopped or read."""


class WinLabError(LabError):
    """The Windows part of the lab cannot be started or stopped."""


class WinRMCommandError(HostError):
    """The Windows host answered but refused the request (a WS-Man fault, a command it cannot take)."""


class WorkerError(RemoteSupportError):
    """A distributed run cannot go on: a site worker refused its part, or a part found no worker."""


class BrokerError(WorkerError):
    """The message broker of the site workers cannot be reached (nothing was sent: nothing ran)."""

    exit_code = 5


class LoginError(RemoteSupportError):
    """A login, API token or web session that is not valid (the web view answers 401)."""

    exit_code = 5


class PermissionRefused(RemoteSupportError):
    """A known user asking for what their level or role does not allow (the web view answers 403)."""

    exit_code = 5


class ApprovalRequired(PermissionRefused):
    """A run marked requires_approval without a valid approval of exactly this request."""
