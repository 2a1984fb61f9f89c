"""``tasks list`` and ``tasks show``: the task library."""

from __future__ import annotations

import click

from .common import Group


@click.group(cls=Group, epilog="""Examples:
  remote-support tasks list
  remote-support tasks show diagnose""")
def tasks() -> None:
    """The task library: what each task does and which parameters it takes."""


@tasks.command(name="list", epilog="""Examples:
  remote-support tasks list
  REMOTE_SUPPORT_TASKS=~/our-tasks remote-support tasks list""")
def tasks_list() -> None:
    """List the tasks found in $REMOTE_SUPPORT_TASKS, ./tasks and the shipped library, by topic."""
    from ..tasks import by_topic, library

    for number, (topic, group) in enumerate(by_topic(library()).items()):
        click.echo(("\n" if number else "") + f"[{topic}]")
        for task in group:
            params = ", ".join(p.name + ("" if p.required else "?") for p in task.params)
            click.echo(f"{task.short_name:<22} {task.name}" + (f"  [{params}]" if params else ""))


@tasks.command(name="show", epilog="""Examples:
  remote-support tasks show restart-service""")
@click.argument("task_name", metavar="TASK")
def tasks_show(task_name: str) -> None:
    """Describe a TASK: what it does, where it runs, its parameters and steps."""
    from ..tasks import find_task, load_task

    task = load_task(find_task(task_name))
    click.echo(f"{task.name}  ({task.path})")
    if task.description:
        click.echo(f"\n{task.description.strip()}")
    click.echo(f"\ntopic: {task.topic}")
    if task.os_families or task.connections:
        click.echo(f"\nsupports: {', '.join(task.os_families + task.connections)}")
    click.echo(f"\nlevel: {task.level} (the lowest support level allowed to run it)"
               + ("; requires approval: real runs need an approver's approval" if task.requires_approval else ""))
    if task.params:
        click.echo("\nparameters:")
        for p in task.params:
            default = "" if p.required or p.default is None else f" (default {p.default!r})"
            need = " required" if p.required else ""
            click.echo(f"  {p.name:<18} {p.type}{need}{default}  {p.description}")
    click.echo("\nsteps:")
    for step in task.steps:
        when = f"  when {step.when}" if step.when else ""
        click.echo(f"  - {step.name} [{step.kind}]{when}")
    for handler in task.handlers:
        click.echo(f"  - handler: {handler.name} [{handler.kind}]")


def register(cli: click.Group) -> None:
    cli.add_command(tasks)
