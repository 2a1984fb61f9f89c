"""``template``: render a Jinja2 template file from the task's templates/ and write it on the host."""

from __future__ import annotations

from typing import Any, Mapping

from .base import Arg, Outcome, StepContext, StepKind
from .files import FILE_ARGS, check_file_args, write_file


class Template(StepKind):
    name = "template"
    description = "Render a template file and write it on the host (diff, backup, validate, atomic)."
    shell_args = frozenset({"validate"})
    args = {
        "src": Arg("str", required=True, help="template file, looked up in templates/ beside the task"),
        **FILE_ARGS,
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        check_file_args(args, where, self.name)
        return args

    def templates(self, args: Mapping[str, Any]) -> list[str]:
        return [args["src"]]

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        content = ctx.templar.render_file(args["src"], ctx.vars)
        outcome = write_file(ctx, args["dest"], content.encode("utf-8"), mode=args.get("mode"),
                             owner=args.get("owner"), group=args.get("group"), backup=args.get("backup"),
                             validate=args.get("validate"), follow=args.get("follow"))
        outcome.data["src"] = args["src"]
        return outcome
