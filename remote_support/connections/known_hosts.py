"""known_hosts files read and checked as OpenSSH checks them (hostfile.c, sshconnect.c check_host_key).

- host patterns: comma lists with ``*``/``?`` wildcards and ``!`` negation, ``[host]:port`` for other
  ports, hashed names (``|1|salt|hash``); names compared in lowercase;
- ``@revoked`` keys are refused, also as the CA of a certificate, even with --accept-new-host-keys;
- ``@cert-authority`` lines: a host certificate signed by a listed CA whose patterns match the host is
  accepted when it is a host certificate, valid now, lists the host among its principals (or lists
  none) and has no critical options; otherwise the certificate's plain key is checked as any key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass

import paramiko

from .ssh_config import match_hostname

CERT_SUFFIX = "-cert-v01@openssh.com"
MARKERS = {"@cert-authority": "cert-authority", "@revoked": "revoked"}


@dataclass(frozen=True)
class KnownKey:
    """One key line of a known_hosts file."""

    marker: str  # "" (a host key), "cert-authority" or "revoked"
    patterns: str  # the host field as written
    key_type: str
    blob: bytes
    path: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def matches(self, name: str) -> bool:
        name = name.lower()
        if self.patterns.startswith("|1|"):
            return _hashed_match(name, self.patterns)
        return match_hostname(name, self.patterns) == 1

    def fingerprint(self) -> str:
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode().rstrip("=")
        return f"{self.key_type} SHA256:{digest}"


def _hashed_match(name: str, field: str) -> bool:
    try:
        _, _, salt64, hash64 = field.split("|", 3)
        salt = base64.b64decode(salt64)
        expected = base64.b64decode(hash64)
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), expected)


class KnownHostsFile:
    """One known_hosts file; lines that do not parse are skipped, as ssh skips them."""

    def __init__(self, path: str):
        self.path = path
        self.entries: list[KnownKey] = []
        # exact names indexed once: a lab's file lists every host, a scan per host per line adds up
        self._exact: dict[str, list[KnownKey]] = {}
        self._scan: list[KnownKey] = []  # hashed, wildcard and negated patterns
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return  # an unreadable file contributes nothing, as in ssh
        for number, raw in enumerate(text.split("\n"), 1):
            entry = _parse_line(raw, path, number)
            if entry is None:
                continue
            self.entries.append(entry)
            if entry.patterns.startswith("|") or any(c in entry.patterns for c in "*?!"):
                self._scan.append(entry)
            else:
                for name in dict.fromkeys(entry.patterns.lower().split(",")):
                    self._exact.setdefault(name, []).append(entry)

    def lookup(self, names: list[str]) -> list[KnownKey]:
        found: dict[int, KnownKey] = {}
        for name in names:
            for entry in self._exact.get(name.lower(), ()):
                found.setdefault(id(entry), entry)
        for entry in self._scan:
            if any(entry.matches(n) for n in names):
                found.setdefault(id(entry), entry)
        return list(found.values())


def _parse_line(raw: str, path: str, number: int) -> KnownKey | None:
    fields = raw.strip().split()
    if not fields or fields[0].startswith("#"):
        return None
    marker = ""
    if fields[0].startswith("@"):
        marker = MARKERS.get(fields[0].lower(), "?")
        fields = fields[1:]
        if marker == "?":
            return None
    if len(fields) < 3:
        return None
    patterns, key_type, data = fields[0], fields[1], fields[2]
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        inner = paramiko.Message(blob).get_text()
    except Exception:  # a truncated blob: skip the line as ssh does
        return None
    if inner != key_type:
        return None
    return KnownKey(marker, patterns, key_type, blob, path, number)


# ---------------------------------------------------------------- host certificates (PROTOCOL.certkeys)


@dataclass(frozen=True)
class HostCertificate:
    cert_type: str
    key_blob: bytes  # the certified (plain) public key
    serial: int
    kind: int  # 1 user, 2 host
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    critical_options: bytes
    ca_blob: bytes
    signed: bytes
    signature: bytes


def parse_certificate(blob: bytes) -> HostCertificate:
    m = paramiko.Message(blob)
    cert_type = m.get_text()
    m.get_string()  # nonce
    base = cert_type[: -len(CERT_SUFFIX)]
    start = m.packet.tell()
    if base == "ssh-ed25519":
        parts = [m.get_string()]
    elif base.startswith("ecdsa-sha2-"):
        parts = [m.get_string(), m.get_string()]
    elif base == "ssh-rsa":
        parts = [m.get_mpint(), m.get_mpint()]  # e, n
    elif base == "ssh-dss":
        parts = [m.get_mpint() for _ in range(4)]
    else:
        raise ValueError(f"unsupported certificate type {cert_type}")
    end = m.packet.tell()
    plain = paramiko.Message()
    plain.add_string(base)
    key_blob = plain.asbytes() + blob[start:end]
    del parts
    serial = m.get_int64()
    kind = m.get_int()
    key_id = m.get_text()
    principals_blob = paramiko.Message(m.get_binary())
    principals = []
    while principals_blob.get_remainder():
        principals.append(principals_blob.get_text())
    valid_after = m.get_int64()
    valid_before = m.get_int64()
    critical = m.get_binary()
    m.get_binary()  # extensions
    m.get_binary()  # reserved
    ca_blob = m.get_binary()
    signed = blob[: m.packet.tell()]
    signature = m.get_binary()
    return HostCertificate(cert_type, key_blob, serial, kind, key_id, tuple(principals), valid_after,
                           valid_before, critical, ca_blob, signed, signature)


def certificate_problem(cert: HostCertificate, names: list[str], now: float | None = None) -> str | None:
    """Why OpenSSH would not accept this host certificate (sshkey_cert_check_host), or None."""
    now = time.time() if now is None else now
    if cert.kind != 2:
        return "certificate invalid: not a host certificate"
    if now < cert.valid_after:
        return "certificate invalid: not yet valid"
    if now >= cert.valid_before:
        return "certificate invalid: expired"
    if cert.principals and not any(n in cert.principals for n in names):
        return f"certificate invalid: {names[0]} is not a listed principal ({', '.join(cert.principals)})"
    if cert.critical_options:
        return "certificate contains unsupported critical options"
    try:
        ca_type = paramiko.Message(cert.ca_blob).get_text()
        ca_key = paramiko.PKey.from_type_string(ca_type, cert.ca_blob)
        if not ca_key.verify_ssh_sig(cert.signed, paramiko.Message(cert.signature)):
            return "certificate signature does not verify with its CA key"
    except Exception as exc:  # an unusable CA key is a refusal, not a crash
        return f"certificate CA key cannot be used: {exc}"
    return None


# ---------------------------------------------------------------- the check


@dataclass(frozen=True)
class Verdict:
    """What the known_hosts files say about a presented key."""

    status: str  # "ok", "revoked", "changed", "unknown"
    detail: str = ""
    found: KnownKey | None = None  # the matching or conflicting line


def check_host_key(key: paramiko.PKey, entries: list[KnownKey], principal_names: list[str]) -> Verdict:
    """OpenSSH's check_host_key() for the lines that name this host."""
    plain_blob = key.asbytes()
    cert = None
    public_blob = getattr(key, "public_blob", None)
    if public_blob is not None and public_blob.key_type.endswith(CERT_SUFFIX):
        try:
            cert = parse_certificate(public_blob.key_blob)
        except Exception as exc:  # a malformed certificate: treated as its plain key below
            cert = None
            cert_error = f"unreadable certificate: {exc}"
        else:
            cert_error = ""
    for entry in entries:
        if entry.marker != "revoked":
            continue
        if entry.blob == plain_blob:
            return Verdict("revoked", f"the host key is marked @revoked in {entry.where}", entry)
        if cert is not None and entry.blob == cert.ca_blob:
            return Verdict("revoked", f"the host certificate's CA is marked @revoked in {entry.where}", entry)
    refused = ""
    if cert is not None:
        authorities = [e for e in entries if e.marker == "cert-authority" and e.blob == cert.ca_blob]
        if authorities:
            problem = certificate_problem(cert, principal_names)
            if problem is None:
                return Verdict("ok", f"certificate signed by the CA in {authorities[0].where}", authorities[0])
            refused = f"{problem} (CA in {authorities[0].where}); "
        # no CA for it, or a certificate the CA does not vouch for: check the plain key, as ssh does
    elif public_blob is not None and cert_error:
        refused = cert_error + "; "
    plain = [e for e in entries if e.marker == ""]
    for entry in plain:
        if entry.blob == plain_blob:
            return Verdict("ok", "", entry)
    if plain:
        return Verdict("changed", refused, plain[0])
    return Verdict("unknown", refused)


class KnownHostsCache:
    """Parsed files shared by all threads, re-read when a file changes."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[tuple[float, int], KnownHostsFile]] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> KnownHostsFile | None:
        import os

        try:
            info = os.stat(path)
        except OSError:
            return None
        key = (info.st_mtime, info.st_size)
        with self._lock:
            cached = self._files.get(path)
            if cached and cached[0] == key:
                return cached[1]
            parsed = KnownHostsFile(path)
            self._files[path] = (key, parsed)
            return parsed
