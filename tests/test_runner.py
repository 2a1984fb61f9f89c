"""The parallel runner on real lab hosts: isolation, forks, batches, failure budget."""

from __future__ import annotations

import socket
import threading
import time

from remote_support.connections.base import ConnectOptions
from remote_support.inventory import Host
from remote_support.results import EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, Status
from remote_support.api import command_work
from remote_support.runner import Runner, batches, parse_serial

import pytest


def lab_hosts(lab, count: int | None = None) -> list[Host]:
    entries = lab.status()[:count] if count else lab.status()
    return [Host(e.name, {"address": e.address, "port": e.port, "user": lab.user,
                          "private_key_file": str(lab.client_key_path),
                          "known_hosts_file": str(lab.known_hosts_path)}) for e in entries]


def dead_host(name: str = "dead-001") -> Host:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return Host(name, {"address": "127.0.0.1", "port": port})


def command(text: str):
    def work(connection):
        return command_work(text, timeout=30, become=False)(connection)
    return work


class Recorder:
    def __init__(self):
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def host_started(self, host):
        with self.lock:
            self.started[host.name] = time.monotonic()
            self.running += 1
            self.peak = max(self.peak, self.running)

    def host_finished(self, result):
        with self.lock:
            self.finished[result.host] = time.monotonic()
            self.running -= 1


def test_sixty_hosts_in_parallel_each_answers_as_itself(lab):
    hosts = lab_hosts(lab)
    assert len(hosts) >= 50
    recorder = Recorder()
    run = Runner(ConnectOptions(), forks=50, events=recorder).run(hosts, command("uname -n"))
    assert run.exit_code == EXIT_OK
    assert [r.host for r in run.hosts] == [h.name for h in hosts]  # inventory order
    assert [r.steps[0].stdout.strip() for r in run.hosts] == [h.name for h in hosts]
    assert 1 < recorder.peak <= 50


def test_unreachable_host_among_reachable_ones(lab):
    hosts = lab_hosts(lab, 4)
    hosts.insert(2, dead_host())
    run = Runner(ConnectOptions()).run(hosts, command("true"))
    statuses = {r.host: r.status for r in run.hosts}
    assert statuses.pop("dead-001") is Status.UNREACHABLE
    assert set(statuses.values()) == {Status.OK}
    assert "connection refused" in run.hosts[2].reason
    assert run.exit_code == EXIT_UNREACHABLE


def test_failing_command_fails_that_host_only(lab):
    hosts = lab_hosts(lab, 3)
    run = Runner(ConnectOptions()).run(hosts, command(f"test $(uname -n) != {hosts[1].name}"))
    assert [r.status for r in run.hosts] == [Status.OK, Status.FAILED, Status.OK]
    assert run.hosts[1].reason == "exit code 1"
    assert run.exit_code == EXIT_FAILED


def test_forks_bound_concurrency(lab):
    recorder = Recorder()
    Runner(ConnectOptions(), forks=3, events=recorder).run(lab_hosts(lab, 9), command("sleep 0.3"))
    assert recorder.peak == 3


def test_serial_batches_run_one_after_another(lab):
    hosts = lab_hosts(lab, 6)
    recorder = Recorder()
    run = Runner(ConnectOptions(), forks=10, serial=parse_serial("2,50%"), events=recorder).run(
        hosts, command("sleep 0.2"))
    assert run.exit_code == EXIT_OK
    first, second, third = ([h.name for h in b] for b in batches(hosts, ["2", "50%"]))
    assert len(first) == 2 and len(second) == 3 and len(third) == 1
    assert max(recorder.finished[n] for n in first) <= min(recorder.started[n] for n in second)
    assert max(recorder.finished[n] for n in second) <= min(recorder.started[n] for n in third)


def test_max_fail_percentage_stops_starting_hosts(lab):
    hosts = [dead_host(f"dead-{i:03d}") for i in range(4)] + lab_hosts(lab, 6)
    run = Runner(ConnectOptions(), forks=1, max_fail_percentage=20).run(hosts, command("true"))
    # budget: 20% of 10 = 2 failures; the third failure stops the run
    assert [r.status for r in run.hosts[:3]] == [Status.UNREACHABLE] * 3
    assert all(r.status is Status.SKIPPED for r in run.hosts[3:])
    assert "max fail percentage exceeded" in run.aborted_reason
    assert run.exit_code == EXIT_UNREACHABLE


def test_a_batch_that_fails_entirely_stops_the_next_batches(lab):
    hosts = [dead_host("dead-a"), dead_host("dead-b")] + lab_hosts(lab, 2)
    run = Runner(ConnectOptions(), serial=["2"]).run(hosts, command("true"))
    assert [r.status for r in run.hosts] == [Status.UNREACHABLE] * 2 + [Status.SKIPPED] * 2


def test_an_internal_error_on_one_host_is_recorded_not_raised(lab):
    def work(connection):
        if connection.host.name == lab.status()[0].name:
            raise ValueError("boom")
        return command_work("true", timeout=None, become=False)(connection)
    run = Runner(ConnectOptions()).run(lab_hosts(lab, 2), work)
    assert run.hosts[0].status is Status.FAILED and "internal error: ValueError: boom" in run.hosts[0].reason
    assert run.hosts[1].status is Status.OK


@pytest.mark.parametrize("spec", ["0", "-1", "x", "10%%", "1,,0"])
def test_bad_serial_is_refused(spec):
    from remote_support.errors import UsageError
    with pytest.raises(UsageError, match="--serial"):
        parse_serial(spec)


def test_bad_forks_are_refused():
    from remote_support.errors import UsageError
    with pytest.raises(UsageError, match="--forks -1"):
        Runner(ConnectOptions(), forks=-1)
