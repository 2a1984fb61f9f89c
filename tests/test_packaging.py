"""Installed as users install it: a wheel built from the checkout carries the task library and needs no
compiler (Kerberos is an extra)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(REPO),
                    "-w", str(out)], check=True, cwd=out, timeout=300)
    [built] = out.glob("remote_support-*.whl")
    return built


def test_the_wheel_carries_the_task_library_and_its_templates(wheel, tmp_path):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if n.startswith("remote_support/library/tasks/")}
    assert {p.name for p in (REPO / "tasks").glob("*.yml")} <= shipped
    assert any(n.startswith("remote_support/library/templates/") for n in names)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, timeout=300)
    elsewhere = tmp_path / "elsewhere"  # no ./tasks here: only the installed library can answer
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    listed = subprocess.run([sys.executable, "-m", "remote_support", "tasks", "list"], capture_output=True,
                            text=True, cwd=elsewhere, env=env, timeout=60)
    assert listed.returncode == 0 and "diagnose" in listed.stdout, listed.stderr
    shown = subprocess.run([sys.executable, "-m", "remote_support", "tasks", "show", "deploy-config-file"],
                           capture_output=True, text=True, cwd=elsewhere, env=env, timeout=60)
    assert shown.returncode == 0 and str(target) in shown.stdout, shown.stderr


def test_a_plain_install_needs_no_compiler(wheel):
    metadata = next(zipfile.ZipFile(wheel).open(n).read().decode() for n in zipfile.ZipFile(wheel).namelist()
                    if n.endswith(".dist-info/METADATA"))
    plain = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    compiled = ("kerberos", "gssapi", "krb5", "pykerberos")
    assert plain and not [line for line in plain if any(c in line.lower() for c in compiled)]
    assert any("extra == \"kerberos\"" in line for line in metadata.splitlines())


def test_the_wheel_carries_the_web_views_pages_and_htmx_and_the_web_extra(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    web = REPO / "remote_support" / "web"
    for folder in ("templates", "static"):
        assert {f"remote_support/web/{folder}/{p.name}" for p in (web / folder).iterdir()} <= names
    metadata = next(zipfile.ZipFile(wheel).open(n).read().decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert any(line.startswith("Requires-Dist: fastapi") and 'extra == "web"' in line for line in metadata.splitlines())
