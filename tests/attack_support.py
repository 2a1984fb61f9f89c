"""A second, unprivileged local user who plants links, and a sticky /tmp-like directory with a root-only
file beside it: the attack of issue 11 item 1, shared by the file-writing kinds' tests."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

ATTACKER = "rsattacker"
SECRET = "root-only secret: hunter2\n"


@pytest.fixture(scope="module")
def attacker():
    """A local unprivileged user (not the lab's), removed afterwards."""
    if subprocess.run(["id", ATTACKER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", ATTACKER], check=True)
    entry = pwd.getpwnam(ATTACKER)
    yield entry
    subprocess.run(["userdel", ATTACKER], check=False)


def as_attacker(entry, *argv: str) -> None:
    """Run a command as the attacker (a real process with their uid, as they would)."""
    subprocess.run(["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--clear-groups", "--",
                    *argv], check=True)


@pytest.fixture
def sticky(tmp_path_factory):
    """A /tmp-like directory: root-owned, mode 1777, beside a root-only file with a secret."""
    base = Path("/tmp") / f"rs-sticky-{os.getpid()}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    os.chmod(base, 0o1777)
    secret = Path("/root") / f"rs-secret-{os.getpid()}"
    secret.write_text(SECRET)
    os.chmod(secret, 0o600)
    yield base, secret
    shutil.rmtree(base, ignore_errors=True)
    secret.unlink(missing_ok=True)
