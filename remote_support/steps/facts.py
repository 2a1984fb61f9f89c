"""``facts``: gather the host's facts again now (they are otherwise gathered once, on first use)."""

from __future__ import annotations

from typing import Any

from .base import Outcome, StepContext, StepKind


class Facts(StepKind):
    name = "facts"
    description = "Gather OS, memory, disks, interfaces, package manager and init system facts."
    read_only = True
    args = {}

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        return super().normalize(value or {}, where)

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        facts = ctx.facts(refresh=True)  # one gathering: the first one, or a fresh one replacing it
        summary = (f"{facts.get('os_name') or facts.get('os_family')}, {facts.get('hostname')}, "
                   f"up {facts.get('uptime_seconds', 0) // 3600}h, init {facts.get('init_system')}, "
                   f"packages {facts.get('package_manager')}")
        return Outcome(msg=summary, data={"facts": dict(facts)})
