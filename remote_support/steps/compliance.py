"""``compliance``: check a network device's running config against a golden template and rules.

Read-only. Two sources of rules, either or both:

- ``template``: a golden Jinja2 template (templates/ beside the task), rendered with the host's
  variables. Each top-level line is a required line; the lines of its section are required inside
  that section, by the device's platform rules (:mod:`.netplatform`: indented IOS/EOS/FastIron, flat
  Dell OS6 blocks ended by ``exit``, Junos ``set`` lines). One rule per top-level line of the template.
- ``rules``: a list, inline or in a YAML file (``rules: compliance-rules.yml``, looked up beside the task
  and in templates/), of:

  ``{require: "ip ssh version 2"}``            the line must be in the config (whitespace-insensitive)
  ``{require_regex: "^logging host \\S+"}``    some line must match
  ``{forbid: "^snmp-server community public"}`` no line may match
  ``{section: "^interface ", require: "shutdown", when_matches: "description UNUSED"}``
      in every section whose header matches ``section`` (and, with ``when_matches``, whose lines match
      that regex too), a line must be there (``require``/``require_regex``) or none may match (``forbid``)

  Each rule may have a ``name`` (default: a description of the rule).

The result per rule is in ``data.rules`` (``name``, ``kind``, ``passed``, ``offending``: the forbidden lines
found, the required lines missing, or the sections that break the rule); ``data.compliance`` counts them.
The step fails when any rule fails, naming them; the HTML report shows the table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind
from .netplatform import Block, ConfigSyntaxError, config_lines, missing, parse, platform_for
from .netplatform import blocks as platform_blocks
from .netshow import network_connection

RULE_KEYS = {"name", "require", "require_regex", "forbid", "section", "when_matches"}


def _norm(line: str) -> str:
    return " ".join(line.split())


def blocks(config: str, device_type: str | None = "cisco_ios") -> list[Block]:
    """A config as its top-level blocks, in order, by the platform's section rules (:mod:`.netplatform`).

    IOS-style indentation, Dell OS6 flat blocks ended by ``exit``, Junos ``set`` lines or curly text.
    """
    return platform_blocks(platform_for(device_type), config)


def _regex(pattern: Any, where: str, key: str) -> re.Pattern:
    if not isinstance(pattern, str) or not pattern:
        raise TaskError(f"{where}: compliance rule: {key} must be a non-empty string, not {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise TaskError(f"{where}: compliance rule: {key} {pattern!r} is not a valid regex: {exc}") from None


def check_rules(rules: Any, where: str) -> list[dict[str, Any]]:
    """The rules, checked: a list of mappings with one of require/require_regex/forbid (TaskError if not)."""
    if not isinstance(rules, list):
        raise TaskError(f"{where}: compliance rules must be a list of rules ({{require: LINE}}, {{forbid: REGEX}}, "
                        f"{{section: REGEX, require: LINE}}...), not a {type(rules).__name__}")
    checked = []
    for number, rule in enumerate(rules, 1):
        here = f"{where}, rule {number}"
        if not isinstance(rule, Mapping):
            raise TaskError(f"{here}: a rule is a mapping such as {{require: 'ip ssh version 2'}}, not {rule!r}")
        unknown = sorted(set(rule) - RULE_KEYS)
        if unknown:
            raise TaskError(f"{here}: unknown key(s) {', '.join(map(repr, unknown))}: valid ones are "
                            f"{', '.join(sorted(RULE_KEYS))}")
        tests = [k for k in ("require", "require_regex", "forbid") if k in rule]
        if len(tests) != 1:
            raise TaskError(f"{here}: a rule needs exactly one of require, require_regex, forbid (it has "
                            f"{', '.join(tests) or 'none'})")
        if "require" in rule and (not isinstance(rule["require"], str) or not rule["require"].strip()):
            raise TaskError(f"{here}: require must be a config line, not {rule['require']!r}")
        for key in ("require_regex", "forbid", "section", "when_matches"):
            if key in rule:
                _regex(rule[key], here, key)
        if "when_matches" in rule and "section" not in rule:
            raise TaskError(f"{here}: when_matches only applies to a section rule: add section: REGEX")
        checked.append(dict(rule))
    return checked


def load_rules(path: Path) -> list[dict[str, Any]]:
    """Rules from a YAML file: a list of rules, or a mapping with a ``rules`` list."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TaskError(f"compliance rules file {where} does not parse as YAML: {problem}: fix the file "
                        "(a list of rules such as - {require: 'ip ssh version 2'})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"compliance rules file {path} cannot be read: {exc}") from None
    if isinstance(data, Mapping) and "rules" in data:
        data = data["rules"]
    return check_rules(data, str(path))


def _rule_name(rule: Mapping[str, Any]) -> str:
    if rule.get("name"):
        return str(rule["name"])
    test = next(k for k in ("require", "require_regex", "forbid") if k in rule)
    text = {"require": "require", "require_regex": "require match", "forbid": "forbid"}[test]
    text += f" {rule[test]!r}"
    if "section" in rule:
        text += f" in sections {rule['section']!r}"
        if "when_matches" in rule:
            text += f" matching {rule['when_matches']!r}"
    return text


def evaluate(config: str, rule: Mapping[str, Any], device_type: str | None = "cisco_ios") -> dict[str, Any]:
    """One rule against a config: {name, kind, passed, offending}."""
    test = next(k for k in ("require", "require_regex", "forbid") if k in rule)
    wanted = _norm(rule[test]) if test == "require" else re.compile(rule[test])

    def holds(lines: list[str]) -> list[str]:
        """The offending lines of ``lines`` for the rule's test (empty: it holds)."""
        if test == "require":
            return [] if wanted in lines else [rule["require"].strip()]
        if test == "require_regex":
            return [] if any(wanted.search(line) for line in lines) else [f"no line matches {rule[test]!r}"]
        return [line for line in lines if wanted.search(line)]

    if "section" not in rule:
        every = config_lines(platform_for(device_type), config)
        offending = holds(every)
        return {"name": _rule_name(rule), "kind": test, "passed": not offending, "offending": offending,
                "checked": 1}
    parsed = blocks(config, device_type)
    header = re.compile(rule["section"])
    condition = re.compile(rule["when_matches"]) if rule.get("when_matches") else None
    offending, checked = [], 0
    for block in parsed:
        if not header.search(block.header):
            continue
        if condition is not None and not any(condition.search(line) for line in block.lines):
            continue
        checked += 1
        bad = holds(block.lines)
        if bad:
            offending.append(block.header + ": " + ("missing " + bad[0] if test != "forbid" else ", ".join(bad)))
    return {"name": _rule_name(rule), "kind": f"section {test}", "passed": not offending, "offending": offending,
            "checked": checked}


def golden_rules(config: str, golden: str, source: str, device_type: str | None = "cisco_ios") -> list[dict[str, Any]]:
    """One result per top-level line of a rendered golden template: that line and the lines under it.

    Compared as config trees of the device's platform (hier_config), so a line must be in its section.
    """
    platform = platform_for(device_type)
    lacking = missing(platform, config, golden.splitlines())
    results = []
    for child in parse(platform, golden).children:
        gap = lacking.get_child(equals=child.text)
        offending = [] if gap is None else [gap.text, *(" " * (c.depth() - 1) + c.text for c in gap.all_children())]
        results.append({"name": " ".join(child.text.split()), "kind": f"template {source}",
                        "passed": not offending, "offending": offending, "checked": 1})
    return results


class Compliance(StepKind):
    name = "compliance"
    description = ("Check a network device's running config against a golden template and rules (required, "
                   "forbidden, per-section lines); fails when a rule fails.")
    read_only = True
    args = {
        "template": Arg("str", help="golden Jinja2 template of required lines (templates/ beside the task)"),
        "rules": Arg("any", help="a list of rules, or a YAML file of them (beside the task or in templates/)"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        if not args.get("template") and not args.get("rules"):
            raise TaskError(f"{where}: compliance needs 'template' (a golden config template), 'rules', or both")
        rules = args.get("rules")
        if rules is not None and not isinstance(rules, (str, list)):
            raise TaskError(f"{where}: compliance: rules is a list of rules or the name of a YAML file of them, "
                            f"not a {type(rules).__name__}")
        if isinstance(rules, list) and not _templated(rules):
            check_rules(rules, where)
        return args

    def templates(self, args: Mapping[str, Any]) -> list[str]:
        return [args["template"]] if args.get("template") else []

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        connection, problem = network_connection(ctx, "compliance")
        if problem:
            return problem
        rules = args.get("rules")
        try:
            if isinstance(rules, str):
                rules = load_rules(self._find(ctx, rules))
            elif rules is not None:
                rules = check_rules(rules, ctx.where)
        except TaskError as exc:
            return Outcome(failed=True, msg=str(exc))
        golden = ctx.templar.render_file(args["template"], ctx.vars) if args.get("template") else None
        config = connection.get_config(timeout=ctx.timeout)
        device_type = getattr(connection, "device_type", None)
        try:
            results = golden_rules(config, golden, args["template"], device_type) if golden is not None else []
            results += [evaluate(config, rule, device_type) for rule in rules or []]
        except ConfigSyntaxError as exc:
            return Outcome(failed=True, command="show running-config", rc=0, msg=f"cannot check compliance: {exc}")
        failed = [r for r in results if not r["passed"]]
        data = {"rules": results, "compliance": {"passed": len(results) - len(failed), "failed": len(failed),
                                                 "rules": len(results), "template": args.get("template"),
                                                 "compliant": not failed}}
        if failed:
            names = "; ".join(r["name"] for r in failed[:5]) + ("; ..." if len(failed) > 5 else "")
            return Outcome(failed=True, command="show running-config", rc=0, data=data,
                           msg=f"not compliant: {len(failed)} of {len(results)} rule(s) failed: {names}")
        return Outcome(changed=False, command="show running-config", rc=0, data=data,
                       msg=f"compliant: {len(results)} rule(s) passed")

    @staticmethod
    def _find(ctx: StepContext, name: str) -> Path:
        path = Path(name).expanduser()
        candidates = [path] if path.is_absolute() else [
            ctx.task_dir / path, *(Path(d) / path for d in ctx.templar.search_path)]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        raise TaskError(f"{ctx.where}: compliance rules file {name!r} not found (looked in "
                        f"{', '.join(str(c.parent) for c in candidates)})")


def _templated(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, Mapping):
        return any(_templated(v) for v in value.values())
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    return False
