"""``debug``: print a message, or a variable's value, into the host's output (and so the journal).

``msg`` is a template (default "Hello world!"); ``var`` names a variable or an expression, printed as
``name: value`` as Ansible does. Lists and mappings are printed as indented JSON. Secrets are masked.

```yaml
- debug: {msg: "{{ inventory_hostname }} has {{ facts.memory_mb }} MB"}
- debug: {var: disk_usage.stdout_lines}
```
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import TaskError
from ..secrets import MASK, MASKED, is_secret_name
from .base import Arg, Outcome, StepContext, StepKind


class Debug(StepKind):
    name = "debug"
    description = "Print a message or a variable into the host's output (Ansible's debug)."
    free_form = "msg"
    raw_args = frozenset({"var"})
    read_only = True
    args = {
        "msg": Arg("any", help='what to print (a template; default "Hello world!")'),
        "var": Arg("str", help="a variable name or expression to print as name: value"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value if value is not None else {}, where)
        if args.get("msg") is not None and args.get("var") is not None:
            raise TaskError(f"{where}: debug takes msg or var, not both")
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        if args.get("var") is not None:
            expression = str(args["var"]).strip()
            value = MASKED if is_secret_name(expression) else \
                ctx.templar.evaluate(expression, ctx.vars, where=ctx.where)
            text = f"{expression}: {_show(value)}"
            data = {expression: _plain(value)}
        else:
            value = args.get("msg")
            value = "Hello world!" if value is None else value
            text = _show(value)
            data = {"msg": _plain(value)}
        text = MASK(text)
        return Outcome(msg=text if "\n" not in text and len(text) <= 200 else "", stdout=text + "\n", data=data)


def _plain(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(_plain(value), indent=2, ensure_ascii=False)
