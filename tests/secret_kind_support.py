"""A step kind for tests that declares a secret argument (as a user step's password would)."""

from __future__ import annotations

import shlex

from remote_support.steps.base import Arg, Outcome, StepContext, StepKind


class EchoSecret(StepKind):
    name = "echo_secret"
    args = {"user": Arg("str", required=True), "data": Arg("str", required=True)}
    secret_args = frozenset({"data"})

    def run(self, ctx: StepContext, args: dict) -> Outcome:
        # the host echoes the value back, as a careless tool would: the mask must catch it
        result = ctx.run(f"echo user={shlex.quote(args['user'])} data={shlex.quote(args['data'])}")
        return Outcome.from_command(result)
