"""The session netlab: emulated Cisco IOS switches (fake-switches) for the network-device tests.

Import the fixture into a test module with ``from netlab_support import netlab  # noqa: F401``.
The fake-switches virtual environment is cached across runs (``RS_TEST_NETLAB_VENV``, default
``~/.cache/remote-support/netlab-venv``, outside the repository); creating it takes about 10 s.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import pytest

from remote_support.connections import connect
from remote_support.connections.base import ConnectOptions
from remote_support.inventory import Host, load_inventory
from remote_support.lab.netlab import NetLab

#: its own loopback network, away from the sshd labs (127.42/127.43) and a user's netlab (127.44)
NETLAB_NETWORK = os.environ.get("RS_TEST_NETLAB_NETWORK", "127.47.0.0")
NETLAB_SIZE = 10
NETLAB_VENV = Path(os.environ.get("RS_TEST_NETLAB_VENV",
                                  Path.home() / ".cache" / "remote-support" / "netlab-venv"))


_shared: dict[str, Any] = {"lab": None, "users": 0}


@pytest.fixture(scope="session")
def netlab(remote_support_home, tmp_path_factory):
    """NETLAB_SIZE switches up for the whole session, stopped by PID at the end.

    Test modules import this fixture, so pytest sees one definition per module: they share one lab
    (the last user stops it). With ``pytest_plugins = ["netlab_support"]`` in conftest.py it is one.
    """
    if _shared["lab"] is None:
        lab = NetLab(tmp_path_factory.mktemp("netlab"), network=NETLAB_NETWORK, venv=NETLAB_VENV)
        started = time.monotonic()
        try:
            lab.up(NETLAB_SIZE)
        except BaseException:
            lab.down()
            raise
        lab.up_seconds = time.monotonic() - started
        print(f"\nnetlab: {NETLAB_SIZE} switches up in {lab.up_seconds:.1f}s"
              + (f" (of which creating the venv {NETLAB_VENV}: {lab.venv_seconds:.1f}s)" if lab.venv_seconds else ""))
        _shared["lab"] = lab
    _shared["users"] += 1
    try:
        yield _shared["lab"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            _shared["lab"].down()
            _shared["lab"] = None


def netlab_hosts(lab: NetLab, indexes: Sequence[int] = (0,), **overrides: Any) -> list[Host]:
    """Switches as the runner sees them, from the lab's own inventory (secrets as file references)."""
    inventory = load_inventory([str(lab.inventory_path)])
    hosts = list(inventory.hosts.values())
    return [replace(hosts[i], vars={**hosts[i].vars, **overrides}) for i in indexes]


def running_config(host: Host) -> str:
    """A device's running config, read over its own connection (to check what a step did)."""
    connection = connect(host, ConnectOptions())
    connection.open()
    try:
        return connection.get_config()
    finally:
        connection.close()


# ---------------------------------------------------------------- the multi-vendor lab

#: the models of the multi-vendor lab, each twice (switch i is MULTI_MODELS[i % 5])
MULTI_MODELS = ("ios", "eos", "fastiron", "os6", "junos")
MULTI_SIZE = 2 * len(MULTI_MODELS)
_net = NETLAB_NETWORK.split(".")
#: beside the session netlab, in the same /16: 127.X.(Y+1).0
MULTI_NETWORK = os.environ.get("RS_TEST_NETLAB_MULTI_NETWORK", f"{_net[0]}.{_net[1]}.{int(_net[2]) + 1}.0")


@pytest.fixture(scope="session")
def multilab(remote_support_home, tmp_path_factory):
    """MULTI_SIZE switches of every lab model (IOS, EOS, FastIron, Dell OS6, Junos over NETCONF), stopped by PID."""
    lab = NetLab(tmp_path_factory.mktemp("multilab"), network=MULTI_NETWORK, venv=NETLAB_VENV)
    try:
        lab.up(MULTI_SIZE, models=MULTI_MODELS)
        yield lab
    finally:
        lab.down()


def model_host(lab: NetLab, model: str, copy: int = 0, **overrides: Any) -> Host:
    """The ``copy``-th switch (0 or 1) of ``model`` in the multi-vendor lab."""
    index = MULTI_MODELS.index(model) + copy * len(MULTI_MODELS)
    return netlab_hosts(lab, [index], **overrides)[0]
