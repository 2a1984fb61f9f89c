"""``backup``: take a network device's running config, for the journal to keep as a version.

The step only reads: it returns the config in ``data.config`` and a ``data.config_backup`` marker
(SHA-256, line count). The journal, when it records the host, stores the text in its ``config_backups``
table as the device's next version if it differs from the last one kept (:meth:`Journal.record_host`),
and notes ``version`` and ``changed`` in the step's recorded data; the step itself holds no storage.
Lines that change on every read without a config change (``Building configuration...``, ``Current
configuration : N bytes``, ``! Last configuration change at ...``) are dropped first, so an unchanged
device never makes a new version; ``ignore`` adds patterns of such lines.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind
from .netshow import network_connection

#: lines of a running config that change without the config changing (Oxidized drops the same)
VOLATILE = (r"^Building configuration", r"^Current configuration\s*:", r"^! Last configuration change",
            r"^! NVRAM config last updated", r"^! No configuration change since last restart",
            r"^## Last commit: ",  # Junos: the commit stamp
            r"^ntp clock-period ")


def clean_config(text: str, ignore: list[str] = ()) -> str:
    """The config without volatile lines and trailing blanks, ending with one newline."""
    drop = re.compile("|".join(f"(?:{p})" for p in (*VOLATILE, *ignore)))
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    kept = [line for line in lines if not drop.search(line)]
    while kept and not kept[0].strip():
        kept.pop(0)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept) + "\n"


class Backup(StepKind):
    name = "backup"
    description = ("Take a network device's running config; the journal keeps it as a new version when it "
                   "changed (remote-support config history/diff).")
    read_only = True
    args = {
        "ignore": Arg("list", default=[], help="regexes of lines to leave out (volatile lines are always left out)"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value if value is not None else {}, where)
        for pattern in args.get("ignore") or []:
            if isinstance(pattern, str) and "{{" not in pattern:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise TaskError(f"{where}: backup: ignore pattern {pattern!r} is not a regex: {exc}") from None
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        connection, problem = network_connection(ctx, "backup")
        if problem:
            return problem
        raw = connection.get_config(timeout=ctx.timeout)
        config = clean_config(raw, [str(p) for p in args.get("ignore") or []])
        if not config.strip():
            return Outcome(failed=True, command="show running-config",
                           msg="the device returned an empty running config: nothing to back up")
        digest = hashlib.sha256(config.encode("utf-8")).hexdigest()
        lines = config.count("\n")
        return Outcome(changed=False, command="show running-config", rc=0,
                       msg=f"running config taken: {lines} lines, sha256 {digest[:12]}",
                       data={"config": config, "config_backup": {"sha256": digest, "lines": lines}})
