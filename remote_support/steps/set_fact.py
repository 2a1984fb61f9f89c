"""``set_fact``: set host variables for the steps after it, as Ansible's ``set_fact`` does.

Each argument is a variable name and its value (rendered with the step's variables, so a value may use
registered results and facts). The variables are the host's from then on, above inventory and registered
values and below ``-e``, as in Ansible. A value under a secret-looking name is masked in all output.

```yaml
- set_fact: {backup_dir: "/var/backups/{{ inventory_hostname }}", keep_days: 14}
```
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ..errors import TaskError
from ..secrets import MASK, is_secret_name
from .base import Outcome, StepContext, StepKind

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: names the runner gives every host; setting them would only confuse later steps
_RESERVED = {"inventory_hostname", "group_names", "facts", "check_mode", "diff_mode", "task", "params", "host",
             "item", "result"}


class SetFact(StepKind):
    name = "set_fact"
    description = "Set host variables for the following steps (Ansible's set_fact)."
    read_only = True  # changes no host: runs in check mode too, so later steps see the values
    args = {}

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, Mapping) or not value:
            raise TaskError(f"{where}: set_fact takes a mapping of variable names to values, "
                            f"e.g. set_fact: {{keep_days: 14}}")
        args = dict(value)
        args.pop("cacheable", None)  # Ansible's fact cache: nothing to cache here; accepted for portability
        for name in args:
            if not isinstance(name, str) or not _NAME.fullmatch(name):
                raise TaskError(f"{where}: set_fact variable name {name!r} is not a valid name "
                                f"(letters, digits and _, not starting with a digit)")
            if name in _RESERVED:
                raise TaskError(f"{where}: set_fact cannot set {name!r}: the runner sets it for every host")
        return args

    def defines(self, args: Mapping[str, Any]) -> set[str]:
        return set(args)

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        for name, value in args.items():
            if is_secret_name(name) and isinstance(value, (str, int, float)) and str(value):
                MASK.add(str(value))
        return Outcome(msg=f"set {', '.join(args)}", variables=dict(args), data={"ansible_facts": dict(args)})
