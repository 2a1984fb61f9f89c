"""Run tasks on lab hosts from tests, in-process, through the real runner and executor."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Sequence

from remote_support.connections.base import ConnectOptions
from remote_support.executor import TaskRun
from remote_support.inventory import Host
from remote_support.results import RunResult
from remote_support.runner import Runner
from remote_support.tasks import load_task


def lab_hosts(lab, indexes: Sequence[int] = (0,), **overrides: Any) -> list[Host]:
    """Lab hosts as the runner sees them (with the lab's key, known_hosts and sudo password)."""
    entries = lab.status()
    password = (Path(lab.directory) / "rslab.password")
    hosts = []
    for index in indexes:
        e = entries[index]
        variables = {"address": e.address, "port": e.port, "user": lab.user,
                     "private_key_file": str(lab.client_key_path), "known_hosts_file": str(lab.known_hosts_path)}
        if password.exists():
            variables["become_password"] = password.read_text().strip()
        variables.update(overrides)
        hosts.append(Host(e.name, variables, groups=("all", "lab")))
    return hosts


def write_task(directory: Path, text: str, name: str = "task.yml", templates: dict[str, str] | None = None) -> Path:
    """A task file (dedented YAML) in ``directory``, with optional templates in directory/templates/."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text))
    for template, body in (templates or {}).items():
        target = directory / "templates" / template
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(body))
    return path


def run_task(task: Path | str, hosts: Sequence[Host], *, check: bool = False, diff: bool = False,
             extra_vars: dict[str, Any] | None = None, tags: Sequence[str] = (), skip_tags: Sequence[str] = (),
             fetch_dir: Path | None = None, forks: int = 20) -> RunResult:
    task_run = TaskRun(load_task(task), extra_vars=extra_vars, check=check, diff=diff, tags=tags,
                       skip_tags=skip_tags, fetch_dir=fetch_dir)
    return Runner(ConnectOptions(), forks=forks).run(hosts, task_run.work)


def steps_of(run: RunResult, host_index: int = 0) -> dict[str, Any]:
    """Step name -> StepResult for one host (names must be unique in the task)."""
    return {s.name: s for s in run.hosts[host_index].steps}
