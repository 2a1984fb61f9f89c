"""``package``: install, upgrade or remove packages with the host's package manager.

The step first asks the manager what is installed (and, for what it would install or upgrade, which
version the sources offer) with read-only commands, works out what must change, and only then runs the
manager, non-interactively and once per kind of change. Nothing to change: ok. Check mode: the plan
("would install: a, b") and no change.

Each manager is a small class in ``MANAGERS`` that builds command lines and parses their output; the
classes never touch a host, so they are tested with recorded outputs.

```yaml
- name: tools support needs
  package: {name: [curl, htop], update_cache: true}
  become: true
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...connections.shells import POWERSHELL
from ...errors import TaskError
from ...results import CommandResult
from ..base import Arg, Outcome, StepContext, StepKind, as_bool
from .linux import MANAGERS, Apk, Apt, Dnf, Pacman, Yum, Zypper, _Rpm  # noqa: F401 - the package's API
from .managers import _NAME, UNKNOWN_VERSION, Manager, QueryError, _last_lines, _quote  # noqa: F401
from .windows import MSI_EXIT_CODES, WINDOWS_MANAGERS, Choco, Msi, Winget, _PRODUCT_CODE  # noqa: F401


def package_names(value: Any) -> list[str]:
    """The ``name`` argument as a list: a list, or a string of comma-separated names."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if items is None:
        raise ValueError(f"name must be a package name or a list of them, not {type(value).__name__}")
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"package names must be strings, not {type(item).__name__} ({item!r})")
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            if not _NAME.match(part) and not _PRODUCT_CODE.match(part):
                raise ValueError(f"{part!r} is not a package name (letters, digits and . _ + : ~ -, "
                                 "not starting with -; versions like name=1.2 are not supported)")
            if part not in names:
                names.append(part)
    return names


@dataclass
class Plan:
    """What the step will change: names to install, upgrade and remove, with versions for the diff."""

    install: list[str]
    upgrade: list[str]
    remove: list[str]
    before: dict[str, str | None]
    offered: dict[str, str | None]

    @property
    def empty(self) -> bool:
        return not (self.install or self.upgrade or self.remove)

    def summary(self, done: bool = False) -> str:
        """"would install: a, b; would remove: c", or once done "installed: a, b; removed: c"."""
        verbs = ("installed", "upgraded", "removed") if done else ("would install", "would upgrade", "would remove")
        return "; ".join(f"{verb}: {', '.join(names)}" for verb, names in
                         zip(verbs, (self.install, self.upgrade, self.remove)) if names)

    def diff(self, after: Mapping[str, str | None] | None = None) -> str:
        """``+ name version`` / ``- name version`` lines; versions from ``after`` when the change is done."""
        def new(name: str) -> str:
            version = (after or {}).get(name) or self.offered.get(name) or ""
            return f" {version}" if version else ""

        lines = [f"+ {n}{new(n)}" for n in self.install]
        for name in self.upgrade:
            lines += [f"- {name} {self.before.get(name) or ''}".rstrip(), f"+ {name}{new(name)}"]
        lines += [f"- {n} {self.before.get(n) or ''}".rstrip() for n in self.remove]
        return "".join(line + "\n" for line in lines)


class _Failed(Exception):
    def __init__(self, message: str, result: CommandResult | None = None):
        super().__init__(message)
        self.result = result

    def outcome(self) -> Outcome:
        r = self.result
        return Outcome(failed=True, msg=str(self), command=r.command if r else None, rc=r.rc if r else None,
                       stdout=r.stdout if r else "", stderr=r.stderr if r else "")


class Package(StepKind):
    name = "package"
    description = ("Install, upgrade or remove packages with apt, dnf, yum, zypper, apk or pacman; on Windows "
                   "with winget, choco or msi (by product code).")
    free_form = "name"  # package: curl, htop
    args = {
        "name": Arg("any", help="a package name, a list of them, or comma-separated names "
                                "(required unless deb is given)"),
        "state": Arg("str", default="present", choices=("present", "absent", "latest"),
                     help="present: installed; latest: installed at the newest version; absent: removed"),
        "update_cache": Arg("bool", default=False,
                            help="refresh the package lists first (apt-get update, dnf makecache...); "
                                 "not done in check mode and never counted as a change"),
        "manager": Arg("str", default="auto", choices=("auto", *MANAGERS, *WINDOWS_MANAGERS),
                       help="auto: the host's package_manager fact"),
        "deb": Arg("str", help="path of a .deb on the host to install (apt only; name is read from it)"),
        "src": Arg("str", help="manager msi: the .msi file on the Windows host; name is its product code {GUID}"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        if args.get("name") is None and not args.get("deb"):
            raise TaskError(f"{where}: package needs the argument 'name' (or 'deb', a .deb file on the host)")
        if not _templated(args.get("name")):
            try:
                package_names(args.get("name"))
            except ValueError as exc:
                raise TaskError(f"{where}: package argument 'name': {exc}") from None
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        try:
            return self._run(ctx, args)
        except _Failed as exc:
            return exc.outcome()

    # -- the steps of the step

    def _run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        try:
            names = package_names(args.get("name"))
        except ValueError as exc:
            raise _Failed(f"package argument 'name': {exc}") from None
        state = args.get("state") or "present"
        manager = self._manager(ctx, str(args.get("manager") or "auto"), args)
        deb = args.get("deb")
        deb_version = None
        if deb:
            if not isinstance(manager, Apt):
                raise _Failed(f"deb installs a .deb file with apt; this host's package manager is {manager.name}")
            if state != "present":
                raise _Failed(f"deb installs a .deb file: use state: present, not {state}")
            deb_name, deb_version = self._deb_fields(ctx, manager, deb)
            names = [deb_name]
        if not names:
            raise _Failed("package argument 'name' names no package")

        if isinstance(manager, Msi) and state != "absent" and (not manager.src or len(names) != 1):
            raise _Failed("manager msi installs one product: name is its product code {GUID}, src the .msi on "
                          "the host")
        if as_bool(args.get("update_cache")) and not ctx.check and manager.update_cache() is not None:
            self._need_root(ctx, manager)
            result = manager.execute(ctx, manager.update_cache())
            if result.rc != 0:
                raise _Failed(f"{manager.name} could not update its package cache (exit {result.rc}): "
                              f"{_last_lines(result.stderr or result.stdout)}", result)

        before = self._query(ctx, manager, names)
        plan = self._plan(ctx, manager, names, state, before, deb_version, as_bool(args.get("update_cache")))
        data: dict[str, Any] = {"installed": [], "removed": [], "upgraded": [], "versions": dict(before),
                                "manager": manager.name}
        show_diff = ctx.diff or ctx.check
        if plan.empty:
            present = ", ".join(f"{n} {before[n]}".rstrip() for n in names if before.get(n) is not None)
            msg = f"installed: {present}" if state != "absent" else f"not installed: {', '.join(names)}"
            return Outcome(msg=msg, data=data)
        if ctx.check:
            data.update(installed=plan.install, removed=plan.remove, upgraded=plan.upgrade)
            note = " (package lists not updated in check mode)" if as_bool(args.get("update_cache")) else ""
            return Outcome(changed=True, msg=plan.summary() + note, diff=plan.diff() if show_diff else "",
                           data=data)

        self._need_root(ctx, manager)
        commands = []
        if plan.install:
            commands.append(manager.install_deb(deb) if deb else manager.install(plan.install))
        if plan.upgrade:
            commands.append(manager.upgrade(plan.upgrade))
        if plan.remove:
            commands.append(manager.remove(plan.remove))
        results = []
        for command in commands:
            result = manager.execute(ctx, command)
            results.append(result)
            if result.rc != 0:
                output = result.stdout + "\n" + result.stderr
                missing = manager.not_found(output)
                if missing == ["?"]:  # winget does not say which id it could not find
                    missing = plan.install + plan.upgrade
                if missing:
                    raise _Failed(_not_found_message(manager, missing, args), result)
                explained = MSI_EXIT_CODES.get(result.rc or 0) if isinstance(manager, Msi) else None
                raise _Failed(f"{manager.name} failed (exit {result.rc}"
                              f"{': ' + explained if explained else ''}): "
                              f"{_last_lines(result.stderr or result.stdout)}", result)
        after = self._query(ctx, manager, names)
        still = [n for n in plan.install + plan.upgrade if after.get(n) is None]
        left = [n for n in plan.remove if after.get(n) is not None]
        data.update(installed=[n for n in plan.install if after.get(n) is not None],
                    upgraded=[n for n in plan.upgrade if after.get(n) not in (None, before.get(n))],
                    removed=[n for n in plan.remove if after.get(n) is None], versions=dict(after))
        outcome = Outcome(changed=True, command=" && ".join(r.command for r in results),
                          rc=results[-1].rc, stdout="".join(r.stdout for r in results),
                          stderr="".join(r.stderr for r in results), data=data,
                          diff=plan.diff(after) if show_diff else "")
        if still or left:
            outcome.failed, outcome.changed = True, False
            outcome.msg = "; ".join(part for part in (
                f"still not installed after {manager.name} succeeded: {', '.join(still)}" if still else "",
                f"still installed after {manager.name} succeeded: {', '.join(left)}" if left else "") if part)
        else:
            outcome.msg = plan.summary(done=True)
        return outcome

    @staticmethod
    def _manager(ctx: StepContext, wanted: str, args: Mapping[str, Any] | None = None) -> Manager:
        windows = POWERSHELL in ctx.connection.shells
        usable = WINDOWS_MANAGERS if windows else MANAGERS
        if wanted == "auto":
            wanted = str(ctx.facts().get("package_manager") or "unknown")
            if wanted not in usable:
                raise _Failed(f"cannot tell this host's package manager (facts say {wanted!r}): set manager: "
                              f"to one of {', '.join(usable)}")
        if wanted not in usable:
            raise _Failed(f"package manager {wanted} does not run on a {ctx.connection.host.connection} host: "
                          f"use one of {', '.join(usable)}")
        if wanted == "msi":
            return Msi((args or {}).get("src"))
        return usable[wanted]()

    @staticmethod
    def _need_root(ctx: StepContext, manager: Manager | None = None) -> None:
        """Package managers change the system: without become, the login user must be root."""
        if ctx.become or (manager is not None and manager.windows):
            return  # Windows: the WinRM user must be an administrator; there is no become
        user = ctx.facts().get("user") or ctx.run("id -un", become=False).stdout.strip()
        if user != "root":
            raise _Failed(f"package changes need root: add become: true (the login user is {user or 'not root'})")

    @staticmethod
    def _deb_fields(ctx: StepContext, manager: Apt, path: str) -> tuple[str, str]:
        result = ctx.run(manager.deb_fields(path))
        fields = dict(re.findall(r"^(\w+):\s*(\S+)", result.stdout, re.MULTILINE))
        if result.rc != 0 or "Package" not in fields:
            raise _Failed(f"cannot read the package name and version of {path}: "
                          f"{_last_lines(result.stderr or result.stdout) or 'exit ' + str(result.rc)}", result)
        return fields["Package"], fields.get("Version", UNKNOWN_VERSION)

    @staticmethod
    def _query(ctx: StepContext, manager: Manager, names: list[str]) -> dict[str, str | None]:
        result = manager.execute(ctx, manager.query(names))
        try:
            return manager.parse_query(names, result)
        except QueryError as exc:
            raise _Failed(f"cannot tell which packages are installed: {exc}", result) from None

    def _plan(self, ctx: StepContext, manager: Manager, names: list[str], state: str,
              before: dict[str, str | None], deb_version: str | None, update_cache: bool) -> Plan:
        if state == "absent":
            return Plan([], [], [n for n in names if before[n] is not None], before, {})
        if deb_version is not None:
            name = names[0]
            install = [name] if before[name] != deb_version else []
            return Plan(install, [], [], before, {name: deb_version})
        missing = [n for n in names if before[n] is None]
        asked = missing + ([n for n in names if before[n] is not None] if state == "latest" else [])
        offered: dict[str, str | None] = {}
        if asked:
            result = manager.execute(ctx, manager.available(asked))
            try:
                offered = manager.parse_available(asked, result)
            except QueryError as exc:
                raise _Failed(f"cannot tell which versions the {manager.sources} offer: {exc}", result) from None
            unknown = [n for n in asked if offered.get(n) is None and before[n] is None]
            if unknown and not (ctx.check and update_cache):
                raise _Failed(_not_found_message(manager, unknown, {"update_cache": update_cache}), result)
            # check mode leaves the cache as it is: a package only the updated cache would know is
            # planned as an install, since the real run updates the cache first
        upgrade = [n for n in names if state == "latest" and before[n] is not None
                   and offered.get(n) not in (None, UNKNOWN_VERSION, before[n])]
        return Plan(missing, upgrade, [], before, offered)


def _not_found_message(manager: Manager, names: list[str], args: Mapping[str, Any]) -> str:
    what = f"package {names[0]}" if len(names) == 1 else f"packages {', '.join(names)}"
    advice = "check the name" if as_bool(args.get("update_cache")) else \
        "check the name or run with update_cache: true"
    if manager.not_found_advice:
        advice = manager.not_found_advice
    return f"{what} not found in {manager.sources}: {advice}"


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, (list, tuple)):
        return any(_templated(v) for v in value)
    return False
