"""A throwaway MIT Kerberos realm for the WinRM Kerberos tests: KDC on loopback, principals, keytab, ticket.

``kdc`` (session scope) starts a realm with k5test's ``K5Realm`` in a temp dir: the KDC (Debian's krb5-kdc)
listens on a free loopback port, a user principal gets a password, ``HTTP/<hostname>`` is the WinRM service
principal whose key goes to a keytab the lab server accepts with, and the user's ticket (``kinit``) lands in a
ccache in the temp dir. KRB5_CONFIG and KRB5CCNAME are set for this test process only and restored at the end;
the KDC is stopped by k5test (``terminate`` on the process it started) and the temp dir removed.

Missing packages make the tests FAIL, not skip: ``make test`` installs them.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass

import pytest

KDC_USER = "rsadmin"
KDC_PASSWORD = "KrbLabPassw0rd"  # no shell-special characters: k5test shlex-quotes, kadmin.local keeps quotes
REALM = "WINLAB.TEST"
INSTALL_HINT = ("`make test` installs them: Debian packages krb5-kdc krb5-admin-server krb5-user libkrb5-dev "
                "and pip extra remote-support[kerberos] (pywinrm[kerberos]: pykerberos; pyspnego[kerberos]: gssapi, krb5; k5test)")
_KDC_PROGRAMS = ("krb5kdc", "kdb5_util", "kadmin.local", "kinit", "klist")


@dataclass
class KDC:
    realm: object  # k5test.K5Realm
    hostname: str  # the name in the service principal (use as winrm_kerberos_hostname)
    service_principal: str
    user_principal: str
    keytab: str
    ccache: str
    env: dict[str, str]


def missing_kerberos_requirements() -> list[str]:
    missing = []
    for module, what in (("k5test", "pip: k5test"), ("gssapi", "pip: gssapi"), ("krb5", "pip: krb5"),
                         ("kerberos", "pip: pykerberos")):
        try:
            __import__(module)
        except ImportError as exc:
            missing.append(f"{what} ({exc})")
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin" + os.pathsep + "/usr/bin"
    for program in _KDC_PROGRAMS:
        if shutil.which(program, path=path) is None:
            missing.append(f"program {program}")
    return missing


def _free_port() -> int:
    """A port free for both TCP and UDP on loopback (the KDC listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port for the KDC")


@pytest.fixture(scope="session")
def kdc():
    missing = missing_kerberos_requirements()
    if missing:
        pytest.fail("Kerberos tests need a local MIT KDC and the Kerberos client libraries; missing: "
                    + ", ".join(missing) + ". " + INSTALL_HINT, pytrace=False)
    from k5test import K5Realm

    realm = K5Realm(realm=REALM, portbase=_free_port(), create_user=False, create_host=False, get_creds=False)
    saved = {name: os.environ.get(name) for name in ("KRB5_CONFIG", "KRB5CCNAME", "KRB5_KTNAME", "KRB5RCACHEDIR")}
    try:
        hostname = realm.hostname
        service = f"HTTP/{hostname}@{REALM}"
        user = f"{KDC_USER}@{REALM}"
        keytab = os.path.join(realm.tmpdir, "winrm-http.keytab")
        realm.addprinc(user, KDC_PASSWORD)
        realm.addprinc(service)
        realm.extract_keytab(service, keytab)
        realm.kinit(user, KDC_PASSWORD)
        os.environ["KRB5_CONFIG"] = realm.env["KRB5_CONFIG"]
        os.environ["KRB5CCNAME"] = "FILE:" + realm.ccache
        os.environ["KRB5RCACHEDIR"] = realm.tmpdir
        yield KDC(realm=realm, hostname=hostname, service_principal=service, user_principal=user, keytab=keytab,
                  ccache=realm.ccache, env=dict(realm.env, KRB5_KTNAME=keytab))
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        realm.stop()  # terminates the krb5kdc it started (by its Popen handle) and removes the temp dir
