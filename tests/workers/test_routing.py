"""The site split before anything runs: the local path unchanged, bad sites and prompts refused (no broker
needed: every case here is decided before a message would be sent)."""

from __future__ import annotations

import pytest

from remote_support import api
from remote_support.errors import InventoryError, UsageError
from remote_support.journal import Journal


import contextlib


@contextlib.contextmanager
def redis_stopped(redis):
    try:
        yield
    finally:
        redis.remove()


@pytest.fixture
def no_workers_config(monkeypatch, tmp_path):
    for name in ("REMOTE_SUPPORT_BROKER", "REMOTE_SUPPORT_SITES", "REMOTE_SUPPORT_DEFAULT_SITE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REMOTE_SUPPORT_WORKERS_CONFIG", str(tmp_path / "none.yml"))


def inventory(tmp_path, hosts: str):
    path = tmp_path / "inv.yml"
    path.write_text("hosts:\n" + hosts)
    return str(path)


def test_no_host_with_a_site_keeps_the_local_run(tmp_path, no_workers_config):
    inv = inventory(tmp_path, "  pc-1: {address: 127.0.0.1}\n")
    with Journal.open(str(tmp_path / "j.sqlite")) as journal:
        run = api.prepare(api.RunRequest(kind="exec", what="true", inventory=(inv,)), journal=journal)
        assert type(run) is api.Run


def test_a_site_that_cannot_name_a_queue_is_an_inventory_error_with_its_line(tmp_path, no_workers_config):
    inv = inventory(tmp_path, "  pc-1: {address: 127.0.0.1}\n  pc-2: {address: 127.0.0.2, site: 'north pole'}\n")
    with Journal.open(str(tmp_path / "j.sqlite")) as journal, pytest.raises(InventoryError) as caught:
        api.prepare(api.RunRequest(kind="exec", what="true", inventory=(inv,)), journal=journal)
    assert "host pc-2" in str(caught.value) and "inv.yml:3" in str(caught.value)
    assert "'north pole' is not a site name" in str(caught.value)


def test_sites_without_a_broker_and_unroutable_sites_are_refused(tmp_path, no_workers_config, monkeypatch):
    inv = inventory(tmp_path, "  pc-1: {address: 127.0.0.1, site: north}\n")
    request = api.RunRequest(kind="exec", what="true", inventory=(inv,))
    with Journal.open(str(tmp_path / "j.sqlite")) as journal:
        with pytest.raises(UsageError, match=r"site\(s\) north go to site workers through a broker, and none"):
            api.prepare(request, journal=journal)
        monkeypatch.setenv("REMOTE_SUPPORT_SITES", "south,east")
        with pytest.raises(UsageError, match=r"host pc-1 \(.*inv.yml:2\): site 'north' has no route: the "
                                             r"configured sites are south, east"):
            api.prepare(request, journal=journal)
        with pytest.raises(UsageError, match=r"--site west: no host of pattern 'all' is at site west"):
            api.prepare(request.replace(site="west"), journal=journal)
        assert journal.list_runs() == []


def test_prompts_are_refused_for_hosts_at_a_site(tmp_path, no_workers_config):
    inv = inventory(tmp_path, "  pc-1: {address: 127.0.0.1, site: north, password: {secret: prompt}}\n")
    with Journal.open(str(tmp_path / "j.sqlite")) as journal:
        with pytest.raises(UsageError, match=r"password is \{secret: prompt\}, which its site worker cannot answer"):
            api.prepare(api.RunRequest(kind="exec", what="true", inventory=(inv,)), journal=journal)
        with pytest.raises(UsageError, match=r"-e api_token=prompt: .*cannot prompt: give env:NAME or file:PATH"):
            api.prepare(api.RunRequest(kind="exec", what="true", inventory=(inv,),
                                       variables={"api_token": "prompt"}), journal=journal)


def test_a_site_run_leaves_env_references_to_the_worker(tmp_path, no_workers_config, monkeypatch):
    """A controller whose hosts are all at sites does not need the secret: the worker resolves it."""
    from broker_support import Redis

    from remote_support.workers import routing

    inv = inventory(tmp_path, "  pc-1: {address: 127.0.0.1, site: north}\n")
    redis = Redis()  # a real broker for the reachability check (nothing is sent: the run is not executed)
    redis.start()
    monkeypatch.setenv("REMOTE_SUPPORT_BROKER", redis.url)
    monkeypatch.delenv("NOT_ON_THE_CONTROLLER", raising=False)
    with redis_stopped(redis), Journal.open(str(tmp_path / "j.sqlite")) as journal:
        run = api.prepare(api.RunRequest(kind="exec", what="true", inventory=(inv,),
                                         variables={"api_token": "env:NOT_ON_THE_CONTROLLER"}), journal=journal)
        assert type(run).__name__ == "DistributedRun" and run.plan.sites == {"north": ("pc-1",)}
        assert routing.queue_of("north") == "site.north"


def test_settings_come_from_the_config_file_and_the_environment_wins(tmp_path, monkeypatch, no_workers_config):
    from remote_support.errors import SourceError
    from remote_support.workers.config import load_settings

    config = tmp_path / "workers.yml"
    config.write_text("broker: amqp://support:pw@mq:5672//\nsites: [north, south]\ndefault_site: hq\n"
                      "site_timeout: 60\n")
    monkeypatch.setenv("REMOTE_SUPPORT_WORKERS_CONFIG", str(config))
    settings = load_settings()
    assert (settings.broker, settings.sites, settings.default_site, settings.site_timeout) == (
        "amqp://support:pw@mq:5672//", ("north", "south"), "hq", 60.0)
    monkeypatch.setenv("REMOTE_SUPPORT_BROKER", "redis://127.0.0.1:6379/0")
    assert load_settings().broker == "redis://127.0.0.1:6379/0"
    config.write_text("brocker: amqp://mq//\n")
    with pytest.raises(SourceError, match=r"workers.yml: unknown setting\(s\) brocker: known are broker, journal"):
        load_settings()
