"""A session's screen text in the one full-text search table (issue 14's), over SQLite and PostgreSQL:
found by `runs search --kind session` and by `sessions search` alike, replaced when rendered again, and
found once when the finished session's step holds the same text."""

from __future__ import annotations

import json
import subprocess
import sys

from journal_support import REPO, journal, journal_url, postgres_server  # noqa: F401 (fixtures)
from remote_support import __version__
from remote_support.journal_search import search
from remote_support.results import HostResult, RunResult, Status, StepResult
from remote_support.sessions.cast import session_screen_text
from remote_support.sessions.recorder import SessionRecorder


def test_screen_text_is_searched_and_replaced_when_rendered_again(journal, journal_url):
    run_id = journal.start_run(kind="session", name="shell h1", command=None, params={}, inventory=[], pattern="h1",
                               check=False, diff=False, ticket="INC-77", operator=None, hosts=["h1"],
                               tool_version=__version__)
    SessionRecorder(journal, run_id, 80, 24).close()  # the header; the rest as a recorder that goes on writes it
    ((last_seq, *_),) = journal.session_chunks(run_id)
    journal.add_session_chunks(run_id, [(last_seq + 1, 0.5, "o", "$ df -h\r\nfirst-screen-word\r\n")])
    screen = session_screen_text(journal, run_id)
    assert [h.run_id for h in search(journal, "first-screen-word", kind="session")] == [run_id]
    # more of the recording arrives (a session going on, or one whose tool was killed): a search renders it
    # again, and the new text replaces the old one
    journal.add_session_chunks(run_id, [(last_seq + 2, 0.9, "o", "zebrafish-overflow\r\n")])
    (hit,) = search(journal, "zebrafish-overflow")
    assert (hit.kind, hit.run_id, hit.host, hit.ticket) == ("session", run_id, "h1", "INC-77")
    assert len(search(journal, "first-screen-word")) == 1
    assert search(journal, "zebrafish-overflow", kind="step") == []
    # the session ends: its step's output is the screen text, found once, as the session
    screen = session_screen_text(journal, run_id)
    step = StepResult("session", Status.OK, command="shell", rc=0, stdout=screen)
    journal.record_host(run_id, HostResult("h1", Status.OK, steps=(step,)))
    journal.finish_run(run_id, RunResult((HostResult("h1", Status.OK, steps=(step,)),)))
    assert [(h.kind, h.run_id) for h in search(journal, "zebrafish-overflow")] == [("session", run_id)]

    cli = [sys.executable, "-m", "remote_support"]
    by_runs = subprocess.run(cli + ["runs", "search", "zebrafish-overflow", "--kind", "session", "--json",
                                    "--journal", journal_url], capture_output=True, text=True, cwd=REPO)
    by_sessions = subprocess.run(cli + ["sessions", "search", "zebrafish-overflow", "--json",
                                        "--journal", journal_url], capture_output=True, text=True, cwd=REPO)
    assert by_runs.returncode == 0 and by_sessions.returncode == 0, by_runs.stderr + by_sessions.stderr
    assert json.loads(by_runs.stdout) == json.loads(by_sessions.stdout)
    assert [h["run_id"] for h in json.loads(by_runs.stdout)] == [run_id]
