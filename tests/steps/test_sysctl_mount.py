"""sysctl and mount (steps/sysctl.py, steps/mount.py) on real lab hosts.

Each lab sshd runs in its own UTS and mount namespaces, so the sysctl tests change kernel.domainname (a
UTS setting: only that lab host sees it) and the mount tests mount a tmpfs that only that lab host sees.
What the host has is read back on the host itself (ssh as the lab's sudo-without-password user), and put
back afterwards. The sysctl.d and fstab files are throwaway files of the test's own.
"""

from __future__ import annotations

import secrets
import shlex
from pathlib import Path

import pytest

from lab_support import run_ssh
from remote_support.errors import TaskError
from remote_support.results import Status
from remote_support.tasks import load_task
from task_support import lab_hosts, run_task, steps_of, write_task

#: rslabnp: the lab user with sudo without a password, to read and restore what the steps changed
ROOT_READER = "rslabnp"


def on_host(lab, index: int, command: str) -> str:
    done = run_ssh(lab, lab.status()[index], f"sudo -n sh -c {shlex.quote(command)}", user=ROOT_READER)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def sysctl_file():
    path = Path(f"/etc/sysctl.d/rstest-{secrets.token_hex(3)}.conf")
    yield path
    path.unlink(missing_ok=True)


def test_sysctl_sets_runtime_and_file_then_is_ok_and_absent_drops_the_line(lab, tmp_path, sysctl_file):
    index = 65
    value = f"rstest-{secrets.token_hex(3)}"
    original = on_host(lab, index, "sysctl -n kernel.domainname").strip()
    sysctl_file.write_text("# kept\nkernel.domainname = old\nkernel.domainname=older\n")
    task = write_task(tmp_path, f"""
        name: sysctl
        params: [{{name: state, default: present, description: s}}, {{name: value, default: {value}, description: v}}]
        steps:
          - name: setting
            sysctl:
              name: kernel.domainname
              value: "{{{{ value if state == 'present' else none }}}}"
              state: "{{{{ state }}}}"
              sysctl_file: {sysctl_file}
            become: true
        """)
    host = lab_hosts(lab, [index])
    try:
        run = run_task(task, host, check=True)
        step = steps_of(run)["setting"]
        assert step.status is Status.CHANGED and step.reason.startswith("check mode: would set kernel.domainname")
        assert f"-kernel.domainname = old\n-kernel.domainname=older\n+kernel.domainname={value}\n" in step.diff
        assert f"kernel.domainname (running): {original} -> {value}" in step.diff
        assert on_host(lab, index, "sysctl -n kernel.domainname").strip() == original
        assert "old" in sysctl_file.read_text()

        run = run_task(task, host, diff=True)
        assert steps_of(run)["setting"].status is Status.CHANGED, steps_of(run)["setting"].reason
        assert on_host(lab, index, "sysctl -n kernel.domainname").strip() == value
        assert sysctl_file.read_text() == f"# kept\nkernel.domainname={value}\n"
        assert steps_of(run_task(task, host))["setting"].status is Status.OK

        # the file is right but the running value was changed behind our back: sysctl -w sets it again
        on_host(lab, index, "sysctl -qw kernel.domainname=drifted")
        run = run_task(task, host)
        assert steps_of(run)["setting"].status is Status.CHANGED
        assert steps_of(run)["setting"].command == f"sysctl -w kernel.domainname={value}"
        assert on_host(lab, index, "sysctl -n kernel.domainname").strip() == value

        run = run_task(task, host, extra_vars={"state": "absent"})
        assert steps_of(run)["setting"].status is Status.CHANGED
        assert sysctl_file.read_text() == "# kept\n"
        assert steps_of(run_task(task, host, extra_vars={"state": "absent"}))["setting"].status is Status.OK
    finally:
        on_host(lab, index, f"sysctl -qw kernel.domainname={shlex.quote(original)}")


def test_sysctl_unknown_key_fails_and_bad_arguments_are_refused_at_load(lab, tmp_path, sysctl_file):
    task = write_task(tmp_path, f"""
        name: sysctl
        steps:
          - name: setting
            sysctl: {{name: kernel.no_such_setting_rs, value: "1", sysctl_file: {sysctl_file}}}
            become: true
        """)
    run = run_task(task, lab_hosts(lab, [66]))
    assert steps_of(run)["setting"].status is Status.FAILED
    assert "the kernel has no setting kernel.no_such_setting_rs" in steps_of(run)["setting"].reason
    assert not sysctl_file.exists()
    for args, message in [("{name: 'vm.x; reboot', value: '1'}", "is not a sysctl key"),
                          ("{name: vm.swappiness}", "needs value"),
                          ("{name: vm.swappiness, value: '1', sysctl_file: relative.conf}", "absolute path")]:
        bad = write_task(tmp_path, f"name: bad\nsteps:\n  - sysctl: {args}\n", name="bad.yml")
        with pytest.raises(TaskError) as error:
            load_task(bad)
        assert message in str(error.value) and "bad.yml:3" in str(error.value)


@pytest.fixture
def mount_point(lab):
    """A mount point and an fstab file of the test's own; unmounted on the lab host afterwards."""
    token = secrets.token_hex(3)
    point, fstab = Path(f"/tmp/rstest-mnt-{token}"), Path(f"/tmp/rstest-fstab-{token}")
    used = []
    yield point, fstab, used
    for index in used:
        on_host(lab, index, f"umount {point} 2>/dev/null; true")
    if point.is_dir():
        point.rmdir()
    fstab.unlink(missing_ok=True)


def mounted(lab, index: int, point: Path) -> str:
    """What is mounted on ``point`` as the lab host sees it ('' when nothing)."""
    return on_host(lab, index, f"findmnt -n -o SOURCE,FSTYPE,OPTIONS --mountpoint {point} || true").strip()


def test_mount_writes_fstab_mounts_remounts_and_unmounts(lab, tmp_path, mount_point):
    point, fstab, used = mount_point
    index = 67
    used.append(index)
    fstab.write_text("# theirs\nproc /proc proc defaults 0 0\n")
    task = write_task(tmp_path, f"""
        name: mount
        params: [{{name: state, default: mounted, description: s}}, {{name: size, default: 1m, description: z}}]
        steps:
          - name: scratch
            mount: {{path: {point}, src: rstest, fstype: tmpfs, opts: "size={{{{ size }}}},mode=0755",
                     state: "{{{{ state }}}}", fstab: {fstab}}}
            become: true
        """)
    host = lab_hosts(lab, [index])
    entry = f"rstest {point} tmpfs size=1m,mode=0755 0 0\n"

    run = run_task(task, host, check=True)
    step = steps_of(run)["scratch"]
    assert step.status is Status.CHANGED and f"would write the {fstab} entry for {point}; mount {point}" in step.reason
    assert f"+{entry}" in step.diff and f"{point}: mount {point}" in step.diff
    assert mounted(lab, index, point) == "" and not point.exists()
    assert fstab.read_text() == "# theirs\nproc /proc proc defaults 0 0\n"

    run = run_task(task, host)
    assert steps_of(run)["scratch"].status is Status.CHANGED, steps_of(run)["scratch"].reason
    assert fstab.read_text() == "# theirs\nproc /proc proc defaults 0 0\n" + entry
    assert mounted(lab, index, point).startswith("rstest tmpfs") and "size=1024k" in mounted(lab, index, point)
    assert steps_of(run_task(task, host))["scratch"].status is Status.OK

    run = run_task(task, host, diff=True, extra_vars={"size": "2m"})
    assert steps_of(run)["scratch"].reason.endswith(f"remount {point}")
    assert "size=2048k" in mounted(lab, index, point)

    run = run_task(task, host, extra_vars={"state": "unmounted", "size": "2m"})
    assert steps_of(run)["scratch"].status is Status.CHANGED and mounted(lab, index, point) == ""
    assert "rstest" in fstab.read_text(), "unmounted leaves fstab alone"
    assert steps_of(run_task(task, host, extra_vars={"state": "unmounted"}))["scratch"].status is Status.OK

    run = run_task(task, host, extra_vars={"state": "present", "size": "2m"})
    assert steps_of(run)["scratch"].status is Status.OK and mounted(lab, index, point) == ""
    run_task(task, host, extra_vars={"size": "2m"})
    run = run_task(task, host, extra_vars={"state": "absent", "size": "2m"})
    assert steps_of(run)["scratch"].status is Status.CHANGED
    assert mounted(lab, index, point) == "" and fstab.read_text() == "# theirs\nproc /proc proc defaults 0 0\n"
    assert steps_of(run_task(task, host, extra_vars={"state": "absent"}))["scratch"].status is Status.OK


@pytest.mark.parametrize("args, message", [
    ("{path: /mnt/x, state: mounted}", "needs src and fstype"),
    ("{path: mnt, src: tmpfs, fstype: tmpfs, state: present}", "absolute path"),
    ("{path: /mnt/x, src: tmpfs, fstype: tmpfs, opts: 'a b', state: present}", "must not contain blanks"),
    ("{path: /mnt/x, src: tmpfs, fstype: tmpfs, state: attached}", "use one of"),
])
def test_bad_mount_arguments_are_refused_at_load(tmp_path, args, message):
    task = write_task(tmp_path, f"name: bad\nsteps:\n  - mount: {args}\n")
    with pytest.raises(TaskError) as error:
        load_task(task)
    assert message in str(error.value) and "task.yml:3" in str(error.value)
