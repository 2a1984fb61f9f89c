"""The `file` kind against ansible-core's own `file` module: the same tree (types, modes, link targets,
hard links) and the same changed flag or failure, case by case, through the local connection."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from remote_support.inventory import Host
from remote_support.results import Status
from task_support import run_task, steps_of, write_task

LOCAL = Host("controller", {"connection": "local"}, groups=("all",))


def tree(root: Path) -> dict[str, tuple]:
    """Every entry under root: type, mode, link target, and which entries share an inode."""
    inodes: dict[int, str] = {}
    found = {}
    for path in sorted([root, *root.rglob("*")]):
        info = path.lstat()
        name = str(path.relative_to(root))
        kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
        same = inodes.setdefault(info.st_ino, name) if kind == "file" else None
        found[name] = (kind, oct(stat.S_IMODE(info.st_mode)) if kind != "link" else None,
                       os.readlink(path) if kind == "link" else None, same)
    return found


def build(root: Path) -> None:
    """The starting tree of every case."""
    (root / "app" / "conf").mkdir(parents=True)
    (root / "app" / "bin").mkdir()
    for name, mode in (("app/conf/a.conf", 0o666), ("app/bin/run", 0o700), ("app/readme", 0o600)):
        (root / name).write_text(name)
        os.chmod(root / name, mode)
    os.chmod(root / "app", 0o777)
    (root / "app" / "current").symlink_to("conf")


CASES = [
    ("dir-with-parents-symbolic", {"path": "new/a/b", "state": "directory", "mode": "u=rwx,g=rx,o="}),
    ("dir-existing-octal", {"path": "app", "state": "directory", "mode": "0750"}),
    ("dir-recurse-X", {"path": "app", "state": "directory", "recurse": True, "mode": "u=rwX,g=rX,o="}),
    ("dir-recurse-octal", {"path": "app/conf", "state": "directory", "recurse": True, "mode": "0640"}),
    ("touch-new-mode", {"path": "app/stamp", "state": "touch", "mode": "0604",
                        "modification_time": "preserve", "access_time": "preserve"}),
    ("file-mode-symbolic", {"path": "app/readme", "mode": "g+r,o+r"}),
    ("file-missing-fails", {"path": "app/nothere", "state": "file"}),
    ("link-new", {"path": "app/latest", "state": "link", "src": "bin/run"}),
    ("link-retarget", {"path": "app/current", "state": "link", "src": "bin"}),
    ("link-same", {"path": "app/current", "state": "link", "src": "conf"}),
    ("link-over-file-refused", {"path": "app/readme", "state": "link", "src": "conf"}),
    ("link-over-file-forced", {"path": "app/readme", "state": "link", "src": "conf", "force": True}),
    ("link-missing-src-refused", {"path": "app/dangling", "state": "link", "src": "nothere"}),
    ("link-missing-src-forced", {"path": "app/dangling", "state": "link", "src": "nothere", "force": True}),
    ("hard-new", {"path": "app/run2", "state": "hard", "src": "ROOT/app/bin/run"}),
    ("absent-tree", {"path": "app/conf", "state": "absent"}),
    ("absent-link-keeps-target", {"path": "app/current", "state": "absent"}),
    ("absent-missing", {"path": "app/none", "state": "absent"}),
    ("default-state-dir", {"path": "app/bin", "mode": "0711"}),
]


def absolute(args: dict, root: Path) -> dict:
    args = {**args, "path": str(root / args["path"])}
    if "src" in args:
        args["src"] = args["src"].replace("ROOT", str(root))
    return args


def ansible(args: dict, work: Path) -> dict:
    spec = work / "args.json"
    spec.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"follow": False, **args}}))
    proc = subprocess.run([sys.executable, "-m", "ansible.modules.file", str(spec)], capture_output=True,
                          text=True, check=False)
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    result["failed"] = bool(result.get("failed")) or proc.returncode != 0
    return result


@pytest.mark.parametrize("case, args", CASES, ids=[c[0] for c in CASES])
def test_same_tree_and_changed_flag_as_ansible(tmp_path, case, args):
    theirs, mine = tmp_path / "ansible", tmp_path / "ours"
    for root in (theirs, mine):
        root.mkdir()
        build(root)
    old_umask = os.umask(0o022)
    try:
        expected = ansible(absolute(args, theirs), tmp_path)
        task = write_task(tmp_path / "task", f"""
            name: oracle
            steps:
              - name: it
                file: {json.dumps(absolute(args, mine))}
            """)
        step = steps_of(run_task(task, [LOCAL]))["it"]
        assert (step.status is Status.FAILED) == expected["failed"], (step.reason, expected.get("msg"))
        if not expected["failed"]:
            assert (step.status is Status.CHANGED) == expected["changed"], (step.reason, expected)
        assert tree(mine) == tree(theirs)
        again = steps_of(run_task(task, [LOCAL]))["it"]
        assert again.status is (Status.FAILED if expected["failed"] else Status.OK), again.reason
    finally:
        os.umask(old_umask)
