"""``run TASK --server URL``: a run through the team's server (`remote-support serve`), so its levels,
approvals and audit trail apply; the token comes from $REMOTE_SUPPORT_TOKEN (`users token NAME`)."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

import click

from ..errors import LoginError, PermissionRefused, RemoteSupportError, UsageError

TOKEN_ENV = "REMOTE_SUPPORT_TOKEN"


def _call(server: str, method: str, path: str, token: str, body: dict | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.rstrip("/") + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error", exc.reason)
        except ValueError:
            message = exc.reason
        error = {401: LoginError, 403: PermissionRefused}.get(exc.code, UsageError if exc.code < 500
                                                              else RemoteSupportError)
        raise error(f"server {server}: {message}") from None
    except urllib.error.URLError as exc:
        raise UsageError(f"server {server} cannot be reached: {exc.reason}: is `remote-support serve` running "
                         "there?") from None


def run_on_server(server: str, *, task: str, pattern: str, params: dict[str, Any], check: bool,
                  ticket: str | None, as_json: bool) -> None:
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise UsageError(f"--server needs an API token in ${TOKEN_ENV} (remote-support users token NAME, "
                         "on the server's journal)")
    started = _call(server, "POST", "/api/runs", token, {"task": task, "pattern": pattern, "params": params,
                                                         "check": check, "ticket": ticket})
    run_id = started["id"]
    click.echo(f"run {run_id} started on {server} ({len(started['hosts'])} host(s)); "
               f"{server.rstrip('/')}/runs/{run_id}", err=True)
    while True:
        record = _call(server, "GET", f"/api/runs/{run_id}", token)
        if record["status"] != "running":
            break
        time.sleep(1)
    if as_json:
        click.echo(json.dumps(record, indent=2))
    else:
        for host in record["hosts"]:
            click.echo(f"{host['host']:<24} {host['status']:<12} {host.get('reason') or ''}")
        summary = ", ".join(f"{n} {s}" for s, n in record["summary"].items() if n)
        click.echo(f"run {run_id}: {record['status']} ({summary})", err=True)
    sys.exit(record["exit_code"] or 0)
