"""``get_url``: the host downloads a file over HTTP(S) or FTP, verified by its checksum, as Ansible's
``get_url`` module -- except that the checksum is required: a help desk never installs a file it
cannot verify.

1. One probe reads the destination (kind, checksum, mode, owner, group). When its checksum already is
   the wanted one, nothing is downloaded: ok (or only the attributes are set).
2. Otherwise, unless in check mode, the host downloads with curl (else wget, else python3) into a private
   temporary file beside the destination, checks the checksum, sets mode/owner/group, and ``mv``\\ s it
   over the destination: a wrong or partial download never replaces anything.

The destination is reached and written as every file-writing kind writes (steps/files.py: ``walk_script``
and ``fill_script``): a symbolic link at or above it that another user could have planted is refused, never
followed, and the download lands in a file created exclusively and written through its descriptor.

Proxies come from the host, as Ansible's would: the login user's environment (``http_proxy``,
``https_proxy``, ``no_proxy``...), else /etc/environment. They are handed to the download on stdin, so
``become`` (sudo resets the environment) keeps them and a proxy password never shows in a process list.

```yaml
- get_url:
    url: https://downloads.example.com/agent-2.4.1.deb
    dest: /var/tmp/agent.deb
    checksum: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    mode: "0644"
```
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind, as_bool
from .files import REFUSED_RC, attributes_script, fill_script, parse_mode, refusal, walk_script, write_failure
from .probing import SBIN_PATH, last_line, pairs, root_hint

#: where proxies are looked up when the login environment has none (set-proxy writes it)
ENVIRONMENT_FILE = "/etc/environment"
ALGORITHMS = {"sha256": 64, "sha512": 128, "sha1": 40, "md5": 32}
_PROXY_VARS = ("http_proxy", "https_proxy", "ftp_proxy", "all_proxy", "no_proxy")
_URL = re.compile(r"^(https?|ftp)://[^\s/@]+(/\S*)?$")
# below the exit codes of files.fill_script / walk_script (90 and above)
_CHECKSUM_FAILED, _DOWNLOAD_FAILED, _NO_TOOL = 83, 82, 81


def parse_checksum(value: Any, where: str) -> tuple[str, str]:
    text = str(value or "").strip()
    algorithm, _, digest = text.partition(":")
    algorithm = algorithm.lower()
    if algorithm not in ALGORITHMS or not re.fullmatch(f"[0-9a-fA-F]{{{ALGORITHMS[algorithm]}}}", digest):
        raise TaskError(f"{where}: get_url checksum {text[:80]!r} is not ALGORITHM:HEX such as sha256:<64 hex "
                        f"digits> (algorithms: {', '.join(ALGORITHMS)})")
    return algorithm, digest.lower()


class GetUrl(StepKind):
    name = "get_url"
    description = "The host downloads a file, verified by its checksum, atomically into place."
    args = {
        "url": Arg("str", required=True, help="http://, https:// or ftp:// (no credentials in it)"),
        "dest": Arg("str", required=True, help="the file to write (a directory: the URL's file name in it)"),
        "checksum": Arg("str", required=True, help="sha256:HEX (or sha512, sha1, md5): the file must match"),
        "mode": Arg("any", help='permissions as an octal string, e.g. "0644"'),
        "owner": Arg("str"), "group": Arg("str"),
        "timeout": Arg("int", default=30, help="seconds the download may take"),
        "validate_certs": Arg("bool", default=True, help="false: do not check the server's TLS certificate"),
        "use_proxy": Arg("bool", default=True, help="false: ignore the host's proxy settings"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        _check(args, where)
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        try:
            _check(args, ctx.where)
            algorithm, digest = parse_checksum(args["checksum"], ctx.where)
            mode = parse_mode(args.get("mode"), ctx.where, self.name)
        except TaskError as exc:
            return Outcome(failed=True, msg=str(exc))
        url, dest = str(args["url"]), str(args["dest"])
        tool = f"{algorithm}sum"
        fields = _probe(ctx, dest, tool)
        if fields.get("state") == "dir":  # a directory: the URL's file name in it, as Ansible's
            name = url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
            fields = _probe(ctx, fields["path"].rstrip("/") + "/" + name, tool)
        path = fields.get("path", dest)
        data = {"url": url, "dest": path, "checksum": f"{algorithm}:{digest}"}
        if fields.get("error"):
            return Outcome(failed=True, msg=f"cannot inspect {dest}: {fields['error']}{root_hint(ctx)}", data=data)
        if fields["state"] == "nodir":
            return Outcome(failed=True, msg=f"cannot download to {path}: its directory does not exist", data=data)
        refused = refusal(fields, path)
        if fields["state"] == "link":
            refused = (f"refusing {path}: it is a symbolic link to {fields.get('target')!r} (owner "
                       f"{fields.get('owner')}); get_url never downloads through a link: give the real path, "
                       "or remove the link")
        if refused:
            return Outcome(failed=True, msg=refused, data=data)
        if fields["state"] in ("other", "dir"):
            return Outcome(failed=True, msg=f"cannot download to {path}: it is not a regular file", data=data)
        have = fields.get("stat", "").split()
        owner, group = args.get("owner"), args.get("group")
        attributes = []
        if have:
            if mode is not None and int(have[0], 8) != mode:
                attributes.append(f"mode {int(have[0], 8):04o} -> {mode:04o}")
            if owner and owner not in have[1:4:2]:
                attributes.append(f"owner {have[1]} -> {owner}")
            if group and group not in have[2:5:2]:
                attributes.append(f"group {have[2]} -> {group}")
        fresh = fields.get("sum") != digest
        if not fresh and not attributes:
            return Outcome(msg=f"{path} is there with the {algorithm} checksum: nothing downloaded", data=data)
        changes = ([f"download {url}"] if fresh else []) + attributes
        diff = f"{path}: {'; '.join(changes)}\n" if (ctx.diff or ctx.check) else ""
        if ctx.check:
            return Outcome(changed=True, msg=f"check mode: would {'; '.join(changes)} to {path}", diff=diff, data=data)
        if not fresh:
            result = ctx.run(walk_script(path, refuse_rc=REFUSED_RC) + attributes_script(mode, owner, group))
            if result.rc >= 90:
                failed = write_failure(result, path)
                failed.data.update(data)
                return failed
            if result.rc != 0:
                return Outcome(failed=True, rc=result.rc, stderr=result.stderr, data=data,
                               msg=f"cannot set {', '.join(attributes)} on {path}: {last_line(result)}{root_hint(ctx)}")
            return Outcome(changed=True, command=f"set {', '.join(attributes)} on {path}", rc=0,
                           msg=f"set {', '.join(attributes)} on {path}", diff=diff if ctx.diff else "", data=data)
        proxies = _host_proxies(ctx) if as_bool(args.get("use_proxy")) else {}
        script = _download_script(url, path, tool, digest, int(args["timeout"]), as_bool(args.get("validate_certs")),
                                  as_bool(args.get("use_proxy")), mode, owner, group)
        stdin = "".join(f"{k}={v}\n" for k, v in proxies.items())
        result = ctx.run(SBIN_PATH + script, stdin=stdin, timeout=float(args["timeout"]) + 30)
        data["proxy"] = sorted(proxies)
        if result.rc >= 90:
            failed = write_failure(result, path)
            failed.data.update(data)
            return failed
        if result.rc != 0:
            reason = last_line(result)
            msg = {_CHECKSUM_FAILED: f"the download of {url} does not match {algorithm}:{digest[:12]}...: {reason}; "
                                     f"{path} left as it was",
                   _DOWNLOAD_FAILED: f"cannot download {url}: {reason}",
                   _NO_TOOL: "the host has neither curl, wget nor python3 to download with",
                   }.get(result.rc, f"cannot download {url} to {path}: {reason}{root_hint(ctx)}")
            return Outcome(failed=True, rc=result.rc, stdout=result.stdout, stderr=result.stderr, data=data, msg=msg)
        return Outcome(changed=True, command=f"download {url} to {path}", rc=0, stdout=result.stdout,
                       msg=f"downloaded {url} to {path}" + (f"; {', '.join(attributes)}" if attributes else ""),
                       diff=diff if ctx.diff else "", data=data)


def _host_proxies(ctx: StepContext) -> dict[str, str]:
    """Proxy variables of the login user's environment, else of /etc/environment (never with become:
    sudo would have reset them)."""
    names = "|".join(_PROXY_VARS)
    probe = ctx.run(f"env | grep -iE '^({names})=' ; echo --rs-env-file--; "
                    f"grep -iE '^[[:space:]]*(export[[:space:]]+)?({names})=' {shlex.quote(ENVIRONMENT_FILE)} "
                    "2>/dev/null; true", become=False)
    login, _, system = probe.stdout.partition("--rs-env-file--")
    found: dict[str, str] = {}
    for text in (system, login):  # the login environment wins
        for line in text.splitlines():
            line = re.sub(r"^\s*export\s+", "", line.strip())
            name, sep, value = line.partition("=")
            if sep and name.lower() in _PROXY_VARS and "\n" not in value:
                found[name] = value.strip().strip("'\"")
    return found


def _probe(ctx: StepContext, path: str, tool: str) -> dict[str, str]:
    """What is at ``path``, reached safely (files.walk_script): ``state`` (file, absent, dir, other, or a
    refusal of the walk), ``path`` (physical), ``sum`` and ``stat`` of a file; ``error`` when it failed."""
    script = SBIN_PATH + walk_script(path, refuse_rc=REFUSED_RC) + f"""printf 'rs-path=%s\\n' "$rs_path"
if [ -d "$rs_name" ]; then echo rs-state=dir
elif [ -f "$rs_name" ]; then echo rs-state=file; echo "rs-sum=$({tool} < "./$rs_name" | cut -d' ' -f1)"
  stat -c 'rs-stat=%a %U %G %u %g' -- "$rs_name"
elif [ -e "$rs_name" ]; then echo rs-state=other; else echo rs-state=absent; fi"""
    result = ctx.run(script)
    fields = {k[3:]: v for k, v in pairs(result.stdout).items() if k.startswith("rs-")}
    if result.rc not in (0, REFUSED_RC) or "state" not in fields:
        fields["error"] = last_line(result) or f"exit code {result.rc}"
    return fields


def _download_script(url: str, path: str, tool: str, digest: str, timeout: int, verify: bool, proxy: bool,
                     mode: int | None, owner: str | None, group: str | None) -> str:
    """Proxies from stdin, the safe walk to ``path``, then the download written through descriptor 3."""
    q = shlex.quote
    curl = ["curl", "-fsSL", "--max-time", str(timeout)]
    wget = ["wget", "-q", "-T", str(timeout), "-O", "-"]
    if not verify:
        curl.insert(1, "-k")
        wget.insert(1, "--no-check-certificate")
    if not proxy:
        curl[1:1] = ["--noproxy", "'*'"]
        wget.insert(1, "--no-proxy")
    python = ("python3 -c 'import sys, urllib.request, shutil; r = urllib.request.urlopen(sys.argv[1], "
              f"timeout={timeout}); shutil.copyfileobj(r, sys.stdout.buffer)' {q(url)}")
    # the downloader writes to the descriptor of the file fill_script created, never to a name
    fill = "\n".join([
        f"if command -v curl >/dev/null 2>&1; then {' '.join(curl)} {q(url)} >&3 || exit {_DOWNLOAD_FAILED}",
        f"elif command -v wget >/dev/null 2>&1; then {' '.join(wget)} {q(url)} >&3 || exit {_DOWNLOAD_FAILED}",
        f"elif command -v python3 >/dev/null 2>&1; then {python} >&3 || exit {_DOWNLOAD_FAILED}",
        f"else exit {_NO_TOOL}; fi",
        f'h=$({tool} < /proc/self/fd/3 | cut -d" " -f1)',
        f'[ "$h" = {digest} ] || {{ echo "got {tool.replace("sum", "")}:$h" >&2; exit {_CHECKSUM_FAILED}; }}',
    ])
    proxies = 'while IFS= read -r line; do case "$line" in *=*) export "$line" ;; esac; done\n'
    return proxies + walk_script(path, refuse_rc=REFUSED_RC) + fill_script(
        fill, mode=mode, owner=owner or None, group=group or None)


def _check(args: dict[str, Any], where: str) -> None:
    def literal(key: str) -> bool:
        value = args.get(key)
        return isinstance(value, str) and "{" not in value

    if literal("url") and not _URL.match(args["url"]):
        raise TaskError(f"{where}: get_url url {args['url']!r} is not an http://, https:// or ftp:// URL without "
                        "credentials or blanks")
    if literal("checksum"):
        parse_checksum(args["checksum"], where)
    if literal("dest") and not args["dest"].startswith("/"):
        raise TaskError(f"{where}: get_url dest must be an absolute path, not {args['dest']!r}")
    if literal("mode"):
        parse_mode(args["mode"], where, "get_url")
