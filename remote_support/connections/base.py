"""The one small interface every connection type implements."""

from __future__ import annotations

import abc
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ClassVar

from ..results import CommandResult

if TYPE_CHECKING:
    from ..inventory import Host


def data_dir() -> Path:
    """Where the tool keeps its own files (known_hosts, journal, lab): $REMOTE_SUPPORT_HOME or XDG."""
    home = os.environ.get("REMOTE_SUPPORT_HOME")
    if home:
        return Path(home)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "remote-support"


@dataclass(frozen=True)
class ConnectOptions:
    """Settings of a run that apply to every connection (the CLI's options)."""

    connect_timeout: float = 10.0
    command_timeout: float | None = None  # per command; None = no limit beyond the host deadline
    host_timeout: float | None = None  # overall, per host, from connect to close
    accept_new_host_keys: bool = False
    known_hosts: tuple[str, ...] = ()  # extra known_hosts files to trust
    ssh_config: str | None = None  # None = ~/.ssh/config when it exists
    keepalive: int = 15
    become_password: str | None = None  # from --ask-become-pass; overrides inventory
    insecure: bool = False  # --insecure: TLS certificates of WinRM hosts are not verified (noted in the journal)


class Connection(abc.ABC):
    """A session with one host. Open once, run many commands, close.

    Errors are raised as :class:`remote_support.errors.ConnectError` subclasses; a command that
    runs and exits non-zero is not an error, it is a CommandResult with rc != 0.

    A class declares what it can do (steps ask these, never the connection type's name): the ``shell``
    that ``run()`` hands command text to, the ``shells`` that :meth:`run_in` can run text in (names and
    quoting in :mod:`remote_support.connections.shells`), and its abilities below.
    """

    #: what ``run()`` hands command text to: posix, cmd, powershell or network-cli
    shell: ClassVar[str] = "posix"
    #: every shell :meth:`run_in` accepts (``shell`` first)
    shells: ClassVar[tuple[str, ...]] = ("posix",)
    #: put() and get() move files
    can_transfer_files: ClassVar[bool] = True
    #: send_config()/get_config()/save_config() of a network device
    can_push_config: ClassVar[bool] = False
    #: close() and open() again reach the host after it rebooted, and a boot id tells the boots apart
    can_detect_reboot: ClassVar[bool] = True
    #: run(..., become=True) runs as another user
    can_become: ClassVar[bool] = True

    def __init__(self, host: "Host", options: ConnectOptions):
        self.host = host
        self.options = options
        self._deadline: float | None = None  # --host-timeout, counted from the first open()

    def start_clock(self) -> None:
        """Start the host's overall deadline at the first open (a reconnect, as after a reboot, keeps it)."""
        if self._deadline is None and self.options.host_timeout:
            self._deadline = time.monotonic() + self.options.host_timeout

    def remaining(self, timeout: float | None) -> float | None:
        """The time a command may take: the least of its own timeout, --timeout and the host deadline."""
        limits = [t for t in (timeout, self.options.command_timeout) if t]
        if self._deadline is not None:
            limits.append(self._deadline - time.monotonic())
        return min(limits) if limits else None

    @abc.abstractmethod
    def open(self) -> None: ...

    @abc.abstractmethod
    def run(self, command: str, *, timeout: float | None = None, stdin: bytes | str | None = None,
            become: bool = False) -> CommandResult: ...

    def default_shell(self) -> str:
        """The shell exec runs a command line in unless told otherwise (a host variable may choose one)."""
        return self.shell

    def run_in(self, shell: str, text: str, *, timeout: float | None = None, stdin: bytes | str | None = None,
               become: bool = False) -> CommandResult:
        """Run ``text`` in one of :attr:`shells` (``run()`` is the same for :attr:`shell`)."""
        if shell == self.shell:
            return self.run(text, timeout=timeout, stdin=stdin, become=become)
        from ..errors import UsageError

        raise UsageError(f"host {self.host.name} ({self.host.connection}) runs {' and '.join(self.shells)} "
                         f"commands, not {shell}: choose a shell it has, or leave --shell out")

    @abc.abstractmethod
    def put(self, source: str | Path | bytes | BinaryIO, remote_path: str, *, mode: int | None = None) -> None: ...

    @abc.abstractmethod
    def get(self, remote_path: str) -> bytes: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "Connection":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
