"""Symbolic and octal modes (steps/modes.py), with GNU chmod as the oracle for the symbolic ones."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest
from ansible.module_utils.basic import AnsibleModule

from remote_support.errors import TaskError
from remote_support.steps.modes import Mode, apply_symbolic, parse_mode

SPECS = ["u+rwx", "g-w", "o=", "u=rw,g=r,o=", "a+x", "ug+rw,o-rwx", "u+s", "g+s", "o+t", "a+t", "u=g", "g=u",
         "o=u", "go=u-w", "a-x+X", "u+X", "a+rX", "u-x,g+w,o=rx", "a=", "u=rwxs,g=rx,o=", "g+rwxs", "o-x+t",
         "ugo=rwx", "u+rw-x=r", "a+X,g-X"]
STARTS = [0o644, 0o755, 0o600, 0o4750, 0o1777, 0o000, 0o711]


@pytest.mark.parametrize("spec", SPECS)
def test_symbolic_modes_as_ansible_and_chmod_apply_them(tmp_path, spec):
    """Ansible's own conversion is the oracle; GNU chmod agrees except that on a directory its `=` keeps
    setuid/setgid (a GNU extension), so chmod is compared where no such bit is set."""
    for is_dir in (False, True):
        for start in STARTS:
            path = tmp_path / f"{'d' if is_dir else 'f'}{start:o}"
            path.mkdir() if is_dir else path.touch()
            os.chmod(path, start)
            ours = apply_symbolic(spec, start, is_dir)
            assert ours == AnsibleModule._symbolic_mode_to_octal(path.stat(), spec), (spec, oct(start), is_dir)
            subprocess.run(["chmod", spec, str(path)], check=True)
            if not (is_dir and start & 0o6000):
                assert ours == stat.S_IMODE(path.stat().st_mode), (spec, oct(start), is_dir)


def test_a_clause_without_who_means_all_unmasked(tmp_path):
    """As Ansible and chmod: +x is a+x, except for the bits the umask keeps."""
    assert apply_symbolic("+x", 0o600, umask=0o022) == 0o711
    assert apply_symbolic("+w", 0o400, umask=0o022) == 0o600
    assert apply_symbolic("=r", 0o777, umask=0o077) == 0o400
    os.umask(0o022)
    path = tmp_path / "f"
    path.touch()
    for spec in ("+x", "=r", "-w", "+rwx,g-w", "=,u+r"):
        for start in STARTS:
            os.chmod(path, start)
            assert apply_symbolic(spec, start, umask=0o022) == AnsibleModule._symbolic_mode_to_octal(path.stat(), spec), spec


def test_octal_and_resolve():
    assert parse_mode("0644", "t.yml:1") == Mode(octal=0o644)
    assert parse_mode("2775", "t.yml:1").resolve(None) == 0o2775
    assert parse_mode("g+w", "t.yml:1").resolve(0o644) == 0o664
    assert parse_mode("u=rwx", "t.yml:1").resolve(None, is_dir=True, umask=0o027) == 0o750
    assert parse_mode(None, "t.yml:1") is None


@pytest.mark.parametrize("value", ["rw", "u+z", "u+rw,", "x=r", "0999", "u+rwx;g-w", "", 644])
def test_bad_modes_name_the_place(value):
    with pytest.raises(TaskError) as error:
        parse_mode(value, "task.yml:7", "file")
    assert str(error.value).startswith("task.yml:7: file argument 'mode'")
