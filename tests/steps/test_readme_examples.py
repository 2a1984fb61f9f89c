"""The remote-support half of every example in tasks/README.md's "from Ansible" section loads as a task."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from remote_support.tasks import load_task

README = Path(__file__).resolve().parents[2] / "tasks" / "README.md"


def examples() -> list[str]:
    text = README.read_text().split("## Step kinds from Ansible", 1)[1]
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    return [block.split("# Ansible")[0].replace("# remote-support\n", "") for block in blocks]


def test_each_example_loads(tmp_path):
    found = examples()
    assert len(found) == 5
    kinds = set()
    for number, steps in enumerate(found):
        path = tmp_path / f"example{number}.yml"
        path.write_text("name: example\nhandlers:\n  - {name: reload sshd, command: 'true'}\nsteps:\n"
                        + textwrap.indent(steps, ""))
        task = load_task(path)
        kinds |= {step.kind for step in task.steps}
    assert kinds == {"file", "lineinfile", "blockinfile", "set_fact", "debug"}
