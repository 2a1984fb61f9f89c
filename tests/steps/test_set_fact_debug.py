"""set_fact and debug on a lab host: variables for later steps (with Ansible's precedence), check mode,
loops, output into the host's result (and so the journal), secrets masked, bad input at load."""

from __future__ import annotations

import pytest

from remote_support.errors import TaskError
from remote_support.results import Status
from remote_support.tasks import load_task
from task_support import lab_hosts, run_task, steps_of, write_task


def test_set_fact_feeds_later_steps_with_ansibles_precedence(lab, tmp_path):
    host = lab_hosts(lab, [18], site="inventory-site")[0]
    task = write_task(tmp_path, """
        name: facts
        steps:
          - name: kernel
            command: uname -s
            register: kernel
            changed_when: false
          - name: set
            set_fact:
              site: "{{ inventory_hostname }}-set"
              kernel_name: "{{ kernel.stdout | trim }}"
              ports: [22, 80]
              level: "{{ level }}"
          - name: show
            debug: {msg: "{{ site }} {{ kernel_name }} {{ ports | join(',') }} {{ level }}"}
          - name: use
            command: echo {{ kernel_name }} {{ ports[1] + 1 }}
            changed_when: false
            register: used
        """)
    run = run_task(task, [host], extra_vars={"level": "from-e"})
    steps = steps_of(run)
    assert steps["set"].status is Status.OK and steps["set"].data["ansible_facts"]["ports"] == [22, 80]
    # set_fact beats the inventory; -e beats set_fact (the fact is set from -e here: same value)
    assert steps["show"].stdout == f"{host.name}-set Linux 22,80 from-e\n"
    assert steps["use"].stdout == "Linux 81\n"
    checked = steps_of(run_task(task, [host], check=True, extra_vars={"level": "x"}))
    assert checked["show"].stdout == f"{host.name}-set Linux 22,80 x\n"  # runs in check mode too


def test_set_fact_in_a_loop_and_when(lab, tmp_path):
    host = lab_hosts(lab, [18])[0]
    task = write_task(tmp_path, """
        name: loop
        vars: {count: 0}
        steps:
          - name: add
            set_fact: {count: "{{ count + item }}"}
            loop: [1, 2, 3]
          - name: never
            set_fact: {count: 100}
            when: false
          - name: show
            debug: {var: count}
        """)
    steps = steps_of(run_task(task, [host]))
    assert steps["never"].status is Status.SKIPPED
    # each item sees what the item before set, as in Ansible (the accumulating idiom)
    assert steps["show"].stdout == "count: 6\n" and steps["show"].data == {"count": 6}


def test_debug_prints_values_and_masks_secrets(lab, tmp_path):
    host = lab_hosts(lab, [19])[0]
    task = write_task(tmp_path, """
        name: debug
        steps:
          - name: hello
            debug:
          - name: text
            debug: "free form on {{ inventory_hostname }}"
          - name: structure
            debug: {var: "{'a': [1, 2]}"}
          - name: secret
            debug: {msg: "the token is {{ api_token }}"}
          - name: secret var
            debug: {var: api_token}
        """)
    steps = steps_of(run_task(task, [host], extra_vars={"api_token": "tok-123456"}))
    assert steps["hello"].stdout == "Hello world!\n" and steps["hello"].status is Status.OK
    assert steps["text"].stdout == f"free form on {host.name}\n"
    assert steps["structure"].stdout == '{\'a\': [1, 2]}: {\n  "a": [\n    1,\n    2\n  ]\n}\n'
    assert "tok-123456" not in steps["secret"].stdout + steps["secret"].reason
    assert steps["secret"].stdout == "the token is ********\n"
    assert steps["secret var"].stdout == "api_token: ********\n"


def test_undefined_variable_in_debug_fails_before_anything_runs(lab, tmp_path):
    host = lab_hosts(lab, [19])[0]
    task = write_task(tmp_path, """
        name: undefined
        steps:
          - name: show
            debug: {var: nothere}
        """)
    run = run_task(task, [host])
    assert run.hosts[0].status is Status.FAILED and "undefined variable 'nothere'" in run.hosts[0].reason


@pytest.mark.parametrize("step, message", [
    ("set_fact: {}", "mapping of variable names"),
    ("set_fact: {1x: 2}", "not a valid name"),
    ("set_fact: {inventory_hostname: x}", "the runner sets it"),
    ("set_fact: just text", "mapping of variable names"),
    ("debug: {msg: a, var: b}", "msg or var, not both"),
    ("debug: {msg: a, verbosity: 2}", "no argument 'verbosity'"),
])
def test_bad_arguments_are_refused_at_load(tmp_path, step, message):
    task = write_task(tmp_path, f"""
        name: bad
        steps:
          - name: fine
            command: "true"
          - name: broken
            {step}
        """)
    with pytest.raises(TaskError) as error:
        load_task(task)
    assert f"{task}:7" in str(error.value) and message in str(error.value)
