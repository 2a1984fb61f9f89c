"""Journal schema 5 (people, audit, approvals, the search index) on SQLite and PostgreSQL, task levels,
and the application layer's level check for accounts of the journal."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from journal_support import journal, journal_url, postgres_server  # noqa: E402,F401 (fixtures)
from web_support import PASSWORD, add_users, record_sample  # noqa: E402

from remote_support import api  # noqa: E402
from remote_support import journal as jmod  # noqa: E402
from remote_support.errors import LoginError, PermissionRefused, TaskError, UsageError  # noqa: E402
from remote_support.journal import SCHEMA_VERSION, Journal  # noqa: E402
from remote_support.journal_people import MODEL, People  # noqa: E402
from remote_support.journal_search import search  # noqa: E402
from remote_support.tasks import load_task  # noqa: E402


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url)


def test_migration_5_makes_the_people_tables_of_the_model_and_the_search_index(journal, journal_url):
    assert journal.version() == SCHEMA_VERSION >= 5
    engine = _engine(journal_url)
    inspector = sa.inspect(engine)
    for table in MODEL.sorted_tables:
        assert {c["name"] for c in inspector.get_columns(table.name)} == set(table.columns.keys()), table.name
    assert "search_index" in inspector.get_table_names()
    engine.dispose()


def test_a_schema_4_journal_is_upgraded_and_its_new_results_are_searchable(journal_url):
    engine = _engine(journal_url)
    with engine.begin() as conn:
        jmod.schema_version.create(conn)
        conn.execute(jmod.schema_version.insert().values(version=4))
        for migration in jmod.MIGRATIONS[:4]:
            migration(conn)
    engine.dispose()
    with Journal.open(journal_url) as journal:
        assert journal.version() == SCHEMA_VERSION
        record_sample(journal)
        hits = search(journal, "NT_STATUS_ACCOUNT_LOCKED_OUT")
        assert [(h.kind, h.host, h.ticket) for h in hits] == [("step", "pc-042", "INC-1001")]
        assert search(journal, "nt_status_account_locked_out")  # any case
        assert search(journal, "LOCKED_OUT NT_STATUS")  # words in any order
        assert search(journal, 'quote" OR "x') == []  # the user's text is words, never query syntax
        with pytest.raises(UsageError, match="one or more words"):
            search(journal, "   ")


def test_search_is_capped_per_step_and_follows_a_resumed_host(journal):
    from remote_support.journal_search import SEARCH_LIMIT
    from remote_support.results import HostResult, Status, StepResult

    run_id = journal.start_run(kind="exec", name="x", command="x", params={}, inventory=[], pattern="h",
                               check=False, diff=False, ticket="T-1", operator=None, hosts=["h"], tool_version="t")
    long = "start-marker " + "filler " * 20_000 + " middle-marker " + "filler " * 20_000 + " end-marker"
    journal.record_host(run_id, HostResult("h", Status.OK, (StepResult("big", Status.OK, stdout=long),), "", 1.0, 2.0))
    assert search(journal, "start-marker") and search(journal, "end-marker")
    assert search(journal, "middle-marker") == []  # past the cap: the middle is not indexed
    with journal._read() as conn:
        body = conn.execute(sa.text("SELECT body FROM search_index WHERE run_id = :r"), {"r": run_id}).scalar_one()
    assert len(body) <= SEARCH_LIMIT + 10
    # the host recorded again (a resume) replaces its steps in the index too
    journal.record_host(run_id, HostResult("h", Status.OK, (StepResult("again", Status.OK, stdout="fresh-words"),),
                                           "", 3.0, 4.0))
    assert search(journal, "start-marker") == [] and search(journal, "fresh-words")


def test_passwords_are_argon2_tokens_sha256_and_wrong_logins_lock(journal):
    people = People(journal, max_failed=2, lockout=timedelta(minutes=1))
    people.add_user("anna", PASSWORD, level=1)
    with journal._read() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM users")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert people.authenticate("anna", PASSWORD).level == 1
    for _ in range(2):
        with pytest.raises(LoginError, match="wrong user name or password"):
            people.authenticate("anna", "not it at all")
    with pytest.raises(LoginError, match="locked"):
        people.authenticate("anna", PASSWORD)  # even the right password, while locked
    with pytest.raises(LoginError, match="wrong user name or password"):
        people.authenticate("nobody", PASSWORD)  # the same answer as a wrong password
    people.set_password("anna", "a new long password")  # an administrator lifts the lock
    assert people.authenticate("anna", "a new long password")
    token = people.new_token("anna", days=None)
    with journal._read() as conn:
        assert conn.execute(sa.text("SELECT token_hash FROM api_tokens")).scalar_one() != token
    assert people.token_user(token).name == "anna"


def test_approvals_need_a_different_approver(journal):
    people = add_users(journal)
    approval = people.request_approval("h" * 64, {"what": "x"}, "x on 1 host", "bob")
    with pytest.raises(PermissionRefused, match="not an approver"):
        people.decide(approval.id, people.user("alice"), True)
    people.set_role("bob", approver=True)
    with pytest.raises(PermissionRefused, match="different person"):
        people.decide(approval.id, people.user("bob"), True)
    assert people.decide(approval.id, people.user("lead"), True).valid
    assert people.valid_approval("h" * 64, "bob").id == approval.id
    assert people.valid_approval("h" * 64, "lead") is None  # not for the approver's own run
    people.set_role("lead", approver=False)  # an approver who lost the role: the approval no longer counts
    assert people.valid_approval("h" * 64, "bob") is None


def test_task_level_and_requires_approval_are_declared_and_checked(tmp_path):
    good = tmp_path / "t.yml"
    good.write_text("name: t\nlevel: 3\nrequires_approval: true\nsteps:\n  - command: 'true'\n")
    task = load_task(good)
    assert (task.level, task.requires_approval) == (3, True)
    plain = tmp_path / "p.yml"
    plain.write_text("name: p\nsteps:\n  - command: 'true'\n")
    assert (load_task(plain).level, load_task(plain).requires_approval) == (2, False)
    bad = tmp_path / "b.yml"
    bad.write_text("name: b\nsteps:\n  - command: 'true'\nlevel: 7\n")
    with pytest.raises(TaskError, match=r"b\.yml:4.*level: 7.*1, 2 or 3"):
        load_task(bad)
    from remote_support.tasks import find_task

    assert [load_task(find_task(n)).level for n in ("unlock-user", "reset-password", "flush-dns",
                                                     "check-connectivity", "restart-service")] == [1, 1, 1, 1, 2]


def test_the_application_layer_checks_the_level_of_an_account(tmp_path, lab):
    journal = Journal.open(str(tmp_path / "j.sqlite"))
    add_users(journal)
    host = lab.status()[94].name
    request = api.RunRequest(kind="exec", what="true", inventory=(str(lab.inventory_path),), pattern=host)
    with pytest.raises(PermissionRefused, match="alice .level 1. may not run ad-hoc commands"):
        api.prepare(request.replace(operator="alice"), journal=journal)
    with pytest.raises(PermissionRefused, match="viewer"):
        api.prepare(request.replace(operator="viewer"), journal=journal)
    assert api.prepare(request.replace(operator="bob"), journal=journal).execute().exit_code == 0
    # someone who is not an account (an administrator with the journal's credentials) is not checked
    assert api.prepare(request.replace(operator="root-at-console"), journal=journal).execute().exit_code == 0
    journal.close()


def test_the_audit_trail_masks_secrets(journal):
    from remote_support.secrets import MASK

    MASK.add("S3cret-in-audit-99")
    people = People(journal)
    people.audit("alice", "run.start", "x", {"note": "password S3cret-in-audit-99"})
    assert "S3cret-in-audit-99" not in people.audit_log()[0]["detail"]

