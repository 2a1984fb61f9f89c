"""Facts about a host (OS family, distribution, memory, disks, package manager, init system...).

Gathered with one command per host (a round trip costs more than the parsing), cached per host per run
by the task executor, and used by ``when`` conditions, templates and the package/service steps.
"""

from __future__ import annotations

import json
from typing import Any

from .connections.base import Connection
from .connections.shells import POSIX, POWERSHELL, posix_quote
from .errors import HostError

_SCRIPT = r"""
[ -r /etc/os-release ] && . /etc/os-release
echo "os_id=${ID:-}"; echo "os_like=${ID_LIKE:-}"; echo "os_version=${VERSION_ID:-}"
echo "os_name=${PRETTY_NAME:-}"
echo "system=$(uname -s)"; echo "kernel=$(uname -r)"; echo "arch=$(uname -m)"
echo "hostname=$(uname -n)"; echo "fqdn=$(hostname -f 2>/dev/null || uname -n)"
echo "uptime_seconds=$(cut -d' ' -f1 /proc/uptime 2>/dev/null)"
echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null)"
awk '/^(MemTotal|MemAvailable|SwapTotal|SwapFree):/ {sub(":", "", $1); print "mem_" $1 "=" $2}' /proc/meminfo 2>/dev/null
for pm in apt-get dnf yum zypper apk pacman; do
  if command -v "$pm" >/dev/null 2>&1; then echo "pkg_mgr=$pm"; break; fi
done
if [ -d /run/systemd/system ]; then echo "init=systemd"
elif command -v openrc >/dev/null 2>&1 || [ -x /sbin/openrc-run ]; then echo "init=openrc"
elif [ -d /etc/init.d ]; then echo "init=sysv"; else echo "init=unknown"; fi
echo "user=$(id -un)"
echo "--disks--"
df -P -k 2>/dev/null | awk 'NR > 1 && $1 !~ /^(tmpfs|devtmpfs|overlay|shm|udev|none)$/ {print $1 "|" $2 "|" $3 "|" $4 "|" $6}'
echo "--interfaces--"
ip -o addr show 2>/dev/null | awk '{split($4, a, "/"); print $2 "|" $3 "|" a[1]}'
"""

_FAMILIES = {
    "debian": "Debian", "ubuntu": "Debian", "linuxmint": "Debian", "raspbian": "Debian",
    "rhel": "RedHat", "centos": "RedHat", "fedora": "RedHat", "rocky": "RedHat", "almalinux": "RedHat",
    "ol": "RedHat", "amzn": "RedHat", "sles": "Suse", "opensuse": "Suse", "opensuse-leap": "Suse",
    "suse": "Suse", "alpine": "Alpine", "arch": "Archlinux", "manjaro": "Archlinux",
}


def os_family(os_id: str, os_like: str) -> str:
    for candidate in [os_id, *os_like.split()]:
        if candidate.lower() in _FAMILIES:
            return _FAMILIES[candidate.lower()]
    return os_id.capitalize() if os_id else "unknown"


def gather_facts(connection: Connection) -> dict[str, Any]:
    """Facts of the host behind ``connection``; raises ConnectError when it cannot be asked."""
    host = connection.host
    if POWERSHELL in connection.shells:
        return gather_windows_facts(connection)
    if connection.shell != POSIX:
        return {"connection": host.connection, "os_family": host.get("os_family", "unknown")}
    result = connection.run("sh -c " + posix_quote(_SCRIPT), timeout=60)
    if result.rc not in (0, None) and not result.stdout:
        raise HostError(host.name, f"cannot gather facts: {result.stderr.strip() or 'exit ' + str(result.rc)}")
    return parse_facts(result.stdout)


def parse_facts(text: str) -> dict[str, Any]:
    facts: dict[str, Any] = {"disks": [], "interfaces": []}
    section = ""
    for line in text.splitlines():
        if line.startswith("--") and line.endswith("--"):
            section = line.strip("-")
            continue
        if section == "disks":
            parts = line.split("|")
            if len(parts) == 5 and parts[1].isdigit():
                total, used, free = (int(p) * 1024 for p in parts[1:4])
                facts["disks"].append({"device": parts[0], "mount": parts[4], "size_bytes": total,
                                       "used_bytes": used, "free_bytes": free,
                                       "used_percent": round(100 * used / total, 1) if total else 0.0})
        elif section == "interfaces":
            parts = line.split("|")
            if len(parts) == 3:
                facts["interfaces"].append({"name": parts[0], "family": parts[1], "address": parts[2]})
        elif "=" in line:
            key, _, value = line.partition("=")
            facts[key] = value
    for key in ("uptime_seconds",):
        try:
            facts[key] = int(float(facts.get(key) or 0))
        except ValueError:
            facts[key] = 0
    for key in [k for k in facts if k.startswith("mem_")] + ["cpus"]:
        try:
            facts[key] = int(facts[key]) * (1024 if key.startswith("mem_") else 1)
        except (KeyError, ValueError):
            pass
    facts["os_family"] = os_family(facts.get("os_id", ""), facts.get("os_like", ""))
    facts["distribution"] = facts.get("os_id", "")
    facts["distribution_version"] = facts.get("os_version", "")
    facts["memory_total_bytes"] = facts.pop("mem_MemTotal", 0)
    facts["memory_available_bytes"] = facts.pop("mem_MemAvailable", 0)
    facts["swap_total_bytes"] = facts.pop("mem_SwapTotal", 0)
    facts["swap_free_bytes"] = facts.pop("mem_SwapFree", 0)
    facts["package_manager"] = {"apt-get": "apt"}.get(facts.get("pkg_mgr", ""), facts.get("pkg_mgr", "unknown"))
    facts.pop("pkg_mgr", None)
    facts["init_system"] = facts.pop("init", "unknown")
    return facts


# ---------------------------------------------------------------- Windows, over WinRM

#: one PowerShell script, one round trip; the first line lets the WinRM lab server recognise it
WINDOWS_SCRIPT = r"""# remote-support:facts
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$cs = Get-CimInstance -ClassName Win32_ComputerSystem
$disks = @(Get-CimInstance -ClassName Win32_LogicalDisk -Filter 'DriveType=3' | ForEach-Object {
    [ordered]@{ device = $_.DeviceID; mount = $_.DeviceID + '\'; filesystem = $_.FileSystem
                size_bytes = [int64]$_.Size; free_bytes = [int64]$_.FreeSpace } })
$hotfixes = @(Get-HotFix -ErrorAction SilentlyContinue | ForEach-Object {
    [ordered]@{ id = $_.HotFixID; description = $_.Description
                installed_on = $(if ($_.InstalledOn) { $_.InstalledOn.ToString('yyyy-MM-dd') } else { '' }) } })
[ordered]@{
    caption = $os.Caption; version = $os.Version; build = $os.BuildNumber; architecture = $os.OSArchitecture
    hostname = $os.CSName; domain = $cs.Domain; part_of_domain = [bool]$cs.PartOfDomain
    uptime_seconds = [int64]((Get-Date) - $os.LastBootUpTime).TotalSeconds
    last_boot = $os.LastBootUpTime.ToUniversalTime().ToString('s')
    memory_total_bytes = [int64]$os.TotalVisibleMemorySize * 1024
    memory_available_bytes = [int64]$os.FreePhysicalMemory * 1024
    cpus = [int]$cs.NumberOfLogicalProcessors
    user = [Security.Principal.WindowsIdentity]::GetCurrent().Name
    disks = $disks; hotfixes = $hotfixes
    winget = [bool](Get-Command winget.exe -ErrorAction SilentlyContinue)
    choco = [bool](Get-Command choco.exe -ErrorAction SilentlyContinue)
    powershell_version = $PSVersionTable.PSVersion.ToString()
} | ConvertTo-Json -Depth 4 -Compress
"""


def gather_windows_facts(connection: Connection) -> dict[str, Any]:
    """Facts of a Windows host, named as the Linux ones where they mean the same."""
    host = connection.host
    result = connection.run_in(POWERSHELL, WINDOWS_SCRIPT, timeout=60)
    if result.rc != 0:
        raise HostError(host.name, f"cannot gather facts: {result.stderr.strip() or 'exit ' + str(result.rc)}")
    try:
        data = json.loads(result.stdout.strip().lstrip("\ufeff"))
    except ValueError:
        raise HostError(host.name, f"cannot gather facts: not JSON: {result.stdout.strip()[:120]!r}") from None
    return parse_windows_facts(data)


def parse_windows_facts(data: dict[str, Any]) -> dict[str, Any]:
    hostname = str(data.get("hostname") or "")
    domain = str(data.get("domain") or "")
    joined = bool(data.get("part_of_domain"))
    disks = []
    for disk in data.get("disks") or []:
        size, free = int(disk.get("size_bytes") or 0), int(disk.get("free_bytes") or 0)
        used = size - free
        disks.append({"device": disk.get("device", ""), "mount": disk.get("mount", ""),
                      "filesystem": disk.get("filesystem", ""), "size_bytes": size, "used_bytes": used,
                      "free_bytes": free, "used_percent": round(100 * used / size, 1) if size else 0.0})
    managers = [name for name in ("winget", "choco") if data.get(name)]
    version = str(data.get("version") or "")
    return {
        "os_family": "Windows", "system": "Windows", "os_name": data.get("caption", ""),
        "distribution": data.get("caption", ""), "distribution_version": version,
        "os_build": str(data.get("build") or ""), "kernel": version, "arch": data.get("architecture", ""),
        "hostname": hostname, "fqdn": f"{hostname}.{domain}".lower() if joined and domain else hostname,
        "domain": domain, "domain_joined": joined, "uptime_seconds": int(data.get("uptime_seconds") or 0),
        "last_boot": data.get("last_boot", ""), "cpus": int(data.get("cpus") or 0),
        "memory_total_bytes": int(data.get("memory_total_bytes") or 0),
        "memory_available_bytes": int(data.get("memory_available_bytes") or 0),
        "disks": disks, "interfaces": [], "hotfixes": list(data.get("hotfixes") or []),
        "package_manager": managers[0] if managers else "msi", "package_managers": managers + ["msi"],
        "init_system": "windows", "user": data.get("user", ""),
        "powershell_version": data.get("powershell_version", ""),
    }
