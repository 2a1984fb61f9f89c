"""``package``: install, upgrade or remove packages with the host's package manager.

The step first asks the manager what is installed (and, for what it would install or upgrade, which
version the sources offer) with read-only commands, works out what must change, and only then runs the
manager, non-interactively and once per kind of change. Nothing to change: ok. Check mode: the plan
("would install: a, b") and no change.

Each manager is a small class in ``MANAGERS`` that builds command lines and parses their output; the
classes never touch a host, so they are tested with recorded outputs.

```yaml
- name: tools support needs
  package: {name: [curl, htop], update_cache: true}
  become: true
```
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from ..connections.shells import POWERSHELL, ps_quote
from ..errors import TaskError
from ..results import CommandResult
from .base import Arg, Outcome, StepContext, StepKind, as_bool

#: a version the manager did not tell (a pacman group, say): known to the manager, version unknown
UNKNOWN_VERSION = ""

#: package names the step accepts: what every manager calls a package name, and nothing a shell or an
#: option parser would read otherwise (no leading "-", no spaces, no globs, no "=version")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+:~-]*$")

_SBIN_PATH = 'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"; '


def _quote(names: Iterable[str]) -> str:
    return " ".join(shlex.quote(n) for n in names)


class QueryError(Exception):
    """A query command failed in a way its parser cannot read as an answer."""

    def __init__(self, message: str, result: CommandResult):
        super().__init__(message)
        self.result = result


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " / ".join(lines[-count:])


class Manager:
    """How one package manager is asked and told; every method only builds or parses text."""

    name: ClassVar[str] = ""
    #: where the manager looks for packages, for "package X not found in <sources>"
    sources: ClassVar[str] = ""
    #: what to check when a package is not found
    not_found_advice: ClassVar[str] = ""
    #: its commands are PowerShell scripts for a Windows host (sent to its PowerShell)
    windows: ClassVar[bool] = False

    def execute(self, ctx: StepContext, command: str) -> CommandResult:
        """Run one of this manager's commands on the host."""
        if self.windows:
            return ctx.connection.run_in(POWERSHELL, command, timeout=ctx.timeout)
        return ctx.run(command)

    def query(self, names: list[str]) -> str:
        """A read-only command listing the installed version of each of ``names``."""
        raise NotImplementedError

    def parse_query(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        """name -> installed version, None when not installed; raises QueryError when the query failed."""
        raise NotImplementedError

    def available(self, names: list[str]) -> str:
        """A read-only command telling the version the manager would install or upgrade each name to."""
        raise NotImplementedError

    def parse_available(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        """name -> the version the sources offer (UNKNOWN_VERSION if not told), None when unknown to them."""
        raise NotImplementedError

    def update_cache(self) -> str:
        raise NotImplementedError

    def install(self, names: list[str]) -> str:
        raise NotImplementedError

    def upgrade(self, names: list[str]) -> str:
        raise NotImplementedError

    def remove(self, names: list[str]) -> str:
        raise NotImplementedError

    def not_found(self, output: str) -> list[str]:
        """Names a failed install says the manager does not know."""
        return []


# -- rpm-based managers share the installed-version query


class _Rpm(Manager):
    _QF = r"%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n"

    def query(self, names: list[str]) -> str:
        return f"LC_ALL=C rpm -q --qf {shlex.quote(self._QF)} {_quote(names)}"

    def parse_query(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        # rpm -q exits with the number of packages that are not installed, so rc alone tells nothing
        versions: dict[str, str | None] = {n: None for n in names}
        understood = False
        for line in result.stdout.splitlines():
            if re.match(r"^package \S+ is not installed$", line.strip()):
                understood = True
                continue
            parts = line.split()
            if len(parts) == 2 and parts[0] in versions:
                versions[parts[0]] = parts[1]  # the last of several installed versions (kernels) wins
                understood = True
        if not understood and result.rc != 0:
            raise QueryError(f"rpm -q failed (exit {result.rc}): {_last_lines(result.stderr or result.stdout)}",
                             result)
        return versions


def _triplets(lines: Iterable[str]) -> Iterable[tuple[str, str, str]]:
    """``name.arch version repo`` rows of yum/dnf listings; long names wrap the rest onto the next line."""
    tokens: list[str] = []
    for line in lines:
        tokens.extend(line.split())
        while len(tokens) >= 3:
            yield tokens[0], tokens[1], tokens[2]
            tokens = tokens[3:]


def _strip_arch(name_arch: str) -> str:
    return name_arch.rsplit(".", 1)[0] if "." in name_arch else name_arch


class Dnf(_Rpm):
    """dnf (Fedora, RHEL 8+). ``dnf list NAMES`` shows installed versions and, under "Available
    Packages", the newest version the repositories offer when it is not the installed one."""

    name = "dnf"
    sources = "dnf repositories"
    binary = "dnf"

    def available(self, names: list[str]) -> str:
        return f"LC_ALL=C {self.binary} -q list {_quote(names)}"

    def parse_available(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        offered: dict[str, str | None] = {n: None for n in names}
        section = ""
        rows: dict[str, list[str]] = {"installed": [], "available": []}
        for line in result.stdout.splitlines():
            lowered = line.strip().lower()
            if lowered in ("installed packages", "available packages", "available upgrades"):
                section = "available" if not lowered.startswith("installed") else "installed"
                continue
            if not lowered or lowered.startswith(("last metadata", "error", "obsoleting")):
                continue
            if section:
                rows[section].append(line)
        for which in ("installed", "available"):  # an available row (newer) wins over the installed one
            for name_arch, version, _repo in _triplets(rows[which]):
                name = _strip_arch(name_arch)
                if name in offered:
                    offered[name] = version
        if result.rc not in (0, 1) or (result.rc == 1 and "no matching packages" not in
                                       (result.stderr + result.stdout).lower()):
            raise QueryError(f"{self.binary} list failed (exit {result.rc}): "
                             f"{_last_lines(result.stderr or result.stdout)}", result)
        return offered

    def update_cache(self) -> str:
        return f"LC_ALL=C {self.binary} -y -q makecache"

    def install(self, names: list[str]) -> str:
        return f"LC_ALL=C {self.binary} -y install {_quote(names)}"

    def upgrade(self, names: list[str]) -> str:
        return f"LC_ALL=C {self.binary} -y upgrade {_quote(names)}"

    def remove(self, names: list[str]) -> str:
        return f"LC_ALL=C {self.binary} -y remove {_quote(names)}"

    def not_found(self, output: str) -> list[str]:
        found = re.findall(r"No match for argument: (\S+)", output)
        found += re.findall(r"No package (\S+) available", output)
        found += re.findall(r"Unable to find a match: (.+)", output)
        names: list[str] = []
        for item in found:
            for name in item.split():
                if name not in names:
                    names.append(name)
        return names


class Yum(Dnf):
    """yum (RHEL/CentOS 7): the same listings and messages as dnf."""

    name = "yum"
    sources = "yum repositories"
    binary = "yum"

    def upgrade(self, names: list[str]) -> str:
        return f"LC_ALL=C yum -y update {_quote(names)}"


class Zypper(_Rpm):
    """zypper (SUSE). ``zypper info`` shows the version the repositories would install, or
    ``package 'X' not found.``"""

    name = "zypper"
    sources = "zypper repositories"

    def available(self, names: list[str]) -> str:
        return f"LC_ALL=C zypper -n --no-refresh info -t package {_quote(names)}"

    def parse_available(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        offered: dict[str, str | None] = {n: None for n in names}
        current = None
        for line in result.stdout.splitlines():
            header = re.match(r"^Information for package (\S+):", line)
            if header:
                current = header.group(1)
                continue
            field = re.match(r"^(\w[\w ]*?)\s*:\s*(.*)$", line)
            if field and current in offered and field.group(1) == "Version":
                offered[current] = field.group(2).strip()
        if result.rc != 0 and not any(v is not None for v in offered.values()) \
                and "not found" not in result.stdout + result.stderr:
            raise QueryError(f"zypper info failed (exit {result.rc}): "
                             f"{_last_lines(result.stderr or result.stdout)}", result)
        return offered

    def update_cache(self) -> str:
        return "LC_ALL=C zypper -n refresh"

    def install(self, names: list[str]) -> str:
        return f"LC_ALL=C zypper -n in {_quote(names)}"

    def upgrade(self, names: list[str]) -> str:
        return f"LC_ALL=C zypper -n up {_quote(names)}"

    def remove(self, names: list[str]) -> str:
        return f"LC_ALL=C zypper -n rm {_quote(names)}"

    def not_found(self, output: str) -> list[str]:
        found = re.findall(r"[Pp]ackage '([^']+)' not found", output)
        found += re.findall(r"No provider of '([^']+)' found", output)
        return list(dict.fromkeys(found))


class Apk(Manager):
    """apk (Alpine). ``apk list`` prints ``name-version arch {origin} (license) [tag]`` lines: tag
    ``installed``, ``upgradable from: name-oldversion``, or none for a package that is not installed."""

    name = "apk"
    sources = "apk repositories"

    @staticmethod
    def _rows(names: list[str], text: str) -> Iterable[tuple[str, str, str]]:
        """(name, version, tag) of each line about one of ``names``."""
        for line in text.splitlines():
            parts = line.split()
            if not parts:
                continue
            tag = line[line.rfind("[") + 1:line.rfind("]")] if line.rstrip().endswith("]") else ""
            for name in names:
                rest = parts[0][len(name) + 1:]
                if parts[0].startswith(name + "-") and rest[:1].isdigit():
                    yield name, rest, tag
                    break

    def query(self, names: list[str]) -> str:
        return f"LC_ALL=C apk list -I {_quote(names)}"

    def parse_query(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        if result.rc != 0:
            raise QueryError(f"apk list failed (exit {result.rc}): {_last_lines(result.stderr)}", result)
        versions: dict[str, str | None] = {n: None for n in names}
        for name, version, tag in self._rows(names, result.stdout):
            if tag.startswith("upgradable from: "):
                versions[name] = tag.split(": ", 1)[1][len(name) + 1:]
            elif tag == "installed":
                versions[name] = version
        return versions

    def available(self, names: list[str]) -> str:
        return f"LC_ALL=C apk list {_quote(names)}"

    def parse_available(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        if result.rc != 0:
            raise QueryError(f"apk list failed (exit {result.rc}): {_last_lines(result.stderr)}", result)
        offered: dict[str, str | None] = {n: None for n in names}
        for name, version, tag in self._rows(names, result.stdout):
            if tag != "installed" or offered[name] is None:  # a newer or not-installed row wins
                offered[name] = version
        return offered

    def update_cache(self) -> str:
        return "apk update -q"

    def install(self, names: list[str]) -> str:
        return f"apk add --no-progress {_quote(names)}"

    def upgrade(self, names: list[str]) -> str:
        return f"apk add --no-progress --upgrade {_quote(names)}"

    def remove(self, names: list[str]) -> str:
        return f"apk del --no-progress {_quote(names)}"

    def not_found(self, output: str) -> list[str]:
        return list(dict.fromkeys(re.findall(r"^\s*(\S+) \(no such package\)", output, re.MULTILINE)))


class Pacman(Manager):
    """pacman (Arch). ``pacman -Q`` prints ``name version``; ``pacman -Sp --print-format`` the version
    the sync databases offer, or ``error: target not found: X``."""

    name = "pacman"
    sources = "pacman sync databases"

    def query(self, names: list[str]) -> str:
        return f"LC_ALL=C pacman -Q {_quote(names)}"

    def parse_query(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        versions: dict[str, str | None] = {n: None for n in names}
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in versions:
                versions[parts[0]] = parts[1]
        unexplained = [line for line in result.stderr.splitlines()
                       if line.strip() and not re.match(r"error: package '[^']+' was not found", line)]
        if result.rc != 0 and unexplained:
            raise QueryError(f"pacman -Q failed (exit {result.rc}): {_last_lines(result.stderr)}", result)
        return versions

    def available(self, names: list[str]) -> str:
        return f"LC_ALL=C pacman -Sp --print-format '%n %v' {_quote(names)}"

    def parse_available(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        missing = set(re.findall(r"error: target not found: (\S+)", result.stderr + result.stdout))
        if result.rc != 0 and not missing:
            raise QueryError(f"pacman -Sp failed (exit {result.rc}): {_last_lines(result.stderr)}", result)
        offered: dict[str, str | None] = {n: (None if n in missing else UNKNOWN_VERSION) for n in names}
        for line in result.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in offered:
                offered[parts[0]] = parts[1]
        return offered

    def update_cache(self) -> str:
        return "pacman -Sy --noconfirm"

    def install(self, names: list[str]) -> str:
        return f"pacman -S --noconfirm --needed --noprogressbar {_quote(names)}"

    def upgrade(self, names: list[str]) -> str:
        return f"pacman -S --noconfirm --noprogressbar {_quote(names)}"

    def remove(self, names: list[str]) -> str:
        return f"pacman -R --noconfirm --noprogressbar {_quote(names)}"

    def not_found(self, output: str) -> list[str]:
        return list(dict.fromkeys(re.findall(r"target not found: (\S+)", output)))


class Apt(Manager):
    """apt (Debian, Ubuntu). dpkg-query for what is installed, ``apt-cache policy`` for the candidate."""

    name = "apt"
    sources = "apt sources"
    #: apt-get waits this long for another apt or dpkg (unattended-upgrades...) instead of failing at once
    LOCK_TIMEOUT = 120
    _APT_GET = (f"DEBIAN_FRONTEND=noninteractive LC_ALL=C apt-get -y -q -o DPkg::Lock::Timeout={LOCK_TIMEOUT} "
                "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold")

    def query(self, names: list[str]) -> str:
        return "LC_ALL=C dpkg-query -W -f='${Package} ${Status} ${Version}\\n' " + _quote(names)

    def parse_query(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        # exit 1: some names are unknown to dpkg ("no packages found matching X"), which means not installed
        if result.rc not in (0, 1):
            raise QueryError(f"dpkg-query failed (exit {result.rc}): {_last_lines(result.stderr)}", result)
        versions: dict[str, str | None] = {n: None for n in names}
        for line in result.stdout.splitlines():
            parts = line.split()
            # name want flag status [version]: "curl install ok installed 7.88.1-10"
            if len(parts) >= 4 and parts[3] == "installed":
                name = parts[0]
                version = parts[4] if len(parts) > 4 else UNKNOWN_VERSION
                for wanted in names:
                    if wanted == name or wanted.split(":", 1)[0] == name:
                        versions[wanted] = version
        return versions

    def available(self, names: list[str]) -> str:
        return f"LC_ALL=C apt-cache policy {_quote(names)}"

    def parse_available(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        # a name apt does not know prints nothing at all; one without an installable version "(none)"
        if result.rc != 0:
            raise QueryError(f"apt-cache policy failed (exit {result.rc}): {_last_lines(result.stderr)}", result)
        offered: dict[str, str | None] = {n: None for n in names}
        current = None
        for line in result.stdout.splitlines():
            if line and not line[0].isspace() and line.rstrip().endswith(":"):
                current = line.rstrip()[:-1]
                continue
            match = re.match(r"^\s+Candidate:\s*(\S+)", line)
            if match and current is not None:
                candidate = None if match.group(1) == "(none)" else match.group(1)
                for wanted in names:
                    if wanted == current or wanted == current.split(":", 1)[0]:
                        offered[wanted] = candidate
        return offered

    def update_cache(self) -> str:
        return "LC_ALL=C apt-get update -q"

    def install(self, names: list[str]) -> str:
        return f"{self._APT_GET} install {_quote(names)}"

    def upgrade(self, names: list[str]) -> str:
        return f"{self._APT_GET} install --only-upgrade {_quote(names)}"

    def remove(self, names: list[str]) -> str:
        return f"{self._APT_GET} remove {_quote(names)}"

    def install_deb(self, path: str) -> str:
        if "/" not in path:
            path = "./" + path  # apt-get reads a name without a slash as a package name
        return f"{self._APT_GET} install {shlex.quote(path)}"

    @staticmethod
    def deb_fields(path: str) -> str:
        return f"LC_ALL=C dpkg-deb -f {shlex.quote(path)} Package Version"

    def not_found(self, output: str) -> list[str]:
        found = re.findall(r"Unable to locate package (\S+)", output)
        found += re.findall(r"Package '?([^' ]+)'? has no installation candidate", output)
        return list(dict.fromkeys(found))


#: manager name -> its class; ``manager: auto`` takes the host's ``package_manager`` fact
MANAGERS: dict[str, type[Manager]] = {"apt": Apt, "dnf": Dnf, "yum": Yum, "zypper": Zypper, "apk": Apk,
                                      "pacman": Pacman}

# -- Windows (WinRM): winget, Chocolatey, MSI product codes; commands are PowerShell scripts


def _each(names: Iterable[str], line: str) -> str:
    """One command per name (winget takes one id at a time), stopping at the first that fails."""
    return "\n".join(line.format(ps_quote(n)) + "\nif ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }" for n in names)


class Winget(Manager):
    """winget (Windows Package Manager): ids like Git.Git, matched exactly. ``winget list --id X`` shows
    the installed version or ``No installed package found matching input criteria.``; ``winget show``
    the version the sources offer, or ``No package found matching input criteria.``"""

    name = "winget"
    sources = "winget sources"
    not_found_advice = "check the id with winget search (winget: No package found matching input criteria.)"
    windows = True
    _OPTS = "--exact --accept-source-agreements --disable-interactivity"
    _CHANGE = "--exact --silent --accept-package-agreements --accept-source-agreements --disable-interactivity"

    def query(self, names: list[str]) -> str:
        return "\n".join(f"winget list --id {ps_quote(n)} {self._OPTS}" for n in names)

    def parse_query(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        versions: dict[str, str | None] = {n: None for n in names}
        understood = "No installed package found" in result.stdout
        for line in result.stdout.splitlines():
            words = [w.lower() for w in line.split()]
            for name in names:
                if name.lower() in words:
                    index = words.index(name.lower())
                    versions[name] = line.split()[index + 1] if index + 1 < len(words) else UNKNOWN_VERSION
                    understood = True
        if not understood and result.rc != 0:
            raise QueryError(f"winget list failed (exit {result.rc}): {_last_lines(result.stderr or result.stdout)}",
                             result)
        return versions

    def available(self, names: list[str]) -> str:
        return "\n".join(f"winget show --id {ps_quote(n)} {self._OPTS}" for n in names)

    def parse_available(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        offered: dict[str, str | None] = {n: None for n in names}
        current = None
        for line in result.stdout.splitlines():
            found = re.match(r"^Found .* \[(\S+)\]", line.strip())
            if found:
                current = next((n for n in names if n.lower() == found.group(1).lower()), None)
                if current:
                    offered[current] = UNKNOWN_VERSION
            elif current and line.startswith("Version:"):
                offered[current] = line.split(":", 1)[1].strip()
        if result.rc != 0 and "No package found" not in result.stdout and not any(offered.values()):
            raise QueryError(f"winget show failed (exit {result.rc}): {_last_lines(result.stderr or result.stdout)}",
                             result)
        return offered

    def update_cache(self) -> str:
        return "winget source update\nexit $LASTEXITCODE"

    def install(self, names: list[str]) -> str:
        return _each(names, f"winget install --id {{}} {self._CHANGE}")

    def upgrade(self, names: list[str]) -> str:
        return _each(names, f"winget upgrade --id {{}} {self._CHANGE}")

    def remove(self, names: list[str]) -> str:
        return _each(names, "winget uninstall --id {} --exact --silent --accept-source-agreements "
                            "--disable-interactivity")

    def not_found(self, output: str) -> list[str]:
        return ["?"] if "No package found matching input criteria." in output else []


class Choco(Manager):
    """Chocolatey 2 (``choco list`` shows only installed packages): ``--limit-output`` prints ``name|version``."""

    name = "choco"
    sources = "Chocolatey sources"
    not_found_advice = "check the name with choco search"
    windows = True

    def query(self, names: list[str]) -> str:
        return "\n".join(f"choco list --limit-output --exact {ps_quote(n)}" for n in names)

    def _rows(self, names: list[str], result: CommandResult, what: str) -> dict[str, str | None]:
        if result.rc != 0:
            raise QueryError(f"choco {what} failed (exit {result.rc}): {_last_lines(result.stderr or result.stdout)}",
                             result)
        versions: dict[str, str | None] = {n: None for n in names}
        for line in result.stdout.splitlines():
            name, _, version = line.strip().partition("|")
            match = next((n for n in names if n.lower() == name.lower()), None)
            if match and version:
                versions[match] = version
        return versions

    def parse_query(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        return self._rows(names, result, "list")

    def available(self, names: list[str]) -> str:
        return "\n".join(f"choco search --limit-output --exact {ps_quote(n)}" for n in names)

    def parse_available(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        return self._rows(names, result, "search")

    def update_cache(self) -> str | None:
        return None  # choco asks its sources every time

    def install(self, names: list[str]) -> str:
        return f"choco install {' '.join(map(ps_quote, names))} -y --no-progress --limit-output\nexit $LASTEXITCODE"

    def upgrade(self, names: list[str]) -> str:
        return f"choco upgrade {' '.join(map(ps_quote, names))} -y --no-progress --limit-output\nexit $LASTEXITCODE"

    def remove(self, names: list[str]) -> str:
        return f"choco uninstall {' '.join(map(ps_quote, names))} -y --no-progress --limit-output\nexit $LASTEXITCODE"

    def not_found(self, output: str) -> list[str]:
        return re.findall(r"^(\S+) not installed\. The package was not found", output, re.MULTILINE)


_UNINSTALL_KEYS = (r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall",
                   r"HKLM:\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall")
#: msiexec exit codes worth a sentence (3010: installed, reboot needed, is a success)
MSI_EXIT_CODES = {1603: "fatal error during installation", 1605: "the product is not installed",
                  1618: "another installation is in progress", 1619: "the .msi file cannot be opened (missing?)",
                  1638: "another version of the product is installed", 1639: "invalid command line"}


class Msi(Manager):
    """MSI packages by product code (``{GUID}``): installed means the product code's Uninstall registry key
    exists (so a second run finds it and does nothing); installs ``src`` (an .msi on the host) with
    ``msiexec /i /qn /norestart``, removes with ``msiexec /x CODE``."""

    name = "msi"
    windows = True

    def __init__(self, src: str | None = None):
        self.src = src
        self.sources = f"the MSI file {src}" if src else "the MSI file (none given: set src)"
        self.not_found_advice = "check src: the .msi must exist on the host"

    def query(self, names: list[str]) -> str:
        lines = []
        for code in names:
            paths = ", ".join(ps_quote(f"{key}\\{code}") for key in _UNINSTALL_KEYS)
            lines.append(f"Get-ItemProperty -Path {paths} -ErrorAction SilentlyContinue | "
                         f"ForEach-Object {{ {ps_quote(code + '|')} + $_.DisplayVersion }}")
        return "\n".join(lines)

    def parse_query(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        if result.rc != 0:
            raise QueryError(f"reading the Uninstall registry keys failed (exit {result.rc}): "
                             f"{_last_lines(result.stderr)}", result)
        versions: dict[str, str | None] = {n: None for n in names}
        for line in result.stdout.splitlines():
            code, _, version = line.strip().partition("|")
            match = next((n for n in names if n.upper() == code.upper()), None)
            if match:
                versions[match] = version or UNKNOWN_VERSION
        return versions

    def available(self, names: list[str]) -> str:
        return f"Test-Path -LiteralPath {ps_quote(self.src or '')}"

    def parse_available(self, names: list[str], result: CommandResult) -> dict[str, str | None]:
        there = bool(self.src) and result.stdout.strip().lower() == "true"
        return {n: UNKNOWN_VERSION if there else None for n in names}

    def update_cache(self) -> str | None:
        return None

    def _msiexec(self, arguments: str) -> str:
        return (f"$p = Start-Process -FilePath msiexec.exe -ArgumentList {ps_quote(arguments)} -Wait -PassThru\n"
                "exit $p.ExitCode")

    def install(self, names: list[str]) -> str:
        return self._msiexec(f'/i "{self.src}" /qn /norestart')

    def upgrade(self, names: list[str]) -> str:
        return self.install(names)

    def remove(self, names: list[str]) -> str:
        return "\n".join(self._msiexec(f"/x {code} /qn /norestart") for code in names)


#: Windows package managers: they come with the WinRM connection
WINDOWS_MANAGERS: dict[str, type[Manager]] = {"winget": Winget, "choco": Choco, "msi": Msi}
#: MSI product codes are names too, for manager: msi
_PRODUCT_CODE = re.compile(r"^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$")


def package_names(value: Any) -> list[str]:
    """The ``name`` argument as a list: a list, or a string of comma-separated names."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if items is None:
        raise ValueError(f"name must be a package name or a list of them, not {type(value).__name__}")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"package names must be strings, not {type(item).__name__} ({item!r})")
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            if not _NAME.match(part) and not _PRODUCT_CODE.match(part):
                raise ValueError(f"{part!r} is not a package name (letters, digits and . _ + : ~ -, "
                                 "not starting with -; versions like name=1.2 are not supported)")
            if part not in names:
                names.append(part)
    return names


@dataclass
class Plan:
    """What the step will change: names to install, upgrade and remove, with versions for the diff."""

    install: list[str]
    upgrade: list[str]
    remove: list[str]
    before: dict[str, str | None]
    offered: dict[str, str | None]

    @property
    def empty(self) -> bool:
        return not (self.install or self.upgrade or self.remove)

    def summary(self, done: bool = False) -> str:
        """"would install: a, b; would remove: c", or once done "installed: a, b; removed: c"."""
        verbs = ("installed", "upgraded", "removed") if done else ("would install", "would upgrade", "would remove")
        return "; ".join(f"{verb}: {', '.join(names)}" for verb, names in
                         zip(verbs, (self.install, self.upgrade, self.remove)) if names)

    def diff(self, after: Mapping[str, str | None] | None = None) -> str:
        """``+ name version`` / ``- name version`` lines; versions from ``after`` when the change is done."""
        def new(name: str) -> str:
            version = (after or {}).get(name) or self.offered.get(name) or ""
            return f" {version}" if version else ""

        lines = [f"+ {n}{new(n)}" for n in self.install]
        for name in self.upgrade:
            lines += [f"- {name} {self.before.get(name) or ''}".rstrip(), f"+ {name}{new(name)}"]
        lines += [f"- {n} {self.before.get(n) or ''}".rstrip() for n in self.remove]
        return "".join(line + "\n" for line in lines)


class _Failed(Exception):
    def __init__(self, message: str, result: CommandResult | None = None):
        super().__init__(message)
        self.result = result

    def outcome(self) -> Outcome:
        r = self.result
        return Outcome(failed=True, msg=str(self), command=r.command if r else None, rc=r.rc if r else None,
                       stdout=r.stdout if r else "", stderr=r.stderr if r else "")


class Package(StepKind):
    name = "package"
    description = ("Install, upgrade or remove packages with apt, dnf, yum, zypper, apk or pacman; on Windows "
                   "with winget, choco or msi (by product code).")
    free_form = "name"  # package: curl, htop
    args = {
        "name": Arg("any", help="a package name, a list of them, or comma-separated names "
                                "(required unless deb is given)"),
        "state": Arg("str", default="present", choices=("present", "absent", "latest"),
                     help="present: installed; latest: installed at the newest version; absent: removed"),
        "update_cache": Arg("bool", default=False,
                            help="refresh the package lists first (apt-get update, dnf makecache...); "
                                 "not done in check mode and never counted as a change"),
        "manager": Arg("str", default="auto", choices=("auto", *MANAGERS, *WINDOWS_MANAGERS),
                       help="auto: the host's package_manager fact"),
        "deb": Arg("str", help="path of a .deb on the host to install (apt only; name is read from it)"),
        "src": Arg("str", help="manager msi: the .msi file on the Windows host; name is its product code {GUID}"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        if args.get("name") is None and not args.get("deb"):
            raise TaskError(f"{where}: package needs the argument 'name' (or 'deb', a .deb file on the host)")
        if not _templated(args.get("name")):
            try:
                package_names(args.get("name"))
            except ValueError as exc:
                raise TaskError(f"{where}: package argument 'name': {exc}") from None
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        try:
            return self._run(ctx, args)
        except _Failed as exc:
            return exc.outcome()

    # -- the steps of the step

    def _run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        try:
            names = package_names(args.get("name"))
        except ValueError as exc:
            raise _Failed(f"package argument 'name': {exc}") from None
        state = args.get("state") or "present"
        manager = self._manager(ctx, str(args.get("manager") or "auto"), args)
        deb = args.get("deb")
        deb_version = None
        if deb:
            if not isinstance(manager, Apt):
                raise _Failed(f"deb installs a .deb file with apt; this host's package manager is {manager.name}")
            if state != "present":
                raise _Failed(f"deb installs a .deb file: use state: present, not {state}")
            deb_name, deb_version = self._deb_fields(ctx, manager, deb)
            names = [deb_name]
        if not names:
            raise _Failed("package argument 'name' names no package")

        if isinstance(manager, Msi) and state != "absent" and (not manager.src or len(names) != 1):
            raise _Failed("manager msi installs one product: name is its product code {GUID}, src the .msi on "
                          "the host")
        if as_bool(args.get("update_cache")) and not ctx.check and manager.update_cache() is not None:
            self._need_root(ctx, manager)
            result = manager.execute(ctx, manager.update_cache())
            if result.rc != 0:
                raise _Failed(f"{manager.name} could not update its package cache (exit {result.rc}): "
                              f"{_last_lines(result.stderr or result.stdout)}", result)

        before = self._query(ctx, manager, names)
        plan = self._plan(ctx, manager, names, state, before, deb_version, as_bool(args.get("update_cache")))
        data: dict[str, Any] = {"installed": [], "removed": [], "upgraded": [], "versions": dict(before),
                                "manager": manager.name}
        show_diff = ctx.diff or ctx.check
        if plan.empty:
            present = ", ".join(f"{n} {before[n]}".rstrip() for n in names if before.get(n) is not None)
            msg = f"installed: {present}" if state != "absent" else f"not installed: {', '.join(names)}"
            return Outcome(msg=msg, data=data)
        if ctx.check:
            data.update(installed=plan.install, removed=plan.remove, upgraded=plan.upgrade)
            note = " (package lists not updated in check mode)" if as_bool(args.get("update_cache")) else ""
            return Outcome(changed=True, msg=plan.summary() + note, diff=plan.diff() if show_diff else "",
                           data=data)

        self._need_root(ctx, manager)
        commands = []
        if plan.install:
            commands.append(manager.install_deb(deb) if deb else manager.install(plan.install))
        if plan.upgrade:
            commands.append(manager.upgrade(plan.upgrade))
        if plan.remove:
            commands.append(manager.remove(plan.remove))
        results = []
        for command in commands:
            result = manager.execute(ctx, command)
            results.append(result)
            if result.rc != 0:
                output = result.stdout + "\n" + result.stderr
                missing = manager.not_found(output)
                if missing == ["?"]:  # winget does not say which id it could not find
                    missing = plan.install + plan.upgrade
                if missing:
                    raise _Failed(_not_found_message(manager, missing, args), result)
                explained = MSI_EXIT_CODES.get(result.rc or 0) if isinstance(manager, Msi) else None
                raise _Failed(f"{manager.name} failed (exit {result.rc}"
                              f"{': ' + explained if explained else ''}): "
                              f"{_last_lines(result.stderr or result.stdout)}", result)
        after = self._query(ctx, manager, names)
        still = [n for n in plan.install + plan.upgrade if after.get(n) is None]
        left = [n for n in plan.remove if after.get(n) is not None]
        data.update(installed=[n for n in plan.install if after.get(n) is not None],
                    upgraded=[n for n in plan.upgrade if after.get(n) not in (None, before.get(n))],
                    removed=[n for n in plan.remove if after.get(n) is None], versions=dict(after))
        outcome = Outcome(changed=True, command=" && ".join(r.command for r in results),
                          rc=results[-1].rc, stdout="".join(r.stdout for r in results),
                          stderr="".join(r.stderr for r in results), data=data,
                          diff=plan.diff(after) if show_diff else "")
        if still or left:
            outcome.failed, outcome.changed = True, False
            outcome.msg = "; ".join(part for part in (
                f"still not installed after {manager.name} succeeded: {', '.join(still)}" if still else "",
                f"still installed after {manager.name} succeeded: {', '.join(left)}" if left else "") if part)
        else:
            outcome.msg = plan.summary(done=True)
        return outcome

    @staticmethod
    def _manager(ctx: StepContext, wanted: str, args: Mapping[str, Any] | None = None) -> Manager:
        windows = POWERSHELL in ctx.connection.shells
        usable = WINDOWS_MANAGERS if windows else MANAGERS
        if wanted == "auto":
            wanted = str(ctx.facts().get("package_manager") or "unknown")
            if wanted not in usable:
                raise _Failed(f"cannot tell this host's package manager (facts say {wanted!r}): set manager: "
                              f"to one of {', '.join(usable)}")
        if wanted not in usable:
            raise _Failed(f"package manager {wanted} does not run on a {ctx.connection.host.connection} host: "
                          f"use one of {', '.join(usable)}")
        if wanted == "msi":
            return Msi((args or {}).get("src"))
        return usable[wanted]()

    @staticmethod
    def _need_root(ctx: StepContext, manager: Manager | None = None) -> None:
        """Package managers change the system: without become, the login user must be root."""
        if ctx.become or (manager is not None and manager.windows):
            return  # Windows: the WinRM user must be an administrator; there is no become
        user = ctx.facts().get("user") or ctx.run("id -un", become=False).stdout.strip()
        if user != "root":
            raise _Failed(f"package changes need root: add become: true (the login user is {user or 'not root'})")

    @staticmethod
    def _deb_fields(ctx: StepContext, manager: Apt, path: str) -> tuple[str, str]:
        result = ctx.run(manager.deb_fields(path))
        fields = dict(re.findall(r"^(\w+):\s*(\S+)", result.stdout, re.MULTILINE))
        if result.rc != 0 or "Package" not in fields:
            raise _Failed(f"cannot read the package name and version of {path}: "
                          f"{_last_lines(result.stderr or result.stdout) or 'exit ' + str(result.rc)}", result)
        return fields["Package"], fields.get("Version", UNKNOWN_VERSION)

    @staticmethod
    def _query(ctx: StepContext, manager: Manager, names: list[str]) -> dict[str, str | None]:
        result = manager.execute(ctx, manager.query(names))
        try:
            return manager.parse_query(names, result)
        except QueryError as exc:
            raise _Failed(f"cannot tell which packages are installed: {exc}", result) from None

    def _plan(self, ctx: StepContext, manager: Manager, names: list[str], state: str,
              before: dict[str, str | None], deb_version: str | None, update_cache: bool) -> Plan:
        if state == "absent":
            return Plan([], [], [n for n in names if before[n] is not None], before, {})
        if deb_version is not None:
            name = names[0]
            install = [name] if before[name] != deb_version else []
            return Plan(install, [], [], before, {name: deb_version})
        missing = [n for n in names if before[n] is None]
        asked = missing + ([n for n in names if before[n] is not None] if state == "latest" else [])
        offered: dict[str, str | None] = {}
        if asked:
            result = manager.execute(ctx, manager.available(asked))
            try:
                offered = manager.parse_available(asked, result)
            except QueryError as exc:
                raise _Failed(f"cannot tell which versions the {manager.sources} offer: {exc}", result) from None
            unknown = [n for n in asked if offered.get(n) is None and before[n] is None]
            if unknown and not (ctx.check and update_cache):
                raise _Failed(_not_found_message(manager, unknown, {"update_cache": update_cache}), result)
            # check mode leaves the cache as it is: a package only the updated cache would know is
            # planned as an install, since the real run updates the cache first
        upgrade = [n for n in names if state == "latest" and before[n] is not None
                   and offered.get(n) not in (None, UNKNOWN_VERSION, before[n])]
        return Plan(missing, upgrade, [], before, offered)


def _not_found_message(manager: Manager, names: list[str], args: Mapping[str, Any]) -> str:
    what = f"package {names[0]}" if len(names) == 1 else f"packages {', '.join(names)}"
    advice = "check the name" if as_bool(args.get("update_cache")) else \
        "check the name or run with update_cache: true"
    if manager.not_found_advice:
        advice = manager.not_found_advice
    return f"{what} not found in {manager.sources}: {advice}"


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, (list, tuple)):
        return any(_templated(v) for v in value)
    return False
