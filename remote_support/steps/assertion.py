"""``assert``: check conditions on variables and registered results; fail the host with a message."""

from __future__ import annotations

from typing import Any

from .base import Arg, Outcome, StepContext, StepKind


class Assert(StepKind):
    name = "assert"
    description = "Fail the host unless every condition holds."
    free_form = "that"
    raw_args = frozenset({"that"})
    read_only = True
    args = {
        "that": Arg("any", required=True, help="a condition or a list of conditions (Jinja2 expressions)"),
        "fail_msg": Arg("str", help="message when a condition is false"),
        "success_msg": Arg("str", help="message when all hold"),
    }

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        conditions = args["that"] if isinstance(args["that"], list) else [args["that"]]
        for condition in conditions:
            if isinstance(condition, bool):
                holds = condition
            else:
                holds = bool(ctx.templar.evaluate(str(condition), ctx.vars, where=ctx.where))
            if not holds:
                message = args.get("fail_msg") or f"assertion failed: {condition}"
                return Outcome(failed=True, msg=message, data={"assertion": str(condition)})
        return Outcome(msg=args.get("success_msg") or "all assertions passed")
