"""A tiny .deb built at test time and a local apt repository serving it, for the package step's tests.

The repository is a flat one (``deb [trusted=yes] file:/tmp/rs-test-repo-... ./``) whose Packages index
is written here in Python, so the tests need nothing beyond dpkg and apt (no dpkg-dev). Everything the
repository adds to the machine (its sources.list.d entry, apt's copy of its index, the test package)
goes away in ``remove()``.
"""

from __future__ import annotations

import glob
import hashlib
import lzma
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

#: unique per test process: lab hosts share this machine's dpkg database with every other test run
PACKAGE = f"rs-test-hello-{os.getpid()}"
LISTS = Path("/var/lib/apt/lists")


def build_deb(directory: Path, name: str, version: str) -> Path:
    """``name_version_all.deb`` in ``directory``: one file, /usr/share/<name>/VERSION, holding the version."""
    tree = Path(tempfile.mkdtemp(prefix=f"{name}-{version}-", dir=directory))
    try:
        (tree / "DEBIAN").mkdir()
        (tree / "DEBIAN" / "control").write_text(
            f"Package: {name}\nVersion: {version}\nArchitecture: all\nSection: misc\nPriority: optional\n"
            f"Maintainer: remote-support tests <root@localhost>\n"
            f"Description: remote-support test package\n a package the package step's tests install and remove\n")
        share = tree / "usr" / "share" / name
        share.mkdir(parents=True)
        (share / "VERSION").write_text(version + "\n")
        for path in [tree, *tree.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        deb = directory / f"{name}_{version}_all.deb"
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(tree), str(deb)],
                       check=True, capture_output=True, text=True)
        deb.chmod(0o644)
        return deb
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def packages_entry(deb: Path, filename: str) -> str:
    """The deb's paragraph of a Packages index, as dpkg-scanpackages writes it."""
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True).stdout
    data = deb.read_bytes()
    fields = {}
    name = None
    for line in control.splitlines():
        if line[:1].isspace() and name:
            fields[name] += "\n" + line
        elif ":" in line:
            name, _, value = line.partition(":")
            fields[name] = value.strip()
    entry = {key: fields[key] for key in ("Package", "Version", "Architecture", "Maintainer") if key in fields}
    entry.update(Filename=filename, Size=str(len(data)), MD5sum=hashlib.md5(data).hexdigest(),
                 SHA256=hashlib.sha256(data).hexdigest(), Description=fields.get("Description", ""))
    return "".join(f"{key}: {value}\n" for key, value in entry.items())


class LocalAptRepo:
    """A flat apt repository in /tmp, known to apt through sources.list.d/rs-test-<pid>.list."""

    def __init__(self, package: str = PACKAGE):
        self.package = package
        # no "_" in the name: apt escapes it in its lists/ file names, which remove() looks for
        self.directory = Path("/tmp") / f"rs-test-repo-{os.getpid()}-{secrets.token_hex(4)}"
        self.directory.mkdir(mode=0o755)
        self.directory.chmod(0o755)  # apt's _apt user reads it, whatever the umask
        self.list_file = Path(f"/etc/apt/sources.list.d/rs-test-{os.getpid()}.list")
        self.debs: dict[str, Path] = {}

    def add(self, version: str) -> Path:
        """Build ``package`` at ``version`` into the repository and rewrite its index."""
        deb = build_deb(self.directory, self.package, version)
        self.debs[version] = deb
        index = "\n".join(packages_entry(d, f"./{d.name}") for d in sorted(self.directory.glob("*.deb")))
        # Packages.xz as well: apt tries it first, and a missing one fills its output with "Err:" lines
        for name, content in (("Packages", index.encode()), ("Packages.xz", lzma.compress(index.encode()))):
            (self.directory / name).write_bytes(content)
            (self.directory / name).chmod(0o644)
        return deb

    def enable(self) -> None:
        self.list_file.write_text(f"deb [trusted=yes] file:{self.directory} ./\n")

    def installed_version(self) -> str | None:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Status} ${Version}", self.package],
                             check=False, capture_output=True, text=True)
        words = out.stdout.split()
        return words[3] if out.returncode == 0 and len(words) == 4 and words[2] == "installed" else None

    def remove(self) -> list[str]:
        """Purge the package, drop the source and apt's copy of its index, delete the repository.

        Returns what could not be cleaned up (empty when all went away)."""
        problems = []
        known = subprocess.run(["dpkg-query", "-W", self.package], check=False, capture_output=True,
                               text=True)
        if known.returncode == 0:
            # another test run may hold the dpkg lock for a while: dpkg itself does not wait
            for _attempt in range(60):
                purge = subprocess.run(["dpkg", "--purge", self.package], check=False, capture_output=True,
                                       text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
                if purge.returncode == 0 or "lock" not in purge.stderr:
                    break
                time.sleep(0.5)
            if purge.returncode != 0:
                problems.append(f"dpkg --purge {self.package}: {purge.stderr.strip()}")
        self.list_file.unlink(missing_ok=True)
        for path in glob.glob(str(LISTS / f"*{self.directory.name}*")) + \
                glob.glob(str(LISTS / "partial" / f"*{self.directory.name}*")):
            Path(path).unlink(missing_ok=True)
        shutil.rmtree(self.directory, ignore_errors=True)
        return problems
