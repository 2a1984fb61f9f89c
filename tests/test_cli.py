"""The command line, run as a technician runs it: a real process against the lab."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from winrm_support import winrm_https_server  # noqa: F401 - fixture


def cli(*args: str, check: int | None = None, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "remote_support", *args], capture_output=True, text=True,
                            timeout=120, **kwargs)
    if check is not None:
        assert result.returncode == check, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def small_inventory(lab, tmp_path_factory):
    """Five lab hosts, one dead host, and a secret, in the native format."""
    entries = lab.status()[:5]
    lines = ["defaults:", f"  user: {lab.user}", f"  private_key_file: {lab.client_key_path}",
             f"  known_hosts_file: {lab.known_hosts_path}", "  api_token: tok-9f8e7d6c5b4a",
             "groups:", "  office: {}", "  broken: {}", "hosts:"]
    for e in entries:
        lines.append(f"  {e.name}: {{address: {e.address}, port: {e.port}, groups: [office]}}")
    lines.append("  ghost-001: {address: 127.0.0.1, port: 1, groups: [broken]}")
    path = tmp_path_factory.mktemp("inv") / "inventory.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_help_of_every_command_shows_an_example():
    for command in ([], ["exec"], ["run"], ["inventory"], ["inventory", "list"], ["lab"], ["lab", "up"],
                    ["lab", "down"], ["lab", "status"], ["lab", "inventory"], ["tasks"], ["tasks", "list"],
                    ["tasks", "show"]):
        result = cli(*command, "--help", check=0)
        assert "Examples:" in result.stdout, command
        # each example on a line of its own, as written (click would re-wrap them into one paragraph)
        examples = result.stdout.split("Examples:", 1)[1].strip("\n").splitlines()
        assert all(line.startswith("  ") and "remote-support " in line for line in examples), (command, examples)
    for command in (["runs"], ["runs", "list"], ["runs", "resume"], ["runs", "retry"], ["hosts", "history"],
                    ["report"], ["config", "diff"]):
        result = cli(*command, "--help", check=0)
        examples = result.stdout.split("Examples:", 1)[1].strip("\n").splitlines()
        assert len(examples) >= 1 and all(line.startswith("  ") for line in examples), (command, examples)


def test_exec_prints_each_host_output_and_a_summary(lab, small_inventory):
    result = cli("exec", "office", "-i", str(small_inventory), "--", "uname", "-n", check=0)
    for entry in lab.status()[:5]:
        assert f"{entry.name} | ok | rc=0 >>\n{entry.name}\n" in result.stdout
    assert "ok=5" in result.stderr and "failed=0" in result.stderr


def test_exec_one_line_and_grouped_output(lab, small_inventory):
    one = cli("exec", "office", "-i", str(small_inventory), "-o", "--", "echo same", check=0)
    assert len([l for l in one.stdout.splitlines() if l.endswith("| ok | rc=0 | same")]) == 5
    grouped = cli("exec", "office", "-i", str(small_inventory), "--group", "--", "echo same", check=0)
    assert grouped.stdout.count("same") == 1
    assert "(5)" in grouped.stdout


def test_exec_json_and_exit_code_for_unreachable(lab, small_inventory):
    result = cli("exec", "all", "-i", str(small_inventory), "--json", "--", "true", check=4)
    data = json.loads(result.stdout)
    assert data["summary"]["ok"] == 5 and data["summary"]["unreachable"] == 1
    ghost = next(h for h in data["hosts"] if h["host"] == "ghost-001")
    assert ghost["status"] == "unreachable" and "connection refused" in ghost["reason"]
    assert "Traceback" not in result.stderr


def test_exec_exit_code_for_failed_command(small_inventory):
    result = cli("exec", "office", "-i", str(small_inventory), "--", "exit 7", check=2)
    assert "exit code 7" in result.stderr


def test_exec_timeout_fails_the_host_with_a_reason(small_inventory, lab):
    name = lab.status()[0].name
    result = cli("exec", name, "-i", str(small_inventory), "--timeout", "1", "--", "sleep 30", check=2)
    assert "timed out after 1s" in result.stderr


def test_environment_variable_names_the_default_inventory(small_inventory, lab):
    env = {**os.environ, "REMOTE_SUPPORT_INVENTORY": str(small_inventory)}
    cli("exec", lab.status()[0].name, "--", "true", check=0, env=env)
    missing = cli("exec", "all", "--", "true", env={k: v for k, v in os.environ.items()
                                                      if k != "REMOTE_SUPPORT_INVENTORY"})
    assert missing.returncode == 5 and "no inventory" in missing.stderr


def test_ctrl_c_stops_cleanly_and_reports_interrupted_hosts(small_inventory):
    process = subprocess.Popen([sys.executable, "-m", "remote_support", "exec", "office", "-i",
                                str(small_inventory), "--", "sleep 30"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 99, stderr
    assert "interrupted" in stderr and "interrupted=5" in stderr
    assert "Traceback" not in stderr


def test_inventory_list_masks_secrets(small_inventory):
    table = cli("inventory", "list", "-i", str(small_inventory), "--vars", check=0)
    assert "ghost-001" in table.stdout and "tok-9f8e7d6c5b4a" not in table.stdout
    data = json.loads(cli("inventory", "list", "-i", str(small_inventory), "--json", check=0).stdout)
    assert data["ghost-001"]["vars"]["api_token"] == "********"
    assert "office" in data[next(iter(data))]["groups"]


# ---------------------------------------------------------------- bad input: clear error, exit 5, nothing runs


@pytest.mark.parametrize("args, message", [
    (["exec", "nosuchgroup", "--", "true"], "nosuchgroup"),
    (["exec", "office", "-f", "-3", "--", "true"], "--forks -3"),
    (["exec", "office", "--serial", "0", "--", "true"], "--serial"),
])
def test_bad_options_and_patterns(small_inventory, args, message):
    result = cli(*args[:2], "-i", str(small_inventory), *args[2:])
    assert result.returncode == 5, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_malformed_inventory_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("hosts:\n  pc-1: {address: 10.0.0.1\n  pc-2: {address: 10.0.0.2}\n")
    result = cli("exec", "all", "-i", str(bad), "--", "true")
    assert result.returncode == 5
    assert f"{bad}:" in result.stderr and "Traceback" not in result.stderr


def test_unknown_connection_type_lists_valid_ones(tmp_path):
    bad = tmp_path / "inv.yml"
    bad.write_text("hosts:\n  pc-1: {address: 10.0.0.1, connection: telnet}\n")
    result = cli("inventory", "list", "-i", str(bad))
    assert result.returncode == 5 and "telnet" in result.stderr and "ssh" in result.stderr


def test_unreadable_key_file_stops_before_anything_runs(tmp_path, lab):
    entry = lab.status()[0]
    inv = tmp_path / "inv.yml"
    inv.write_text(f"hosts:\n  {entry.name}: {{address: {entry.address}, port: {entry.port}, "
                   f"private_key_file: {tmp_path}/nokey}}\n")
    result = cli("exec", "all", "-i", str(inv), "--", "touch /tmp/should-not-exist")
    assert result.returncode == 5 and f"{tmp_path}/nokey" in result.stderr


def test_wrong_key_passphrase_stops_before_anything_runs(tmp_path, lab):
    key = tmp_path / "locked"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "right-phrase", "-f", str(key)], check=True)
    entry = lab.status()[0]
    inv = tmp_path / "inv.yml"
    inv.write_text(f"hosts:\n  {entry.name}: {{address: {entry.address}, port: {entry.port}, "
                   f"private_key_file: {key}, private_key_passphrase: wrong-phrase}}\n")
    result = cli("exec", "all", "-i", str(inv), "--", "true")
    assert result.returncode == 5 and "wrong passphrase" in result.stderr
    assert "wrong-phrase" not in result.stderr


def test_secret_named_inventory_values_are_masked_in_output_and_journal(small_inventory, lab, tmp_path):
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite")}
    name = lab.status()[0].name
    result = cli("exec", name, "-i", str(small_inventory), "--", "echo token=tok-9f8e7d6c5b4a", env=env, check=0)
    assert "tok-9f8e7d6c5b4a" not in result.stdout + result.stderr and "token=********" in result.stdout
    shown = cli("runs", "list", "--json", env=env, check=0).stdout + cli(
        "report", json.loads(cli("runs", "list", "--json", env=env).stdout)[0]["id"], env=env, check=0).stdout
    assert "tok-9f8e7d6c5b4a" not in shown
    raw = (tmp_path / "j.sqlite").read_bytes()
    assert b"tok-9f8e7d6c5b4a" not in raw


def test_check_and_diff_show_what_a_template_would_change(lab, tmp_path):
    import shutil
    import tempfile

    target_dir = tempfile.mkdtemp(prefix="rs-cli-diff-", dir="/tmp")
    os.chmod(target_dir, 0o777)
    try:
        (tmp_path / "templates").mkdir()
        (tmp_path / "templates" / "motd.j2").write_text("welcome to {{ inventory_hostname }}\n")
        task = tmp_path / "motd.yml"
        task.write_text(f"steps:\n  - name: motd\n    template: {{src: motd.j2, dest: {target_dir}/motd}}\n")
        name = lab.status()[1].name
        checked = cli("run", str(task), "-i", str(lab.inventory_path), "-l", name, "--check", "--diff", check=0)
        assert f"+welcome to {name}" in checked.stderr and "check mode" in checked.stderr
        assert not os.path.exists(f"{target_dir}/motd")
        cli("run", str(task), "-i", str(lab.inventory_path), "-l", name, check=0)
        assert open(f"{target_dir}/motd").read() == f"welcome to {name}\n"
    finally:
        shutil.rmtree(target_dir, ignore_errors=True)


@pytest.mark.slow  # 14 s: a lab of every kind, up and down
def test_lab_with_linux_hosts_switches_and_windows_endpoints(tmp_path):
    env = {**os.environ, "REMOTE_SUPPORT_HOME": str(tmp_path)}
    try:
        cli("lab", "up", "2", "--switches", "2", "--windows", "2", "--network", "127.55.0.0", env=env, check=0)
        inventory = cli("lab", "inventory", env=env, check=0).stdout.strip()
        status = cli("lab", "status", env=env, check=0).stdout
        assert status.count("running") == 6
        result = cli("exec", "lab:windows", "-i", inventory, "--json", "--", "hostname", env=env, check=0)
        data = json.loads(result.stdout)
        outputs = {h["host"]: h["steps"][0]["stdout"].strip() for h in data["hosts"]}
        assert outputs["lab-001"] == "lab-001" and outputs["win-002"] == "WIN-002"
        assert data["summary"]["ok"] == 4
        switches = cli("exec", "switches", "-i", inventory, "-o", "--", "show running-config", env=env, check=0)
        assert "sw-001 | ok" in switches.stdout and "hostname sw-002" in switches.stdout
    finally:
        down = cli("lab", "down", env=env)
    assert down.returncode == 0 and "6 hosts stopped" in down.stderr


def test_insecure_skips_winrm_certificate_checks_and_is_noted_in_the_journal(winrm_https_server, tmp_path):
    from winrm_support import WIN_PASSWORD, WIN_USER

    inventory = tmp_path / "win.yml"
    inventory.write_text(f"hosts:\n  win-1: {{connection: winrm, address: 127.0.0.1, winrm_scheme: https, "
                         f"winrm_port: {winrm_https_server.port}, user: {WIN_USER}, password: {WIN_PASSWORD}}}\n")
    env = {**os.environ, "REMOTE_SUPPORT_JOURNAL": str(tmp_path / "j.sqlite")}
    refused = cli("exec", "all", "-i", str(inventory), "--", "hostname", env=env)
    assert refused.returncode == 4 and "certificate" in refused.stderr
    result = cli("exec", "all", "-i", str(inventory), "--insecure", "--json", "--", "hostname", env=env, check=0)
    run_id = json.loads(result.stdout)["id"]
    shown = cli("runs", "show", run_id, env=env, check=0).stdout
    assert "--insecure" in shown
