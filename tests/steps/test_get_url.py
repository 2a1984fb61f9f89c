"""get_url (steps/get_url.py) on real lab hosts, from an HTTP server the test runs on 127.0.0.1 (stopped
with shutdown() at the end). The same server also answers as an HTTP proxy, so the test can tell whether
a download went through the proxy the host's environment names."""

from __future__ import annotations

import hashlib
import secrets
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from remote_support.errors import TaskError
from remote_support.results import Status
from remote_support.steps import get_url
from remote_support.tasks import load_task
from task_support import lab_hosts, run_task, steps_of, write_task

PAYLOAD = b"vendor agent 2.4.1\n" + bytes(range(256)) * 64


class _Handler(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.requests.append(self.path)  # an absolute URL here: the request came through as a proxy
        name = self.path.split("/", 3)[-1] if self.path.startswith("http://") else self.path.lstrip("/")
        body = self.files.get(name)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.files = {"agent.bin": PAYLOAD, "other.bin": b"something else\n"}
    _Handler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.requests
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


@pytest.fixture
def dest():
    path = Path(f"/tmp/rstest-get-{secrets.token_hex(3)}")
    yield path
    path.unlink(missing_ok=True)
    Path(f"{path}.environment").unlink(missing_ok=True)


def task_for(tmp_path, dest, url, checksum, extra=""):
    return write_task(tmp_path, f"""
        name: download
        steps:
          - name: get
            get_url: {{url: "{url}", dest: {dest}, checksum: "{checksum}", mode: "0640"{extra}}}
            become: true
        """)


def test_download_is_verified_atomic_and_then_ok(lab, tmp_path, server, dest, monkeypatch):
    monkeypatch.setattr(get_url, "ENVIRONMENT_FILE", str(tmp_path / "no-environment"))
    base, requests = server
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    task = task_for(tmp_path, dest, f"{base}/agent.bin", f"sha256:{digest}")
    host = lab_hosts(lab, [68])

    run = run_task(task, host, check=True, diff=True)
    step = steps_of(run)["get"]
    assert step.status is Status.CHANGED and step.reason == f"check mode: would download {base}/agent.bin to {dest}"
    assert not dest.exists() and requests == []

    run = run_task(task, host)
    step = steps_of(run)["get"]
    assert step.status is Status.CHANGED, step.reason
    assert dest.read_bytes() == PAYLOAD and stat.S_IMODE(dest.stat().st_mode) == 0o640
    assert dest.stat().st_uid == 0, "written as the become user"
    assert requests == ["/agent.bin"], "no proxy in this host's environment"
    assert steps_of(run_task(task, host))["get"].status is Status.OK
    assert len(requests) == 1, "the right file is there: nothing downloaded"

    dest.chmod(0o600)
    run = run_task(task, host)
    assert steps_of(run)["get"].reason == f"set mode 0600 -> 0640 on {dest}" and len(requests) == 1

    # a file that does not match the checksum never replaces the old one, and leaves no temporary file
    wrong = task_for(tmp_path, dest, f"{base}/other.bin", f"sha256:{digest}")
    dest.write_bytes(b"old\n")
    run = run_task(wrong, host)
    step = steps_of(run)["get"]
    assert step.status is Status.FAILED and "does not match sha256:" in step.reason
    assert hashlib.sha256(b"something else\n").hexdigest() in step.reason
    assert dest.read_bytes() == b"old\n"
    assert not list(dest.parent.glob(f".{dest.name}.rs-*"))

    missing = task_for(tmp_path, dest, f"{base}/missing.bin", f"sha256:{digest}")
    step = steps_of(run_task(missing, host))["get"]
    assert step.status is Status.FAILED and step.reason.startswith(f"cannot download {base}/missing.bin")


def test_the_proxy_comes_from_the_hosts_environment_even_with_become(lab, tmp_path, server, dest, monkeypatch):
    base, requests = server
    environment = Path(f"{dest}.environment")  # the login user reads it: not under pytest's private tmp
    environment.write_text(f'LANG=C.UTF-8\nhttp_proxy="{base}"\n')
    environment.chmod(0o644)
    monkeypatch.setattr(get_url, "ENVIRONMENT_FILE", str(environment))
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    target = "http://127.0.0.2:9/agent.bin"  # nothing listens there: only the proxy can answer
    host = lab_hosts(lab, [69])
    run = run_task(task_for(tmp_path, dest, target, f"sha256:{digest}"), host)
    assert steps_of(run)["get"].status is Status.CHANGED, steps_of(run)["get"].reason
    assert requests == [target] and dest.read_bytes() == PAYLOAD
    assert steps_of(run)["get"].data["proxy"] == ["http_proxy"]

    dest.unlink()
    run = run_task(task_for(tmp_path, dest, target, f"sha256:{digest}", ", use_proxy: false"), host)
    assert steps_of(run)["get"].status is Status.FAILED and len(requests) == 1


@pytest.mark.parametrize("args, message", [
    ("{url: 'http://h/x', dest: /tmp/x}", "needs the argument 'checksum'"),
    ("{url: 'http://h/x', dest: /tmp/x, checksum: 'sha256:abc'}", "is not ALGORITHM:HEX"),
    ("{url: 'http://user:pw@h/x', dest: /tmp/x, checksum: 'md5:" + "0" * 32 + "'}", "without credentials"),
    ("{url: 'file:///etc/shadow', dest: /tmp/x, checksum: 'md5:" + "0" * 32 + "'}", "is not an http://"),
    ("{url: 'http://h/x', dest: x, checksum: 'md5:" + "0" * 32 + "'}", "absolute path"),
])
def test_bad_get_url_arguments_are_refused_at_load(tmp_path, args, message):
    task = write_task(tmp_path, f"name: bad\nsteps:\n  - get_url: {args}\n")
    with pytest.raises(TaskError) as error:
        load_task(task)
    assert message in str(error.value) and "task.yml:3" in str(error.value)


def _root_only(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    path.chmod(0o600)
    return path


def test_a_link_planted_at_or_above_the_destination_is_not_followed(lab, tmp_path, server, attacker, sticky,
                                                                     monkeypatch):
    """Issue 11 item 1 for get_url: another user plants links in a sticky /tmp-like directory; a get_url with
    become must neither write into the directory a link points at, nor chmod the file a link points at
    (even one whose content is the wanted download, where only the attributes would change)."""
    from attack_support import SECRET, as_attacker

    monkeypatch.setattr(get_url, "ENVIRONMENT_FILE", str(tmp_path / "no-environment"))
    base, secret = sticky
    url, requests = server
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    host = lab_hosts(lab, [90])
    # a directory link above the destination: /sticky/dir -> /root
    as_attacker(attacker, "ln", "-s", str(secret.parent), str(base / "dir"))
    planted_in_root = secret.parent / f"rs-get-{secrets.token_hex(3)}"
    # a link at the destination to a root-only file that already holds the payload
    same = _root_only(secret.parent / f"rs-same-{secrets.token_hex(3)}", PAYLOAD)
    as_attacker(attacker, "ln", "-s", str(same), str(base / "agent.bin"))
    try:
        for check in (True, False):
            step = steps_of(run_task(task_for(tmp_path, f"{base}/dir/{planted_in_root.name}", f"{url}/agent.bin",
                                              f"sha256:{digest}"), host, check=check))["get"]
            assert step.status is Status.FAILED and "on its path is a symbolic link" in step.reason, step.reason
            assert not planted_in_root.exists()
            for dest in (base / "agent.bin", base):  # the link itself, or the URL's name in a directory
                step = steps_of(run_task(task_for(tmp_path, dest, f"{url}/agent.bin", f"sha256:{digest}"), host,
                                         check=check))["get"]
                assert step.status is Status.FAILED, step.reason
                assert step.reason.startswith(f"refusing {base}/agent.bin: it is a symbolic link"), step.reason
                assert stat.S_IMODE(same.stat().st_mode) == 0o600, "the linked file was not chmod-ed"
                assert (base / "agent.bin").is_symlink()
        assert secret.read_text() == SECRET and requests == []
    finally:
        planted_in_root.unlink(missing_ok=True)
        same.unlink(missing_ok=True)


def test_a_download_into_a_sticky_directory_is_written_there_safely(lab, tmp_path, server, sticky, monkeypatch):
    """The same safe writer, no attack: the file is created in the sticky directory, then ok."""
    monkeypatch.setattr(get_url, "ENVIRONMENT_FILE", str(tmp_path / "no-environment"))
    base, _ = sticky
    url, requests = server
    task = task_for(tmp_path, base, f"{url}/agent.bin", f"sha256:{hashlib.sha256(PAYLOAD).hexdigest()}")
    host = lab_hosts(lab, [91])
    step = steps_of(run_task(task, host))["get"]
    assert step.status is Status.CHANGED and step.data["dest"] == f"{base}/agent.bin", step.reason
    written = base / "agent.bin"
    assert written.read_bytes() == PAYLOAD and written.stat().st_uid == 0
    assert stat.S_IMODE(written.stat().st_mode) == 0o640 and not list(base.glob(".agent.bin.rs-*"))
    assert steps_of(run_task(task, host))["get"].status is Status.OK and len(requests) == 1
