"""Runs one Task on one host: variables, when, loop, retries, register, handlers, check and diff modes.

Variable precedence, lowest first: the task's ``vars`` < parameter defaults < inventory variables <
a step's ``vars`` < registered results < ``-e`` extra variables (which also give parameters). Facts are
under ``facts`` (gathered once per host, on first use), loop items under ``item`` (or ``loop_var``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .connections.base import Connection
from .errors import ConnectError, RemoteSupportError, TaskError, TemplateError
from .inventory import CONNECTION_VARS, Host
from .results import Status, StepResult
from .secrets import MASK, register_secrets
from .steps.base import Outcome, StepContext, as_bool, check_arg
from .tasks import Step, Task
from .templating import OMIT, Templar, Uses, remove_omit

#: names every step may use besides the host's variables
MAGIC_VARS = ("inventory_hostname", "host", "group_names", "facts", "check_mode", "diff_mode", "task", "params",
              "range", "dict", "lipsum", "cycler", "joiner", "namespace", "true", "false", "none",
              "True", "False", "None", "loop", "result", "omit")


class LazyFacts(Mapping):
    """``facts`` in templates: gathered from the host the first time a step looks at them."""

    def __init__(self, gather: Callable[[], dict[str, Any]]):
        self._gather = gather

    def _data(self) -> dict[str, Any]:
        return self._gather()

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())


def check_extra_vars(task: Task, extra_vars: Mapping[str, Any], used: set[str]) -> list[str]:
    """Catch typos in ``-e`` before anything runs; return warnings for the caller to show.

    A name that is neither a parameter of the task nor a variable its templates read is unknown. When it
    is a near miss of a parameter (case, ``-``/``_``, or an edit or two: ``dnsname`` for ``dns_name``) it
    is a :class:`TaskError` (exit 5) with the suggestion: the parameter would otherwise be silently left
    at its default. Any other unknown name is only a warning, so ``-e @shared.yml`` with many variables
    still works, as in Ansible.
    """
    params = [p.name for p in task.params]
    known = set(params) | used
    warnings: list[str] = []
    for name in extra_vars:
        if name in known:
            continue
        near = _nearest(name, params)
        if near is not None:
            raise TaskError(f"-e {name}: task {task.short_name} has no parameter or variable {name!r}: did you mean "
                            f"{near}? (its parameters: {', '.join(params)})", source=str(task.path))
        maybe = _nearest(name, sorted(used - set(MAGIC_VARS)))
        warnings.append(f"-e {name}: task {task.short_name} neither declares nor uses a variable {name!r}, so it "
                        f"changes nothing" + (f" (did you mean {maybe}?)" if maybe else ""))
    return warnings


def _nearest(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate ``name`` is a near miss of: same letters ignoring case and ``-``/``_``, or at most one
    edit away (two for names of 6 characters or more), the closest first."""
    def folded(text: str) -> str:
        return text.lower().replace("-", "").replace("_", "")

    best: tuple[int, str] | None = None
    for candidate in candidates:
        if folded(candidate) == folded(name):
            return candidate
        distance = _edits(folded(name), folded(candidate))
        allowed = 2 if min(len(folded(name)), len(folded(candidate))) >= 6 else 1
        if distance <= allowed and (best is None or distance < best[0]):
            best = (distance, candidate)
    return best[1] if best else None


def _edits(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): insertions, deletions, substitutions and
    swaps of two neighbours each count one."""
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (ca != cb)))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


class TaskRun:
    """One task with its parameters and modes; ``work(connection)`` runs it on one host.

    ``warnings`` lists what the caller should show before the run (unknown ``-e`` names); errors in the
    task or its parameters are raised as TaskError/TemplateError from the constructor, before anything runs.
    """

    def __init__(self, task: Task, *, extra_vars: Mapping[str, Any] | None = None, check: bool = False,
                 diff: bool = False, tags: Sequence[str] = (), skip_tags: Sequence[str] = (),
                 fetch_dir: Path | None = None):
        self.task = task
        self.extra_vars = dict(extra_vars or {})
        self.templar = Templar(task.search_path())
        self._check_templates()
        # before parameters are resolved, so a typo is reported before any prompt for a secret
        self.warnings: list[str] = check_extra_vars(task, self.extra_vars, self.used_variables())
        self.params = task.resolve_params(self.extra_vars)  # raises TaskError on bad or missing parameters
        # -e values, with declared parameters in their declared type: the top layer of variables
        self.given = {name: self.params.get(name, value) for name, value in self.extra_vars.items()}
        # An optional parameter with no default that -e does not give stays undefined, as an unset variable
        # in Ansible: `{{ p | default('x') }}` and `p is defined` then work; an unguarded use is caught early.
        self.unset = {p.name for p in task.params if p.default is None and p.name not in self.extra_vars
                      and self.params.get(p.name) is None}
        # parameters whose name is also a connection variable, not given with -e (see _HostRun.variables)
        self.connection_named = {p.name for p in task.params if p.name in CONNECTION_VARS} - set(self.extra_vars)
        for param in task.params:
            if param.secret and self.params.get(param.name):
                MASK.add(str(self.params[param.name]))
        register_secrets(self.extra_vars)
        register_secrets(task.vars)
        for step in (*task.steps, *task.handlers):
            register_secrets(step.vars)
        self.check = check
        self.diff = diff
        self.tags = set(tags)
        self.skip_tags = set(skip_tags)
        self.fetch_dir = fetch_dir or Path.cwd() / "fetched"
        #: called with a host's name before its first step that may change it (the journal notes the host
        #: as in flight, so a resume after a kill knows it may be half-changed)
        self.on_changing: Callable[[str], None] | None = None
        self.facts: dict[str, dict[str, Any]] = {}  # host name -> facts, for the journal

    # -- before anything runs

    def _check_templates(self) -> None:
        """Parse every expression and template file now: a syntax error or a missing template stops the run.
        Remember, per step, which variables its templates need and which they read behind a guard."""
        self._uses: dict[str, Uses] = {}
        for step in self.all_steps():
            uses = Uses()
            kind = step.implementation
            # `when` runs first (after loop and the step's vars): what it proves defined, the rest may use
            before = Uses()
            before.update(self.templar.analyse_string(step.loop, where=step.where))
            before.update(self.templar.analyse_string(step.vars, where=step.where))
            if isinstance(step.when, str):
                before.update(self.templar.analyse_expression(step.when, where=step.where))
            guarded = self.templar.defined_when_true(step.when, where=step.where) if isinstance(step.when, str) \
                else frozenset()
            for key, value in step.args.items():
                if key in kind.raw_args:
                    for expression in (value if isinstance(value, list) else [value]):
                        if isinstance(expression, str):
                            uses.update(self.templar.analyse_expression(expression, where=step.where))
                else:
                    uses.update(self.templar.analyse_string(value, where=step.where))
            for expression in (step.until, step.changed_when, step.failed_when):
                if isinstance(expression, str):
                    uses.update(self.templar.analyse_expression(expression, where=step.where))
            for template in kind.templates(step.args):
                if "{{" not in template:
                    uses.update(self.templar.analyse_file(template))
            for name in guarded & set(uses.required):
                del uses.required[name]
                uses.optional.add(name)
            before.update(uses)
            self._uses[step.where] = before

    def selects_any(self) -> bool:
        """Whether --tags/--skip-tags leave any step of the task to run."""
        return any(_selected(step, self.tags, self.skip_tags) for step in self.task.steps)

    def all_steps(self) -> list[Step]:
        return [*self.task.steps, *self.task.handlers]

    def used_variables(self) -> set[str]:
        """Every variable the task's templates read (guarded or not), its own vars' templates included."""
        names: set[str] = set()
        for uses in self._uses.values():
            names |= uses.names
        names |= self.templar.analyse_string(dict(self.task.vars), where=str(self.task.path)).names
        names |= self.templar.analyse_string({p.name: p.default for p in self.task.params},
                                             where=str(self.task.path)).names
        return names

    def undefined(self, host: Host) -> str | None:
        """The first variable a step needs that this host will not have, as a message; None if all are there.
        Variables read only behind ``default``, ``is defined`` or an ``if ... is defined`` are not needed."""
        known = ((set(host.vars) - self.connection_named) | (set(self.params) - self.unset) | set(self.extra_vars)
                 | set(self.task.vars)
                 | set(MAGIC_VARS))
        for step in self.all_steps():
            known |= set(step.vars) | {step.loop_var} | step.implementation.defines(step.args)
            if step.register:
                known.add(step.register)
        for step in self.all_steps():
            for variable, need in sorted(self._uses[step.where].required.items()):
                if variable in known:
                    continue
                hint = f" (mandatory: {need.message})" if need.message else ""
                if need.template:
                    line = f":{need.line}" if need.line else ""
                    return (f"undefined variable {variable!r}{hint} in template {need.template}{line} (step at "
                            f"{step.where}): define it in the inventory, as a parameter or with -e")
                return (f"undefined variable {variable!r}{hint} at {step.where}: define it in the inventory, as a "
                        f"parameter or with -e")
        return None

    # -- on one host

    def work(self, connection: Connection) -> list[StepResult]:
        return _HostRun(self, connection).run()


class _HostRun:
    def __init__(self, run: TaskRun, connection: Connection):
        self.run_ = run
        self.task = run.task
        self.connection = connection
        self.host = connection.host
        self.templar = run.templar
        self.results: list[StepResult] = []
        self.registered: dict[str, Any] = {}
        self.notified: list[str] = []
        self._facts: dict[str, Any] | None = None
        self._facts_lock = threading.Lock()
        self._marked = False  # on_changing was called for this host

    def _changing(self) -> None:
        if not self._marked and self.run_.on_changing is not None:
            self._marked = True
            self.run_.on_changing(self.host.name)

    # -- facts

    def facts(self, refresh: bool = False) -> dict[str, Any]:
        """The host's facts: gathered on first use, again only when ``refresh`` (the facts step)."""
        with self._facts_lock:
            if self._facts is None or refresh:
                from .facts import gather_facts

                gathered = gather_facts(self.connection)
                if self._facts is None:
                    self._facts = gathered
                    self.run_.facts[self.host.name] = self._facts
                else:  # in place: templates and the journal hold this dict
                    self._facts.clear()
                    self._facts.update(gathered)
            return self._facts

    def variables(self, step: Step | None = None) -> dict[str, Any]:
        host = self.host
        values: dict[str, Any] = {**self.task.vars}
        defaults = {name: value for name, value in self.run_.params.items()
                    if name not in self.run_.given and name not in self.run_.unset}
        values.update(defaults)
        values.update(host.vars)
        # A parameter named like a connection variable (user, port, password...) is the task's, not how the
        # host is reached: the inventory's `port: 22` must not become the default of a task's `port`
        for name in self.run_.connection_named:
            if name in defaults:
                values[name] = defaults[name]
            else:
                values.pop(name, None)
        values.update({
            "inventory_hostname": host.name,
            "host": {"name": host.name, "address": host.address, "groups": list(host.groups)},
            # Ansible's group_names: the host's groups without "all"
            "group_names": sorted(g for g in host.groups if g != "all"), "facts": LazyFacts(self.facts), "check_mode": self.run_.check,
            "diff_mode": self.run_.diff, "task": {"name": self.task.name, "path": str(self.task.path)},
            "params": self.run_.params, "omit": OMIT,
        })
        top = {**self.registered, **self.run_.given}
        # Task vars and parameter defaults may be templates themselves ("{{ inventory_hostname }}.log"):
        # render them once against everything else, so they see inventory, registered values and -e.
        for name in [*self.task.vars, *defaults]:
            if values.get(name) is self.task.vars.get(name, defaults.get(name)) and _templated(values.get(name)):
                values[name] = self.templar.render(values[name], {**values, **top}, where=str(self.task.path))
        if step is not None and step.vars:
            values.update(self.templar.render(step.vars, {**values, **top}, where=step.where))
        values.update(top)
        return values

    # -- the steps

    def run(self) -> list[StepResult]:
        problem = self.preflight()
        if problem is not None:
            return [problem]
        failed = False
        for step in self.task.steps:
            if not self.selected(step):
                continue
            result = self.step(step)
            self.results.append(result)
            if result.status in (Status.FAILED, Status.UNREACHABLE) and not result.ignored:
                failed = True
                break
        if not failed:
            for handler in self.task.handlers:
                if handler.name in self.notified:
                    result = self.step(handler, handler=True)
                    self.results.append(result)
                    if result.status in (Status.FAILED, Status.UNREACHABLE) and not result.ignored:
                        break
        return self.results

    def preflight(self) -> StepResult | None:
        """Reasons not to start on this host, found before any command is sent."""
        task = self.task
        if task.connections and self.host.connection not in task.connections:
            return StepResult("supports", Status.SKIPPED, reason=f"task {task.short_name} supports "
                              f"{', '.join(task.connections)} hosts, not {self.host.connection}")
        undefined = self.run_.undefined(self.host)
        if undefined:
            return StepResult("variables", Status.FAILED, reason=undefined)
        if task.os_families:
            try:
                family = str(self.facts().get("os_family", ""))
            except ConnectError as exc:
                return StepResult("facts", Status.UNREACHABLE if exc.unreachable else Status.FAILED,
                                  reason=exc.reason)
            if family not in task.os_families:
                return StepResult("supports", Status.SKIPPED, reason=f"task {task.short_name} supports "
                                  f"{', '.join(task.os_families)}, this host is {family or 'unknown'}")
        return None

    def selected(self, step: Step) -> bool:
        return _selected(step, self.run_.tags, self.run_.skip_tags)

    def step(self, step: Step, handler: bool = False) -> StepResult:
        started = time.monotonic()
        try:
            variables = self.variables(step)
            if step.loop is None:
                outcome, attempts = self.one(step, variables)
                items = None
            else:
                loop = self.templar.render(step.loop, variables, where=step.where)
                if not isinstance(loop, (list, tuple)):
                    raise TaskError(f"{step.where}: loop must be a list, this one is a {type(loop).__name__} "
                                    f"({str(loop)[:60]!r})")
                items = []
                for item in loop:
                    items.append(self.one(step, {**variables, step.loop_var: item}))
                    # as Ansible: a set_fact item's variables are seen by the next item (accumulating idiom)
                    variables = {**variables, **items[-1][0].variables}
                outcome, attempts = _merge([o for o, _ in items]), max((a for _, a in items), default=1)
        except ConnectError as exc:
            status = Status.UNREACHABLE if exc.unreachable else Status.FAILED
            partial = exc.partial
            return StepResult(step.name, status, reason=exc.reason + (f" ({exc.hint})" if exc.hint else ""),
                              stdout=partial.stdout if partial else "", stderr=partial.stderr if partial else "",
                              command=partial.command if partial else None, duration=time.monotonic() - started)
        except (TemplateError, TaskError) as exc:
            return StepResult(step.name, Status.FAILED, reason=str(exc), duration=time.monotonic() - started)
        if step.register:
            value = outcome.registered()
            if items is not None:
                value["results"] = [{**o.registered(), step.loop_var: item}
                                    for (o, _), item in zip(items, self.templar.render(step.loop, variables,
                                                                                       where=step.where))]
            self.registered[step.register] = value
        self.registered.update(outcome.variables)  # set_fact: above inventory and register, below -e
        if outcome.changed and not outcome.failed:
            for name in step.notify:
                if name not in self.notified:
                    self.notified.append(name)
        return self.to_result(step, outcome, attempts, time.monotonic() - started)

    def to_result(self, step: Step, outcome: Outcome, attempts: int, duration: float) -> StepResult:
        if outcome.failed:
            status = Status.FAILED
        elif outcome.skipped:
            status = Status.SKIPPED
        elif outcome.changed:
            status = Status.CHANGED
        else:
            status = Status.OK
        reason = outcome.msg
        ignored = status is Status.FAILED and step.ignore_errors
        if ignored:
            reason = f"failed, ignored: {reason}"
        return StepResult(step.name, status, command=outcome.command, rc=outcome.rc, stdout=outcome.stdout,
                          stderr=outcome.stderr, reason=reason, diff=outcome.diff, duration=duration,
                          attempts=attempts, data=_jsonable(outcome.data), ignored=ignored)

    def one(self, step: Step, variables: dict[str, Any]) -> tuple[Outcome, int]:
        """One execution of a step (one loop item): when, render, run with retries, changed/failed_when."""
        if step.when is not None and not _truth(self.templar.evaluate(step.when, variables, where=step.where)):
            return Outcome(skipped=True, msg=f"condition false: {step.when}"), 1
        kind = step.implementation
        args = {}
        for key, value in step.args.items():
            if key in kind.raw_args:
                args[key] = value
            else:
                # command text is quoted for the shell the connection runs it in (connections/shells.py)
                quoting = self.connection.shell if key in kind.shell_args else False
                rendered = self.templar.render(value, variables, where=step.where, shell=quoting)
                if rendered == OMIT:  # `default(omit)`: left out, as in Ansible, so the kind's default holds
                    if key in kind.args:
                        args[key] = kind.args[key].default
                    continue
                args[key] = remove_omit(rendered)
                if key in kind.args:
                    check_arg(kind.name, key, kind.args[key], args[key], step.where,
                              secret=key in kind.secret_args)
            if key in kind.secret_args:  # the kind says so, whatever the variable was called
                register_secrets(args[key], secret=True)
        kind.validate(args, step.where)  # the rendered values now (TaskError: this host's step fails)
        read_only = kind.read_only or step.check_mode is False or step.changed_when in (False, "false")
        simulate = step.check_mode is True or (self.run_.check and not read_only)
        if not simulate and not (kind.read_only or step.changed_when in (False, "false")):
            self._changing()
        become = self.host.become if step.become is None else step.become
        host = self.host
        if step.become_user:
            from dataclasses import replace

            host = replace(host, vars={**host.vars, "become_user": step.become_user})
            self.connection.host = host
        ctx = StepContext(connection=self.connection, host=host, variables=variables, templar=self.templar,
                          check=simulate, diff=self.run_.diff, become=become,
                          timeout=step.timeout, where=step.where, facts=self.facts, task_dir=self.task.path.parent,
                          fetch_dir=self.run_.fetch_dir)
        attempts = 0
        try:
            while True:
                attempts += 1
                outcome = kind.run(ctx, args)
                if step.until is None or outcome.skipped:
                    break
                probe = {**variables, "result": outcome.registered()}
                if step.register:
                    probe[step.register] = probe["result"]
                if _truth(self.templar.evaluate(step.until, probe, where=step.where)):
                    break
                if attempts > step.retries:
                    outcome.failed = True
                    outcome.msg = f"until condition still false after {attempts} attempts: {step.until}"
                    break
                time.sleep(step.delay)
        finally:
            self.connection.host = self.host
        if not outcome.skipped:
            self.apply_conditions(step, outcome, variables)
        return outcome, attempts

    def apply_conditions(self, step: Step, outcome: Outcome, variables: dict[str, Any]) -> None:
        probe = {**variables, "result": outcome.registered()}
        if step.register:
            probe[step.register] = probe["result"]
        if step.changed_when is not None:
            outcome.changed = _condition(self.templar, step.changed_when, probe, step.where)
        if step.failed_when is not None:
            outcome.failed = _condition(self.templar, step.failed_when, probe, step.where)
            if outcome.failed and not outcome.msg:
                outcome.msg = f"failed_when: {step.failed_when}"
            elif not outcome.failed and outcome.msg.startswith("exit code"):
                outcome.msg = ""
            if outcome.failed:
                outcome.changed = False


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _condition(templar: Templar, value: Any, variables: dict, where: str) -> bool:
    if isinstance(value, bool):
        return value
    conditions = value if isinstance(value, list) else [value]
    return all(_truth(templar.evaluate(str(c), variables, where=where)) for c in conditions)


def _truth(value: Any) -> bool:
    return as_bool(value) if isinstance(value, str) else bool(value)


def _merge(outcomes: list[Outcome]) -> Outcome:
    """One outcome for a loop: changed if any item changed, failed if any failed."""
    if not outcomes:
        return Outcome(skipped=True, msg="empty loop")
    failed = [o for o in outcomes if o.failed]
    merged = Outcome(
        changed=any(o.changed for o in outcomes), failed=bool(failed),
        skipped=all(o.skipped for o in outcomes), msg=failed[0].msg if failed else "",
        command=outcomes[-1].command, rc=failed[0].rc if failed else outcomes[-1].rc,
        stdout="".join(o.stdout for o in outcomes), stderr="".join(o.stderr for o in outcomes),
        diff="".join(o.diff for o in outcomes),
        variables={name: value for o in outcomes for name, value in o.variables.items()},
    )
    return merged


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    import json

    try:
        json.dumps(data)
        return data
    except (TypeError, ValueError):
        return json.loads(json.dumps(data, default=str))


__all__ = ["TaskRun", "RemoteSupportError", "check_extra_vars"]


def _selected(step: Step, wanted: set[str], skipped: set[str]) -> bool:
    """Ansible's tag rules: ``never`` only when asked for, ``always`` unless skipped."""
    tags = set(step.tags)
    if "never" in tags and not (tags & wanted):
        return False
    if tags & skipped:
        return False
    if wanted and "always" not in tags and not (tags & wanted):
        return False
    return True
