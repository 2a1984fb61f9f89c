"""The Linux and Unix package managers: apt, dnf, yum, zypper, apk, pacman."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from ...results import CommandResult
from .managers import UNKNOWN_VERSION, Manager, QueryError, _last_lines, _quote

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
