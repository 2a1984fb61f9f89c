"""The command line of the web view: `users ...`, `serve`, `runs search`, `report --ticket`,
`runs escalate --ticket`, as a user types them (child processes on a real journal)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from web_support import HOSTILE, PASSWORD, REPO, Server, free_port, record_sample  # noqa: E402

from remote_support.journal import Journal  # noqa: E402


@pytest.fixture
def journal_path(tmp_path):
    path = tmp_path / "journal.sqlite"
    with Journal.open(str(path)) as journal:
        record_sample(journal)
    return path


def cli(*args: str, journal_path: Path, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "remote_support", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO), "RS_PW": PASSWORD,
                                                "REMOTE_SUPPORT_JOURNAL": str(journal_path), **(env or {})})


def test_users_add_list_passwd_token(journal_path):
    added = cli("users", "add", "alice", "--level", "1", "--password-env", "RS_PW", journal_path=journal_path)
    assert added.returncode == 0, added.stderr
    assert "alice added (level 1)" in added.stderr
    assert cli("users", "add", "lead", "--level", "3", "--approver", "--password-env", "RS_PW",
               journal_path=journal_path).returncode == 0
    again = cli("users", "add", "alice", "--level", "2", "--password-env", "RS_PW", journal_path=journal_path)
    assert again.returncode == 5 and "exists already" in again.stderr
    short = cli("users", "add", "bob", "--level", "2", "--password-env", "SHORT", journal_path=journal_path,
                env={"SHORT": "abc"})
    assert short.returncode == 5 and "at least 10 characters" in short.stderr
    listed = json.loads(cli("users", "list", "--json", journal_path=journal_path).stdout)
    assert [(u["name"], u["role"]) for u in listed] == [("alice", "level 1"), ("lead", "level 3, approver")]
    token = cli("users", "token", "alice", journal_path=journal_path).stdout.strip()
    assert token.startswith("rs_") and len(token) > 40
    changed = cli("users", "passwd", "alice", "--password-env", "NEW", journal_path=journal_path,
                  env={"NEW": "another long password"})
    assert changed.returncode == 0
    with Journal.open(str(journal_path)) as journal:
        from remote_support.journal_people import People

        people = People(journal)
        assert people.authenticate("alice", "another long password").name == "alice"
        assert people.token_user(token).name == "alice"
        # stored hashed: neither the password nor the token is in the database
        raw = journal_path.read_bytes() + (journal_path.with_name(journal_path.name + "-wal").read_bytes()
                                           if journal_path.with_name(journal_path.name + "-wal").exists() else b"")
        assert token.encode() not in raw and PASSWORD.encode() not in raw
        assert [e["action"] for e in people.audit_log()][::-1] == ["user.add", "user.add", "token.new", "user.passwd"]


def test_serve_binds_to_loopback_says_so_and_answers_401(journal_path):
    server = Server(f"sqlite:///{journal_path}")
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + "/api/runs", timeout=10)
        assert refused.value.code == 401
        assert "loopback only" in server.output() and f"127.0.0.1:{server.port}" in server.output()
        assert "no accounts yet" in server.output()
        static = urllib.request.urlopen(server.url + "/static/htmx.min.js", timeout=10).read()
        assert b"htmx" in static[:2000]
    finally:
        server.stop()


def test_serve_refuses_a_bad_listen_address_and_half_tls(journal_path, tmp_path):
    bad = cli("serve", "--listen", "nowhere", journal_path=journal_path)
    assert bad.returncode == 5 and "HOST:PORT" in bad.stderr
    cert = tmp_path / "c.pem"
    cert.write_text("x")
    half = cli("serve", "--listen", f"127.0.0.1:{free_port()}", "--cert", str(cert), journal_path=journal_path)
    assert half.returncode == 5 and "--cert and --key go together" in half.stderr


def test_serve_with_tls(journal_path, tmp_path):
    import ssl

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "remote_support", "serve", "--listen", f"127.0.0.1:{port}",
                                "--journal", str(journal_path), "--cert", str(cert), "--key", str(key)], cwd=REPO,
                               env={**os.environ, "PYTHONPATH": str(REPO)}, stderr=subprocess.PIPE, text=True)
    try:
        context = ssl.create_default_context(cafile=str(cert))
        import time

        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"https://127.0.0.1:{port}/login", timeout=5, context=context).close()
                break
            except urllib.error.URLError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/login", timeout=5, context=context) as answer:
            cookies = answer.headers.get_all("set-cookie")
        assert cookies and all("Secure" in c for c in cookies)
    finally:
        process.terminate()
        process.wait(15)
    assert f"https://127.0.0.1:{port}/" in process.stderr.read()


def test_runs_search_from_the_cli(journal_path):
    found = cli("runs", "search", "NT_STATUS_ACCOUNT_LOCKED_OUT", journal_path=journal_path)
    assert found.returncode == 0 and "INC-1001" in found.stdout and "[NT_STATUS_ACCOUNT_LOCKED_OUT]" in found.stdout
    notes = json.loads(cli("runs", "search", "called back", "--kind", "note", "--json", journal_path=journal_path).stdout)
    assert [h["kind"] for h in notes] == ["note"]
    assert json.loads(cli("runs", "search", "called back", "--kind", "step", "--json",
                          journal_path=journal_path).stdout) == []
    nothing = cli("runs", "search", "zzzznotthere", journal_path=journal_path)
    assert nothing.returncode == 0 and "nothing found" in nothing.stderr


def test_report_and_escalate_a_whole_ticket(journal_path, tmp_path):
    page = cli("report", "--ticket", "INC-1001", journal_path=journal_path).stdout
    assert page.count("<section id=\"run-") == 2 and "Ticket INC-1001: 2 run(s)" in page
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    data = json.loads(cli("report", "--ticket", "INC-1001", "--format", "json", journal_path=journal_path).stdout)
    assert [r["name"] for r in data["runs"]] == ["unlock-user", "net-backup"]
    both = cli("report", "x", "--ticket", "INC-1001", journal_path=journal_path)
    assert both.returncode == 5
    unknown = cli("report", "--ticket", "NOPE", journal_path=journal_path)
    assert unknown.returncode != 0 and "no run for ticket 'NOPE'" in unknown.stderr
    out = tmp_path / "bundle.zip"
    done = cli("runs", "escalate", "--ticket", "INC-1001", "--to", "L3", "--note", "both runs", "-o", str(out),
               journal_path=journal_path)
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(out) as bundle:
        names = bundle.namelist()
        assert {"ticket.html", "ticket.json", "README.txt"} <= set(names)
        assert sum(n.endswith("/report.json") for n in names) == 2
        assert "NT_STATUS_ACCOUNT_LOCKED_OUT" in bundle.read(
            [n for n in names if n.endswith("smb_check.stderr.txt")][0]).decode()
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    with Journal.open(str(journal_path)) as journal:
        escalations = [n for r in journal.list_runs(ticket="INC-1001") for n in journal.get_run(r.id).notes
                       if n.kind == "escalation"]
        assert any("both runs" in n.text and n.bundle == str(out) for n in escalations)
    assert HOSTILE  # the sample's hostile text is in the journal (checked escaped above)


def test_run_through_the_server_obeys_the_token_users_level(lab, tmp_path):
    """`run TASK --server URL` with a token: the run happens in the server (recorded there, audited), and a
    viewer's token is refused with exit 5."""
    from remote_support.journal_people import People
    from web_support import add_users

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "web-whoami.yml").write_text("name: Who am I\nsteps:\n  - name: who\n    command: id -un\n"
                                          "    changed_when: false\n")
    journal_path = tmp_path / "server.sqlite"
    with Journal.open(str(journal_path)) as journal:
        people = add_users(journal)
        tokens = {name: people.new_token(name) for name in ("viewer", "bob")}
    server = Server(f"sqlite:///{journal_path}", inventory=str(lab.inventory_path),
                    env={"REMOTE_SUPPORT_TASKS": str(tasks)})
    host = lab.status()[93].name
    local = tmp_path / "local.sqlite"  # the client's own journal stays empty: the server records the run
    try:
        refused = cli("run", "web-whoami", "-l", host, "--server", server.url, journal_path=local,
                      env={"REMOTE_SUPPORT_TOKEN": tokens["viewer"]})
        assert refused.returncode == 5 and "may not run" in refused.stderr
        done = cli("run", "web-whoami", "-l", host, "--server", server.url, "--ticket", "INC-77", "--json",
                   journal_path=local, env={"REMOTE_SUPPORT_TOKEN": tokens["bob"]})
        assert done.returncode == 0, done.stderr
        record = json.loads(done.stdout)
        assert record["operator"] == "bob" and record["ticket"] == "INC-77" and record["hosts"][0]["host"] == host
        no_token = cli("run", "web-whoami", "-l", host, "--server", server.url, journal_path=local,
                       env={"REMOTE_SUPPORT_TOKEN": ""})
        assert no_token.returncode == 5 and "REMOTE_SUPPORT_TOKEN" in no_token.stderr
    finally:
        server.stop()
    with Journal.open(str(journal_path)) as journal:
        assert journal.get_run(record["id"]).hosts[0].steps[0].stdout.strip() == lab.user
        assert "run.start" in [e["action"] for e in People(journal).audit_log()]
    with Journal.open(str(local)) as journal:
        assert journal.list_runs() == []
