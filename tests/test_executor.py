"""Running tasks on real lab hosts: conditions, loops, retries, handlers, tags, check mode, failures."""

from __future__ import annotations

import json
import os

import pytest

from remote_support.results import Status

from task_support import lab_hosts, run_task, steps_of, write_task


def test_register_when_loop_and_facts(lab, tmp_path):
    task = write_task(tmp_path, """\
        params: [{name: count, type: int, default: 3}]
        steps:
          - name: name
            command: uname -n
            register: me
            changed_when: false
          - name: facts say Debian
            assert: {that: ["facts.os_family == 'Debian'", "me.stdout_lines[0] == inventory_hostname"]}
          - name: loop
            command: echo n={{ item }}
            loop: "{{ range(count) | list }}"
            register: looped
          - name: only on systemd
            command: systemctl --version
            when: facts.init_system == 'systemd' and false
          - name: loop saw every item
            assert: {that: "looped.results | length == count and looped.results[2].stdout == 'n=2\\n'"}
        """)
    run = run_task(task, lab_hosts(lab, [40, 41]), extra_vars={"count": "3"})
    assert run.exit_code == 0, run.to_dict()
    steps = steps_of(run, 1)
    assert steps["name"].status is Status.OK and steps["name"].stdout.strip() == lab.status()[41].name
    assert steps["loop"].status is Status.CHANGED and steps["loop"].stdout == "n=0\nn=1\nn=2\n"
    assert steps["only on systemd"].status is Status.SKIPPED


def test_failing_step_stops_that_host_only_and_handlers_run_once_at_the_end(lab, tmp_path):
    hosts = lab_hosts(lab, [42, 43, 44])
    bad = hosts[1].name
    task = write_task(tmp_path, f"""\
        steps:
          - name: first
            command: "true"
            notify: report
          - name: second
            command: test "$(uname -n)" != {bad}
            notify: report
          - name: third
            command: echo third
        handlers:
          - name: report
            command: echo handler ran
        """)
    run = run_task(task, hosts)
    by_host = {h.host: h for h in run.hosts}
    assert by_host[bad].status is Status.FAILED
    assert [s.name for s in by_host[bad].steps] == ["first", "second"]  # stopped; no handler on failure
    good = by_host[hosts[0].name]
    assert [s.name for s in good.steps] == ["first", "second", "third", "report"]  # handler once
    assert run.exit_code == 2


def test_retries_until_changed_when_failed_when_and_ignore_errors(lab, tmp_path):
    counter = f"/tmp/rs-exec-retry-{os.getpid()}"
    task = write_task(tmp_path, f"""\
        steps:
          - name: third time lucky
            command: echo x >> {counter}; test $(wc -l < {counter}) -ge 3
            register: attempt
            retries: 5
            delay: 0.1
            until: attempt.rc == 0
          - name: grep finds nothing
            command: grep -c nomatch /etc/hostname
            register: g
            failed_when: g.rc > 1
            changed_when: false
          - name: broken but ignored
            command: exit 4
            ignore_errors: true
          - name: still runs
            command: rm -f {counter}
        """)
    run = run_task(task, lab_hosts(lab, [45]))
    steps = steps_of(run)
    assert steps["third time lucky"].attempts == 3 and steps["third time lucky"].status is Status.CHANGED
    assert steps["grep finds nothing"].status is Status.OK
    assert steps["broken but ignored"].ignored and "ignored" in steps["broken but ignored"].reason
    assert steps["still runs"].status is Status.CHANGED
    assert run.hosts[0].status is Status.CHANGED and run.exit_code == 0


def test_until_that_never_holds_fails_after_the_retries(lab, tmp_path):
    task = write_task(tmp_path, """\
        steps:
          - {name: never, command: "false", register: r, retries: 2, delay: 0.05, until: r.rc == 0}
        """)
    step = steps_of(run_task(task, lab_hosts(lab, [46])))["never"]
    assert step.status is Status.FAILED and step.attempts == 3 and "after 3 attempts" in step.reason


def test_check_mode_runs_read_only_steps_and_changes_nothing(lab, tmp_path):
    marker = f"/tmp/rs-exec-check-{os.getpid()}"
    task = write_task(tmp_path, f"""\
        steps:
          - {{name: read, command: cat /etc/hostname, changed_when: false}}
          - {{name: write, command: touch {marker}}}
        """)
    run = run_task(task, lab_hosts(lab, [47]), check=True)
    steps = steps_of(run)
    assert steps["read"].status is Status.OK and steps["read"].stdout.strip()
    assert steps["write"].status is Status.SKIPPED and "would run" in steps["write"].reason
    assert not os.path.exists(marker)


def test_tags_select_steps(lab, tmp_path):
    task = write_task(tmp_path, """\
        steps:
          - {name: a, command: echo a, tags: [one]}
          - {name: b, command: echo b, tags: [two]}
          - {name: c, command: echo c, tags: [always]}
          - {name: d, command: echo d, tags: [never, debug]}
        """)
    hosts = lab_hosts(lab, [48])
    assert list(steps_of(run_task(task, hosts, tags=["one"]))) == ["a", "c"]
    assert list(steps_of(run_task(task, hosts, skip_tags=["one"]))) == ["b", "c"]
    assert list(steps_of(run_task(task, hosts, tags=["debug"]))) == ["c", "d"]


def test_undefined_variable_fails_the_host_before_any_command(lab, tmp_path):
    marker = f"/tmp/rs-exec-undef-{os.getpid()}"
    task = write_task(tmp_path, f"""\
        steps:
          - name: would leave a trace
            command: touch {marker}
          - name: uses an undefined variable
            command: echo {{{{ not_defined_anywhere }}}}
        """)
    run = run_task(task, lab_hosts(lab, [49]))
    assert run.hosts[0].status is Status.FAILED
    assert "undefined variable 'not_defined_anywhere'" in run.hosts[0].reason
    assert f"{task}:4" in run.hosts[0].reason
    assert not os.path.exists(marker)


def test_loop_over_a_non_list_fails_the_host_with_the_reason(lab, tmp_path):
    task = write_task(tmp_path, """\
        steps:
          - {name: loop, command: "echo {{ item }}", loop: "{{ inventory_hostname }}"}
        """)
    run = run_task(task, lab_hosts(lab, [50]))
    assert run.hosts[0].status is Status.FAILED and "loop must be a list" in run.hosts[0].reason


def test_task_for_another_os_skips_the_host_with_a_reason(lab, tmp_path):
    task = write_task(tmp_path, """\
        supports: {os_family: [RedHat]}
        steps:
          - command: "true"
        """)
    run = run_task(task, lab_hosts(lab, [51]))
    assert run.hosts[0].status is Status.SKIPPED and "supports RedHat, this host is Debian" in run.hosts[0].reason
    assert run.exit_code == 0


def test_injection_through_inventory_values_is_quoted(lab, tmp_path):
    marker = f"/tmp/rs-exec-inject-{os.getpid()}"
    task = write_task(tmp_path, """\
        steps:
          - {name: greet, command: "echo hello {{ customer }}"}
        """)
    hosts = lab_hosts(lab, [52], customer=f"x; touch {marker}")
    steps = steps_of(run_task(task, hosts))
    assert steps["greet"].stdout == f"hello x; touch {marker}\n"
    assert not os.path.exists(marker)


def test_secret_parameters_never_reach_the_output(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("RS_TEST_SECRET", "pa55-w0rd-xyz")
    task = write_task(tmp_path, """\
        params: [{name: token, type: secret, required: true}]
        steps:
          - {name: leak, command: "echo the token is {{ token }}; echo {{ token }} >&2"}
        """)
    run = run_task(task, lab_hosts(lab, [53]), extra_vars={"token": "env:RS_TEST_SECRET"})
    text = json.dumps(run.to_dict())
    assert "pa55-w0rd-xyz" not in text and "the token is ********" in text


def test_vars_render_against_registered_results_and_inventory(lab, tmp_path):
    task = write_task(tmp_path, """\
        vars: {greeting: "hello {{ inventory_hostname }}"}
        params: [{name: logfile, type: str, default: "/tmp/{{ inventory_hostname }}.log"}]
        steps:
          - {name: first, command: echo world, register: first, changed_when: false}
          - name: second
            vars: {x: "{{ first.stdout | trim }}"}
            command: echo {{ greeting }} {{ x }} {{ logfile }}
          - name: set inside if
            assert:
              that: "true"
              success_msg: "{% if true %}{% set a = 1 %}{{ a }}{% endif %}"
        """)
    host = lab_hosts(lab, [54])
    steps = steps_of(run_task(task, host))
    name = host[0].name
    assert steps["second"].stdout == f"hello {name} world /tmp/{name}.log\n"
    assert steps["set inside if"].status is Status.OK and steps["set inside if"].reason == "1"


def test_a_parameter_named_like_a_connection_variable_is_never_the_inventorys(lab, tmp_path):
    """The inventory's `port: 22` and `user: rslab` say how to reach the host: a task's own `port` keeps its
    default and an optional `user` stays undefined, unless -e gives them (then -e wins, as always)."""
    task = write_task(tmp_path, """\
        params:
          - {name: port, type: int, default: 8080}
          - {name: user, type: str}
        steps:
          - {name: show, command: "echo {{ port }} {{ user | default('nobody') }}", changed_when: false}
        """)
    host = lab_hosts(lab, [54])
    assert host[0].vars["port"] and host[0].vars["user"] == lab.user  # the lab host has both
    assert steps_of(run_task(task, host))["show"].stdout == "8080 nobody\n"
    given = steps_of(run_task(task, host, extra_vars={"port": "9090", "user": "alice"}))["show"]
    assert given.stdout == "9090 alice\n"


def test_check_mode_true_always_simulates(lab, tmp_path):
    marker = f"/tmp/rs-exec-always-check-{os.getpid()}"
    task = write_task(tmp_path, f"""\
        steps:
          - {{name: simulated, command: touch {marker}, check_mode: true}}
        """)
    steps = steps_of(run_task(task, lab_hosts(lab, [55])))
    assert steps["simulated"].status is Status.SKIPPED and not os.path.exists(marker)


# ---- Ansible's idioms for optional variables (issue 10 item 2)

OPTIONAL_TASK = """\
    params: [{name: greeting, type: str}]
    vars: {suffix: "{{ tail | default('!') }}"}
    steps:
      - name: defaults
        command: echo {{ greeting | default('hello') }} {{ who | d('world') }}{{ suffix }}
      - name: guarded by when
        command: echo proxy={{ proxy }}
        when: proxy is defined
      - name: guarded in the text
        command: echo {{ 'proxy' if proxy is defined else 'direct' }}
      - name: optional chdir
        command: {cmd: pwd, chdir: "{{ workdir | default(omit) }}"}
      - name: file
        template: {src: app.conf.j2, dest: "/tmp/rs-exec-optional-{{ inventory_hostname }}.conf"}
    """
OPTIONAL_TEMPLATES = {"app.conf.j2": """\
    listen {{ port | default(8080) }}
    {% if proxy is defined %}
    proxy {{ proxy }}
    {% endif %}
    owner {{ owner | mandatory('set owner with -e owner=NAME') }}
    """}


def test_optional_idioms_pass_the_early_check_and_unguarded_uses_do_not(tmp_path):
    from remote_support.executor import TaskRun
    from remote_support.inventory import Host
    from remote_support.tasks import load_task

    task = load_task(write_task(tmp_path, OPTIONAL_TASK, templates=OPTIONAL_TEMPLATES))
    host = Host("h1", {"address": "127.0.0.1"}, groups=("all",))
    message = TaskRun(task).undefined(host)
    assert message and "'owner' (mandatory: set owner with -e owner=NAME)" in message
    assert "app.conf.j2:5" in message
    assert TaskRun(task, extra_vars={"owner": "me"}).undefined(host) is None
    unguarded = load_task(write_task(tmp_path / "u", """\
        steps:
          - {name: a, command: "echo {{ x | default('a') }}"}
          - name: b
            command: echo {{ proxy }}
            when: other is defined
        """))
    assert TaskRun(unguarded).undefined(host) == (f"undefined variable 'proxy' at {unguarded.path}:3: define it "
                                                  f"in the inventory, as a parameter or with -e")


def test_optional_idioms_run_as_in_ansible(lab, tmp_path):
    task = write_task(tmp_path, OPTIONAL_TASK, templates=OPTIONAL_TEMPLATES)
    hosts = lab_hosts(lab, [56])
    steps = steps_of(run_task(task, hosts, extra_vars={"owner": "me"}))
    assert steps["defaults"].stdout == "hello world!\n"
    assert steps["guarded by when"].status is Status.SKIPPED
    assert steps["guarded in the text"].stdout == "direct\n"
    assert steps["optional chdir"].status is Status.CHANGED and steps["optional chdir"].stdout.strip() != "/tmp"
    assert steps["optional chdir"].command == "pwd"  # chdir left out, not given an empty or placeholder value
    assert steps["file"].status in (Status.CHANGED, Status.OK), steps["file"].reason
    steps = steps_of(run_task(task, hosts, extra_vars={"owner": "me", "proxy": "p:3128", "workdir": "/tmp",
                                                       "greeting": "hi", "tail": "?"}))
    assert steps["defaults"].stdout == "hi world?\n"
    assert steps["guarded by when"].stdout == "proxy=p:3128\n"
    assert steps["guarded in the text"].stdout == "proxy\n"
    assert steps["optional chdir"].stdout == "/tmp\n"


# ---- typos in -e (issue 10 item 3): caught before anything runs

TYPO_TASK = """\
    params:
      - {name: dns_name, type: str, default: example.org}
      - {name: Port, type: int, default: 53}
      - {name: retries_max, type: int, default: 3}
      - {name: token, type: secret, required: true}
    vars: {label: "{{ site | default('hq') }}"}
    steps:
      - name: look up
        command: echo {{ dns_name }} {{ Port }} {{ retries_max }} {{ label }}
        when: verbose is not defined or verbose
      - {name: file, template: {src: t.j2, dest: /tmp/x}}
    """


@pytest.mark.parametrize(("name", "suggestion"), [
    ("dnsname", "dns_name"),       # a separator missing
    ("dns-name", "dns_name"),      # - for _
    ("DNS_NAME", "dns_name"),      # case
    ("dns_nmae", "dns_name"),      # two letters swapped
    ("dns_names", "dns_name"),     # one letter more
    ("port", "Port"),
    ("retrys_max", "retries_max"),  # two edits in a long name
    ("tokn", "token"),
])
def test_near_miss_of_a_parameter_is_an_error_with_the_suggestion(tmp_path, name, suggestion):
    from remote_support.errors import TaskError
    from remote_support.executor import TaskRun
    from remote_support.tasks import load_task

    task = load_task(write_task(tmp_path, TYPO_TASK, templates={"t.j2": "{{ owner_name | default('me') }}\n"}))
    with pytest.raises(TaskError, match=rf"did you mean {suggestion}\?") as info:
        # the secret is not given: the typo is reported before any prompt for it
        TaskRun(task, extra_vars={name: "x"})
    assert info.value.exit_code == 5 and str(task.path) in str(info.value) and f"-e {name}" in str(info.value)


def test_unknown_names_that_are_no_near_miss_are_warnings_and_used_variables_are_fine(tmp_path, monkeypatch):
    from remote_support.executor import TaskRun
    from remote_support.tasks import load_task

    monkeypatch.setenv("RS_TEST_TOKEN", "t0k3n")
    task = load_task(write_task(tmp_path, TYPO_TASK, templates={"t.j2": "{{ owner_name | default('me') }}\n"}))
    given = {"token": "env:RS_TEST_TOKEN", "site": "b2", "verbose": "1", "owner_name": "x",  # used by the task
             "ntp_server": "10.0.0.1", "timezone": "UTC", "owner_nam": "y"}  # from a shared vars file
    run = TaskRun(task, extra_vars=given)
    assert len(run.warnings) == 3
    assert run.warnings[0].startswith("-e ntp_server: task task neither declares nor uses a variable 'ntp_server'")
    assert "timezone" in run.warnings[1] and "did you mean" not in run.warnings[1]
    assert run.warnings[2].endswith("(did you mean owner_name?)")  # a near miss of a variable: a hint only
    assert TaskRun(task, extra_vars={"token": "env:RS_TEST_TOKEN"}).warnings == []


def test_cli_run_refuses_a_typo_before_anything_runs(tmp_path):
    import subprocess
    import sys

    task = write_task(tmp_path, TYPO_TASK, templates={"t.j2": "x\n"})
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("h1 ansible_host=127.0.0.1 ansible_port=9\n")
    done = subprocess.run([sys.executable, "-m", "remote_support", "run", str(task), "-i", str(inventory),
                           "-e", "dnsname=a.example", "-e", "token=env:NOPE", "--journal", str(tmp_path / "j.sqlite")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 5, done.stderr
    assert "did you mean dns_name?" in done.stderr
