"""Windows package managers over WinRM: winget, Chocolatey, MSI product codes (PowerShell scripts)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ...connections.shells import ps_quote
from ...results import CommandResult
from .managers import UNKNOWN_VERSION, Manager, QueryError, _last_lines

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
