"""The application layer: the one way to run work, for the CLI, the web view, the workers and sessions.

A :class:`RunRequest` is the data of a run (what, where, how, for which ticket, by whom). :func:`prepare`
checks it all before anything runs (inventory, pattern, task and parameters, key files, secrets) and
opens the run in the journal; the :class:`Run` it returns is the handle: listen to its events, execute it
in this thread or start it in the background, stop it from anywhere, read its result. :func:`resume` and
:func:`retry` rebuild the request recorded in the journal, so they repeat the original run exactly.

    from remote_support.api import RunRequest, prepare
    run = prepare(RunRequest(kind="task", what="diagnose", inventory=("hosts.yml",), pattern="web*"))
    result = run.execute()
    for host in result.hosts:
        print(host.host, host.status, host.reason)

This module imports neither the CLI nor rich; the journal and the connections are imported when a run
is prepared.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Protocol, Sequence

from . import __version__
from .errors import ApprovalRequired, CommandTimeout, UsageError
from .results import JSON_FORMAT_VERSION, CommandResult, HostResult, Outcome, RunResult, Status, StepResult

if TYPE_CHECKING:
    from .connections.base import Connection
    from .inventory import Host, Inventory
    from .journal import Journal, RunRecord
    from .tasks import Task

__all__ = ["RunRequest", "Run", "RunListener", "prepare", "resume", "retry", "load_hosts", "INVENTORY_ENV"]

#: where the inventory comes from when a request names none (':'-separated)
INVENTORY_ENV = "REMOTE_SUPPORT_INVENTORY"

#: the recorded form of a request; a journal written by another format is refused with both named
REQUEST_FORMAT = 1

KINDS = ("task", "exec", "session")

_SECRET_REF = re.compile(r"^(env:\w+|file:.+|prompt(:.*)?)$")


@dataclass(frozen=True)
class RunRequest:
    """A run as data. Secrets appear only as references (``env:NAME``, ``file:PATH``, ``prompt``)."""

    kind: str = "task"  # task | exec | session
    what: str = ""  # the task (a name from the library or a path), or the command
    inventory: tuple[str, ...] = ()  # sources; empty: $REMOTE_SUPPORT_INVENTORY
    pattern: str = "all"  # Ansible host pattern
    variables: Mapping[str, Any] = field(default_factory=dict)  # -e: parameters and variables
    check: bool = False
    diff: bool = False
    tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()
    forks: int = 20
    serial: str | None = None  # 10, 25%, 1,5,25%
    max_fail_percentage: float | None = None
    become: bool = False
    become_user: str | None = None
    become_password: str | None = None  # a secret reference, e.g. "prompt" for -K
    command_timeout: float | None = None
    connect_timeout: float = 10.0
    host_timeout: float | None = None
    accept_new_host_keys: bool = False
    known_hosts: tuple[str, ...] = ()
    ssh_config: str | None = None
    insecure: bool = False
    ticket: str | None = None
    operator: str | None = None
    journal: str | None = None  # journal URL; never recorded (it may hold a password)
    hosts: tuple[str, ...] | None = None  # only these of the pattern's hosts (resume, retry)
    shell: str | None = None  # exec: posix, cmd or powershell; None: each host's default (winrm_shell)
    site: str | None = None  # only the hosts of this site (their `site` variable): see remote_support.workers

    def __post_init__(self) -> None:
        for name in ("inventory", "tags", "skip_tags", "known_hosts"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, name, tuple(value))
        if self.hosts is not None:
            object.__setattr__(self, "hosts", tuple(self.hosts))
        object.__setattr__(self, "variables", dict(self.variables))

    def replace(self, **changes: Any) -> "RunRequest":
        return dataclasses.replace(self, **changes)

    def to_record(self) -> dict[str, Any]:
        """The request as the journal keeps it: everything but the journal URL and the host restriction."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("journal", "hosts")}
        for name in ("inventory", "tags", "skip_tags", "known_hosts"):
            data[name] = list(data[name])
        data["variables"] = dict(self.variables)
        return {"format": REQUEST_FORMAT, **data}

    @classmethod
    def from_record(cls, data: Mapping[str, Any]) -> "RunRequest":
        """A request as recorded by :meth:`to_record`."""
        found = data.get("format")
        if found != REQUEST_FORMAT:
            raise UsageError(f"this run was recorded by a remote-support whose request format is {found} "
                             f"(this one reads format {REQUEST_FORMAT}): resume it with that version")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class RunListener(Protocol):
    """What a run tells its listeners as it goes (live output, the journal, a web page)."""

    def host_started(self, host: "Host") -> None: ...

    def host_finished(self, result: HostResult) -> None: ...


# --------------------------------------------------------------------------------------------- preparing


def load_hosts(inventory: Sequence[str], pattern: str | None) -> tuple["Inventory", list["Host"]]:
    """The inventory (``inventory`` or ``$REMOTE_SUPPORT_INVENTORY``) and the hosts ``pattern`` selects."""
    from .inventory import load_inventory

    paths = list(inventory)
    if not paths and os.environ.get(INVENTORY_ENV):
        paths = [p for p in os.environ[INVENTORY_ENV].split(":") if p]
    if not paths:
        raise UsageError(f"no inventory: pass -i FILE or set {INVENTORY_ENV} "
                         "(try `remote-support lab up` for a practice one)")
    loaded = load_inventory(paths)
    return loaded, loaded.select(pattern)


def _check_secret_variables(request: RunRequest, task: "Task | None", resolve: bool = True) -> dict[str, Any]:
    """-e values fit to run with: a secret-named value must be a reference (it is recorded), and is
    resolved here; a secret parameter's reference is resolved by the task itself."""
    from .secrets import SecretRef, is_secret_name

    params = {p.name: p for p in task.params} if task else {}
    resolved: dict[str, Any] = {}
    for name, value in request.variables.items():
        param = params.get(name)
        if param is not None and param.secret:
            resolved[name] = value
        elif is_secret_name(name) and value not in (None, ""):
            if not (isinstance(value, str) and _SECRET_REF.match(value)):
                raise UsageError(f"-e {name}: a secret is recorded with the run, so give a reference, not the "
                                 f"value: -e {name}=env:NAME, -e {name}=file:PATH or -e {name}=prompt")
            spec = value if not value.startswith("prompt") else "prompt:" + (value.partition(":")[2] or name)
            # a run whose hosts are all at sites leaves the reference to the site workers to resolve
            resolved[name] = SecretRef(spec).resolve() if resolve else value
        else:
            resolved[name] = value
    return resolved


def _with_overrides(hosts: Sequence["Host"], **overrides: Any) -> list["Host"]:
    """Request settings that win over the inventory (as Ansible's -b, --become-user, -K)."""
    values = {k: v for k, v in overrides.items() if v not in (None, False)}
    if not values:
        return list(hosts)
    return [dataclasses.replace(h, vars={**h.vars, **values}) for h in hosts]


def _preflight(hosts: Sequence["Host"], ssh_config_file: str | None = None) -> None:
    """Fail before anything runs on what would fail every host: connection types, key files, ssh_config."""
    from .connections import connection_class

    keys: set[tuple[str, Any]] = set()
    ssh_names: list[str] = []
    for host in hosts:
        connection_class(host.connection)
        if host.connection == "ssh":
            ssh_names.append(str(host.get("address") or host.name))
        if host.connection == "ssh" and host.get("private_key_file"):
            keys.add((str(host.get("private_key_file")), host.vars.get("private_key_passphrase")))
    if ssh_names:  # a line ssh would reject is exit 5 with file:line (no Match exec is run here)
        from .connections import ssh_config

        ssh_config.check(ssh_config_file, ssh_names)
    if keys:
        from .connections.ssh import load_private_key
        from .secrets import reveal

        for path, passphrase in sorted(keys, key=lambda k: k[0]):
            load_private_key(path, reveal(passphrase))


def command_work(text: str, *, timeout: float | None, become: bool,
                 on_changing: Callable[[str], None] | None = None,
                 shell: str | None = None) -> Callable[["Connection"], list[StepResult]]:
    """What ``exec`` does on one host: run the command (in ``shell``, else the host's default shell); a
    timed-out command keeps its partial output. ``on_changing`` hears of the host before its command
    starts (an ad-hoc command may change anything)."""

    def work(connection: "Connection") -> list[StepResult]:
        if on_changing is not None:
            on_changing(connection.host.name)
        try:
            result = connection.run_in(shell or connection.default_shell(), text, timeout=timeout, become=become)
        except CommandTimeout as exc:
            partial = exc.partial or CommandResult(text, "", "", None)
            return [StepResult("command", Status.FAILED, command=text, reason=exc.reason, stdout=partial.stdout,
                               stderr=partial.stderr, duration=partial.duration)]
        outcome = Outcome.from_command(result, changed=False)
        return [StepResult("command", outcome.status, command=result.command, rc=result.rc, stdout=result.stdout,
                           stderr=result.stderr, reason=outcome.msg, duration=result.duration)]

    return work


def prepare(request: RunRequest, *, journal: "Journal | None" = None, resume_of: str | None = None,
            parent: str | None = None, debug: bool = False, include_in_flight: bool = False,
            part_of: str | None = None) -> "Run":
    """Check everything that can be checked before a host is touched, open the run in the journal and
    return its handle. Bad input raises :class:`~remote_support.errors.UsageError` (exit 5) and records
    nothing. ``resume_of`` continues that recorded run on its unfinished hosts; ``parent`` links a retry;
    ``debug`` puts tracebacks into the reasons of hosts that met an internal error; a resume leaves out
    the hosts that were in flight (they may be half-changed) unless ``include_in_flight``.

    Hosts with a ``site`` variable (or ``request.site``) make a distributed run: one part per site, sent to
    that site's workers (:mod:`remote_support.workers`); ``part_of`` is how a site worker runs its part
    of the recorded run ``part_of`` (no new record; the controller that split the run closes it)."""
    from .connections.base import ConnectOptions
    from .runner import parse_serial

    if request.kind not in ("task", "exec"):
        raise UsageError(f"a run of kind {request.kind!r} is not started here: use 'task' or 'exec'"
                         + (" (sessions start with `remote-support shell`)" if request.kind == "session" else ""))
    if not request.what:
        raise UsageError("a run needs a task or a command")
    if request.forks < 1:
        raise UsageError(f"--forks {request.forks}: must be 1 or more")
    if request.max_fail_percentage is not None and not 0 <= request.max_fail_percentage <= 100:
        raise UsageError(f"--max-fail-percentage {request.max_fail_percentage:g}: must be between 0 and 100")
    serial = parse_serial(request.serial)
    task = task_run = None
    changing: list[Callable[[str], None]] = []  # set once the run has its id in the journal

    def on_changing(host: str) -> None:
        for mark in changing:
            mark(host)

    inventory, hosts = load_hosts(request.inventory, request.pattern)
    if request.hosts is not None:
        wanted = set(request.hosts)
        hosts = [h for h in hosts if h.name in wanted]
    plan = None
    if part_of is None:  # the site split; None (the local path, unchanged) when no host has a site
        from .workers.routing import plan_sites

        plan = plan_sites(request, hosts)
        if plan is not None:
            hosts = plan.hosts
    resolve = plan is None or bool(plan.local)  # remote hosts' secrets are resolved by their workers
    if request.kind == "task":
        from .executor import TaskRun
        from .tasks import find_task, load_task

        task = load_task(find_task(request.what))
        variables = _check_secret_variables(request, task, resolve)
        task_run = TaskRun(task, extra_vars=variables, check=request.check, diff=request.diff,
                           tags=request.tags, skip_tags=request.skip_tags)
        task_run.on_changing = on_changing
        work = task_run.work
    else:
        _check_secret_variables(request, None, resolve)
        work = command_work(request.what, timeout=request.command_timeout, become=request.become,
                            on_changing=on_changing, shell=request.shell)
    become_password = None
    if request.become_password and resolve:
        from .secrets import SecretRef

        spec = request.become_password
        if spec.startswith("prompt"):
            spec = "prompt:" + (spec.partition(":")[2] or "BECOME password")
        become_password = SecretRef(spec).resolve()
    hosts = _with_overrides(hosts, become=request.become or None, become_user=request.become_user,
                            become_password=become_password)
    _preflight(hosts, request.ssh_config)
    options = ConnectOptions(connect_timeout=request.connect_timeout, command_timeout=request.command_timeout,
                             host_timeout=request.host_timeout, accept_new_host_keys=request.accept_new_host_keys,
                             known_hosts=request.known_hosts, ssh_config=request.ssh_config,
                             insecure=request.insecure)
    if journal is None:
        # a current SQLite journal records through sqlite3, without importing SQLAlchemy (journal_sqlite.py)
        from . import journal_sqlite

        journal = journal_sqlite.open_journal(request.journal)
    name = task.name if task else request.what
    check_level(request, task, journal)
    approval = check_approval(request, task, hosts, journal)
    if approval is not None:
        from .journal_people import People

        # spent before the run is recorded: two runs racing for one approval never both start
        if not People(journal).use_approval(approval, None):
            raise ApprovalRequired(f"approval {approval} was used by another run meanwhile: ask for a new one")
    warnings: list[str] = list(getattr(inventory, "warnings", ()))  # host_vars of no host, ...
    if part_of:
        run_id = journal.resolve(part_of)
    elif resume_of:
        run_id = journal.resolve(resume_of)
        in_flight = [] if include_in_flight else journal.in_flight(run_id)
        only = set(journal.resume_run(run_id, include_in_flight=include_in_flight))
        if in_flight:
            warnings.append(f"not run again: {', '.join(in_flight)} (in flight when the run stopped: a changing "
                            f"step had started, so they may be half-changed; check them, then `runs resume "
                            f"{run_id} --include-in-flight` to run them again)")
        if not only:
            raise UsageError(f"run {run_id}: no host to run again ("
                             + ("all finished" if not in_flight else "the unfinished ones were in flight") + ")")
        hosts = [h for h in hosts if h.name in only]
        if plan is not None:
            plan = plan.only(h.name for h in hosts)
    else:
        run_id = journal.start_run(kind=request.kind, name=name,
                                   command=str(task.path.resolve()) if task else request.what,
                                   params=dict(request.variables), inventory=inventory.sources,
                                   pattern=request.pattern, check=request.check, diff=request.diff,
                                   ticket=request.ticket, operator=request.operator, hosts=[h.name for h in hosts],
                                   tool_version=__version__, parent_run=parent, request=request.to_record())
    if approval is not None:
        People(journal).link_approval(approval, run_id)
        journal.add_note(run_id, f"approved: approval {approval} covers this exact request", author=request.operator)
    warnings += list(getattr(task_run, "warnings", ()) or ())
    if task_run is not None and (request.tags or request.skip_tags) and not task_run.selects_any():
        warnings.append(f"the tags given ({', '.join(request.tags) or '-'}; skipped: "
                        f"{', '.join(request.skip_tags) or '-'}) select no step of task {task.name}: nothing will "
                        f"run (its steps' tags: {', '.join(sorted({t for st in task.steps for t in st.tags})) or 'none'})")
    if request.insecure:
        journal.add_note(run_id, "run with --insecure: TLS certificates of WinRM hosts were not verified",
                         author=request.operator)
        warnings.append("--insecure: TLS certificates of WinRM hosts are not verified (noted in the journal)")
    kind = plan.run_class() if plan is not None else Run
    run = kind(request, run_id=run_id, name=name, task=task, hosts=hosts, work=work, options=options,
               serial=serial, journal=journal, facts_of=task_run.facts.get if task_run else None,
               warnings=warnings, debug=debug, resumed=bool(resume_of), part=bool(part_of))
    if plan is not None:
        run.plan = plan
    changing.append(_changing_marker(journal, run_id, run._warn))
    return run


def _changing_marker(journal: "Journal", run_id: str, warn: Callable[[str], None]) -> Callable[[str], None]:
    """Notes in the journal that a host starts changing; a journal that cannot be written does not stop
    the host (the run goes on, and says once that in-flight marks are missing)."""
    from .errors import JournalError

    failed = []

    def mark(host: str) -> None:
        try:
            journal.mark_changing(run_id, host)
        except JournalError as exc:
            if not failed:
                failed.append(host)
                warn(f"journal: could not note {host} as in flight: {exc}")

    return mark


# --------------------------------------------------------------------------------------------- approval


def approval_needed(task: "Task | None", hosts: Sequence["Host"]) -> bool:
    """A run needs approval when its task says ``requires_approval: true`` or any of its hosts (or their
    groups) has the variable ``requires_approval`` set."""
    from .steps.base import as_bool

    return bool(task is not None and task.requires_approval) or any(
        as_bool(h.vars.get("requires_approval", False)) for h in hosts)


def request_fingerprint(request: RunRequest, task: "Task | None", hosts: Sequence["Host"]) -> str:
    """The SHA-256 an approval covers: what runs (the task file or the command), on exactly which hosts,
    with which parameters (secrets as the references given), check or not, and how (tags, become)."""
    import hashlib
    import json

    what = str(task.path.resolve()) if task is not None else request.what
    data = {"kind": request.kind, "what": what, "hosts": sorted(h.name for h in hosts),
            "variables": dict(request.variables), "check": request.check, "diff": request.diff,
            "tags": sorted(request.tags), "skip_tags": sorted(request.skip_tags), "become": request.become,
            "become_user": request.become_user}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def check_level(request: RunRequest, task: "Task | None", journal: "Journal") -> None:
    """When the operator is an account of the journal (the team's web view and API), the task's declared
    ``level`` (ad-hoc commands: level 2) must be at most theirs; PermissionRefused otherwise. A run by
    someone who is not an account is an administrator's, with the journal's own credentials."""
    if not request.operator:
        return
    from .errors import PermissionRefused
    from .journal_people import People

    user = People(journal).find_user(request.operator)
    if user is None:
        return
    from .tasks import DEFAULT_LEVEL

    needed = task.level if task is not None else DEFAULT_LEVEL
    if not user.may_run(needed):
        raise PermissionRefused(f"{user.name} ({user.role}) may not run {task.name if task else 'ad-hoc commands'}: "
                                f"it needs level {needed} or higher")


def check_approval(request: RunRequest, task: "Task | None", hosts: Sequence["Host"],
                   journal: "Journal") -> int | None:
    """The id of the approval that covers this request when it needs one (None when it needs none); raise
    ApprovalRequired otherwise. A check-mode run changes nothing and needs no approval: it is the dry run
    whose diff goes with the request for approval."""
    if request.check or not approval_needed(task, hosts):
        return None
    from .journal_people import People

    digest = request_fingerprint(request, task, hosts)
    found = People(journal).valid_approval(digest, request.operator)
    if found is None:
        raise ApprovalRequired(
            f"{task.name if task else request.what!r} on {len(hosts)} host(s) requires approval (requires_approval: "
            f"true on the task or a host): run it with --check first, then ask an approver other than yourself "
            f"to approve exactly this request (request {digest[:12]}) in the web view")
    return found.id


# --------------------------------------------------------------------------------------------- the handle


class Run:
    """One prepared run: its id in the journal, its hosts, its listeners, and (once done) its result."""

    def __init__(self, request: RunRequest, *, run_id: str, name: str, task: "Task | None", hosts: list["Host"],
                 work: Callable, options: Any, serial: list[str], journal: "Journal",
                 facts_of: Callable[[str], Any] | None, warnings: Sequence[str] = (), debug: bool = False,
                 resumed: bool = False, part: bool = False):
        from .journal_sqlite import JournalRecorder
        from .runner import Runner

        self.request = request
        self.id = run_id
        self.name = name
        self.task = task
        self.hosts = hosts
        self.journal = journal
        self.warnings = list(warnings)
        self._work = work
        self._listeners: list[RunListener] = []
        self._recorder = JournalRecorder(journal, run_id, facts_of=facts_of, warn=self._warn)
        self._runner = Runner(options, forks=request.forks, serial=serial,
                              max_fail_percentage=request.max_fail_percentage, events=self, debug=debug)
        self._facts_of = facts_of or (lambda host: None)
        self._thread: threading.Thread | None = None
        self._done = threading.Event()
        self.result: RunResult | None = None
        self.error: BaseException | None = None
        self._resumed = resumed  # a resume: the whole record decides the exit code, not only this part
        self._recorded_exit: int | None = None
        self._part = part  # a site worker's part of a distributed run: the controller closes the record

    # -- events

    def subscribe(self, listener: RunListener) -> None:
        """Add a listener of host_started/host_finished (called from the runner's threads)."""
        self._listeners.append(listener)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        for listener in self._listeners:
            warn = getattr(listener, "warning", None)
            if warn:
                warn(message)

    def host_started(self, host: "Host") -> None:
        self._recorder.host_started(host)
        for listener in self._listeners:
            listener.host_started(host)

    def host_finished(self, result: HostResult) -> None:
        # the journal first: a listener that fails must not cost the record
        if self._facts_of(result.host) is not None and result.facts is None:
            result = dataclasses.replace(result, facts=self._facts_of(result.host))
        self._recorder.host_finished(result)
        for listener in self._listeners:
            listener.host_finished(result)

    # -- running

    def execute(self) -> RunResult:
        """Run on every host in this thread (Ctrl-C here interrupts the run cleanly); record; return."""
        try:
            result = self._runner.run(self.hosts, self._work)
            if self._part:
                from .workers.leases import record_unrecorded

                record_unrecorded(self.journal, self.id, result)
            else:
                self._recorder.finish(result)
            self.result = result
            if self._resumed:
                self._recorded_exit = self.journal.get_run(self.id, host=None).exit_code
            return result
        except BaseException as exc:
            self.error = exc
            raise
        finally:
            self._done.set()

    def start(self) -> "Run":
        """Run in a background thread (a web request, a worker); :meth:`wait` for the result."""
        if self._thread is not None:
            raise UsageError(f"run {self.id} was started already")
        self._thread = threading.Thread(target=self._background, name=f"run-{self.id}", daemon=True)
        self._thread.start()
        return self

    def _background(self) -> None:
        try:
            self.execute()
        except BaseException:  # kept on self.error for wait(); a background run never raises into nothing
            pass

    def stop(self) -> None:
        """Stop the run from any thread: nothing new starts, running hosts are cut and reported interrupted."""
        self._runner.stop()

    def wait(self, timeout: float | None = None) -> RunResult | None:
        """The result once the run ended (None if ``timeout`` passed first); re-raises a run's own error."""
        if not self._done.wait(timeout):
            return None
        if self.error is not None and self.result is None:
            raise self.error
        return self.result

    @property
    def spooled(self) -> "os.PathLike[str] | None":
        """The spool file holding what the journal could not take during this run, if anything."""
        return self._recorder.spool

    @property
    def exit_code(self) -> int | None:
        """The exit code of the run: of its result, or for a resume of the whole record (hosts left
        unfinished, e.g. in flight, keep a resumed run interrupted)."""
        if self.result is None:
            return None
        return self._recorded_exit if self._recorded_exit is not None else self.result.exit_code

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def to_dict(self) -> dict[str, Any]:
        """The run document (the same shape as ``runs show --json`` and ``report --format json``)."""
        data = {"format_version": JSON_FORMAT_VERSION, "id": self.id, "kind": self.request.kind, "name": self.name,
                "command": str(self.task.path) if self.task else self.request.what,
                "params": _masked(self.request.variables), "pattern": self.request.pattern,
                "check": self.request.check, "diff": self.request.diff, "ticket": self.request.ticket,
                "operator": self.request.operator, "tool_version": __version__}
        if self.result is not None:
            data.update(self.result.to_dict())
        return data


def _masked(variables: Mapping[str, Any]) -> dict[str, Any]:
    from .secrets import MASK

    return MASK.variables(dict(variables))


# --------------------------------------------------------------------------------------------- again


def _recorded_request(record: "RunRecord") -> RunRequest:
    """The request of a recorded run; runs recorded before requests were kept give what they recorded."""
    if record.request:
        return RunRequest.from_record(record.request)
    return RunRequest(kind=record.kind, what=record.command or record.name, inventory=tuple(record.inventory),
                      pattern=record.pattern, variables=dict(record.params), check=record.check, diff=record.diff,
                      ticket=record.ticket, operator=record.operator)


def _again(journal: "Journal", run_id: str, overrides: Mapping[str, Any], hosts: Iterable[str] | None,
           *, resume_of: str | None, parent: str | None, debug: bool, include_in_flight: bool = False) -> Run:
    from .secrets import MASKED

    record = journal.get_run(run_id)
    request = _recorded_request(record)
    variables = {**request.variables, **dict(overrides.get("variables") or {})}
    masked = sorted(k for k, v in variables.items() if v == MASKED)
    if masked:
        raise UsageError(f"run {record.id} had secret values ({', '.join(masked)}) that the journal does not keep: "
                         f"give them again as references, e.g. -e {masked[0]}=prompt")
    changes = {k: v for k, v in overrides.items() if k != "variables" and v is not None}
    request = request.replace(**changes, variables=variables, journal=request.journal,
                              hosts=tuple(hosts) if hosts is not None else None)
    return prepare(request, journal=journal, resume_of=resume_of, parent=parent, debug=debug,
                   include_in_flight=include_in_flight)


def resume(run_id: str, *, journal: "Journal", debug: bool = False, include_in_flight: bool = False,
           **overrides: Any) -> Run:
    """The interrupted run ``run_id`` continued on exactly its unfinished hosts, in the same record, with
    the request it was started with (``overrides`` change single fields, e.g. ``forks=50``). Hosts that
    were in flight (a changing step had started) are not run again unless ``include_in_flight``."""
    return _again(journal, run_id, overrides, None, resume_of=run_id, parent=None, debug=debug,
                  include_in_flight=include_in_flight)


def retry(run_id: str, *, journal: "Journal", debug: bool = False, **overrides: Any) -> Run:
    """The run ``run_id`` again on its failed and unreachable hosts, as a new run linked to it."""
    record_id = journal.resolve(run_id)
    hosts = journal.failed_hosts(record_id)
    if not hosts:
        raise UsageError(f"run {record_id}: no host to run again (none failed)")
    return _again(journal, record_id, overrides, hosts, resume_of=None, parent=record_id, debug=debug)
