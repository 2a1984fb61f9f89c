"""Site workers with the real engine: RabbitMQ (and Redis) as processes of the test, two site workers as
processes, a shared PostgreSQL journal, the practice lab's real sshd hosts."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from broker_support import RabbitMQ, Redis
from journal_support import postgres_server  # noqa: F401 - the session's PostgreSQL fixture
from workers_support import Worker, cli, env_for, site_inventory, start_cli

from remote_support.journal import Journal

pytestmark = pytest.mark.slow

if not shutil.which("rabbitmq-server") or not shutil.which("redis-server"):
    pytest.fail("rabbitmq-server and redis-server are missing: `make test` installs them (Debian packages "
                "rabbitmq-server redis-server)", pytrace=False)


@pytest.fixture(scope="module")
def rabbit():
    broker = RabbitMQ()
    try:
        broker.start()
        yield broker
    finally:
        broker.remove()


@pytest.fixture
def journal_url(postgres_server):  # noqa: F811
    return postgres_server.create_database()


@pytest.fixture
def workers(tmp_path):
    started: list[Worker] = []

    def start(site: str, env: dict[str, str], concurrency: int = 1) -> Worker:
        worker = Worker(site, env, tmp_path / f"worker-{site}-{len(started)}.log", concurrency)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


#: what each host appends to its marks file: one line per time the command ran there
MARK = "echo ran"


def marks_dir():
    """A directory the lab's users can write (pytest's tmp_path is private to root)."""
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="rs-worker-marks-"))
    path.chmod(0o777)
    return path


def runs_by_host(inventory, marks, names) -> dict[str, int]:
    """How many times the command ran on each host (its marks file is named by its address)."""
    import yaml

    hosts = yaml.safe_load(inventory.read_text())["hosts"]
    counts = {}
    for name in names:
        path = marks / f"{hosts[name]['address']}.runs"
        counts[name] = path.read_text().count("\n") if path.exists() else 0
    return counts


def hosts_of(journal_url: str, run_id: str):
    with Journal.open(journal_url) as journal:
        return journal.get_run(run_id)


def test_a_run_spanning_two_sites_and_local_hosts_is_one_record_with_each_hosts_worker(
        lab, rabbit, journal_url, workers, tmp_path):
    sites = {"lab-001": "north", "lab-002": "north", "lab-003": "south", "lab-004": "south"}
    inventory = site_inventory(lab, tmp_path / "inv.yml", sites, 6)  # lab-005, lab-006: no site, run here
    env = env_for(rabbit.url, journal_url, REMOTE_SUPPORT_LEASE_TTL="5")
    north = workers("north", env).wait_ready()
    south = workers("south", env).wait_ready()
    done = cli(["exec", "all", "-i", str(inventory), "--json", "--", "hostname; echo from-$((6*7))"], env)
    assert done.returncode == 0, done.stderr + north.text()[-2000:] + south.text()[-2000:]
    document = json.loads(done.stdout)
    assert [h["host"] for h in document["hosts"]] == [f"lab-00{i}" for i in range(1, 7)]
    assert all(h["status"] == "ok" and "from-42" in h["steps"][0]["stdout"] for h in document["hosts"])
    record = hosts_of(journal_url, document["id"])
    assert record.status == "ok" and record.exit_code == 0
    with Journal.open(journal_url) as journal, journal._read() as conn:
        import sqlalchemy as sa
        from remote_support.journal import run_hosts

        workers_of = dict(conn.execute(sa.select(run_hosts.c.host, run_hosts.c.worker)
                                       .where(run_hosts.c.run_id == document["id"])).all())
    assert workers_of["lab-001"].startswith("north.") and workers_of["lab-003"].startswith("south.")
    assert workers_of["lab-005"] is None and workers_of["lab-006"] is None

    # --site restricts the run to one site; the exit code is that of a local run (a failing command: 2)
    failing = cli(["exec", "all", "-i", str(inventory), "--site", "south", "--json", "--", "exit 3"], env)
    assert failing.returncode == 2, failing.stderr
    assert [h["host"] for h in json.loads(failing.stdout)["hosts"]] == ["lab-003", "lab-004"]


def test_bad_input_is_refused_before_anything_runs(lab, rabbit, journal_url, tmp_path):
    inventory = site_inventory(lab, tmp_path / "inv.yml", {"lab-001": "north"}, 2)
    env = env_for(rabbit.url, journal_url)
    unknown = cli(["exec", "all", "-i", str(inventory), "--site", "nowhere", "--", "true"], env)
    assert unknown.returncode == 5 and "--site nowhere: no host" in unknown.stderr
    routed = cli(["exec", "all", "-i", str(inventory), "--", "true"], {**env, "REMOTE_SUPPORT_SITES": "south"})
    assert routed.returncode == 5 and "site 'north' has no route" in routed.stderr, routed.stderr
    down = cli(["exec", "all", "-i", str(inventory), "--", "true"],
               {**env, "REMOTE_SUPPORT_BROKER": "amqp://guest:guest@127.0.0.1:9//"})
    assert down.returncode == 5, down.stderr
    assert "broker amqp://guest:**@127.0.0.1:9// cannot be reached" in down.stderr and "RabbitMQ" in down.stderr
    prompt = cli(["exec", "all", "-i", str(inventory), "-K", "--", "true"], env, input="")
    assert prompt.returncode == 5 and "cannot prompt" in prompt.stderr, prompt.stderr
    with Journal.open(journal_url) as journal:
        assert journal.list_runs() == []  # nothing was recorded, so nothing ran


def test_a_message_from_another_version_is_refused_naming_both(rabbit, journal_url, workers, tmp_path):
    from remote_support import __version__
    from remote_support.api import RunRequest
    from remote_support.workers import leases
    from remote_support.workers.app import make_app, send_part
    from remote_support.workers.messages import part_message

    env = env_for(rabbit.url, journal_url)
    worker = workers("north", env).wait_ready()
    with Journal.open(journal_url) as journal:
        run_id = journal.start_run(kind="exec", name="true", command="true", params={}, inventory=[], pattern="all",
                                   check=False, diff=False, ticket=None, operator=None, hosts=["pc-1"],
                                   tool_version=__version__)
        part = leases.open_parts(journal, run_id, {"north": ["pc-1"]})["north"]
        body = part_message(run_id=run_id, part_id=part.id, round=part.round, site="north", hosts=["pc-1"],
                            request=RunRequest(kind="exec", what="true"))
        body["tool_version"] = "0.0.9"  # an older controller
        app = make_app(rabbit.url)
        send_part(app, "north", body)
        app.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and leases.parts(journal, run_id)[0].status == leases.QUEUED:
            time.sleep(0.2)
        refused = leases.parts(journal, run_id)[0]
    assert refused.status == leases.REFUSED
    assert f"sent by remote-support 0.0.9" in refused.reason and f"this worker is remote-support {__version__}" \
        in refused.reason
    assert "sent by remote-support 0.0.9" in worker.text()


def test_a_site_with_no_worker_is_reported_waiting_then_times_out(lab, rabbit, journal_url, tmp_path):
    inventory = site_inventory(lab, tmp_path / "inv.yml", {"lab-001": "east"}, 2)
    env = env_for(rabbit.url, journal_url, REMOTE_SUPPORT_SITE_TIMEOUT="8")
    done = cli(["exec", "all", "-i", str(inventory), "--", "true"], env)
    assert done.returncode == 4, done.stderr  # the site's host was not reached; lab-002 (local) ran
    assert "site east: waiting for a worker" in done.stderr
    assert "no worker took the part within 8 s (queue site.east" in " ".join(done.stderr.split())
    assert "remote-support worker --site east" in " ".join(done.stderr.split())


def test_a_worker_killed_mid_part_is_taken_over_and_no_host_runs_twice(lab, rabbit, journal_url, workers,
                                                                        tmp_path):
    names = [f"lab-{i:03d}" for i in range(1, 13)]
    inventory = site_inventory(lab, tmp_path / "inv.yml", {n: "north" for n in names}, 12)
    env = env_for(rabbit.url, journal_url, REMOTE_SUPPORT_LEASE_TTL="3", REMOTE_SUPPORT_SITE_TIMEOUT="120")
    first = workers("north", env).wait_ready()
    marks = marks_dir()
    command = f"{MARK} >> {marks}/$(echo $SSH_CONNECTION | cut -d' ' -f3).runs && sleep 1"
    controller = start_cli(["exec", "all", "-i", str(inventory), "-f", "2", "--json", "--", command], env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(marks.glob("*.runs"))) < 3:
        time.sleep(0.1)
    first.kill()  # SIGKILL mid-part: RabbitMQ delivers the message again, to the next worker of the site
    second = workers("north", env).wait_ready()
    out, err = controller.communicate(timeout=240)
    document = json.loads(out)
    status = {h["host"]: h for h in document["hosts"]}
    runs = runs_by_host(inventory, marks, names)
    ok = [n for n in names if status[n]["status"] == "ok"]
    in_flight = [n for n in names if status[n]["status"] == "interrupted"]
    assert set(ok) | set(in_flight) == set(names), (status, err)
    assert all(runs[n] == 1 for n in ok), runs  # every finished host ran exactly once
    assert all(runs[n] <= 1 for n in in_flight), runs
    assert all("in flight on worker north." in status[n]["reason"] for n in in_flight)
    assert in_flight and len(ok) > 2  # the first worker had hosts in flight; the second finished the rest
    assert "took the part over" in " ".join(n.text for n in hosts_of(journal_url, document["id"]).notes)
    assert second.text().count("lease taken") == 1


def test_a_broker_restart_mid_run_loses_no_host(lab, journal_url, workers, tmp_path):
    broker = RabbitMQ()
    broker.start()
    try:
        names = [f"lab-{i:03d}" for i in range(20, 28)]
        inventory = site_inventory(lab, tmp_path / "inv.yml", {n: "north" for n in names}, 100)
        env = env_for(broker.url, journal_url, REMOTE_SUPPORT_LEASE_TTL="3")
        workers("north", env, concurrency=2).wait_ready()
        marks = marks_dir()
        command = f"{MARK} >> {marks}/$(echo $SSH_CONNECTION | cut -d' ' -f3).runs && sleep 1"
        controller = start_cli(["exec", ",".join(names), "-i", str(inventory), "-f", "2", "--json", "--",
                                command], env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(marks.glob("*.runs")):
            time.sleep(0.1)
        broker.stop()
        broker.start()  # same node, same data: the durable queue and its unacknowledged message come back
        out, err = controller.communicate(timeout=240)
        assert controller.returncode == 0, err
        document = json.loads(out)
        assert all(h["status"] == "ok" for h in document["hosts"])
        assert set(runs_by_host(inventory, marks, names).values()) == {1}
    finally:
        broker.remove()


def test_redis_broker_with_a_visibility_timeout(lab, journal_url, workers, tmp_path):
    redis = Redis()
    redis.start()
    try:
        inventory = site_inventory(lab, tmp_path / "inv.yml", {"lab-030": "west", "lab-031": "west"}, 100)
        env = env_for(redis.url, journal_url)
        workers("west", env).wait_ready()
        done = cli(["exec", "lab-030,lab-031", "-i", str(inventory), "--json", "--", "echo hi"], env)
        assert done.returncode == 0, done.stderr
        listing = cli(["workers", "--json"], env)
        assert listing.returncode == 0, listing.stderr
        found = json.loads(listing.stdout)["sites"]
        assert len(found["west"]["workers"]) == 1 and found["west"]["queued"] == 0
    finally:
        redis.remove()


def test_ctrl_c_cancels_the_remote_part_and_runs_resume_sends_the_rest_again(lab, rabbit, journal_url, workers,
                                                                             tmp_path):
    import signal

    names = [f"lab-{i:03d}" for i in range(40, 48)]
    inventory = site_inventory(lab, tmp_path / "inv.yml", {n: "north" for n in names}, 100)
    env = env_for(rabbit.url, journal_url, REMOTE_SUPPORT_LEASE_TTL="3")
    worker = workers("north", env).wait_ready()
    marks = marks_dir()
    command = f"{MARK} >> {marks}/$(echo $SSH_CONNECTION | cut -d' ' -f3).runs && sleep 2"
    controller = start_cli(["exec", ",".join(names), "-i", str(inventory), "-f", "1", "--", command], env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and sum(runs_by_host(inventory, marks, names).values()) < 2:
        time.sleep(0.1)
    controller.send_signal(signal.SIGINT)
    _, err = controller.communicate(timeout=60)
    assert controller.returncode == 99, err
    assert "stopping: the site workers stop their parts" in " ".join(err.split())
    run_id = err.split("| run ")[1].split()[0]
    before = runs_by_host(inventory, marks, names)
    assert 0 in before.values(), before  # the worker stopped its part: not every host ran
    record = hosts_of(journal_url, run_id)
    assert record.status == "interrupted"
    assert "cancelled" in worker.text() or "part ended" in worker.text()

    again = cli(["runs", "resume", run_id, "--json"], env)
    after = runs_by_host(inventory, marks, names)
    assert max(after.values()) == 1, after  # no host ran twice
    assert all(after[n] == 1 for n in names if before[n] == 0), (after, again.stderr)
    document = json.loads(again.stdout)
    assert {h["host"] for h in document["hosts"]} == {n for n in names if before[n] == 0}
    assert all(h["status"] == "ok" for h in document["hosts"])


def test_a_default_site_takes_the_hosts_without_a_site(lab, rabbit, journal_url, workers, tmp_path):
    import sqlalchemy as sa

    from remote_support.journal import run_hosts

    inventory = site_inventory(lab, tmp_path / "inv.yml", {"lab-050": "north"}, 100)
    env = env_for(rabbit.url, journal_url, REMOTE_SUPPORT_DEFAULT_SITE="hq")
    workers("hq", env).wait_ready()
    workers("north", env).wait_ready()
    done = cli(["exec", "lab-050,lab-051,lab-052", "-i", str(inventory), "--json", "--", "true"], env)
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["id"]
    with Journal.open(journal_url) as journal, journal._read() as conn:
        workers_of = dict(conn.execute(sa.select(run_hosts.c.host, run_hosts.c.worker)
                                       .where(run_hosts.c.run_id == run_id)).all())
    assert workers_of["lab-050"].startswith("north.")
    assert workers_of["lab-051"].startswith("hq.") and workers_of["lab-052"].startswith("hq.")


def test_redis_delivers_a_killed_workers_part_again_after_its_visibility_timeout(lab, journal_url, workers,
                                                                                 tmp_path):
    redis = Redis()
    redis.start()
    try:
        names = [f"lab-{i:03d}" for i in range(60, 68)]
        inventory = site_inventory(lab, tmp_path / "inv.yml", {n: "west" for n in names}, 100)
        env = env_for(redis.url, journal_url, REMOTE_SUPPORT_LEASE_TTL="3", REMOTE_SUPPORT_VISIBILITY_TIMEOUT="6")
        first = workers("west", env).wait_ready()
        marks = marks_dir()
        command = f"{MARK} >> {marks}/$(echo $SSH_CONNECTION | cut -d' ' -f3).runs && sleep 1"
        controller = start_cli(["exec", ",".join(names), "-i", str(inventory), "-f", "2", "--json", "--", command],
                               env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and sum(runs_by_host(inventory, marks, names).values()) < 3:
            time.sleep(0.1)
        first.kill()
        second = workers("west", env).wait_ready()
        out, err = controller.communicate(timeout=240)
        status = {h["host"]: h["status"] for h in json.loads(out)["hosts"]}
        runs = runs_by_host(inventory, marks, names)
        ok = [n for n in names if status[n] == "ok"]
        assert set(ok) | {n for n in names if status[n] == "interrupted"} == set(names), (status, err)
        assert all(runs[n] == 1 for n in ok) and max(runs.values()) == 1, runs
        assert "lease taken" in second.text() and len(ok) > 3
    finally:
        redis.remove()
