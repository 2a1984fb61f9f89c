"""``~/.ssh/config`` read as OpenSSH 9.2's ``ssh`` reads it, so ``ssh -G`` is the oracle.

paramiko's ``SSHConfig`` differs from OpenSSH in ways that connect to the wrong host (trailing comments
kept in values, ``Include`` ignored, ``Match`` re-run at the end), so this is a port of the parts of
OpenSSH's ``readconf.c``, ``misc.c`` and ``ssh.c`` that decide where and how to connect:

- a line is a keyword and arguments split as ``strdelim``/``argv_split`` split them: ``=`` or blanks
  after the keyword, double or single quotes, ``\\`` escapes, ``#`` starting a word ends the line;
- the first value obtained for an option wins (the command line -- for us the inventory -- first);
- ``Host`` patterns with ``!`` negation, compared case-sensitively with the name given, as OpenSSH does;
- ``Match`` (``all``, ``canonical``, ``final``, ``exec``, ``host``, ``originalhost``, ``user``,
  ``localuser``) evaluated in place, in file order; ``Match final`` (or hostname canonicalisation) makes
  a second pass, as ``ssh`` does; ``Match exec`` runs the command with ``$SHELL -c`` as ``ssh`` does;
- ``Include`` with globs, relative paths under ``~/.ssh/`` (``/etc/ssh/`` for the system file), nested
  up to 16 deep, inside ``Host``/``Match`` blocks (the included file only applies where the block does);
- ``%`` tokens in ``HostName`` (``%h``), ``IdentityFile`` and ``UserKnownHostsFile`` (``%C %d %h %i
  %k %L %l %n %p %r %u``, and ``${ENV}``), ``ProxyCommand`` (``%h %k %n %p %r``, at connect time).

A line OpenSSH rejects (unknown keyword, bad port, bad value, unbalanced quotes) raises
:class:`SSHConfigError` naming file and line.
"""

from __future__ import annotations

import functools
import glob as globmod
import hashlib
import ipaddress
import os
import pwd
import socket
import stat
import subprocess
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from ..errors import SSHConfigError

SYSTEM_CONFIG = "/etc/ssh/ssh_config"
SYSTEM_DIR = "/etc/ssh"
MAX_INCLUDE_DEPTH = 16
DEFAULT_IDENTITY_FILES = ("~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk", "~/.ssh/id_ed25519",
                          "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss", "~/.ssh/id_dsa")
DEFAULT_USER_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
DEFAULT_GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
WHITESPACE = " \t\r\n"

# ------------------------------------------------------------------ the keywords of OpenSSH 9.2 (readconf.c)

_FLAG = {"true": "yes", "false": "no", "yes": "yes", "no": "no"}
_YESNOASK = {**_FLAG, "ask": "ask"}
_STRICT = {**_FLAG, "ask": "ask", "off": "no", "accept-new": "accept-new"}
_MULTI: dict[str, dict[str, str]] = {
    "verifyhostkeydns": _YESNOASK,
    "stricthostkeychecking": _STRICT,
    "compression": {"yes": "yes", "no": "no"},
    "addressfamily": {"inet": "inet", "inet6": "inet6", "any": "any"},
    "controlmaster": {"true": "yes", "yes": "yes", "false": "no", "no": "no", "auto": "auto", "ask": "ask",
                      "autoask": "autoask"},
    "tunnel": {"ethernet": "ethernet", "point-to-point": "point-to-point", "true": "yes", "yes": "yes",
               "false": "no", "no": "no"},
    "requesttty": {"true": "yes", "yes": "yes", "false": "no", "no": "no", "force": "force", "auto": "auto"},
    "sessiontype": {"none": "none", "subsystem": "subsystem", "default": "default"},
    "canonicalizehostname": {**_FLAG, "always": "always"},
    "pubkeyauthentication": {**_FLAG, "unbound": "unbound", "host-bound": "host-bound"},
    "updatehostkeys": _YESNOASK,
    "fingerprinthash": {"md5": "md5", "sha256": "sha256"},
}
_FLAGS = {
    "forwardx11", "forwardx11trusted", "gatewayports", "exitonforwardfailure", "passwordauthentication",
    "kbdinteractiveauthentication", "hostbasedauthentication", "gssapiauthentication",
    "gssapidelegatecredentials", "batchmode", "checkhostip", "tcpkeepalive", "nohostauthenticationforlocalhost",
    "clearallforwardings", "enablesshkeysign", "identitiesonly", "hashknownhosts", "permitlocalcommand",
    "visualhostkey", "stdinnull", "forkafterauthentication", "proxyusefdpass", "canonicalizefallbacklocal",
    "streamlocalbindunlink", "enableescapecommandline",
}
_INTS = {"numberofpasswordprompts", "connectionattempts", "serveralivecountmax", "canonicalizemaxdots",
         "requiredrsasize"}
_TIMES = {"connecttimeout", "serveraliveinterval", "forwardx11timeout"}
_STRINGS = {"user", "hostname", "hostkeyalias", "preferredauthentications", "bindaddress", "bindinterface",
            "pkcs11provider", "securitykeyprovider", "xauthlocation", "kbdinteractivedevices", "controlpath",
            "identityagent", "revokedhostkeys", "ignoreunknown", "ciphers", "macs", "kexalgorithms",
            "hostkeyalgorithms", "casignaturealgorithms", "hostbasedacceptedalgorithms",
            "pubkeyacceptedalgorithms", "loglevel", "syslogfacility", "escapechar", "streamlocalbindmask",
            "controlpersist", "tunneldevice", "forwardagent"}
_LISTS = {"userknownhostsfile", "globalknownhostsfile"}
_COMMANDS = {"proxycommand", "knownhostscommand", "localcommand", "remotecommand"}
# options whose arguments this tool does not use: OpenSSH's syntax is not re-checked, all arguments taken
_OTHER = {"localforward", "remoteforward", "dynamicforward", "permitremoteopen", "sendenv", "setenv",
          "ipqos", "rekeylimit", "logverbose", "canonicaldomains", "canonicalizepermittedcnames",
          "addkeystoagent", "certificatefile"}
_ALIASES = {"challengeresponseauthentication": "kbdinteractiveauthentication",
            "skeyauthentication": "kbdinteractiveauthentication", "tisauthentication": "kbdinteractiveauthentication",
            "dsaauthentication": "pubkeyauthentication", "identityfile2": "identityfile",
            "keepalive": "tcpkeepalive", "smartcarddevice": "pkcs11provider",
            "hostbasedkeytypes": "hostbasedacceptedalgorithms", "pubkeyacceptedkeytypes": "pubkeyacceptedalgorithms"}
_DEPRECATED = {"cipher", "fallbacktorsh", "globalknownhostsfile2", "rhostsauthentication", "userknownhostsfile2",
               "useroaming", "usersh", "useprivilegedport", "protocol"}
_UNSUPPORTED = {"afstokenpassing", "kerberosauthentication", "kerberostgtpassing", "rsaauthentication",
                "rhostsrsaauthentication", "compressionlevel"}
_SPECIAL = {"host", "match", "include", "identityfile", "port", "proxyjump"}
KEYWORDS = (_FLAGS | _INTS | _TIMES | _STRINGS | _LISTS | _COMMANDS | _OTHER | _SPECIAL | set(_MULTI)
            | set(_ALIASES) | _DEPRECATED | _UNSUPPORTED)


# ------------------------------------------------------------------ line splitting (misc.c)


def strdelim(s: str | None, split_equals: bool = True) -> tuple[str | None, str | None]:
    """OpenSSH's strdelim(): the next word and the rest (None where C has NULL)."""
    if s is None:
        return None, None
    delims = WHITESPACE + '"' + ("=" if split_equals else "")
    i = next((k for k, c in enumerate(s) if c in delims), None)
    if i is None:
        return s, None
    if s[i] == '"':
        s = s[:i] + s[i + 1:]
        j = s.find('"', i)
        if j < 0:
            return None, None  # no matching quote
        return s[:j], _skip_ws(s[j + 1:])
    equals = split_equals and s[i] == "="
    token, rest = s[:i], _skip_ws(s[i + 1:])
    if split_equals and rest.startswith("=") and not equals:
        rest = _skip_ws(rest[1:])
    return token, rest


@functools.lru_cache(maxsize=4096)
def _split_line(text: str) -> tuple[str, str, tuple[str, ...] | None] | None:
    """(lowercase keyword, rest, arguments) of one line, None for a blank or comment line.

    The same for every host, so done once per distinct line (every host of a run reads the same files).
    """
    text = text.rstrip(WHITESPACE + "\f")
    if not text:
        return None
    keyword, rest = strdelim(text)
    if keyword is None:
        return None
    if keyword == "":
        keyword, rest = strdelim(rest)
    if not keyword or keyword.startswith("#"):
        return None
    rest = _skip_ws(rest) if rest is not None else ""
    parsed = argv_split(rest) if rest else []
    return keyword.lower(), rest, tuple(parsed) if parsed is not None else None


def _skip_ws(s: str) -> str:
    return s.lstrip(WHITESPACE)


def argv_split(s: str, terminate_on_comment: bool = True) -> list[str] | None:
    """OpenSSH's argv_split(): words with quotes and \\ escapes; None for an unbalanced quote."""
    args: list[str] = []
    i, n = 0, len(s)
    while i < n:
        if s[i] in " \t":
            i += 1
            continue
        if terminate_on_comment and s[i] == "#":
            break
        quote = ""
        arg: list[str] = []
        while i < n:
            c = s[i]
            if c == "\\":
                nxt = s[i + 1] if i + 1 < n else ""
                if nxt in ("'", '"', "\\") and nxt or (not quote and nxt == " "):
                    i += 1
                    arg.append(s[i])
                else:
                    arg.append(c)
            elif not quote and c in " \t":
                break
            elif not quote and c in "\"'":
                quote = c
            elif quote and c == quote:
                quote = ""
            else:
                arg.append(c)
            i += 1
        if i >= n and quote:
            return None
        args.append("".join(arg))
        i += 1
    return args


def match_pattern(s: str, pattern: str) -> bool:
    """OpenSSH's match_pattern(): ``*`` and ``?``, case-sensitive."""
    import fnmatch

    if "*" not in pattern and "?" not in pattern:
        return s == pattern
    # fnmatch also knows [...]; OpenSSH does not, so escape brackets
    escaped = pattern.replace("[", "[[]")
    return fnmatch.fnmatchcase(s, escaped)


def match_pattern_list(string: str, patterns: str, dolower: bool) -> int:
    """1 a positive match, -1 a negated match, 0 none (match.c)."""
    positive = 0
    for sub in patterns.split(","):
        negated = sub.startswith("!")
        if negated:
            sub = sub[1:]
        if dolower:
            sub = sub.lower()
        if match_pattern(string, sub):
            if negated:
                return -1
            positive = 1
    return positive


def match_hostname(host: str, patterns: str) -> int:
    return match_pattern_list(host.lower(), patterns, True)


def a2port(text: str) -> int:
    if text.isdigit() and len(text) < 7:
        value = int(text)
        return value if value <= 65535 else -1
    try:
        return socket.getservbyname(text, "tcp")
    except OSError:
        return -1


def convtime(text: str) -> int:
    """OpenSSH's convtime(): 90, 90s, 1h30m, 2d, 1w; -1 when invalid."""
    import re

    if not text or not re.fullmatch(r"(\d+[sSmMhHdDwW]?)+", text):
        return -1
    total = 0
    for number, unit in re.findall(r"(\d+)([sSmMhHdDwW]?)", text):
        total += int(number) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit.lower()]
    return total if total <= 2**31 - 1 else -1


def percent_expand(text: str, tokens: dict[str, str], *, dollar: bool = False, what: str = "") -> str:
    """OpenSSH's percent_expand() (and ${ENV} with ``dollar``); an unknown %x is an error."""
    if "%" not in text and not (dollar and "${" in text):
        return text  # the usual case (default identity files): nothing to expand, on every host's path
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if dollar and text.startswith("${", i):
            end = text.find("}", i + 2)
            if end < 0:
                raise SSHConfigError(f"{what}: environment variable in {text!r} is missing its closing '}}'")
            name = text[i + 2:end]
            if not name or name not in os.environ:
                raise SSHConfigError(f"{what}: environment variable ${{{name}}} in {text!r} has no value")
            out.append(os.environ[name])
            i = end + 1
            continue
        if c != "%":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            raise SSHConfigError(f"{what}: {text!r} ends with a lone %: write %% for a percent sign")
        key = text[i + 1]
        if key == "%":
            out.append("%")
        elif key in tokens:
            out.append(tokens[key])
        else:
            raise SSHConfigError(f"{what}: unknown token %{key} in {text!r} (valid here: "
                                 f"{' '.join('%' + k for k in sorted(tokens))} %%)")
        i += 2
    return "".join(out)


def _user_home() -> tuple[str, str, int]:
    """(login name, home directory, uid) from the password database, as ssh uses (not $HOME)."""
    return _passwd_entry(os.getuid())


@functools.lru_cache(maxsize=8)
def _passwd_entry(uid: int) -> tuple[str, str, int]:
    try:
        entry = pwd.getpwuid(uid)
        return entry.pw_name, entry.pw_dir, uid
    except KeyError:
        return os.environ.get("USER", str(uid)), os.path.expanduser("~"), uid


def tilde_expand(path: str) -> str:
    """OpenSSH's tilde_expand_filename(): ``~`` and ``~user`` from the password database."""
    if not path.startswith("~"):
        return path
    rest = path[1:]
    if rest == "" or rest.startswith("/"):
        home = _user_home()[1]
        tail = rest.lstrip("/")
    else:
        user, _, tail = rest.partition("/")
        try:
            home = pwd.getpwnam(user).pw_dir
        except KeyError:
            raise SSHConfigError(f"{path}: no such user {user}") from None
        tail = tail.lstrip("/")
    return home + ("" if home.endswith("/") else "/") + tail


def valid_hostname(name: str) -> bool:
    """OpenSSH 9.6+'s ssh_valid_hostname(): no shell metacharacters in a name that %h/%n may expand."""
    return not name.startswith("-") and not any(c in "'`\"$\\;&<>|(){}," or c.isspace() or ord(c) < 32
                                                 or ord(c) == 127 for c in name)


def valid_user(user: str) -> bool:
    """OpenSSH 9.6+'s ssh_valid_ruser()."""
    if user.startswith("-") or user.endswith("\\"):
        return False
    for i, c in enumerate(user):
        if ord(c) < 32 or ord(c) == 127 or c in "'`\";&<>|(){}":
            return False
        if c.isspace() and user[i + 1:i + 2] == "-":
            return False
    return True


def _is_addr(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


# ------------------------------------------------------------------ ProxyJump (readconf.c parse_jump, misc.c)


@dataclass(frozen=True)
class JumpHost:
    """The hop nearest the target in a ProxyJump list; ``extra`` holds the hops before it, comma-separated."""

    host: str
    user: str | None = None
    port: int | None = None
    extra: str | None = None

    def __str__(self) -> str:
        numeric = ":" in self.host or all(c in "1234567890." for c in self.host)
        host = f"[{self.host}]" if numeric else self.host
        return (f"{self.extra + ',' if self.extra else ''}{self.user + '@' if self.user else ''}{host}"
                f"{':' + str(self.port) if self.port else ''}")


def parse_user_host_port(text: str) -> tuple[str | None, str, int | None] | None:
    user = None
    if "@" in text:
        user, _, text = text.rpartition("@")
        if not user:
            return None
    hostpart, port = _hpdelim(text)
    if hostpart is None or hostpart == "":
        return None
    value = None
    if port not in (None, ""):
        value = a2port(port)
        if value <= 0:
            return None
    return user, _cleanhostname(hostpart), value


def _hpdelim(text: str, allow_slash: bool = False) -> tuple[str | None, str | None]:
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None, None
        after = text[end + 1:]
        host = text[:end + 1]
        if after == "":
            return host, None
        if after[0] == ":" or (allow_slash and after[0] == "/"):
            return host, after[1:] if after[0] == ":" else None
        return None, None
    for k, c in enumerate(text):
        if c == ":" or (allow_slash and c == "/"):
            return text[:k], text[k + 1:]
        if c == "/" and not allow_slash:
            return None, None
    return text, None


def _cleanhostname(host: str) -> str:
    if host.startswith("[") and host.endswith("]"):
        return host[1:-1]
    return host


def parse_ssh_uri(text: str) -> tuple[str | None, str, int | None] | None | bool:
    """ssh://[user@]host[:port]; False when not a URI, None when a bad one."""
    from urllib.parse import unquote_plus

    if not text.startswith("ssh://"):
        return False
    rest = text[6:]
    user = None
    if "@" in rest:
        info, _, rest = rest.partition("@")
        info = info.split(";", 1)[0]
        if not info:
            return None
        user = unquote_plus(info)
    port = None
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            return None
        host, rest = rest[1:end], rest[end + 1:]
    else:
        cut = min([k for k in (rest.find(":"), rest.find("/")) if k >= 0], default=len(rest))
        host, rest = rest[:cut], rest[cut:]
    if not host:
        return None
    if rest.startswith(":"):
        portpart, _, path = rest[1:].partition("/")
        port = a2port(portpart)
        if port <= 0:
            return None
        if path:
            return None
    elif rest.startswith("/") and rest[1:]:
        return None  # a path is not allowed
    return user, host, port


def parse_jump(text: str) -> JumpHost | str | None:
    """A ProxyJump value: a JumpHost, "none", or None when it does not parse."""
    spec = text.split("#", 1)[0].rstrip()
    if text.lower() == "none":
        return "none"
    hops = spec.split(",")
    for index, hop in enumerate(reversed(hops)):
        uri = parse_ssh_uri(hop)
        parsed = parse_user_host_port(hop) if uri is False else uri
        if parsed is None:
            return None
        if index == 0:
            user, host, port = parsed
    cut = text.rfind(",")
    extra = text[:cut] if cut > 0 else None
    return JumpHost(host=host, user=user, port=port, extra=extra)


# ------------------------------------------------------------------ the files


@dataclass(frozen=True)
class _Line:
    path: str
    number: int
    text: str


_line_cache: dict[str, tuple[tuple[int, float, int], list[_Line]]] = {}


def _read_lines(path: str, check_permissions: bool) -> list[_Line] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    if stat.S_ISDIR(info.st_mode):
        raise SSHConfigError(f"{path} is a directory, not an ssh_config file", source=path)
    if check_permissions and ((info.st_uid != 0 and info.st_uid != os.getuid()) or info.st_mode & 0o022):
        raise SSHConfigError(f"bad owner or permissions on {path}: ssh refuses a config file others can write "
                             f"(chmod go-w {path})", source=path)
    key = (info.st_ino, info.st_mtime, info.st_size)
    cached = _line_cache.get(path)
    if cached and cached[0] == key:
        return cached[1]
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            return None
        raise SSHConfigError(f"cannot read {path}: {exc.strerror}", source=path) from None
    text = data.decode("utf-8", "surrogateescape")
    chunks = text.split("\n")  # getline(): only \n ends a line
    if chunks and chunks[-1] == "":
        chunks.pop()
    lines = [_Line(path, number, line) for number, line in enumerate(chunks, 1)]
    _line_cache[path] = (key, lines)
    return lines


# ------------------------------------------------------------------ the result


@dataclass
class SSHConfig:
    """The settings ``ssh`` would use for one host, as ``ssh -G`` prints them (names lowercase)."""

    host_arg: str  # the name given (ssh's %n)
    hostname: str  # after HostName, %h and lowercasing (ssh's %h)
    user: str
    port: int
    identity_files: list[str]  # as written (ssh -G prints them unexpanded)
    identity_files_expanded: list[str]
    user_known_hosts_files: list[str]  # expanded, as ssh -G prints them
    global_known_hosts_files: list[str]
    proxy_jump: JumpHost | None
    proxy_command: str | None  # unexpanded; "none" read as None
    server_alive_interval: int
    server_alive_count_max: int
    connect_timeout: int | None
    host_key_alias: str | None
    options: dict[str, Any]  # every other option obtained, first value, keyword lowercase
    sources: dict[str, str]  # option -> "file:line" it came from
    identities_explicit: bool = False  # some IdentityFile came from a config or the caller
    proxy_jump_none: bool = False  # "ProxyJump none" obtained first: no jump, and no ProxyCommand either

    @property
    def proxy_jump_text(self) -> str | None:
        return str(self.proxy_jump) if self.proxy_jump else None

    def tokens(self) -> dict[str, str]:
        """ssh.c's DEFAULT_CLIENT_PERCENT_EXPAND_ARGS for this connection."""
        return _client_tokens(self.hostname, self.port, self.user, self.host_arg, self.host_key_alias)

    def expanded_proxy_command(self) -> str | None:
        """The ProxyCommand as ssh runs it (sshconnect.c): ``exec COMMAND`` with %h %k %n %p %r."""
        if not self.proxy_command:
            return None
        tokens = {"h": self.hostname, "k": self.host_key_alias or self.host_arg, "n": self.host_arg,
                  "p": str(self.port), "r": self.user}
        return percent_expand("exec " + self.proxy_command, tokens,
                              what=f"ProxyCommand ({self.sources.get('proxycommand', 'command line')})")


def _client_tokens(host: str, port: int, user: str, host_arg: str, alias: str | None) -> dict[str, str]:
    local_user, home, uid = _user_home()
    thishost = socket.gethostname()
    return {"C": hashlib.sha1(f"{thishost}{host}{port}{user}".encode()).hexdigest(),
            "L": thishost.split(".", 1)[0], "i": str(uid), "k": alias or host_arg, "l": thishost,
            "n": host_arg, "p": str(port), "d": home, "h": host, "r": user, "u": local_user}


# ------------------------------------------------------------------ the reader


class _Options:
    """OpenSSH's Options: unset until the first value obtained."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sources: dict[str, str] = {}
        self.identity_files: list[str] = []
        self.jump: JumpHost | str | None = None
        self.proxy_command: str | None = None

    def set_first(self, name: str, value: Any, where: str) -> None:
        if name not in self.values:
            self.values[name] = value
            self.sources[name] = where


class _Reader:
    def __init__(self, options: _Options, host: str, original_host: str, *, final: bool,
                 run_exec: bool):
        self.o = options
        self.host = host
        self.original_host = original_host
        self.final = final
        self.run_exec = run_exec
        self.want_final = False

    # -- files

    def read_file(self, path: str, *, user_config: bool, check_permissions: bool, active: list[bool],
                  never_match: bool = False, depth: int = 0) -> bool:
        if depth > MAX_INCLUDE_DEPTH:
            raise SSHConfigError(f"too many nested Include (more than {MAX_INCLUDE_DEPTH}) at {path}", source=path)
        lines = _read_lines(path, check_permissions)
        if lines is None:
            return False
        for line in lines:
            self.line(line, active, user_config=user_config, never_match=never_match, depth=depth)
        return True

    # -- one line (readconf.c process_config_line_depth)

    def line(self, line: _Line, active: list[bool], *, user_config: bool = True, never_match: bool = False,
             depth: int = 0, cmdline: bool = False) -> None:
        where = f"{line.path}:{line.number}"

        def bad(message: str) -> SSHConfigError:
            if cmdline:  # an inventory setting given to ssh as -o: name it instead of a file
                return SSHConfigError(f"{line.path}: {message}")
            return SSHConfigError(message, source=line.path, line=line.number)

        split = _split_line(line.text)
        if split is None:
            return
        keyword, rest, parsed = split
        if not rest:
            raise bad(f'no argument after keyword "{keyword}"')
        name = _ALIASES.get(keyword, keyword)
        if name not in KEYWORDS:
            ignored = self.o.values.get("ignoreunknown")
            if ignored is not None and match_pattern_list(keyword, ignored, True) == 1:
                return
            raise bad(f"bad configuration option: {keyword} (ssh rejects it too; fix or remove the line, "
                      "or list it in IgnoreUnknown)")
        if parsed is None:
            raise bad("invalid quotes: a quote is not closed")
        args = list(parsed)
        is_active = active[0] and not never_match if not cmdline else True

        def one() -> str:
            if not args or args[0] == "":
                raise bad(f"{keyword}: missing argument")
            value = args.pop(0)
            return value

        if name in _DEPRECATED or name in _UNSUPPORTED:
            return  # ssh ignores them (with a debug or error message) and goes on
        if name == "host":
            if cmdline:
                raise bad("Host is not supported as a command-line option")
            matched = False
            for arg in args:
                if arg == "":
                    raise bad("Host: empty argument")
                if never_match:
                    break
                negated = arg.startswith("!")
                if match_pattern(self.host, arg[1:] if negated else arg):
                    if negated:
                        matched = False
                        break
                    matched = True
            active[0] = matched
            return
        if name == "match":
            if cmdline:
                raise bad("Match is not supported as a command-line option")
            value = self._match(rest, line, bad)
            active[0] = False if never_match else value
            return
        if name == "include":
            if cmdline:
                raise bad("Include is not supported as a command-line option")
            self._include(args, line, active, user_config, never_match, depth, bad)
            return
        if name in _COMMANDS:
            command = rest.lstrip(WHITESPACE + "=")
            if name == "proxycommand":
                if is_active and self.o.jump is None and self.o.proxy_command is None:
                    self.o.proxy_command = command
                    self.o.sources["proxycommand"] = where
            elif is_active:
                self.o.set_first(name, command, where)
            return
        if name == "proxyjump":
            spec = rest.lstrip(WHITESPACE + "=")
            jump = parse_jump(spec)
            if jump is None:
                raise bad(f'invalid ProxyJump "{spec}": write [user@]host[:port][,...], ssh://[user@]host[:port] '
                          "or none")
            if is_active and self.o.jump is None and self.o.proxy_command is None:
                self.o.jump = jump
                self.o.sources["proxyjump"] = where
                if jump != "none":
                    self.o.proxy_command = "none"
            return
        if name == "identityfile":
            value = one()
            if is_active and value not in self.o.identity_files:
                self.o.identity_files.append(value)
                self.o.sources.setdefault("identityfile", where)
        elif name == "port":
            value = one()
            port = a2port(value)
            if port <= 0:
                raise bad(f"bad port '{value}': a port is a number from 1 to 65535")
            if is_active:
                self.o.set_first("port", port, where)
        elif name in _FLAGS or name in _MULTI:
            choices = _MULTI.get(name, _FLAG)
            value = args.pop(0) if args else ""
            if value.lower() not in choices:
                raise bad(f'{keyword}: unsupported value "{value}" (use {", ".join(sorted(set(choices)))})')
            if is_active:
                self.o.set_first(name, choices[value.lower()], where)
        elif name in _INTS:
            value = args.pop(0) if args else ""
            try:
                number = int(value, 10)
            except ValueError:
                raise bad(f"{keyword}: integer value {value!r} is invalid") from None
            if is_active:
                self.o.set_first(name, number, where)
        elif name in _TIMES:
            value = one()
            seconds = -1 if value == "none" else convtime(value)
            if seconds == -1 and value != "none":
                raise bad(f"{keyword}: invalid time value {value!r} (seconds, or 30s, 5m, 1h)")
            if is_active and value != "none":  # "none" leaves the option unset, as in ssh
                self.o.set_first(name, seconds, where)
        elif name in _STRINGS:
            value = one()
            if is_active:
                self.o.set_first(name, value, where)
        elif name in _LISTS:
            if not args:
                raise bad(f"{keyword}: missing argument")
            if any(a == "" for a in args):
                raise bad(f"{keyword}: empty argument")
            if any(a.lower() == "none" for a in args) and len(args) > 1:
                raise bad(f'{keyword}: "none" must appear alone')
            if is_active:
                self.o.set_first(name, list(args), where)
            args = []
        else:  # _OTHER: accumulate as given
            if is_active:
                self.o.values.setdefault(name, []).append(list(args))
                self.o.sources.setdefault(name, where)
            args = []
        if args:
            raise bad(f"keyword {keyword}: extra arguments at end of line ({' '.join(args)})")

    # -- Match (readconf.c match_cfg_line)

    def _match(self, condition: str, line: _Line, bad: Callable[[str], SSHConfigError]) -> bool:
        o = self.o
        port = o.values.get("port") or 22
        local_user = _user_home()[0]
        ruser = o.values.get("user") or local_user
        if self.final:
            host = o.values.get("hostname", self.host)
        elif "hostname" in o.values:
            host = percent_expand(o.values["hostname"], {"h": self.host}, what=o.sources["hostname"])
        else:
            host = self.host
        result = True
        attributes = 0
        cp: str | None = condition
        while True:
            attrib, cp = strdelim(cp)
            if not attrib:
                break
            if attrib.startswith("#"):
                break
            negate = attrib.startswith("!")
            name = attrib[1:] if negate else attrib
            lname = name.lower()
            if lname == "all":
                arg, cp2 = strdelim(cp)
                if attributes > 1 or (arg and not arg.startswith("#")):
                    raise bad(f"'{attrib}' cannot be combined with other Match attributes")
                return (not negate) if result else False
            attributes += 1
            if lname in ("canonical", "final"):
                if lname == "final":
                    self.want_final = True
                if self.final == negate:
                    result = False
                continue
            arg, cp = strdelim(cp)
            if not arg or arg.startswith("#"):
                raise bad(f"Match {name}: missing criteria")
            if lname == "host":
                matched = match_hostname(host, arg) == 1
            elif lname == "originalhost":
                matched = match_hostname(self.original_host, arg) == 1
            elif lname == "user":
                matched = match_pattern_list(ruser, arg, False) == 1
            elif lname == "localuser":
                matched = match_pattern_list(local_user, arg, False) == 1
            elif lname == "exec":
                alias = o.values.get("hostkeyalias")
                tokens = _client_tokens(host, port, ruser, self.original_host, alias)
                command = percent_expand(arg, tokens, what=f"{line.path}:{line.number}: Match exec")
                if not result:
                    continue  # ssh skips the command once an earlier criterion failed
                matched = self._exec(command, line, bad)
            else:
                raise bad(f"unsupported Match attribute {name} (OpenSSH 9.2 knows all, canonical, final, exec, "
                          "host, originalhost, user, localuser)")
            if matched == negate:
                result = False
        if attributes == 0:
            raise bad("Match needs one or more attributes")
        return result

    def _exec(self, command: str, line: _Line, bad: Callable[[str], SSHConfigError]) -> bool:
        if not self.run_exec:
            return False
        shell = os.environ.get("SHELL") or "/bin/sh"
        if not os.access(shell, os.X_OK):
            raise bad(f"Match exec: shell {shell} is not executable")
        try:
            # as ssh: stdin and stdout on /dev/null, stderr left to the user
            done = subprocess.run([shell, "-c", command], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  close_fds=True)
        except OSError as exc:
            raise bad(f"Match exec {command!r} could not run: {exc}") from None
        if done.returncode < 0:
            raise bad(f"Match exec {command!r} was killed by signal {-done.returncode}")
        return done.returncode == 0

    # -- Include

    def _include(self, args: list[str], line: _Line, active: list[bool], user_config: bool, never_match: bool,
                 depth: int, bad: Callable[[str], SSHConfigError]) -> None:
        for arg in args:
            if arg == "":
                raise bad("Include: empty argument")
            if arg.startswith("~") and not user_config:
                raise bad(f"bad include path {arg}: the system config may not use ~")
            if not arg.startswith("/") and not arg.startswith("~"):
                pattern = ("~/.ssh/" if user_config else SYSTEM_DIR + "/") + arg
            else:
                pattern = arg
            # glibc's glob(GLOB_TILDE), which ssh uses, takes ~ from $HOME
            expanded = _glob_tilde(pattern)
            paths = sorted(globmod.glob(expanded)) if globmod.has_magic(expanded) else (
                [expanded] if os.path.lexists(expanded) else [])
            was_active = active[0]
            for path in paths:
                self.read_file(path, user_config=user_config, check_permissions=True, active=active,
                               never_match=never_match or not was_active, depth=depth + 1)
                active[0] = was_active  # Match in an included file does not leak into this one


def _glob_tilde(pattern: str) -> str:
    if not pattern.startswith("~"):
        return pattern
    head, sep, tail = pattern[1:].partition("/")
    if head == "":
        home = os.environ.get("HOME") or _user_home()[1]
    else:
        try:
            home = pwd.getpwnam(head).pw_dir
        except KeyError:
            return pattern
    return home + sep + tail


# ------------------------------------------------------------------ resolving one host (ssh.c main)


def config_files(path: str | None) -> list[tuple[str, bool, bool]]:
    """(file, is user config, check permissions) as ssh reads them: ``-F FILE`` alone, else both."""
    if path is not None:
        return [] if path.lower() == "none" else [(path, True, False)]
    home = _user_home()[1]
    return [(os.path.join(home, ".ssh", "config"), True, True), (SYSTEM_CONFIG, False, False)]


def resolve(host_arg: str, *, config: str | None = None, preset: Sequence[str | tuple[str, str]] = (),
            run_exec: bool = True,
            canonicalize: bool = True) -> SSHConfig:
    """The settings for ``host_arg`` as ``ssh [-F config] [-o PRESET ...] host_arg`` would use them.

    ``preset`` are ``-o``-style lines ("User alice", "ProxyCommand=...") that win over the files, as
    the command line does; the inventory's settings go there, as (origin, line) to name them in errors.
    """
    # as OpenSSH 9.6+ (CVE-2023-51385): names given to ssh end up in %h/%n/%r of ProxyCommand and Match exec,
    # run by a shell, so a name or user with shell metacharacters is refused before any is expanded
    if not valid_hostname(host_arg):
        raise SSHConfigError(f"host name {host_arg!r} contains characters a shell would interpret: refusing it "
                             "(ssh refuses it too); fix the host's address or name in the inventory")
    for item in preset:
        text = item[1] if isinstance(item, tuple) else item
        keyword, _, value = text.partition("=")
        if keyword.lower() == "user" and not valid_user(value.strip('"')):
            raise SSHConfigError(f"user name {value!r} for {host_arg} contains characters a shell would "
                                 "interpret: refusing it (ssh refuses it too)")
    options = _Options()
    files = config_files(config)
    if config is not None and config.lower() != "none" and not os.path.exists(config):
        raise SSHConfigError(f"ssh config file {config} does not exist: fix --ssh-config", source=config)
    reader = _Reader(options, host_arg, host_arg, final=False, run_exec=run_exec)
    for number, item in enumerate(preset, 1):
        origin, text = item if isinstance(item, tuple) else ("command line", item)
        reader.line(_Line(origin, number, text), [True], cmdline=True)
    for path, user_config, check in files:
        reader.read_file(path, user_config=user_config, check_permissions=check, active=[True])
    values = options.values
    host = host_arg
    if "hostname" in values:
        host = percent_expand(values["hostname"], {"h": host_arg}, what=options.sources["hostname"])
        values["hostname"] = host
    if not _is_addr(host):
        host = host.lower()
    want_final = reader.want_final
    mode = values.get("canonicalizehostname", "no")
    if mode != "no" and canonicalize:
        direct = options.proxy_command in (None, "none") and options.jump in (None,)
        host = _canonicalize(host, values, direct or mode == "always", options)
        want_final = True
    if want_final:
        values["hostname"] = host
        # the second pass matches Host lines against the resolved name (ssh.c re-reads with `host`)
        second = _Reader(options, host, host_arg, final=True, run_exec=run_exec)
        for path, user_config, check in files:
            second.read_file(path, user_config=user_config, check_permissions=check, active=[True])
    return _finish(options, host_arg, host)


def _canonicalize(host: str, values: dict, allowed: bool, options: _Options) -> str:
    """ssh.c resolve_canonicalize() without CNAME following: the first CanonicalDomains suffix that resolves."""
    if _is_addr(host) or not allowed:
        return host
    if host.endswith("."):
        return host[:-1]
    if host.count(".") > int(values.get("canonicalizemaxdots", 1)):
        return host
    for entry in values.get("canonicaldomains", []):
        for domain in entry:
            if domain.lower() == "none":
                break
            candidate = f"{host}.{domain}"
            try:
                socket.getaddrinfo(candidate + ".", None)
            except OSError:
                continue
            return candidate
    if values.get("canonicalizefallbacklocal", "yes") == "no":
        raise SSHConfigError(f"could not resolve host {host!r} in any of CanonicalDomains and "
                             "CanonicalizeFallbackLocal is no")
    return host


def _finish(o: _Options, host_arg: str, host: str) -> SSHConfig:
    values = o.values
    local_user = _user_home()[0]
    user = values.get("user") or local_user
    port = values.get("port") or 22
    alias = values.get("hostkeyalias")
    alias = alias.lower() if alias else None
    tokens = _client_tokens(host, port, user, host_arg, alias)
    identities = list(o.identity_files) or list(DEFAULT_IDENTITY_FILES)
    expanded = [percent_expand(tilde_expand(p), tokens, dollar=True,
                               what=f"IdentityFile ({o.sources.get('identityfile', 'default')})")
                for p in identities]
    user_files = values.get("userknownhostsfile") or list(DEFAULT_USER_KNOWN_HOSTS)
    if user_files and user_files[0].lower() == "none":
        user_files = []
    user_files = [percent_expand(tilde_expand(p), tokens, dollar=True,
                                 what=f"UserKnownHostsFile ({o.sources.get('userknownhostsfile')})")
                  for p in user_files]
    global_files = values.get("globalknownhostsfile") or list(DEFAULT_GLOBAL_KNOWN_HOSTS)
    if global_files and global_files[0].lower() == "none":
        global_files = []
    jump = o.jump if isinstance(o.jump, JumpHost) else None
    command = o.proxy_command if o.proxy_command not in (None, "none") else None
    if jump is not None:
        command = None
    connect_timeout = values.get("connecttimeout")
    return SSHConfig(host_arg=host_arg, hostname=host, user=user, port=port, identity_files=identities,
                     identity_files_expanded=expanded, user_known_hosts_files=user_files,
                     global_known_hosts_files=global_files, proxy_jump=jump, proxy_command=command,
                     server_alive_interval=values.get("serveraliveinterval") or 0,
                     server_alive_count_max=values.get("serveralivecountmax", 3),
                     connect_timeout=connect_timeout if connect_timeout else None, host_key_alias=alias,
                     options=dict(values), sources=dict(o.sources), identities_explicit=bool(o.identity_files),
                     proxy_jump_none=o.jump == "none")


def check(config: str | None, host_args: Iterable[str]) -> None:
    """Before a run: every name usable, and the config read once without running ``Match exec``.

    ssh processes every line whatever the host, so one reading finds every line it would reject.
    Raises SSHConfigError.
    """
    names = list(dict.fromkeys(host_args))
    for name in names:
        if not valid_hostname(name):
            raise SSHConfigError(f"host name {name!r} contains characters a shell would interpret: refusing "
                                 "it (ssh refuses it too); fix the host's address or name in the inventory")
    if names:
        resolve(names[0], config=config, run_exec=False, canonicalize=False)
