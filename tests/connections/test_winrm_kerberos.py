"""WinRM over Kerberos with message encryption: real pywinrm (pykerberos) against the lab server, which accepts
with pyspnego/gssapi and the HTTP/<hostname> key of a throwaway MIT realm (tests/kdc_support.py).

These tests FAIL, not skip, when the KDC or the Kerberos libraries are missing: `make test` installs them.
"""

from __future__ import annotations

import pytest

from remote_support.errors import AuthError, UsageError
from remote_support.lab.winrm_server import WinRMLabServer
from kdc_support import KDC_USER, REALM, kdc  # noqa: F401 - fixture (conftest.py is shared)
from winrm_support import _check_and_stop, connected, opened, win_host


@pytest.fixture
def krb_server(kdc):
    """The lab endpoint over HTTP accepting Kerberos with the realm's HTTP/<hostname> keytab (and NTLM)."""
    # Kerberos needs no password here; the NTLM user file is process-wide, so no second password for rsadmin
    server = WinRMLabServer({"ntlm-only": "Ntlm-0nly-Passw0rd"}, kerberos_keytab=kdc.keytab).start()
    yield server
    _check_and_stop(server)


def krb_host(server, kdc, **overrides):
    variables = {"winrm_transport": "kerberos", "winrm_kerberos_hostname": kdc.hostname, "user": None,
                 "password": None}
    variables.update(overrides)
    return win_host(server, **variables)


def test_commands_and_powershell_over_kerberos_with_encryption(krb_server, kdc):
    with connected(krb_host(krb_server, kdc, winrm_message_encryption="always")) as c:
        assert c.settings.transport == "kerberos" and c.settings.encrypted
        assert c.run("hostname").stdout == "WIN-LAB01\r\n"
        assert c.run("whoami").stdout.strip() == f"win-lab01\\{KDC_USER}"  # the ticket's principal
        ps = c.run_ps("$PSVersionTable.PSVersion.Major")
        assert (ps.rc, ps.stdout.strip()) == (0, "5")
        big = c.run(r"type C:\lab\big.log", timeout=20)  # many sealed Receive replies
        assert big.ok and len(big.stdout) > 1_000_000
    assert krb_server.counters.get("logins", 0) >= 1
    assert "bad_encryption" not in krb_server.counters and "unencrypted_refused" not in krb_server.counters
    assert krb_server.counters["shells_created"] == krb_server.counters["shells_deleted"] == 4  # one per command


def test_user_with_realm_selects_the_principal(krb_server, kdc):
    with connected(krb_host(krb_server, kdc, user=f"{KDC_USER}@{REALM}")) as c:
        assert c.run("hostname").ok


def test_without_a_ticket_the_error_says_kinit(krb_server, kdc, tmp_path, monkeypatch):
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'empty-ccache'}")
    with pytest.raises(AuthError) as caught:
        opened(krb_host(krb_server, kdc))
    assert "no valid ticket" in caught.value.reason
    assert "kinit" in caught.value.hint
    assert krb_server.counters.get("shells_created", 0) == 0


def test_wrong_spn_names_the_spn(krb_server, kdc):
    with pytest.raises(AuthError) as caught:
        opened(krb_host(krb_server, kdc, winrm_kerberos_hostname="win-typo01"))
    assert "HTTP/win-typo01" in caught.value.reason and "unknown to the KDC" in caught.value.reason
    assert "winrm_kerberos_hostname" in caught.value.hint


def test_ip_address_without_kerberos_hostname_is_refused_up_front(krb_server, kdc):
    with pytest.raises(UsageError, match="winrm_kerberos_hostname"):
        opened(krb_host(krb_server, kdc, winrm_kerberos_hostname=None))


def test_ntlm_still_works_on_a_kerberos_server(kdc):
    from winrm_support import WIN_PASSWORD, WIN_USER

    server = WinRMLabServer({WIN_USER: WIN_PASSWORD}, kerberos_keytab=kdc.keytab).start()
    try:
        with connected(win_host(server)) as c:
            assert c.run("hostname").stdout == "WIN-LAB01\r\n"
    finally:
        _check_and_stop(server)
