"""WinRM bad input: an unknown transport, and a host that answers HTTP but is not WinRM."""

from __future__ import annotations

import http.server
import threading

import pytest

from remote_support.connections.base import ConnectOptions
from remote_support.connections.winrm import WinRMConnection
from remote_support.errors import ConnectError, UsageError
from remote_support.inventory import Host


def test_unknown_transport_lists_the_valid_ones():
    host = Host("w", {"connection": "winrm", "address": "127.0.0.1", "winrm_transport": "digest",
                      "user": "u", "password": "p"})
    with pytest.raises(UsageError, match="winrm_transport 'digest' is not supported: use one of"):
        WinRMConnection(host, ConnectOptions()).open()


class _Web(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        body = b"<html><body>It works!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def test_a_web_server_that_is_not_winrm_is_named_as_such():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Web)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host = Host("w", {"connection": "winrm", "address": "127.0.0.1", "winrm_port": server.server_address[1],
                          "user": "u", "password": "p"})
        with pytest.raises(ConnectError) as caught:
            WinRMConnection(host, ConnectOptions(connect_timeout=5)).open()
        assert "WinRM" in str(caught.value) and "Traceback" not in str(caught.value)
    finally:
        server.shutdown()
        server.server_close()
