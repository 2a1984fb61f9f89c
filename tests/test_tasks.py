"""Task files: loading, parameters, and every bad input named with file:line before anything runs."""

from __future__ import annotations

import pytest

from remote_support.errors import TaskError, TemplateError
from remote_support.executor import TaskRun
from remote_support.tasks import load_task

from task_support import write_task


def test_a_full_task_loads(tmp_path):
    path = write_task(tmp_path, """\
        name: Restart a service
        description: restart and show status
        supports: {os_family: [Debian], connection: [ssh]}
        params:
          - {name: service, type: str, required: true, description: the unit}
          - {name: retries, type: int, default: 3}
        steps:
          - name: restart
            command: service {{ service }} restart
            become: true
            notify: status
            tags: [restart]
        handlers:
          - name: status
            command: service {{ service }} status
            changed_when: false
        """)
    task = load_task(path)
    assert task.name == "Restart a service" and task.os_families == ("Debian",)
    assert [p.name for p in task.params] == ["service", "retries"]
    assert task.steps[0].notify == ("status",) and task.steps[0].become is True
    assert task.steps[0].where == f"{path}:8"
    assert task.resolve_params({"service": "ssh", "retries": "5"}) == {"service": "ssh", "retries": 5}


@pytest.mark.parametrize("body, message, line", [
    ("steps:\n  - name: x\n    comand: ls\n", "unknown step kind 'comand': use one of", 3),
    ("steps:\n  - name: x\n    command: ls\n    whenn: x\n", "unknown step kind or keyword 'whenn'", 4),
    ("steps:\n  - name: x\n", "step has no kind", 2),
    ("steps:\n  - {command: ls, assert: {that: x}}\n", "a step has one kind", 2),
    ("steps:\n  - command: {cmd: ls, bogus: 1}\n", "command has no argument 'bogus'", 2),
    ("steps:\n  - {command: ls, notify: nobody}\n", "notifies 'nobody', which is not a handler", 2),
    ("steps:\n  - {command: ls, retries: many}\n", "retries must be a number", 2),
    ("params:\n  - {name: n, type: integer}\nsteps:\n  - command: ls\n", "type 'integer'", 2),
    ("steps: [\n", "not valid YAML", 2),
    ("name: a\nname: b\nsteps:\n  - command: ls\n", "appears twice", 2),
    ("stepz:\n  - command: ls\n", "unknown key 'stepz'", 1),
])
def test_bad_task_files_name_file_line_and_fix(tmp_path, body, message, line):
    path = tmp_path / "bad.yml"
    path.write_text(body)
    with pytest.raises(TaskError) as caught:
        load_task(path)
    assert message in str(caught.value)
    assert f"{path}:{line}" in str(caught.value)


def test_unknown_step_kind_lists_the_valid_ones(tmp_path):
    path = write_task(tmp_path, "steps:\n  - {nope: 1}\n")
    with pytest.raises(TaskError, match="command.*facts"):
        load_task(path)


def test_parameters_are_validated_before_anything_runs(tmp_path):
    path = write_task(tmp_path, """\
        params:
          - {name: count, type: int, required: true}
          - {name: mode, type: str, choices: [fast, safe], default: safe}
          - {name: pw, type: secret}
        steps:
          - command: echo {{ count }}
        """)
    task = load_task(path)
    with pytest.raises(TaskError, match="needs the parameter 'count'"):
        TaskRun(task)
    with pytest.raises(TaskError, match="'count' must be int"):
        TaskRun(task, extra_vars={"count": "three"})
    with pytest.raises(TaskError, match="use one of fast, safe"):
        TaskRun(task, extra_vars={"count": "3", "mode": "turbo"})
    with pytest.raises(TaskError, match="is a secret: give a reference"):
        TaskRun(task, extra_vars={"count": "3", "pw": "hunter2"})


def test_when_that_does_not_parse_and_missing_templates_stop_the_run(tmp_path):
    bad_when = write_task(tmp_path / "a", "steps:\n  - {command: ls, when: 'facts.os_family =='}\n")
    with pytest.raises(TemplateError, match="does not parse"):
        TaskRun(load_task(bad_when))
    bad_command = write_task(tmp_path / "b", "steps:\n  - command: echo {{ x \n")
    with pytest.raises(TemplateError, match="template syntax error"):
        TaskRun(load_task(bad_command))


def test_tasks_are_grouped_by_topic_with_other_last(tmp_path):
    from remote_support.tasks import by_topic

    tasks = [load_task(write_task(tmp_path, f"name: {n}\n{t}steps:\n  - command: uptime\n", name=f"{n}.yml"))
             for n, t in (("b-task", "topic: disk\n"), ("a-task", "topic: disk\n"), ("loose", ""),
                          ("acct", "topic: accounts\n"))]
    grouped = by_topic(tasks)
    assert list(grouped) == ["accounts", "disk", "other"]
    assert [t.short_name for t in grouped["disk"]] == ["a-task", "b-task"]
    with pytest.raises(TaskError) as error:
        load_task(write_task(tmp_path, "name: x\ntopic: [a, b]\nsteps:\n  - command: uptime\n", name="bad.yml"))
    assert "`topic` is one short lower-case word" in str(error.value) and "bad.yml:2" in str(error.value)
