"""Runs started from the browser or the API: checked, prepared and started through remote_support.api,
executed in the server process (until site workers exist), watched and stopped through their handles."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from .. import api
from ..errors import UsageError
from ..journal_people import People, User

if TYPE_CHECKING:
    from ..journal import Journal
    from ..tasks import Task


#: handles of finished runs kept (for their pages' last progress poll); older ones are read from the journal
KEEP_FINISHED = 50


@dataclass
class TaskChoice:
    short_name: str
    task: "Task"


def library() -> list[TaskChoice]:
    """The tasks a user can pick: $REMOTE_SUPPORT_TASKS, ./tasks and the shipped library, first wins."""
    from ..tasks import load_task, task_dirs

    seen: dict[str, TaskChoice] = {}
    for directory in task_dirs():
        for path in sorted(directory.glob("*.y*ml")):
            if path.stem not in seen:
                try:
                    seen[path.stem] = TaskChoice(path.stem, load_task(path))
                except UsageError:
                    continue  # a broken task file is reported by `tasks show`, not by the web view
    return sorted(seen.values(), key=lambda c: c.short_name)


def find(name: str) -> TaskChoice:
    from ..errors import UnknownRunError

    for choice in library():
        if choice.short_name == name:
            return choice
    raise UnknownRunError(f"no task {name!r} in the library: see the task list")


def form_variables(task: "Task", form: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters from a form (``param.NAME`` fields): empty fields are left to the task's defaults; a
    secret parameter takes a reference only (env:NAME or file:PATH: nobody is at the server's terminal
    to answer a prompt)."""
    values: dict[str, Any] = {}
    for param in task.params:
        raw = form.get(f"param.{param.name}")
        if param.type == "bool":
            if raw is not None or f"param.{param.name}.present" in form:
                values[param.name] = raw in ("on", "true", "1", True)
            continue
        if raw is None or str(raw).strip() == "":
            continue
        raw = str(raw).strip()
        if param.secret and not raw.startswith(("env:", "file:")):
            raise UsageError(f"parameter {param.name} is a secret: give a reference (env:NAME or file:PATH on the "
                             "server), never the secret itself")
        values[param.name] = raw
    return values


class RunRegistry:
    """The runs this server process started: their handles, for live progress and cancel."""

    def __init__(self, journal: "Journal", inventory: Sequence[str]):
        self.journal = journal
        self.inventory = tuple(inventory)
        self._runs: dict[str, api.Run] = {}
        self._lock = threading.Lock()

    def request(self, task_name: str, *, pattern: str, variables: Mapping[str, Any], check: bool,
                ticket: str | None, operator: str) -> api.RunRequest:
        return api.RunRequest(kind="task", what=task_name, inventory=self.inventory, pattern=pattern or "all",
                              variables=dict(variables), check=check, diff=True, ticket=ticket or None,
                              operator=operator)

    def start(self, user: User, request: api.RunRequest) -> api.Run:
        """Check the user's level against the task's, prepare (the approval check is in api.prepare) and
        start in a background thread."""
        from .auth import Caller, require_level

        choice = find(request.what)
        require_level(Caller(user, None), choice.task.level, f"task {choice.short_name}")
        run = api.prepare(request, journal=self.journal)
        with self._lock:
            finished = [k for k, r in self._runs.items() if r.done]
            for key in finished[:-KEEP_FINISHED]:  # the journal has them; the handles are only for live runs
                del self._runs[key]
            self._runs[run.id] = run
        run.start()
        return run

    def start_audited(self, people: Any, user: User, request: api.RunRequest, remote: str) -> api.Run:
        """:meth:`start`, with the audit trail's entry either way: ``run.refused`` (and why) or ``run.start``
        (what runs: task, pattern, check, ticket). The form and the JSON API both start runs so."""
        task = find(request.what).short_name
        try:
            run = self.start(user, request)
        except Exception as exc:
            people.audit(user.name, "run.refused", task, str(exc), remote=remote)
            raise
        people.audit(user.name, "run.start", run.id, {"task": task, "pattern": request.pattern,
                                                      "check": request.check, "ticket": request.ticket},
                     remote=remote)
        return run

    def get(self, run_id: str) -> api.Run | None:
        with self._lock:
            return self._runs.get(run_id)

    def stop(self, run_id: str) -> bool:
        run = self.get(run_id)
        if run is None or run.done:
            return False
        run.stop()
        return True

    def stop_all(self) -> None:
        with self._lock:
            handles = list(self._runs.values())
        for run in handles:
            if not run.done:
                run.stop()
        for run in handles:
            run.wait(30)

    def fingerprint(self, request: api.RunRequest) -> tuple[str, "Task", list]:
        """What an approval of this request covers (as api.prepare will compute it)."""
        from ..tasks import find_task, load_task

        task = load_task(find_task(request.what))
        _inventory, hosts = api.load_hosts(request.inventory, request.pattern)
        return api.request_fingerprint(request, task, hosts), task, hosts


def request_for_approval(people: People, registry: RunRegistry, check_run: Any, user: User) -> int:
    """An approval request for applying what the check-mode run ``check_run`` (a RunRecord) showed, with
    its diff attached."""
    if not check_run.check or check_run.kind != "task" or not check_run.request:
        raise UsageError(f"run {check_run.id} is not a check-mode task run started here: approval is asked for "
                         "the real run of a check run")
    recorded = api.RunRequest.from_record(check_run.request)
    request = recorded.replace(check=False, operator=user.name, inventory=registry.inventory)
    digest, task, hosts = registry.fingerprint(request)
    diffs = []
    for host in check_run.hosts:
        for step in host.steps:
            if step.diff:
                diffs.append(f"# {host.host}: {step.number:02d}. {step.name}\n{step.diff.rstrip()}\n")
    summary = (f"{task.name} ({recorded.what}) on {len(hosts)} host(s): {', '.join(sorted(h.name for h in hosts))}"
               + (f" for ticket {recorded.ticket}" if recorded.ticket else ""))
    record = request.to_record()
    record["hosts_resolved"] = sorted(h.name for h in hosts)
    approval = people.request_approval(digest, record, summary, user.name, check_run=check_run.id,
                                       diff="\n".join(diffs) or "(the check run showed no changes)")
    return approval.id
