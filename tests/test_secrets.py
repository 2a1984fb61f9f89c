"""Secrets in every shape, and only secrets: attacked through the real CLI against lab hosts.

A value under a secret-named key is masked whatever its shape (text, number, list, mapping) in the
output, the journal's raw bytes, every report and the escalation zip; an error message never echoes it;
and a name is secret by whole words only, so an openstack-ansible inventory keeps its "http" and "admin".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import pytest

from remote_support.errors import TaskError
from remote_support.secrets import MASKED, NAMES, is_secret_name

SECRETS = ("Dict-pw-77301", "List-tok-66120", "List-tok-66121", "98765432", "Nested-cred-4410")


def cli(*args: str, env=None, check: int | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "remote_support", *args], capture_output=True, text=True,
                            timeout=120, env=env)
    if check is not None:
        assert result.returncode == check, result.stdout + result.stderr
    return result


# A slice of a real openstack-ansible user_variables / openstack_user_config, with secrets of every shape.
OPENSTACK_VARS = """\
  keystone_service_proto: http
  keystone_admin_user_name: admin
  keystone_service_adminuri_proto: http
  keystone_auth_admin_password: Nested-cred-4410
  haproxy_keepalived_external_vip_cidr: 203.0.113.10/32
  registry_key: HKLM-Software-Vendor
  ssh_host_key: ssh-ed25519-AAAA-not-secret
  db_secret: {pw: Dict-pw-77301, user: dbadmin}
  api_tokens: [List-tok-66120, List-tok-66121]
  pin_password: 98765432
"""


@pytest.mark.parametrize("name, secret", [
    ("password", True), ("db_passwd", True), ("ansible_ssh_pass", True), ("client_secret", True),
    ("api_token", True), ("api_tokens", True), ("registry_credentials", True), ("apiToken", True),
    ("openstack_api_key", True), ("ssh_private_key", True), ("aws_access_key", True),
    ("aws_secret_key", True), ("vrrp_auth_key", True), ("keystone_auth_admin_password", True),
    ("keystone_service_proto", False), ("keystone_admin_user_name", False), ("public_key", False),
    ("host_key", False), ("key_file", False), ("registry_key", False), ("private_key_file", False),
    ("bypass_proxy", False), ("compass_heading", False), ("monkey_count", False), ("passenger", False),
    ("tokenizer", False), ("host_key_checking", False),
])
def test_a_name_is_secret_by_whole_words(name, secret):
    assert is_secret_name(name) is secret


def test_an_inventory_adds_and_exempts_names(tmp_path):
    from remote_support.inventory import load_inventory

    inv = tmp_path / "inv.yml"
    inv.write_text("defaults:\n  secret_vars: [site_pin, '*_otp']\n  not_secret_vars: [token_endpoint]\n"
                   "hosts:\n  pc-1: {address: 10.0.0.1, site_pin: 31337-pin, vpn_otp: Otp-5511, "
                   "token_endpoint: https://idp/token}\n")
    try:
        load_inventory([str(inv)])
        assert is_secret_name("site_pin") and is_secret_name("vpn_otp") and not is_secret_name("token_endpoint")
        shown = cli("inventory", "list", "-i", str(inv), "--json", check=0).stdout
        data = json.loads(shown)["pc-1"]["vars"]
        assert data["site_pin"] == MASKED and data["vpn_otp"] == MASKED
        assert data["token_endpoint"] == "https://idp/token"
    finally:
        NAMES.configure()


@pytest.fixture(scope="module")
def openstack_inventory(lab, tmp_path_factory):
    entry = lab.status()[0]
    path = tmp_path_factory.mktemp("osa") / "inventory.yml"
    path.write_text(f"defaults:\n  user: {lab.user}\n  private_key_file: {lab.client_key_path}\n"
                    f"  known_hosts_file: {lab.known_hosts_path}\n" + OPENSTACK_VARS
                    + f"hosts:\n  {entry.name}: {{address: {entry.address}, port: {entry.port}}}\n")
    return path


def _journal_text(path: Path) -> str:
    """Every byte of the SQLite file, and every compressed blob in it decompressed."""
    import sqlite3

    parts = [path.read_bytes().decode("latin-1")]
    wal = Path(str(path) + "-wal")
    if wal.exists():
        parts.append(wal.read_bytes().decode("latin-1"))
    with sqlite3.connect(path) as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
            for row in conn.execute(f"SELECT * FROM {table}"):
                for value in row:
                    if isinstance(value, bytes):
                        try:
                            parts.append(zlib.decompress(value).decode("utf-8", "replace"))
                        except zlib.error:
                            parts.append(value.decode("latin-1"))
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


def test_secrets_of_every_shape_are_masked_everywhere_and_only_they(openstack_inventory, lab, tmp_path):
    journal = tmp_path / "j.sqlite"
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(journal)}
    task = tmp_path / "leak.yml"
    task.write_text(textwrap.dedent("""\
        steps:
          - name: leak every shape
            command: >-
              echo proto={{ keystone_service_proto }} user={{ keystone_admin_user_name }}
              pw={{ db_secret.pw }} toks={{ api_tokens | join(',') }} pin={{ pin_password }}
              cred={{ keystone_auth_admin_password }} reg={{ registry_key }}
            changed_when: false
        """))
    name = lab.status()[0].name
    ran = cli("run", str(task), "-i", str(openstack_inventory), "-l", name, env=env, check=0)
    executed = cli("exec", name, "-i", str(openstack_inventory), "--",
                   "echo 98765432 Dict-pw-77301 List-tok-66121 http://x admin", env=env, check=0)
    assert f"{MASKED} {MASKED} {MASKED} http://x admin" in executed.stdout
    listed = cli("inventory", "list", "-i", str(openstack_inventory), "--vars", "--json", env=env, check=0).stdout
    variables = json.loads(listed)[name]["vars"]
    assert variables["keystone_service_proto"] == "http" and variables["keystone_admin_user_name"] == "admin"
    assert variables["db_secret"] == MASKED and variables["api_tokens"] == MASKED
    assert variables["pin_password"] == MASKED and variables["registry_key"] == "HKLM-Software-Vendor"

    runs = json.loads(cli("runs", "list", "--json", env=env, check=0).stdout)
    shown = [ran.stdout + ran.stderr, executed.stdout + executed.stderr, listed]
    for record in runs:
        shown.append(cli("runs", "show", record["id"], env=env, check=0).stdout)
        for fmt in ("html", "json", "junit"):
            shown.append(cli("report", record["id"], "--format", fmt, env=env, check=0).stdout)
        out = tmp_path / f"bundle-{record['id']}"
        cli("runs", "escalate", record["id"], "--to", "L3", "--note", "please look", "-o", str(out),
            env=env, check=0)
        for bundle in out.glob("*.zip"):
            with zipfile.ZipFile(bundle) as z:
                shown.append("".join(z.read(n).decode("utf-8", "replace") for n in z.namelist()))
    shown.append(_journal_text(journal))
    everything = "\n".join(shown)
    for secret in SECRETS:
        assert secret not in everything, secret
    # only secrets: openstack's names that merely contain "key" or "pass" letters stay readable
    assert "proto=http user=admin" in everything and "reg=HKLM-Software-Vendor" in everything


def test_error_messages_never_echo_a_secret_named_value(tmp_path):
    from remote_support.tasks import load_task

    task = tmp_path / "t.yml"
    task.write_text(textwrap.dedent("""\
        params:
          - {name: pin_password, type: int}
          - {name: api_token, type: str, choices: [a, b]}
          - {name: db_secret, type: dict}
        steps:
          - {name: x, command: "true"}
        """))
    loaded = load_task(task)
    for given in ({"pin_password": "Pin-notanumber-881"}, {"api_token": "Tok-notachoice-882"},
                  {"db_secret": "Dict-notadict-883: ["}):
        with pytest.raises(TaskError) as caught:
            loaded.resolve_params(given)
        assert next(iter(given.values())) not in str(caught.value), caught.value
        assert MASKED in str(caught.value)
    run = cli("run", str(task), "-i", str(tmp_path / "none.yml"), "-e", "api_token=Tok-notachoice-882")
    assert run.returncode == 5 and "Tok-notachoice-882" not in run.stdout + run.stderr


def test_a_step_kind_declares_its_secret_arguments(lab, tmp_path, monkeypatch):
    """The kind says which argument is secret (a user's password), whatever the variable was called."""
    from remote_support import steps
    from task_support import lab_hosts, run_task, write_task

    monkeypatch.setitem(steps.STEP_KINDS, "echo_secret", "secret_kind_support:EchoSecret")
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    task = write_task(tmp_path, """\
        vars: {chosen: Kind-declared-5123}
        steps:
          - name: set it
            echo_secret: {user: jdoe, data: "{{ chosen }}"}
        """)
    run = run_task(task, lab_hosts(lab, [1]))
    text = json.dumps(run.to_dict())
    assert "Kind-declared-5123" not in text and f"data={MASKED}" in text and "user=jdoe" in text
    bad = write_task(tmp_path / "bad", """\
        steps:
          - {name: set it, echo_secret: {user: jdoe, data: [Kind-declared-list-5124]}}
        """)
    from remote_support.tasks import load_task

    with pytest.raises(TaskError) as caught:
        load_task(bad)
    assert "Kind-declared-list-5124" not in str(caught.value)
