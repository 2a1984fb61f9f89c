"""known_hosts lines and host certificates checked as OpenSSH checks them; certificates made by ssh-keygen."""

from __future__ import annotations

import subprocess
from pathlib import Path

import paramiko
import pytest

from remote_support.connections.known_hosts import (KnownHostsFile, certificate_problem, check_host_key,
                                                    parse_certificate)


def keygen(*args: str) -> None:
    subprocess.run(["ssh-keygen", "-q", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    for name, kind in (("ca", "ed25519"), ("rsa_ca", "rsa"), ("host", "ed25519"), ("other", "ed25519")):
        keygen("-t", kind, "-N", "", "-f", str(d / name))
    return d


def sign(keys: Path, name: str, *args: str, ca: str = "ca") -> Path:
    """Sign a copy of the host key; returns the certificate path."""
    pub = keys / f"{name}.pub"
    pub.write_text((keys / "host.pub").read_text())
    keygen("-s", str(keys / ca), "-I", name, *args, str(pub))
    return keys / f"{name}-cert.pub"


def presented(keys: Path, cert: Path | None = None) -> paramiko.PKey:
    key = paramiko.Ed25519Key.from_private_key_file(str(keys / "host"))
    if cert is not None:
        key.load_certificate(str(cert))
    return key


def pub(keys: Path, name: str) -> str:
    return " ".join((keys / f"{name}.pub").read_text().split()[:2])


def known(tmp_path: Path, text: str) -> KnownHostsFile:
    path = tmp_path / "known_hosts"
    path.write_text(text)
    return KnownHostsFile(str(path))


def test_certificate_fields_as_ssh_keygen_wrote_them(keys):
    cert = sign(keys, "fields", "-h", "-n", "web1,web1.corp", "-z", "42")
    parsed = parse_certificate(presented(keys, cert).public_blob.key_blob)
    listed = subprocess.run(["ssh-keygen", "-L", "-f", str(cert)], capture_output=True, text=True).stdout
    assert parsed.kind == 2 and "host certificate" in listed
    assert parsed.key_id == "fields" and parsed.serial == 42 and parsed.principals == ("web1", "web1.corp")
    assert parsed.key_blob == presented(keys).asbytes()
    assert certificate_problem(parsed, ["web1.corp"]) is None


@pytest.mark.parametrize("args, names, problem", [
    (("-h", "-n", "web1", "-V", "20200101:20200102"), ["web1"], "expired"),
    (("-h", "-n", "web1", "-V", "+3650d:+3651d"), ["web1"], "not yet valid"),
    (("-n", "web1"), ["web1"], "not a host certificate"),
    (("-h", "-n", "web1,web2"), ["web3"], "not a listed principal"),
])
def test_certificates_ssh_would_refuse(keys, args, names, problem):
    cert = sign(keys, "bad_" + problem.replace(" ", "_"), *args)
    found = certificate_problem(parse_certificate(presented(keys, cert).public_blob.key_blob), names)
    assert found is not None and problem in found


def test_no_principals_means_any_host_and_rsa_ca_signatures_verify(keys):
    cert = sign(keys, "rsa_signed", "-h", ca="rsa_ca")
    parsed = parse_certificate(presented(keys, cert).public_blob.key_blob)
    assert parsed.principals == () and certificate_problem(parsed, ["anything"]) is None


def test_a_tampered_certificate_does_not_verify(keys):
    cert = sign(keys, "tampered", "-h", "-n", "web1")
    blob = bytearray(presented(keys, cert).public_blob.key_blob)
    parsed = parse_certificate(bytes(blob))
    index = parsed.signed.index(b"web1")
    blob[index] = ord("X")  # web1 -> Xeb1 in the principals, signature unchanged
    forged = parse_certificate(bytes(blob))
    assert forged.principals == ("Xeb1",)
    assert "does not verify" in certificate_problem(forged, ["Xeb1"])


def test_ca_line_accepts_a_certificate_for_matching_hosts_only(keys, tmp_path):
    cert = sign(keys, "web", "-h", "-n", "web1.corp")
    key = presented(keys, cert)
    file = known(tmp_path, f"@cert-authority *.corp,!db*.corp {pub(keys, 'ca')}\n")
    assert check_host_key(key, file.lookup(["web1.corp"]), ["web1.corp"]).status == "ok"
    assert file.lookup(["db1.corp"]) == []  # negated: the CA line does not apply to db hosts
    assert check_host_key(key, file.lookup(["web1.lan"]), ["web1.lan"]).status == "unknown"


def test_invalid_certificate_falls_back_to_its_plain_key(keys, tmp_path):
    cert = sign(keys, "wrongname", "-h", "-n", "elsewhere")
    key = presented(keys, cert)
    only_ca = known(tmp_path, f"@cert-authority * {pub(keys, 'ca')}\n")
    verdict = check_host_key(key, only_ca.lookup(["web1"]), ["web1"])
    assert verdict.status == "unknown" and "not a listed principal" in verdict.detail
    with_plain = known(tmp_path, f"@cert-authority * {pub(keys, 'ca')}\nweb1 {pub(keys, 'host')}\n")
    assert check_host_key(key, with_plain.lookup(["web1"]), ["web1"]).status == "ok"


def test_revoked_key_or_ca_wins_over_everything(keys, tmp_path):
    cert = sign(keys, "rev", "-h", "-n", "web1")
    file = known(tmp_path, f"web1 {pub(keys, 'host')}\n@cert-authority * {pub(keys, 'ca')}\n"
                           f"@revoked * {pub(keys, 'host')}\n")
    assert check_host_key(presented(keys), file.lookup(["web1"]), ["web1"]).status == "revoked"
    assert check_host_key(presented(keys, cert), file.lookup(["web1"]), ["web1"]).status == "revoked"
    revoked_ca = known(tmp_path, f"@cert-authority * {pub(keys, 'ca')}\n@revoked * {pub(keys, 'ca')}\n")
    assert check_host_key(presented(keys, cert), revoked_ca.lookup(["web1"]), ["web1"]).status == "revoked"


def test_host_patterns_ports_hashes_and_case(keys, tmp_path):
    line = pub(keys, "host")
    file = known(tmp_path, f"Web1.Example,[10.0.0.1]:2222 {line}\n*.lan,!printer.lan {line}\n"
                           f"@bogus-marker web9 {line}\nbroken-line\n# comment\n")
    assert file.lookup(["web1.example"]) and file.lookup(["[10.0.0.1]:2222"])
    assert not file.lookup(["10.0.0.1"]) and not file.lookup(["web9"])
    assert file.lookup(["pc.LAN"]) and not file.lookup(["printer.lan"])
    hashed = tmp_path / "hashed"
    hashed.write_text(f"web1.example {line}\n")
    keygen("-H", "-f", str(hashed))
    assert hashed.read_text().startswith("|1|")
    assert KnownHostsFile(str(hashed)).lookup(["WEB1.example"])
    other = presented(keys)
    assert check_host_key(other, known(tmp_path, f"web1 {pub(keys, 'other')}\n").lookup(["web1"]),
                          ["web1"]).status == "changed"
