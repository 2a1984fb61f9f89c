"""Every remote-support example in tasks/README.md's "System step kinds" table loads as a step."""

from __future__ import annotations

import re
from pathlib import Path

from remote_support.tasks import load_task

README = Path(__file__).resolve().parents[2] / "tasks" / "README.md"
KINDS = ("user", "group", "cron", "sysctl", "mount", "get_url", "unarchive", "kill")


def examples() -> list[str]:
    section = README.read_text().split("## System step kinds", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `")]
    return [span for row in rows for span in re.findall(r"`([a-z_]+: \{.*?\})`", row)
            if span.split(":")[0] in KINDS]


def test_each_example_loads(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "vendor-tools.tar.gz").write_bytes(b"")  # unarchive checks a controller src at load
    found = examples()
    steps = "".join(f"  - {example.replace('sha256:9f86...', 'sha256:' + '9f86' * 16)}\n" for example in found)
    task = load_task(_write(tmp_path, "name: examples\nsteps:\n" + steps))
    assert {step.kind for step in task.steps} == set(KINDS)
    assert len(task.steps) == len(found) >= 10


def _write(directory: Path, text: str) -> Path:
    path = directory / "examples.yml"
    path.write_text(text)
    return path
