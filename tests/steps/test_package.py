"""The package step: every manager's commands and parsing with recorded outputs, and apt for real.

The real tests install a package built at test time from a local repository (tests/steps/pkg_support.py)
on ONE lab host: the lab hosts share this machine's dpkg database.
"""

from __future__ import annotations

import os

import pytest

from remote_support.errors import TaskError
from remote_support.results import CommandResult, Status
from remote_support.steps.package import (MANAGERS, Apk, Apt, Dnf, Package, Pacman, Plan, QueryError, Yum, Zypper,
                                          package_names)
from task_support import lab_hosts, run_task, steps_of, write_task

from .pkg_support import PACKAGE, LocalAptRepo


def done(stdout: str = "", stderr: str = "", rc: int = 0) -> CommandResult:
    return CommandResult("recorded", stdout, stderr, rc)


# -- arguments


def test_names_from_a_list_or_comma_separated_text():
    assert package_names("curl") == ["curl"]
    assert package_names("curl, htop,,curl") == ["curl", "htop"]
    assert package_names(["vim", "git,tig"]) == ["vim", "git", "tig"]
    assert package_names(["libc6:i386", "g++", "python3.11"]) == ["libc6:i386", "g++", "python3.11"]
    for bad in ("-oDebug=1", "curl htop", "vim=2:9.0", "*", "a;b"):
        with pytest.raises(ValueError, match="not a package name"):
            package_names(bad)


def test_arguments_are_checked_when_the_task_is_loaded():
    kind = Package()
    assert kind.normalize("curl,htop", "t.yml:3")["name"] == "curl,htop"  # free form
    assert kind.normalize({"name": "{{ pkgs }}"}, "t.yml:3")["state"] == "present"
    with pytest.raises(TaskError, match="needs the argument 'name'"):
        kind.normalize({"state": "absent"}, "t.yml:3")
    with pytest.raises(TaskError, match="not a package name"):
        kind.normalize({"name": "curl; reboot"}, "t.yml:3")
    with pytest.raises(TaskError, match="use one of auto, apt"):
        kind.normalize({"name": "curl", "manager": "brew"}, "t.yml:3")


def test_plan_summary_and_diff():
    plan = Plan(install=["htop"], upgrade=["curl"], remove=["nano"], before={"curl": "7.1", "nano": "7.2"},
                offered={"htop": "3.2", "curl": "7.9"})
    assert plan.summary() == "would install: htop; would upgrade: curl; would remove: nano"
    assert plan.summary(done=True) == "installed: htop; upgraded: curl; removed: nano"
    assert plan.diff() == "+ htop 3.2\n- curl 7.1\n+ curl 7.9\n- nano 7.2\n"
    assert plan.diff(after={"htop": "3.2-1", "curl": "7.9-1"}) == "+ htop 3.2-1\n- curl 7.1\n+ curl 7.9-1\n- nano 7.2\n"


# -- each manager's commands and parsing, with outputs recorded on real hosts


def test_every_manager_builds_non_interactive_commands():
    expected = {
        "apt": ("apt-get -y -q", "install curl", "install --only-upgrade curl", "remove curl", "apt-get update"),
        "dnf": ("dnf -y", "dnf -y install curl", "dnf -y upgrade curl", "dnf -y remove curl", "dnf -y -q makecache"),
        "yum": ("yum -y", "yum -y install curl", "yum -y update curl", "yum -y remove curl", "yum -y -q makecache"),
        "zypper": ("zypper -n", "zypper -n in curl", "zypper -n up curl", "zypper -n rm curl", "zypper -n refresh"),
        "apk": ("apk", "apk add --no-progress curl", "apk add --no-progress --upgrade curl",
                "apk del --no-progress curl", "apk update"),
        "pacman": ("--noconfirm", "pacman -S --noconfirm --needed --noprogressbar curl",
                   "pacman -S --noconfirm --noprogressbar curl", "pacman -R --noconfirm --noprogressbar curl",
                   "pacman -Sy"),
    }
    assert set(expected) == set(MANAGERS)
    for name, (common, install, upgrade, remove, update) in expected.items():
        manager = MANAGERS[name]()
        commands = (manager.install(["curl"]), manager.upgrade(["curl"]), manager.remove(["curl"]))
        assert all(common in c for c in commands), commands
        assert install in commands[0] and upgrade in commands[1] and remove in commands[2]
        assert update in manager.update_cache()
    apt = Apt().install(["curl", "htop"])
    assert apt.startswith("DEBIAN_FRONTEND=noninteractive ") and "DPkg::Lock::Timeout=" in apt
    assert apt.endswith("install curl htop") and "--force-confold" in apt
    assert Apt().install_deb("hello_1.0_all.deb").endswith("install ./hello_1.0_all.deb")
    assert Apt().query(["curl"]) == "LC_ALL=C dpkg-query -W -f='${Package} ${Status} ${Version}\\n' curl"


def test_apt_parsing():
    apt = Apt()
    query = done("curl install ok installed 7.88.1-10+deb12u5\n"
                 "nano deinstall ok config-files 7.2-1\n",
                 "dpkg-query: no packages found matching htop\n", rc=1)
    assert apt.parse_query(["curl", "nano", "htop"], query) == {"curl": "7.88.1-10+deb12u5", "nano": None,
                                                                "htop": None}
    with pytest.raises(QueryError, match="dpkg-query failed"):
        apt.parse_query(["curl"], done("", "dpkg-query: error: cannot open status", rc=2))
    policy = done("curl:\n  Installed: 7.88.1-10+deb12u5\n  Candidate: 7.88.1-10+deb12u8\n  Version table:\n"
                  "     7.88.1-10+deb12u8 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n"
                  " *** 7.88.1-10+deb12u5 100\n        100 /var/lib/dpkg/status\n"
                  "mail-transport-agent:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n")
    assert apt.parse_available(["curl", "mail-transport-agent", "nosuch"], policy) == {
        "curl": "7.88.1-10+deb12u8", "mail-transport-agent": None, "nosuch": None}
    assert apt.not_found("Reading package lists...\nE: Unable to locate package nosuch\n"
                         "E: Package 'ghost' has no installation candidate\n") == ["nosuch", "ghost"]


def test_dnf_and_yum_parsing():
    rpm = done("bash 5.1.8-6.el9_1\nopenssl 1:3.0.7-27.el9\npackage htop is not installed\n", rc=1)
    assert Dnf().parse_query(["bash", "openssl", "htop"], rpm) == {"bash": "5.1.8-6.el9_1",
                                                                  "openssl": "1:3.0.7-27.el9", "htop": None}
    assert "rpm -q --qf" in Dnf().query(["bash"]) and "%{VERSION}-%{RELEASE}" in Dnf().query(["bash"])
    with pytest.raises(QueryError, match="rpm -q failed"):
        Dnf().parse_query(["bash"], done("", "error: rpmdb: BDB0113 Thread/process failed", rc=1))
    listing = done("Installed Packages\n"
                   "bash.x86_64                     5.1.8-6.el9_1                    @anaconda\n"
                   "vim-minimal.x86_64              2:8.2.2637-20.el9_1              @baseos\n"
                   "Available Packages\n"
                   "bash.x86_64                     5.1.8-9.el9                      baseos\n"
                   "python3-some-really-long-package-name-for-wrapping.noarch\n"
                   "                                1.2.3-4.el9                      appstream\n")
    names = ["bash", "vim-minimal", "python3-some-really-long-package-name-for-wrapping", "nosuch"]
    assert Dnf().parse_available(names, listing) == {
        "bash": "5.1.8-9.el9", "vim-minimal": "2:8.2.2637-20.el9_1",
        "python3-some-really-long-package-name-for-wrapping": "1.2.3-4.el9", "nosuch": None}
    assert Yum().parse_available(["nosuch"], done("", "Error: No matching Packages to list\n", rc=1)) == {
        "nosuch": None}
    with pytest.raises(QueryError, match="yum list failed"):
        Yum().parse_available(["bash"], done("", "Cannot find a valid baseurl for repo: base\n", rc=1))
    assert Dnf().not_found("No match for argument: nosuch\nError: Unable to find a match: nosuch other\n") == [
        "nosuch", "other"]
    assert Yum().not_found("No package nosuch available.\nError: Nothing to do\n") == ["nosuch"]


def test_zypper_parsing():
    info = done("Loading repository data...\nReading installed packages...\n\n\n"
                "Information for package vim:\n----------------------------\n"
                "Repository     : Main Repository (OSS)\nName           : vim\nVersion        : 9.1.0111-1.1\n"
                "Arch           : x86_64\nVendor         : openSUSE\nInstalled Size : 3.6 MiB\n"
                "Installed      : Yes\nStatus         : out-of-date (version 9.0.2103-1.1 installed)\n"
                "Summary        : Vi IMproved\nDescription    : \n    Vim is an almost compatible version of vi.\n"
                "package 'nosuch' not found.\n", rc=0)
    assert Zypper().parse_available(["vim", "nosuch"], info) == {"vim": "9.1.0111-1.1", "nosuch": None}
    assert Zypper().not_found("Package 'nosuch' not found.\nNo provider of 'ghost' found.\n") == ["nosuch", "ghost"]


def test_apk_parsing():
    installed = done("busybox-1.36.1-r5 x86_64 {busybox} (GPL-2.0-only) [installed]\n"
                     "curl-8.5.0-r0 x86_64 {curl} (curl) [installed]\n"
                     "curl-doc-8.5.0-r0 x86_64 {curl} (curl) [installed]\n")
    assert Apk().parse_query(["busybox", "curl", "htop"], installed) == {
        "busybox": "1.36.1-r5", "curl": "8.5.0-r0", "htop": None}
    listing = done("busybox-1.36.1-r15 x86_64 {busybox} (GPL-2.0-only) [upgradable from: busybox-1.36.1-r5]\n"
                   "curl-8.5.0-r0 x86_64 {curl} (curl) [installed]\n"
                   "htop-3.2.2-r1 x86_64 {htop} (GPL-2.0-or-later)\n")
    assert Apk().parse_available(["busybox", "curl", "htop", "nosuch"], listing) == {
        "busybox": "1.36.1-r15", "curl": "8.5.0-r0", "htop": "3.2.2-r1", "nosuch": None}
    assert Apk().not_found("ERROR: unable to select packages:\n  nosuch (no such package):\n"
                           "    required by: world[nosuch]\n") == ["nosuch"]


def test_pacman_parsing():
    query = done("bash 5.2.026-2\n", "error: package 'htop' was not found\n", rc=1)
    assert Pacman().parse_query(["bash", "htop"], query) == {"bash": "5.2.026-2", "htop": None}
    with pytest.raises(QueryError):
        Pacman().parse_query(["bash"], done("", "error: could not open database\n", rc=1))
    assert Pacman().available(["htop"]) == "LC_ALL=C pacman -Sp --print-format '%n %v' htop"
    assert Pacman().parse_available(["bash", "htop"], done("bash 5.2.037-1\nhtop 3.3.0-1\n")) == {
        "bash": "5.2.037-1", "htop": "3.3.0-1"}
    missing = done("", "error: target not found: nosuch\n", rc=1)
    assert Pacman().parse_available(["htop", "nosuch"], missing) == {"htop": "", "nosuch": None}
    assert Pacman().not_found("error: target not found: nosuch\n") == ["nosuch"]


# -- apt for real, on one lab host


@pytest.fixture(scope="module")
def repo():
    """A local apt repository offering PACKAGE 1.0, known to apt; all of it removed afterwards."""
    repo = LocalAptRepo()
    try:
        repo.add("1.0")
        repo.enable()
        yield repo
    finally:
        problems = repo.remove()
        assert not problems, problems


def one_step(tmp_path, label: str, args: str, *, become: bool = True) -> os.PathLike:
    return write_task(tmp_path / label, f"""\
        steps:
          - name: {label}
            package: {args}
            become: {'true' if become else 'false'}
        """)


def test_without_become_or_with_an_unknown_name_fails_clearly(lab, tmp_path, repo):
    hosts = lab_hosts(lab)
    run = run_task(one_step(tmp_path, "no become", f"{{name: {PACKAGE}, update_cache: true}}", become=False), hosts)
    step = steps_of(run)["no become"]
    assert step.status is Status.FAILED
    assert step.reason.startswith("package changes need root: add become: true"), step.reason

    missing = f"rs-test-missing-{os.getpid()}"
    run = run_task(one_step(tmp_path, "unknown", f"{{name: [{missing}]}}"), hosts)
    step = steps_of(run)["unknown"]
    assert step.status is Status.FAILED
    assert step.reason == (f"package {missing} not found in apt sources: check the name or run with "
                           "update_cache: true"), step.reason
    assert repo.installed_version() is None


def test_install_check_mode_idempotence_latest_absent_and_deb(lab, tmp_path, repo):
    hosts = lab_hosts(lab)
    install = one_step(tmp_path, "install", f"{{name: {PACKAGE}, update_cache: true}}")

    # check mode: the plan, and nothing installed (the cache is not updated either, so apt does not know
    # the package yet: the real run would update it first)
    run = run_task(install, hosts, check=True)
    step = steps_of(run)["install"]
    assert step.status is Status.CHANGED, step
    assert step.reason.startswith(f"would install: {PACKAGE}"), step.reason
    assert step.diff.startswith(f"+ {PACKAGE}") and step.diff.count("\n") == 1, step.diff
    assert repo.installed_version() is None

    run = run_task(install, hosts, diff=True)
    step = steps_of(run)["install"]
    assert step.status is Status.CHANGED, step
    assert step.diff == f"+ {PACKAGE} 1.0\n"
    assert step.reason == f"installed: {PACKAGE}" and step.data["installed"] == [PACKAGE]
    assert step.data["versions"] == {PACKAGE: "1.0"}
    assert repo.installed_version() == "1.0"

    # again: nothing to do; check mode agrees
    for check in (False, True):
        step = steps_of(run_task(install, hosts, check=check))["install"]
        assert step.status is Status.OK and step.reason == f"installed: {PACKAGE} 1.0", step

    # the repository gains 1.1: present keeps 1.0, latest upgrades
    repo.add("1.1")
    latest = write_task(tmp_path / "latest", f"""\
        steps:
          - name: present
            package: {{name: {PACKAGE}, update_cache: true}}
            become: true
          - name: latest
            package: {{name: {PACKAGE}, state: latest}}
            become: true
          - name: latest again
            package: {{name: {PACKAGE}, state: latest}}
            become: true
        """)
    steps = steps_of(run_task(latest, hosts, diff=True))
    assert steps["present"].status is Status.OK, steps["present"]
    assert steps["latest"].status is Status.CHANGED, steps["latest"]
    assert steps["latest"].data["upgraded"] == [PACKAGE]
    assert steps["latest"].diff == f"- {PACKAGE} 1.0\n+ {PACKAGE} 1.1\n"
    assert steps["latest again"].status is Status.OK
    assert repo.installed_version() == "1.1"

    absent = write_task(tmp_path / "absent", f"""\
        steps:
          - name: absent
            package: {{name: "{PACKAGE}", state: absent}}
            become: true
          - name: absent again
            package: {{name: "{PACKAGE}", state: absent}}
            become: true
        """)
    steps = steps_of(run_task(absent, hosts, diff=True))
    assert steps["absent"].status is Status.CHANGED and steps["absent"].data["removed"] == [PACKAGE]
    assert steps["absent"].diff == f"- {PACKAGE} 1.1\n"
    assert steps["absent again"].status is Status.OK
    assert repo.installed_version() is None

    # a .deb file on the host: its name and version come from the file
    deb = one_step(tmp_path, "deb", f"{{deb: {repo.debs['1.0']}}}")
    step = steps_of(run_task(deb, hosts))["deb"]
    assert step.status is Status.CHANGED and step.data["installed"] == [PACKAGE], step
    assert repo.installed_version() == "1.0"
    assert steps_of(run_task(deb, hosts))["deb"].status is Status.OK
