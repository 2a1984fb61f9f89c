"""Session fixtures: a private data dir for the whole run and a practice lab of real sshd hosts."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package, however pytest is started
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/lab_support.py

# A suite started in the background by a shell without job control (`make test &` in a script, some CI
# runners) inherits SIGINT ignored, and an ignored signal stays ignored across exec: the tools the Ctrl-C
# tests start would never see their Ctrl-C. A handler is reset to the default on exec, so install one.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from lab_support import LAB_NETWORK, LAB_SIZE  # noqa: E402

pytest_plugins = ["netlab_support"]  # the emulated-switch lab, one per session
from remote_support.lab import SSHD, Lab  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def remote_support_home(tmp_path_factory):
    """``$REMOTE_SUPPORT_HOME`` points at a temp dir for the session: tests never touch the real one."""
    home = tmp_path_factory.mktemp("remote-support-home")
    previous = os.environ.get("REMOTE_SUPPORT_HOME")
    os.environ["REMOTE_SUPPORT_HOME"] = str(home)
    try:
        yield home
    finally:
        if previous is None:
            os.environ.pop("REMOTE_SUPPORT_HOME", None)
        else:
            os.environ["REMOTE_SUPPORT_HOME"] = previous


@pytest.fixture(scope="session")
def lab(remote_support_home, tmp_path_factory):
    """A lab of LAB_SIZE real sshd hosts on 127.43.x, up for the whole session, stopped by PID at the end."""
    if not os.access(SSHD, os.X_OK):
        pytest.fail(f"{SSHD} is missing: the lab tests need real sshd hosts; install openssh-server "
                    "(apt-get install -y openssh-server)", pytrace=False)
    lab = Lab(tmp_path_factory.mktemp("lab"), network=LAB_NETWORK)
    try:
        lab.up(LAB_SIZE)
        yield lab
    finally:
        lab.remove()  # down (by PID) and take the lab's key out of the lab users' authorized_keys
