"""Inventory loading, variable precedence, Ansible name mapping, host patterns and errors.

Fixtures under tests/data/inventory/ were checked against ansible-core 2.19's ``ansible-inventory --list``
(hosts, groups and every variable) when they were written; the expected values below are Ansible's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from remote_support.errors import InventoryError, PatternError
from remote_support.inventory import CONNECTION_TYPES, Inventory, PatternWarning, load_inventory, split_pattern
from remote_support.secrets import SecretRef

DATA = Path(__file__).parent / "data" / "inventory"
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "inventories"


def write(base: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return base


def load(*paths: Path | str) -> Inventory:
    return load_inventory([str(p) for p in paths])


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line of ``path`` containing ``needle``."""
    hits = [n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return hits[nth - 1]


def load_error(*paths: Path | str) -> InventoryError:
    with pytest.raises(InventoryError) as info:
        load(*paths)
    return info.value


def assert_at(err: InventoryError, path: Path | str, line: int | None) -> None:
    """The error names the file and line, in its fields and in its message."""
    assert err.source == str(path)
    assert err.line == line
    prefix = f"{path}:{line}: " if line else f"{path}: "
    assert str(err).startswith(prefix), str(err)


# --------------------------------------------------------------------------------------------------
# Native YAML


NATIVE = """
defaults:
  user: support
  connection: ssh
groups:
  workstations:
    vars: {ntp_server: 10.0.0.1, role: desk}
    children: [floor1, floor2]
    hosts: [pc-001]
  floor1:
    vars: {role: floor1}
  floor2: {}
  empty: ~
hosts:
  pc-001:
    address: 10.1.0.1
  pc-042:
    address: 10.1.0.42
    port: 2222
    groups: [floor1, lab]
    password: {secret: "env:PC042_PW"}
  pc-043:
    address: pc-043.example.com
    groups: floor2
  console:
    connection: local
"""


@pytest.fixture
def native(tmp_path: Path) -> Path:
    return write(tmp_path, {"inv.yml": NATIVE}) / "inv.yml"


def test_native_hosts_vars_and_sources(native: Path) -> None:
    inv = load(native)
    assert list(inv.hosts) == ["pc-001", "pc-042", "pc-043", "console"]
    pc = inv.hosts["pc-042"]
    assert (pc.address, pc.port, pc.user, pc.connection) == ("10.1.0.42", 2222, "support", "ssh")
    assert pc.vars["ntp_server"] == "10.0.0.1"
    assert pc.vars["role"] == "floor1"  # child group's vars beat the parent's
    assert "groups" not in pc.vars
    assert pc.source == f"{native}:{line_of(native, 'pc-042:')}"
    assert inv.sources == [str(native)]


def test_native_secret_reference_remembers_where(native: Path) -> None:
    password = load(native).hosts["pc-042"].vars["password"]
    assert isinstance(password, SecretRef) and password.spec == "env:PC042_PW"
    assert password.source == f"{native}:{line_of(native, 'password:')}"


def test_native_membership_nesting_and_implicit_groups(native: Path) -> None:
    inv = load(native)
    assert inv.hosts["pc-001"].groups == ("all", "workstations")  # listed on the group
    assert inv.hosts["pc-042"].groups == ("all", "lab", "workstations", "floor1")  # ancestors, parents first
    assert inv.hosts["pc-043"].groups == ("all", "workstations", "floor2")  # a single string works too
    assert inv.hosts["console"].groups == ("all", "ungrouped")
    assert inv.hosts["console"].address == "console"  # local hosts need no address
    assert "lab" in inv.groups  # named on a host, never defined: created like Ansible does
    assert inv.groups["workstations"].children == ("floor1", "floor2")
    assert inv.groups["workstations"].hosts == ("pc-001",)
    assert inv.groups["floor1"].hosts == ("pc-042",)
    assert inv.groups["empty"].hosts == ()
    assert inv.groups["workstations"].source == f"{native}:{line_of(native, 'workstations:')}"
    assert set(inv.groups["all"].children) == {"ungrouped", "workstations", "empty", "lab"}
    assert sorted(g for g in inv.hosts["pc-042"].groups if g != "all") == ["floor1", "lab", "workstations"]


def test_native_deeper_nesting(tmp_path: Path) -> None:
    path = write(tmp_path, {"inv.yml": """
        groups:
          site: {children: [building], vars: {level: site, site_only: yes}}
          building: {children: [floor], vars: {level: building}}
          floor: {hosts: [pc], vars: {level: floor}}
        hosts:
          pc: {address: 10.0.0.1}
        """})
    host = load(path / "inv.yml").hosts["pc"]
    assert host.groups == ("all", "site", "building", "floor")
    assert host.vars["level"] == "floor"
    assert host.vars["site_only"] is True


def test_shipped_native_example_loads() -> None:
    inv = load(EXAMPLES / "example.yml")
    assert inv.hosts["helpdesk-console"].connection == "local"
    assert inv.hosts["mail01"].port == 2222
    assert inv.hosts["mail01"].vars["proxy_jump"].startswith("support@bastion")
    assert isinstance(inv.hosts["fs01"].vars["become_password"], SecretRef)
    assert inv.hosts["fs01"].become is True
    assert inv.hosts["pc-201"].groups == ("all", "workstations", "floor2")
    assert inv.hosts["pc-103"].user == "kiosk"
    assert {h.name for h in inv.select("workstations")} == {"pc-101", "pc-102", "pc-103", "pc-201", "pc-202"}
    assert all(h.connection in CONNECTION_TYPES for h in inv.hosts.values())


# --------------------------------------------------------------------------------------------------
# Ansible INI and YAML


def test_ini_values_ranges_ports_and_comments() -> None:
    path = DATA / "ini" / "hosts"
    inv = load(path)
    assert list(inv.hosts) == [
        "loose1.example.com", "loose2.example.com",
        "web01.example.com", "web02.example.com", "web03.example.com",
        "web-a.example.com", "web-b.example.com", "web-c.example.com",
        "odd1", "odd4", "odd7", "10.0.0.5", "10.0.0.6",
        "db1", "2001:db8::10", "2001:db8::11",
    ]
    db1 = inv.hosts["db1"].vars
    # values are Python literals when they parse as one, else strings; quotes are removed
    assert db1["replicas"] == [1, 2]
    assert db1["enabled"] is True
    assert db1["label"] == "x=y"
    assert db1["weight"] == 1.5
    assert db1["name_only"] == "yes"
    assert db1["note"] == "ticket #42"  # a # inside quotes is no comment
    assert inv.hosts["db1"].address == "192.0.2.10"
    web = inv.hosts["web02.example.com"].vars
    assert web["http_port"] == 8080
    assert web["greeting"] == "hello world"
    assert web["quoted"] == "quoted string"
    assert web["number"] == 42
    assert web["maybe"] is None
    assert web["tricky"] == 5  # in [x:vars] a value is read as Python: `5 # python comment` is 5
    assert web["ntp"] == "10.0.0.1"
    loose2 = inv.hosts["loose2.example.com"]
    assert loose2.vars["owner"] == "Help Desk"
    assert loose2.port == 2200 and loose2.vars["ansible_port"] == 2200
    assert inv.hosts["2001:db8::10"].port == 2222
    assert inv.hosts["2001:db8::11"].port is None
    assert inv.hosts["loose1.example.com"].groups == ("all", "ungrouped")
    assert inv.hosts["db1"].groups == ("all", "servers", "db")
    assert inv.hosts["loose2.example.com"].source == f"{path}:{line_of(path, 'loose2')}"


def test_ini_host_in_all_section_is_ungrouped_and_leaves_ungrouped_when_grouped(tmp_path: Path) -> None:
    path = write(tmp_path, {"hosts.ini": """
        [all]
        a
        [ungrouped]
        b
        [web]
        b
        """}) / "hosts.ini"
    inv = load(path)
    assert inv.hosts["a"].groups == ("all", "ungrouped")
    assert inv.hosts["b"].groups == ("all", "web")
    assert inv.groups["ungrouped"].hosts == ("a",)


def test_ansible_yaml() -> None:
    path = DATA / "ansible_yaml" / "inventory.yml"
    inv = load(path)
    assert list(inv.hosts) == ["loose.example.com", "web01.example.com", "web02.example.com",
                               "web-extra.example.com", "db1.example.com", "db2.example.com", "mon1.example.com"]
    web01 = inv.hosts["web01.example.com"]
    assert web01.groups == ("all", "monitoring", "web")  # a top-level group other than all
    assert web01.port == 2222 and web01.vars["http_port"] == 8080
    assert inv.hosts["web-extra.example.com"].vars["tier"] == "frontend"  # `host: ~`
    db1 = inv.hosts["db1.example.com"]
    assert db1.groups == ("all", "datacenter", "rack1")  # `hosts: db1.example.com`
    assert db1.vars["tier"] == "backend" and db1.address == "db1.example.com"
    assert inv.hosts["db2.example.com"].port == 2200  # "2200" becomes an int
    assert inv.hosts["mon1.example.com"].connection == "local"
    assert inv.hosts["loose.example.com"].groups == ("all", "ungrouped")
    assert inv.hosts["db2.example.com"].source == f"{path}:{line_of(path, 'db2.example.com')}"


def test_file_without_extension_holding_yaml_is_yaml(tmp_path: Path) -> None:
    write(tmp_path, {"hosts": "all:\n  hosts:\n    h1:\n      ansible_host: 10.0.0.1\n",
                     "inventory.ini": "hosts:\n  h2: {address: 10.0.0.2}\n",
                     "legacy.cfg": "h3 ansible_host=10.0.0.3\n"})
    assert load(tmp_path / "hosts").hosts["h1"].address == "10.0.0.1"
    assert load(tmp_path / "inventory.ini").hosts["h2"].address == "10.0.0.2"
    assert load(tmp_path / "legacy.cfg").hosts["h3"].address == "10.0.0.3"  # named directly, .cfg is read


def test_shipped_ansible_ini_and_yaml_agree() -> None:
    ini = load(EXAMPLES / "ansible" / "hosts.ini")
    yml = load(EXAMPLES / "ansible" / "hosts.yml")
    assert list(ini.hosts) == list(yml.hosts)
    for name, host in ini.hosts.items():
        assert host.vars == yml.hosts[name].vars, name
        assert host.groups == yml.hosts[name].groups, name
    assert set(ini.groups) == set(yml.groups)
    for name, group in ini.groups.items():
        assert set(group.children) == set(yml.groups[name].children), name
        assert group.hosts == yml.groups[name].hosts, name


def test_shipped_ansible_example_maps_names() -> None:
    inv = load(EXAMPLES / "ansible" / "hosts.ini")
    assert len(inv.hosts) == 19
    assert inv.hosts["app02.corp.example.com"].address == "app02.corp.example.com"
    mail = inv.hosts["mail01.corp.example.com"]
    assert (mail.address, mail.port, mail.user, mail.become) == ("10.0.10.12", 2222, "mailadmin", True)
    assert mail.vars["proxy_jump"] == "support@bastion.corp.example.com"
    assert mail.vars["become_password"].spec == "env:SUPPORT_SUDO_PASSWORD"
    win = inv.hosts["ws-hr-b.corp.example.com"]
    assert (win.connection, win.port, win.user) == ("winrm", 5986, "CORP\\support")
    assert win.vars["ansible_connection"] == "winrm"
    switch = inv.hosts["sw-access-02.corp.example.com"]
    assert (switch.connection, switch.vars["device_type"], switch.user) == ("network", "cisco_ios", "netops")
    assert inv.hosts["pc-f2-03.corp.example.com"].user == "deskside"
    assert inv.hosts["pc-f2-03.corp.example.com"].groups == ("all", "workstations", "workstations_floor2")


def test_directory_loads_inventory_files_sorted_and_skips_the_rest(tmp_path: Path) -> None:
    write(tmp_path, {
        "10-servers.ini": "[servers]\nsrv1 ansible_host=10.0.0.1\n",
        "20-desks.yml": "hosts:\n  pc1: {address: 10.0.1.1, groups: [desks]}\n",
        "sub/30-more": "extra1 ansible_host=10.0.2.1\n",
        "README.md": "# not an inventory\n",
        "notes.txt": "nothing\n",
        "ansible.cfg": "[defaults]\nforks = 5\n",
        "old.ini.orig": "bogus [[[\n",
        "site.retry": "srv1\n",
        "hosts.ini~": "bogus [[[\n",
        ".hidden": "bogus [[[\n",
        "group_vars/servers.yml": "role: server\n",
        "host_vars/pc1.yml": "desk: 12\n",
    })
    inv = load(tmp_path)
    assert list(inv.hosts) == ["srv1", "pc1", "extra1"]
    assert inv.hosts["srv1"].vars["role"] == "server"
    assert inv.hosts["pc1"].vars["desk"] == 12


# --------------------------------------------------------------------------------------------------
# group_vars/ and host_vars/


def test_vars_files_in_every_form(tmp_path: Path) -> None:
    write(tmp_path, {
        "inv/hosts.ini": "[a]\nh1\n[b]\nh1\n[c]\nh1\n[d]\nh1\n[e]\nh2\n",
        "inv/group_vars/a": "from_a: plain\n",
        "inv/group_vars/b.yml": "from_b: yml\n",
        "inv/group_vars/c.yaml": "from_c: yaml\n",
        "inv/group_vars/d.json": '{"from_d": "json"}\n',
        "inv/group_vars/e/10-first.yml": "order: first\nonly_first: 1\n",
        "inv/group_vars/e/20-second.yaml": "order: second\n",
        "inv/group_vars/e/sub/30-third": "deep: yes\n",
        "inv/group_vars/e/.hidden.yml": "order: hidden\n",
        "inv/group_vars/e/99-backup.yml~": "order: backup\n",
        "inv/group_vars/e/notes.txt": "order: text\n",
        "inv/host_vars/h1.yml": "from_host_file: 1\n",
        "inv/host_vars/h2/main.yml": "from_host_dir: 2\n",
    })
    inv = load(tmp_path / "inv" / "hosts.ini")  # beside an inventory file
    h1, h2 = inv.hosts["h1"].vars, inv.hosts["h2"].vars
    assert (h1["from_a"], h1["from_b"], h1["from_c"], h1["from_d"]) == ("plain", "yml", "yaml", "json")
    assert h1["from_host_file"] == 1
    assert (h2["order"], h2["only_first"], h2["deep"], h2["from_host_dir"]) == ("second", 1, True, 2)
    assert inv.groups["e"].vars == {"order": "second", "only_first": 1, "deep": True}
    assert load(tmp_path / "inv").hosts["h2"].vars["order"] == "second"  # inside an inventory directory


def test_vars_file_found_first_wins_like_ansible() -> None:
    # group_vars/aaa (no extension) is used and group_vars/aaa.yml ignored
    assert load(DATA / "precedence").hosts["h1"].vars["first_found"] == "plain"


def test_vars_file_secret_reference_and_json_host_vars() -> None:
    inv = load(DATA / "precedence" / "hosts.ini")
    assert inv.hosts["h2"].vars["from_json"] is True


def test_json_vars_file_indented_with_tabs(tmp_path: Path) -> None:
    # valid JSON but not valid YAML: read as JSON, as Ansible's loader does
    write(tmp_path, {"hosts.ini": "h1\n", "host_vars/h1.json": '{\n\t"rack": "b2",\n\t"u": [1,\n\t\t2]\n}\n'})
    assert load(tmp_path / "hosts.ini").hosts["h1"].vars["u"] == [1, 2]


def test_malformed_json_vars_file(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.ini": "h1\n", "host_vars/h1.json": '{\n\t"rack": "b2",\n\t"u" [1]\n}\n'})
    err = load_error(tmp_path / "hosts.ini")
    assert_at(err, tmp_path / "host_vars" / "h1.json", 3)
    assert "not valid JSON" in str(err)


# --------------------------------------------------------------------------------------------------
# Precedence (Ansible's VariableManager with the default VARIABLE_PRECEDENCE)


@pytest.mark.parametrize(("name", "expected", "why"), [
    ("lvl_all_inv", "all_inv", "[all:vars] applies when nothing else sets it"),
    ("lvl_group_inv", "parent_inv", "[group:vars] beats [all:vars]"),
    ("lvl_all_file", "all_file", "group_vars/all beats [group:vars] of any group (Ansible's order)"),
    ("lvl_group_file", "parent_file", "group_vars/<group> beats group_vars/all"),
    ("lvl_host_inv", "host_inv", "host vars in the inventory file beat every group file"),
    ("lvl_host_file", "host_file", "host_vars/<host> beats host vars in the inventory file"),
    ("by_depth", "child_inv", "a child group beats its parent, though 'child' < 'parent' by name"),
    ("by_priority", "alpha", "ansible_group_priority=10 beats the default 1, though 'alpha' < 'zeta'"),
    ("by_name", "bbb", "same depth and priority: the later name wins"),
    ("depth_vs_priority", "child_inv", "depth counts before priority"),
    ("parent_file_vs_child_inv", "parent_file", "group_vars/parent beats the child's inventory vars"),
    ("file_depth", "child_file", "group_vars files follow group order too"),
    ("dir_order", "second", "files of a group_vars/<group>/ directory merge in lexical order"),
])
def test_precedence(name: str, expected: str, why: str) -> None:
    assert load(DATA / "precedence").hosts["h1"].vars[name] == expected, why


def test_priority_is_not_a_variable() -> None:
    host = load(DATA / "precedence").hosts["h1"]
    assert "ansible_group_priority" not in host.vars
    assert host.groups == ("all", "aaa", "bbb", "parent", "zeta", "alpha", "child")


def test_native_defaults_below_group_vars_all_below_group_vars_files(tmp_path: Path) -> None:
    write(tmp_path, {
        "inv.yml": """
            defaults: {a: defaults, b: defaults, c: defaults}
            groups:
              web: {vars: {c: web_inv, d: web_inv}}
            hosts:
              h1: {address: 10.0.0.1, groups: [web]}
            """,
        "group_vars/all.yml": "a: all_file\nb: all_file\nd: all_file\n",
        "group_vars/web.yml": "b: web_file\n",
    })
    v = load(tmp_path / "inv.yml").hosts["h1"].vars
    assert (v["a"], v["b"], v["c"], v["d"]) == ("all_file", "web_file", "web_inv", "all_file")


def test_later_sources_win_and_group_files_merge_source_by_source() -> None:
    one, two = DATA / "multi" / "one" / "hosts.ini", DATA / "multi" / "two" / "hosts.yml"
    inv = load(one, two)
    h1 = inv.hosts["h1"]
    assert h1.vars["inv_level"] == "two_parent"  # same group var in two files: the later one
    assert h1.vars["same"] == "two"  # group_vars/child in both sources: the later one
    # Ansible merges group_vars source by source: two/group_vars/parent beats one/group_vars/child
    assert h1.vars["src_order"] == "two_parent"
    assert h1.vars["extra"] == "host_file_two"
    assert h1.address == "10.0.0.1"  # the second definition did not set an address: no conflict
    assert h1.source == f"{one}:{line_of(one, 'h1')}"
    assert inv.sources == [str(one), str(two)]
    assert load(two, one).hosts["h1"].vars["inv_level"] == "one_parent"


def test_merging_replaces_whole_values(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.yml": """
        all:
          vars:
            ntp: {primary: 10.0.0.1, secondary: 10.0.0.2}
          hosts:
            h1:
              ntp: {primary: 10.9.9.9}
        """})
    assert load(tmp_path / "hosts.yml").hosts["h1"].vars["ntp"] == {"primary": "10.9.9.9"}


# --------------------------------------------------------------------------------------------------
# Ansible names -> ours


def ansible_host(tmp_path: Path, **variables: object) -> dict[str, object]:
    lines = "".join(f"    {k}: {v!r}\n" if not isinstance(v, str) else f"    {k}: '{v}'\n"
                    for k, v in variables.items())
    path = tmp_path / "hosts.yml"
    path.write_text("all:\n  hosts:\n   h1:\n" + lines.replace("    ", "     "))
    return dict(load(path).hosts["h1"].vars)


def test_ansible_names_are_mapped_and_kept(tmp_path: Path) -> None:
    v = ansible_host(tmp_path, ansible_host="10.0.0.9", ansible_port=2222, ansible_user="admin",
                     ansible_connection="paramiko", ansible_password="pw",
                     ansible_ssh_private_key_file="~/.ssh/id", ansible_become="yes",
                     ansible_become_method="su", ansible_become_user="root", ansible_become_pass="bpw",
                     ansible_network_os="cisco.nxos.nxos", ansible_ssh_timeout=7)
    assert v["address"] == "10.0.0.9" and v["ansible_host"] == "10.0.0.9"
    assert v["port"] == 2222 and v["user"] == "admin" and v["connection"] == "ssh"
    assert v["password"] == "pw" and v["private_key_file"] == "~/.ssh/id"
    assert v["become"] is True and v["ansible_become"] == "yes"
    assert (v["become_method"], v["become_user"], v["become_password"]) == ("su", "root", "bpw")
    assert v["device_type"] == "cisco_nxos" and v["connect_timeout"] == 7


@pytest.mark.parametrize(("variables", "name", "expected"), [
    ({"ansible_ssh_host": "10.0.0.2"}, "address", "10.0.0.2"),
    ({"ansible_ssh_port": "2200"}, "port", 2200),
    ({"ansible_ssh_user": "u"}, "user", "u"),
    ({"ansible_ssh_pass": "p"}, "password", "p"),
    ({"ansible_ssh_password": "p"}, "password", "p"),
    ({"ansible_private_key_file": "k"}, "private_key_file", "k"),
    ({"ansible_become_password": "b"}, "become_password", "b"),
    ({"ansible_sudo_pass": "b"}, "become_password", "b"),
    # when two Ansible names are set, the one Ansible's ssh plugin reads last wins
    ({"ansible_host": "10.0.0.1", "ansible_ssh_host": "10.0.0.2"}, "address", "10.0.0.2"),
    ({"ansible_password": "a", "ansible_ssh_pass": "b"}, "password", "b"),
    # Ansible's name beats ours
    ({"address": "10.0.0.1", "ansible_host": "10.0.0.3"}, "address", "10.0.0.3"),
    ({"user": "ours", "ansible_user": "theirs"}, "user", "theirs"),
])
def test_ansible_aliases(tmp_path: Path, variables: dict, name: str, expected: object) -> None:
    assert ansible_host(tmp_path, **variables)[name] == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("ssh", "ssh"), ("paramiko", "ssh"), ("smart", "ssh"), ("ansible.builtin.ssh", "ssh"),
    ("winrm", "winrm"), ("psrp", "winrm"),
    ("network_cli", "network"), ("netconf", "network"), ("ansible.netcommon.network_cli", "network"),
    ("local", "local"),
])
def test_connection_mapping(tmp_path: Path, value: str, expected: str) -> None:
    assert ansible_host(tmp_path, ansible_connection=value)["connection"] == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("ios", "cisco_ios"), ("cisco.ios.ios", "cisco_ios"), ("nxos", "cisco_nxos"), ("eos", "arista_eos"),
    ("arista.eos.eos", "arista_eos"), ("junos", "juniper_junos"),
    ("junipernetworks.junos.junos", "juniper_junos"), ("iosxr", "cisco_xr"), ("cisco.iosxr.iosxr", "cisco_xr"),
    ("vyos", "vyos"),
])
def test_network_os_mapping(tmp_path: Path, value: str, expected: str) -> None:
    assert ansible_host(tmp_path, ansible_network_os=value)["device_type"] == expected


@pytest.mark.parametrize(("variables", "expected"), [
    ({"ansible_ssh_common_args": "-J jump@bastion"}, "jump@bastion"),
    ({"ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o ProxyJump=bastion:2222"}, "bastion:2222"),
    ({"ansible_ssh_extra_args": "-oProxyJump=b2"}, "b2"),
    ({"ansible_ssh_extra_args": "-Jb3"}, "b3"),
    ({"ansible_ssh_common_args": "-o ProxyCommand=none"}, None),
])
def test_proxy_jump_from_ssh_args(tmp_path: Path, variables: dict, expected: str | None) -> None:
    assert ansible_host(tmp_path, **variables).get("proxy_jump") == expected


def test_ansible_host_without_address_uses_its_name(tmp_path: Path) -> None:
    path = write(tmp_path, {"hosts": "srv.example.com\n"}) / "hosts"
    host = load(path).hosts["srv.example.com"]
    assert host.address == "srv.example.com" and "address" not in host.vars


# --------------------------------------------------------------------------------------------------
# Patterns


@pytest.fixture(scope="module")
def pinv(tmp_path_factory: pytest.TempPathFactory) -> Inventory:
    path = tmp_path_factory.mktemp("patterns") / "hosts.ini"
    path.write_text(textwrap.dedent("""
        [web]
        web[01:03]
        [db]
        db01
        db02
        [prod]
        web01
        db01
        [lab]
        pc-0[1:5]
        [empty]
        [ipv6]
        2001:db8::1
        """))
    return load(path)


def names(hosts: list) -> list[str]:
    return [h.name for h in hosts]


@pytest.mark.parametrize(("pattern", "expected"), [
    (None, "web01 web02 web03 db01 db02 pc-01 pc-02 pc-03 pc-04 pc-05 2001:db8::1"),
    ("all", "web01 web02 web03 db01 db02 pc-01 pc-02 pc-03 pc-04 pc-05 2001:db8::1"),
    ("*", "web01 web02 web03 db01 db02 pc-01 pc-02 pc-03 pc-04 pc-05 2001:db8::1"),
    ("web", "web01 web02 web03"),
    ("db01", "db01"),
    ("db,web", "db01 db02 web01 web02 web03"),  # pattern order, as Ansible's
    (" db , web01 ,db01", "db01 db02 web01"),  # no duplicates, spaces ignored
    ("web:db", "web01 web02 web03 db01 db02"),
    ("web:&prod", "web01"),
    ("web:!prod", "web02 web03"),
    ("web,db,&prod,!db01", "web01"),
    ("&prod", "web01 db01"),  # only & and !: they apply to all
    ("!web", "db01 db02 pc-01 pc-02 pc-03 pc-04 pc-05 2001:db8::1"),
    ("web0*", "web01 web02 web03"),
    ("pc-0[1-3]*", "pc-01 pc-02 pc-03"),
    ("pc-0?", "pc-01 pc-02 pc-03 pc-04 pc-05"),
    ("~(web|db)0[12]", "web01 web02 db01 db02"),
    ("~^pc-0[45]$", "pc-04 pc-05"),
    ("l*", "pc-01 pc-02 pc-03 pc-04 pc-05"),  # a glob over group names
    ("lab[0]", "pc-01"),
    ("lab[-1]", "pc-05"),
    ("lab[1:2]", "pc-02 pc-03"),
    ("lab[3:]", "pc-04 pc-05"),
    ("2001:db8::1", "2001:db8::1"),  # an IPv6 address is not split on its colons
])
def test_patterns(pinv: Inventory, pattern: str | None, expected: str) -> None:
    assert names(pinv.select(pattern)) == expected.split()


# ---- ansible-core as the oracle: the same inventory, the same patterns, the same hosts in the same order

ANSIBLE_BIN = Path(sys.executable).parent
PATTERNS = DATA / "patterns"

# Run in a child process so ansible's global state (Display, plugin loaders) stays out of the test process.
_ORACLE = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from ansible.errors import AnsibleError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.utils.display import Display
Display().verbosity = -1
sources, cases = json.load(sys.stdin)
manager = InventoryManager(loader=DataLoader(), sources=sources)
out = []
for pattern, limit in cases:
    try:
        manager.subset(limit)
        out.append([h.name for h in manager.get_hosts(pattern)])
    except AnsibleError as exc:
        out.append("error: " + str(exc).splitlines()[0])
print(json.dumps(out))
"""


def ansible_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_HOME=str(tmp / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
               ANSIBLE_CONFIG=str(tmp / "no-ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return env


def ansible_hosts(sources: list[Path], cases: list[tuple[str, str | None]], tmp: Path) -> list:
    """What ansible-core's InventoryManager.get_hosts (behind `ansible PATTERN --list-hosts`) answers."""
    done = subprocess.run([sys.executable, "-c", _ORACLE], input=json.dumps([[str(s) for s in sources], cases]),
                          capture_output=True, text=True, env=ansible_env(tmp), cwd=tmp, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ours(inv: Inventory, pattern: str, limit: str | None = None) -> list[str] | str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PatternWarning)
            return names(inv.select(pattern, limit=limit))
    except PatternError as exc:
        return f"error: {exc}"


#: (inventory file under tests/data/inventory/patterns, pattern, limit)
ORACLE_CASES = [
    ("hosts.ini", "all", None),
    ("hosts.ini", "*", None),
    ("hosts.ini", "prod", None),
    ("hosts.ini", "dc", None),
    ("hosts.ini", "ungrouped", None),
    ("hosts.ini", "prod[0]", None),
    ("hosts.ini", "prod[-1]", None),
    ("hosts.ini", "prod[1:3]", None),
    ("hosts.ini", "prod[2:]", None),
    ("hosts.ini", "prod[0:0]", None),
    ("hosts.ini", "prod[3:0]", None),  # Ansible's end 0 means a single index
    ("hosts.ini", "dc[0:3]", None),
    ("hosts.ini", "all[0]", None),
    ("hosts.ini", "all[-1]", None),
    ("hosts.ini", "all[1:2]", None),
    ("hosts.ini", "web[0]", None),
    ("hosts.ini", "web[-2]", None),
    ("hosts.ini", "staging[1:]", None),
    ("hosts.ini", "db,web", None),
    ("hosts.ini", "web,db", None),
    ("hosts.ini", "web:db", None),
    ("hosts.ini", "staging:web", None),
    ("hosts.ini", "prod:&web", None),
    ("hosts.ini", "prod:!web", None),
    ("hosts.ini", "dc:&staging:!pc-03", None),
    ("hosts.ini", "&web", None),
    ("hosts.ini", "!prod", None),
    ("hosts.ini", "web0*", None),
    ("hosts.ini", "web0*[0]", None),
    ("hosts.ini", "*[2]", None),  # every group matches '*': repeats count, as in Ansible
    ("hosts.ini", "p*", None),  # groups prod and proxy* hosts
    ("hosts.ini", "p*[0:4]", None),
    ("hosts.ini", "~(web|db)0[12]", None),
    ("hosts.ini", "~^app", None),
    ("hosts.ini", "pc-0[2-4]*", None),  # a glob: the brackets are a character class
    ("hosts.ini", "lab[1-3]", None),  # the old dash subscript
    ("hosts.ini", "app2,web03,loose1", None),
    ("hosts.ini", "prod[1],staging[0]", None),
    ("hosts.ini", "prod[0:1]:&web", None),
    ("hosts.ini", "all", "web"),
    ("hosts.ini", "all", "staging,db"),
    ("hosts.ini", "web", "prod[1]"),
    ("hosts.ini", "dc", "!db"),
    ("hosts.ini", "staging", "lab:web"),
    ("hosts.ini", "prod", "&edge"),
    ("hosts.ini", "db,web", "~.*0[12]$"),
    ("hosts.yml", "all", None),
    ("hosts.yml", "europe", None),
    ("hosts.yml", "france", None),
    ("hosts.yml", "europe[0]", None),
    ("hosts.yml", "europe[-1]", None),
    ("hosts.yml", "europe[2:4]", None),
    ("hosts.yml", "all[0]", None),
    ("hosts.yml", "all[3:]", None),
    ("hosts.yml", "webservers[1]", None),
    ("hosts.yml", "webservers:&europe", None),
    ("hosts.yml", "europe:!france", None),
    ("hosts.yml", "databases,america", None),
    ("hosts.yml", "america,databases", None),
    ("hosts.yml", "fr-*", None),
    ("hosts.yml", "*web*[1:2]", None),
    ("hosts.yml", "ungrouped", None),
    ("hosts.yml", "bastion,paris", None),
    ("hosts.yml", "all", "france"),
    ("hosts.yml", "webservers", "europe[0:2]"),
]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str | None], object]:
    tmp = tmp_path_factory.mktemp("ansible")
    answers: dict[tuple[str, str, str | None], object] = {}
    for file in sorted({f for f, _, _ in ORACLE_CASES}):
        cases = [(p, l) for f, p, l in ORACLE_CASES if f == file]
        for (pattern, limit), hosts in zip(cases, ansible_hosts([PATTERNS / file], cases, tmp)):
            answers[(file, pattern, limit)] = hosts
    return answers


@pytest.mark.parametrize(("file", "pattern", "limit"), ORACLE_CASES)
def test_patterns_as_ansible(oracle: dict, file: str, pattern: str, limit: str | None) -> None:
    expected = oracle[(file, pattern, limit)]
    assert isinstance(expected, list) and expected, f"the table wants patterns ansible answers: {expected}"
    assert ours(load(PATTERNS / file), pattern, limit) == expected


def test_inventories_read_as_ansible_inventory_lists_them(tmp_path: Path) -> None:
    """Groups and their direct hosts as `ansible-inventory --list` reports them, for both pattern inventories."""
    for file in ("hosts.ini", "hosts.yml"):
        done = subprocess.run([str(ANSIBLE_BIN / "ansible-inventory"), "-i", str(PATTERNS / file), "--list"],
                              capture_output=True, text=True, env=ansible_env(tmp_path), cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        listed = json.loads(done.stdout)
        inv = load(PATTERNS / file)
        listed_hosts = {h for name, body in listed.items() if name != "_meta" for h in body.get("hosts", [])}
        assert listed_hosts == set(inv.hosts) and set(listed["_meta"]["hostvars"]) <= listed_hosts
        for name, body in listed.items():
            if name == "_meta":
                continue
            assert name in inv.groups, name
            assert list(inv.groups[name].hosts) == body.get("hosts", []), name
            assert sorted(inv.groups[name].children) == sorted(body.get("children", [])), name


@pytest.mark.parametrize(("pattern", "limit"), [("dc[0:3]", None), ("prod[-1]", None), ("db,web", None),
                                                 ("all", "staging")])
def test_the_api_oracle_is_what_the_ansible_command_prints(tmp_path: Path, pattern: str, limit: str | None) -> None:
    command = [str(ANSIBLE_BIN / "ansible"), pattern, "-i", str(PATTERNS / "hosts.ini"), "--list-hosts"]
    done = subprocess.run(command + (["-l", limit] if limit else []), capture_output=True, text=True,
                          env=ansible_env(tmp_path), cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = [line.strip() for line in done.stdout.splitlines()[1:] if line.strip()]
    assert printed == ansible_hosts([PATTERNS / "hosts.ini"], [(pattern, limit)], tmp_path)[0]
    assert printed == ours(load(PATTERNS / "hosts.ini"), pattern, limit)


@pytest.mark.parametrize("pattern", ["pc-0[2-4]", "web:&db", "empty", "prod:!dc", "edge[5]"])
def test_patterns_ansible_answers_with_no_host_are_refused(tmp_path: Path, pattern: str) -> None:
    """Ansible runs nothing (``pc-0[2-4]`` is ``pc-0`` with a subscript to it); we say so before anything runs."""
    answer = ansible_hosts([PATTERNS / "hosts.ini"], [(pattern, None)], tmp_path)[0]
    assert answer == [] or answer.startswith("error: No hosts matched the subscripted pattern")
    assert ours(load(PATTERNS / "hosts.ini"), pattern).startswith("error: ")


def test_dash_subscript_works_with_ansibles_warning(tmp_path: Path) -> None:
    inv = load(PATTERNS / "hosts.ini")
    with pytest.warns(PatternWarning, match=r"lab\[1-3\].*use \[x:y\] inclusive subscripts"):
        assert names(inv.select("lab[1-3]")) == ["pc-02", "pc-03", "pc-04"]
    done = subprocess.run([str(ANSIBLE_BIN / "ansible"), "lab[1-3]", "-i", str(PATTERNS / "hosts.ini"),
                           "--list-hosts"], capture_output=True, text=True, env=ansible_env(tmp_path),
                          cwd=tmp_path, timeout=120)
    assert "Use [x:y] inclusive subscripts instead of [x-y]" in done.stderr + done.stdout
    with warnings.catch_warnings():
        warnings.simplefilter("error", PatternWarning)
        inv.select("lab[1:3]")  # the colon form does not warn


def test_limit_file_as_ansible_retry_file(tmp_path: Path) -> None:
    retry = tmp_path / "site.retry"
    retry.write_text("web02\napp1\n\n  db02  \n")  # what ansible-playbook writes: one host per line
    inv = load(PATTERNS / "hosts.ini")
    expected = ansible_hosts([PATTERNS / "hosts.ini"], [("all", f"@{retry}")], tmp_path)[0]
    assert names(inv.select("all", limit=f"@{retry}")) == expected == ["web02", "app1", "db02"]  # all's order
    assert names(inv.select(f"@{retry}")) == ["web02", "app1", "db02"]  # as an exec pattern: the file's order
    assert names(inv.select(f"web,@{retry}")) == ["web03", "web01", "web02", "app1", "db02"]
    assert names(inv.select("prod", limit=f"@{retry}")) == ["web02", "app1", "db02"]


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "missing.retry", "not found"),
    (lambda d: d, "is a directory"),
    (lambda d: (d / "empty.retry").write_text("\n\n") and d / "empty.retry", "is empty"),
])
def test_bad_limit_files(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(PatternError, match=message):
        load(PATTERNS / "hosts.ini").select("all", limit=f"@{path}")


KUBESPRAY_SAMPLE = """\
# ## Configure 'ip' variable to bind kubernetes services on a
# ## different ip than the default iface
[all]
# node1 ansible_host=95.54.0.12  # ip=10.3.0.1 etcd_member_name=etcd1
# node2 ansible_host=95.54.0.13  # ip=10.3.0.2 etcd_member_name=etcd2

# ## configure a bastion host if your nodes are not directly reachable
# bastion ansible_host=x.x.x.x ansible_user=some_user

[kube-controlplane]
# node1

[etcd]
# node1

[kube-node]
# node2

[calico-rr]

[k8s-cluster:children]
kube-controlplane
kube-node
calico-rr
"""


def test_all_hosts_commented_out_reads_as_zero_hosts_like_ansible(tmp_path: Path) -> None:
    """kubespray's inventory/sample/inventory.ini: groups, no host. Ansible lists zero hosts; so do we, and
    selecting hosts from it says why nothing can run."""
    path = tmp_path / "inventory.ini"
    path.write_text(KUBESPRAY_SAMPLE)
    done = subprocess.run([str(ANSIBLE_BIN / "ansible-inventory"), "-i", str(path), "--list"], capture_output=True,
                          text=True, env=ansible_env(tmp_path), cwd=tmp_path, timeout=120)
    listed = json.loads(done.stdout)
    assert listed["_meta"]["hostvars"] == {}
    assert ansible_hosts([path], [("all", None)], tmp_path) == [[]]
    inv = load(path)
    assert inv.hosts == {}
    assert {"kube-controlplane", "etcd", "kube-node", "calico-rr", "k8s-cluster"} <= set(inv.groups)
    assert set(listed["k8s-cluster"]["children"]) == set(inv.groups["k8s-cluster"].children)
    with pytest.raises(PatternError, match="defines no host .every host line is absent or commented out.") as info:
        inv.select("all")
    assert str(path) in str(info.value)


def test_split_pattern_keeps_ranges_together() -> None:
    assert split_pattern("web[0:2]:db") == ["web[0:2]", "db"]
    assert split_pattern("a:&b:!c") == ["a", "&b", "!c"]


@pytest.mark.parametrize("pattern", ["nosuch", "web:nosuch", "web:!nosuch", "web:&nosuch", "nope*"])
def test_pattern_term_matching_nothing(pinv: Inventory, pattern: str) -> None:
    with pytest.raises(PatternError) as info:
        pinv.select(pattern)
    message = str(info.value)
    assert "nosuch" in message or "nope*" in message
    assert "known groups are web, db, prod, lab, empty, ipv6" in message


def test_pattern_lists_at_most_twenty_groups(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text("".join(f"[g{i:02}]\nh{i}\n" for i in range(25)))
    with pytest.raises(PatternError, match=r"g19 \(and 5 more\)"):
        load(path).select("nosuch")


@pytest.mark.parametrize("pattern", ["web:&db", "empty", "web:!web"])
def test_pattern_selecting_no_host(pinv: Inventory, pattern: str) -> None:
    with pytest.raises(PatternError, match=f"pattern '{pattern}' matches no host"):
        pinv.select(pattern)


@pytest.mark.parametrize("pattern", ["", "  ", ",", ":", "web,&"])
def test_empty_pattern(pinv: Inventory, pattern: str) -> None:
    with pytest.raises(PatternError, match="empty|no terms"):
        pinv.select(pattern)


def test_invalid_regex_pattern(pinv: Inventory) -> None:
    with pytest.raises(PatternError, match="not a valid regular expression"):
        pinv.select("~web(")


def test_subscript_out_of_range(pinv: Inventory) -> None:
    with pytest.raises(PatternError, match="index 9 is out of range"):
        pinv.select("web[9]")


# --------------------------------------------------------------------------------------------------
# Errors: each names the file and the line, and says what to do


def test_missing_path(tmp_path: Path) -> None:
    err = load_error(tmp_path / "nope.yml")
    assert_at(err, tmp_path / "nope.yml", None)
    assert "does not exist" in str(err) and "-i" in str(err)


def test_no_paths() -> None:
    with pytest.raises(InventoryError, match="no inventory given"):
        load_inventory([])


@pytest.mark.parametrize("text", ["", "# only a comment\n", "groups:\n  web: {}\n", "[web]\n"])
def test_empty_inventory(tmp_path: Path, text: str) -> None:
    path = tmp_path / ("hosts.yml" if ":" in text or not text else "hosts.ini")
    path.write_text(text)
    inv = load(path)  # zero hosts, as Ansible reads it; selecting from it is the error
    with pytest.raises(PatternError) as info:
        inv.select(None)
    err = info.value
    assert str(path) in str(err) and "defines no host" in str(err) and "add hosts" in str(err)


def test_malformed_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, {"inv.yml": """
        hosts:
          pc1:
            address: 10.0.0.1
           port: 22
        """}) / "inv.yml"
    err = load_error(path)
    assert_at(err, path, line_of(path, "port"))
    assert "not valid YAML" in str(err) and "fix the syntax" in str(err)


def test_malformed_yaml_in_file_without_extension_is_reported_as_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, {"hosts": "all:\n  hosts:\n    h1:\n   bad: [\n"}) / "hosts"
    err = load_error(path)
    assert err.source == str(path) and "not valid YAML" in str(err)


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, {"inv.yml": "- pc1\n- pc2\n"}) / "inv.yml"
    err = load_error(path)
    assert_at(err, path, 1)
    assert "must be a mapping" in str(err)


@pytest.mark.parametrize(("text", "needle", "nth"), [
    ("hosts:\n  pc1: {address: 10.0.0.1}\n  pc2: {address: 10.0.0.2}\n  pc1: {address: 10.0.0.3}\n", "pc1", 2),
    ("hosts:\n  pc1:\n    address: 10.0.0.1\n    port: 22\n    port: 2222\n", "port", 2),
    ("groups:\n  web: {}\n  web: {vars: {a: 1}}\nhosts:\n  h: {address: 1.2.3.4}\n", "web", 2),
])
def test_duplicate_yaml_keys(tmp_path: Path, text: str, needle: str, nth: int) -> None:
    path = tmp_path / "inv.yml"
    path.write_text(text)
    err = load_error(path)
    assert_at(err, path, line_of(path, needle, nth))
    assert f"first at line {line_of(path, needle)}" in str(err) and "remove or merge" in str(err)


def test_duplicate_key_in_vars_file(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.ini": "h1\n", "group_vars/all.yml": "a: 1\nb: 2\na: 3\n"})
    err = load_error(tmp_path / "hosts.ini")
    assert_at(err, tmp_path / "group_vars" / "all.yml", 3)


def test_yaml_merge_keys_may_override(tmp_path: Path) -> None:
    path = write(tmp_path, {"inv.yml": """
        defaults: &base
          user: support
          port: 22
        hosts:
          h1:
            <<: *base
            address: 10.0.0.1
            port: 2222
        """}) / "inv.yml"
    host = load(path).hosts["h1"]
    assert (host.port, host.user) == (2222, "support")


@pytest.mark.parametrize(("text", "needle", "expected"), [
    ("[web:child]\nweb1\n", "[web:child]", "unknown type"),
    ("[web]\nweb1 port 22\n", "web1", "expected key=value after host web1"),
    ("[web]\nweb1 note='unclosed\n", "web1", "close the quotes"),
    ("[web group]\nweb1\n", "[web group]", "without spaces"),
    ("[web]\nweb1\n[web:vars]\njust a line\n", "just a line", "expected key=value in [web:vars]"),
    ("[web]\nw1\n[all:children]\nweb extra\n", "web extra", "expected a group name"),
    ("[web:children]\napps\n[web]\nw1\n", "apps", "never defines: add a [apps] section"),
    ("[web]\nw1\n[dbs:vars]\nx=1\n", "[dbs:vars]", "never defines: add a [dbs] section"),
    ("[web]\nweb[01:xx]\n", "web[", "write [start:end]"),
    ("[web]\nweb[01:100]\n", "web[", "different widths"),
    ("[web]\nweb[5:1]\n", "web[", "is empty"),
    ("[web]\nweb[1:3\n", "web[", "unclosed range"),
])
def test_malformed_ini(tmp_path: Path, text: str, needle: str, expected: str) -> None:
    path = tmp_path / "hosts.ini"
    path.write_text(text)
    err = load_error(path)
    assert_at(err, path, line_of(path, needle))
    assert expected in str(err)


def test_two_addresses_in_two_files(tmp_path: Path) -> None:
    write(tmp_path, {"a.ini": "[web]\nh1 ansible_host=10.0.0.1\n",
                     "b.yml": "hosts:\n  h1:\n    address: 10.0.0.2\n"})
    err = load_error(tmp_path / "a.ini", tmp_path / "b.yml")
    assert_at(err, tmp_path / "b.yml", 3)
    a, b = tmp_path / "a.ini", tmp_path / "b.yml"
    assert f"host h1 has address 10.0.0.1 at {a}:2 and 10.0.0.2 at {b}:3: keep one" in str(err)


def test_two_addresses_in_one_file(tmp_path: Path) -> None:
    text = "[web]\nh1 ansible_host=10.0.0.1\n[db]\nh1 ansible_host=10.0.0.9\n"
    path = write(tmp_path, {"hosts.ini": text}) / "hosts.ini"
    err = load_error(path)
    assert_at(err, path, 4)
    assert "keep one" in str(err) and f"{path}:2" in str(err)


def test_same_host_same_address_twice_merges(tmp_path: Path) -> None:
    text = "[web]\nh1 ansible_host=10.0.0.1 a=1\n[db]\nh1 ansible_host=10.0.0.1 b=2\n"
    path = write(tmp_path, {"hosts.ini": text})
    host = load(path / "hosts.ini").hosts["h1"]
    assert (host.vars["a"], host.vars["b"], host.groups) == (1, 2, ("all", "db", "web"))


@pytest.mark.parametrize(("text", "needle"), [
    ("hosts:\n  h1:\n    address: 10.0.0.1\n    connection: telnet\n", "telnet"),
    ("all:\n  hosts:\n    h1:\n      ansible_connection: docker\n", "docker"),
])
def test_unknown_connection(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "inv.yml"
    path.write_text(text)
    err = load_error(path)
    assert_at(err, path, line_of(path, needle))
    assert "h1" in str(err) and needle in str(err)
    for valid in CONNECTION_TYPES:
        assert valid in str(err)


@pytest.mark.parametrize("port", ["70000", "0", "abc", "true", "-5", "22.5"])
def test_bad_port(tmp_path: Path, port: str) -> None:
    write(tmp_path, {"hosts.ini": "[web]\nh1\n", "group_vars/web.yml": f"x: 1\nansible_port: {port}\n"})
    err = load_error(tmp_path / "hosts.ini")
    assert_at(err, tmp_path / "group_vars" / "web.yml", 2)
    assert "from 1 to 65535" in str(err) and "h1" in str(err)


def test_bad_native_port(tmp_path: Path) -> None:
    path = write(tmp_path, {"inv.yml": "hosts:\n  h1:\n    address: 10.0.0.1\n    port: 99999\n"}) / "inv.yml"
    assert_at(load_error(path), path, 4)


def test_native_host_without_address(tmp_path: Path) -> None:
    text = "defaults:\n  user: support\nhosts:\n  pc-042:\n    port: 22\n"
    path = write(tmp_path, {"inv.yml": text}) / "inv.yml"
    err = load_error(path)
    assert_at(err, path, 4)
    assert "host pc-042 has no address: add `address: <IP or DNS name>`" in str(err)


def test_native_host_only_named_on_a_group_needs_an_address(tmp_path: Path) -> None:
    path = write(tmp_path, {"inv.yml": """
        groups:
          web:
            hosts: [web1, web2]
        hosts:
          web1: {address: 10.0.0.1}
        """}) / "inv.yml"
    err = load_error(path)
    assert_at(err, path, line_of(path, "hosts: [web1"))
    assert "host web2 has no address" in str(err)


def test_native_address_may_come_from_host_vars(tmp_path: Path) -> None:
    write(tmp_path, {"inv.yml": "hosts:\n  pc1: {port: 22}\n", "host_vars/pc1.yml": "address: 10.0.0.1\n"})
    assert load(tmp_path / "inv.yml").hosts["pc1"].address == "10.0.0.1"


def test_unknown_group_key(tmp_path: Path) -> None:
    text = "groups:\n  web:\n    variables: {a: 1}\nhosts:\n  h: {address: 1.2.3.4}\n"
    path = write(tmp_path, {"inv.yml": text})
    err = load_error(path / "inv.yml")
    assert_at(err, path / "inv.yml", 3)
    assert "'variables'" in str(err) and "vars, children, hosts" in str(err)


def test_unknown_key_in_ansible_yaml_group(tmp_path: Path) -> None:
    path = write(tmp_path, {"hosts.yml": "all:\n  children:\n    web:\n      host:\n        h1:\n"}) / "hosts.yml"
    err = load_error(path)
    assert_at(err, path, 4)
    assert "'host'" in str(err)


def test_ansible_yaml_hosts_as_list(tmp_path: Path) -> None:
    path = write(tmp_path, {"hosts.yml": "web:\n  hosts:\n    - h1\n    - h2\n"}) / "hosts.yml"
    err = load_error(path)
    assert_at(err, path, 2)
    assert "must be a mapping" in str(err) and "`name:`" in str(err)


def test_native_group_hosts_as_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, {"inv.yml": "groups:\n  web:\n    hosts:\n      h1: {address: 1.2.3.4}\n"}) / "inv.yml"
    err = load_error(path)
    assert_at(err, path, 3)
    assert "top-level hosts:" in str(err)


@pytest.mark.parametrize(("text", "needle"), [
    ("groups:\n  a: {children: [b]}\n  b: {children: [c]}\n  c: {children: [a]}\n"
     "hosts:\n  h: {address: 1.2.3.4}\n", "children: [a]"),
    ("groups:\n  a: {children: [a]}\nhosts:\n  h: {address: 1.2.3.4}\n", "children: [a]"),
])
def test_group_cycle(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "inv.yml"
    path.write_text(text)
    err = load_error(path)
    assert_at(err, path, line_of(path, needle))
    assert "cycle" in str(err) and "a -> " in str(err) and "remove" in str(err)


def test_ini_group_cycle(tmp_path: Path) -> None:
    path = write(tmp_path, {"hosts.ini": "[a:children]\nb\n[b:children]\na\n[a]\nh1\n"}) / "hosts.ini"
    err = load_error(path)
    assert err.source == str(path) and err.line in (2, 4) and "cycle" in str(err)


def test_vault_values_are_refused(tmp_path: Path) -> None:
    vault = "x: 1\nansible_password: !vault |\n  $ANSIBLE_VAULT;1.1\n"
    write(tmp_path, {"hosts.ini": "h1\n", "host_vars/h1.yml": vault})
    err = load_error(tmp_path / "hosts.ini")
    assert_at(err, tmp_path / "host_vars" / "h1.yml", 2)
    assert "{secret:" in str(err)


def test_inventory_plugin_files_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, {"aws_ec2.yml": "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n"}) / "aws_ec2.yml"
    err = load_error(path)
    assert_at(err, path, 1)
    assert "ansible-inventory" in str(err)


def test_bad_secret_reference(tmp_path: Path) -> None:
    text = "hosts:\n  h1:\n    address: 1.2.3.4\n    password: {secret: 42}\n"
    path = write(tmp_path, {"inv.yml": text}) / "inv.yml"
    err = load_error(path)
    assert_at(err, path, 4)
    assert "env:NAME" in str(err)


def test_vars_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.ini": "h1\n", "group_vars/all.yml": "- a\n- b\n"})
    err = load_error(tmp_path / "hosts.ini")
    assert_at(err, tmp_path / "group_vars" / "all.yml", 1)
    assert "mapping of variable names" in str(err)


def test_cli_says_why_nothing_runs_on_a_commented_out_inventory_and_reads_retry_files(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "remote_support", *args], capture_output=True, text=True,
                              timeout=120, cwd=ROOT, env={**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j")})

    sample = tmp_path / "inventory.ini"
    sample.write_text(KUBESPRAY_SAMPLE)
    done = cli("exec", "all", "-i", str(sample), "--", "true")
    assert done.returncode == 5 and "defines no host (every host line is absent or commented out)" in done.stderr
    retry = tmp_path / "site.retry"
    retry.write_text("proxy1\nweb01\n")
    done = cli("inventory", "list", "-i", str(PATTERNS / "hosts.ini"), "-l", f"@{retry}", "--json")
    assert done.returncode == 0, done.stderr
    assert "proxy1" in done.stdout and "web01" in done.stdout and "web02" not in done.stdout
    done = cli("inventory", "list", "-i", str(PATTERNS / "hosts.ini"), "-l", "lab[0-1]")
    assert done.returncode == 0 and "warning: pattern term 'lab[0-1]': use [x:y]" in done.stderr


@pytest.mark.parametrize("pattern", ["all", "all[0]", "all[-1]", "all[5:9]", "ungrouped", "web*", "*web*[0:3]",
                                     "europe,prod", "prod:europe:&webservers", "~^(fr|db)"])
def test_two_sources_merged_as_ansible(tmp_path: Path, pattern: str) -> None:
    sources = [PATTERNS / "hosts.yml", PATTERNS / "hosts.ini"]
    [expected] = ansible_hosts(sources, [(pattern, None)], tmp_path)
    assert isinstance(expected, list) and expected
    assert ours(load(*sources), pattern) == expected
