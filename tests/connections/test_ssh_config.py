"""ssh_config read as OpenSSH reads it: every case is compared with ``ssh -G -F FILE HOST``."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from remote_support.connections import ssh_config
from remote_support.connections.ssh_config import resolve
from remote_support.errors import SSHConfigError

SSH = shutil.which("ssh")
pytestmark = pytest.mark.skipif(SSH is None, reason="needs the OpenSSH client as the oracle")

#: the options compared with ssh -G (names as ssh -G prints them)
COMPARED = ("user", "hostname", "port", "identityfile", "userknownhostsfile", "proxyjump", "proxycommand",
            "serveraliveinterval", "serveralivecountmax", "connecttimeout", "hostkeyalias")


def ssh_g(config: Path, host: str, home: Path, options: tuple[str, ...] = ()) -> dict[str, list[str]]:
    argv = [SSH, "-G", "-F", str(config)]
    for option in options:
        argv += ["-o", option]
    done = subprocess.run(argv + [host], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "HOME": str(home)}, timeout=30)
    if done.returncode != 0:
        raise AssertionError(f"ssh -G failed: {done.stderr}")
    found: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key in COMPARED:
            found.setdefault(key, []).append(value)
    return found


def tool(config: Path, host: str, options: tuple[str, ...] = ()) -> dict[str, list[str]]:
    s = resolve(host, config=str(config), preset=options)
    found = {"user": [s.user], "hostname": [s.hostname], "port": [str(s.port)],
             "identityfile": list(s.identity_files),
             "serveraliveinterval": [str(s.server_alive_interval)],
             "serveralivecountmax": [str(s.server_alive_count_max)],
             "connecttimeout": [str(s.connect_timeout) if s.connect_timeout is not None else "none"]}
    if s.user_known_hosts_files:
        found["userknownhostsfile"] = [" ".join(s.user_known_hosts_files)]
    elif s.options.get("userknownhostsfile"):
        found["userknownhostsfile"] = ["none"]
    if s.proxy_jump is not None:
        found["proxyjump"] = [str(s.proxy_jump)]
    if s.proxy_command is not None:
        found["proxycommand"] = [s.proxy_command]
    if s.host_key_alias:
        found["hostkeyalias"] = [s.host_key_alias]
    return found


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o600)


# (id, files under a temp HOME -- "cfg" is the -F file --, host, -o options)
CASES = [
    ("trailing-comments", {"cfg": "Host db  # the database\n  HostName 10.0.0.5 # primary\n  Port 2222 # std\n"
                                  "  User alice   # admin\n"}, "db", ()),
    ("match-in-place-before-host", {"cfg": "Match host *.corp\n  User corpuser\n  Port 2200\n"
                                           "Host short\n  HostName db.corp\n"}, "short", ()),
    ("match-after-host-sees-hostname", {"cfg": "Host short\n  HostName db.corp\nMatch host *.corp\n  User cu\n"},
     "short", ()),
    ("match-originalhost", {"cfg": "Host short\n  HostName db.corp\nMatch originalhost short\n  Port 2201\n"
                                   "Match host short\n  Port 2202\n"}, "short", ()),
    ("first-value-wins", {"cfg": "Host web\n  User first\n  Port 1001\nHost *\n  User second\n  Port 1002\n"
                                 "  ConnectTimeout 7\n"}, "web", ()),
    ("negated-host-pattern", {"cfg": "Host *.lan !printer.lan\n  User lanuser\nHost *\n  User other\n"},
     "printer.lan", ()),
    ("negated-host-pattern-other", {"cfg": "Host *.lan !printer.lan\n  User lanuser\n"}, "pc.lan", ()),
    ("host-pattern-list-and-wildcards", {"cfg": "Host alpha beta? gam*a\n  Port 3333\n"}, "beta1", ()),
    ("host-case-sensitive", {"cfg": "Host Server\n  Port 4444\nHost server\n  Port 5555\n"}, "SERVER", ()),
    ("match-host-case-insensitive", {"cfg": "Match host *.EXAMPLE.com\n  Port 6001\n"}, "Box.Example.COM", ()),
    ("include-relative-under-dot-ssh", {"cfg": "Include inc.conf\n", ".ssh/inc.conf": "Host inc\n  Port 2345\n"},
     "inc", ()),
    ("include-glob-sorted", {"cfg": "Include conf.d/*.conf\nHost *\n  User fallback\n",
                             ".ssh/conf.d/20-b.conf": "Host g\n  User bee\n  Port 2020\n",
                             ".ssh/conf.d/10-a.conf": "Host g\n  User ay\n"}, "g", ()),
    ("include-nested", {"cfg": "Include ~/.ssh/one\n", ".ssh/one": "Include two\nHost n\n  Port 1111\n",
                        ".ssh/two": "Host n\n  User nested\n"}, "n", ()),
    ("include-inside-host-block", {"cfg": "Host other\n  Include inner\nHost *\n  User outer\n",
                                   ".ssh/inner": "User inner\nPort 2999\n"}, "x", ()),
    ("include-inside-matching-block", {"cfg": "Host x\n  Include inner\n", ".ssh/inner": "User inner\n"}, "x", ()),
    ("include-match-does-not-leak", {"cfg": "Host x\n  Include inner\n  Port 4001\n",
                                     ".ssh/inner": "Match host nomatch\n  User no\n"}, "x", ()),
    ("include-in-inactive-block-never-matches", {"cfg": "Host nomatch\n  Include inner\nHost *\n  User after\n",
                                                 ".ssh/inner": "Host *\n  Port 2777\nMatch all\n  User inner\n"},
     "x", ()),
    ("include-missing-is-ignored", {"cfg": "Include nothing-here.conf\nHost *\n  Port 2022\n"}, "m", ()),
    ("tokens-in-identityfile-and-knownhosts", {"cfg": "Host t\n  HostName real-%h.example\n  User bob\n"
                                                      "  Port 2200\n  IdentityFile ~/.ssh/id_%h_%r_%p\n"
                                                      "  UserKnownHostsFile ~/.ssh/kh_%h_%n %d/kh_%r_%u %%lit\n"},
     "t", ()),
    ("hostname-percent-h", {"cfg": "Host *.short\n  HostName %h.corp.example\n"}, "db.short", ()),
    ("quoted-values-and-equals", {"cfg": 'Host "q"\n  User="quoted user"\n  Port = 2424\n'
                                         '  IdentityFile "~/.ssh/my key"\n'}, "q", ()),
    ("keyword-case-and-equals", {"cfg": "HOST kc\n  hOsTnAmE=10.1.1.1\n  PORT=2525\n  sErVeRaLiVeInTeRvAl 30\n"},
     "kc", ()),
    ("proxyjump-chain-and-uri", {"cfg": "Host target\n  ProxyJump ssh://jumper@outer.example:2200,inner:2201\n"},
     "target", ()),
    ("proxyjump-none", {"cfg": "Host bastion\n  ProxyJump none\nHost *\n  ProxyJump gw\n"}, "bastion", ()),
    ("proxyjump-numeric", {"cfg": "Host n\n  ProxyJump admin@10.0.0.1:2222\n"}, "n", ()),
    ("proxycommand-raw", {"cfg": "Host pc\n  ProxyCommand ssh -W %h:%p gw # via gw\n"}, "pc", ()),
    ("proxycommand-first-wins-over-jump", {"cfg": "Host pc\n  ProxyCommand nc %h %p\n  ProxyJump gw\n"},
     "pc", ()),
    ("command-line-wins", {"cfg": "Host cl\n  User fromfile\n  Port 1234\n  ProxyJump gw\n"}, "cl",
     ("User=fromcli", "Port=4321", "ProxyCommand=nc %h %p")),
    ("match-user-sees-command-line-user", {"cfg": "Match user admin\n  Port 2600\n"}, "mu", ("User=admin",)),
    ("match-all-and-negation", {"cfg": "Match !host foo\n  User notfoo\nMatch all\n  Port 2700\n"}, "bar", ()),
    ("match-final-second-pass", {"cfg": "Host short\n  HostName long.example\nMatch final host long.example\n"
                                        "  User finaluser\nHost long.example\n  Port 2800\n"}, "short", ()),
    ("match-canonical-without-canonicalisation", {"cfg": "Match canonical\n  User canon\nHost *\n  User plain\n"},
     "c", ()),
    ("match-exec", {"cfg": "Match exec \"test %h = ex\"\n  User execd\nMatch exec false\n  Port 1\n"}, "ex", ()),
    ("match-localuser", {"cfg": "Match localuser nobody-here\n  Port 2901\nMatch localuser *\n  Port 2902\n"},
     "lu", ()),
    ("connecttimeout-and-times", {"cfg": "Host ct\n  ConnectTimeout 1m\n  ServerAliveInterval 1h30s\n"
                                         "  ServerAliveCountMax 5\n"}, "ct", ()),
    ("knownhosts-none-and-alias", {"cfg": "Host kh\n  UserKnownHostsFile none\n  HostKeyAlias MyAlias\n"}, "kh",
     ()),
    ("ignoreunknown", {"cfg": "IgnoreUnknown UseKeychain,AddKeys*\nHost *\n  UseKeychain yes\n  Port 2030\n"},
     "iu", ()),
    ("identityfile-accumulates", {"cfg": "Host a\n  IdentityFile ~/.ssh/a\nHost *\n  IdentityFile ~/.ssh/b\n"
                                         "  IdentityFile ~/.ssh/a\n"}, "a", ()),
    ("canonicalisation-second-pass", {"cfg": "CanonicalizeHostname yes\nCanonicalDomains example.invalid\n"
                                             "Match canonical\n  User canon\nMatch !canonical\n  Port 2345\n"},
     "foo", ()),
    ("include-absolute-and-several", {"cfg": "Include ~/extra/a.conf /nonexistent/x.conf ~/extra/b.conf\n",
                                      "extra/a.conf": "Port 2401\n", "extra/b.conf": "Port 2402\nUser b\n"},
     "s", ()),
    ("host-equals-and-quoted-patterns", {"cfg": 'Host="has space" other\n  Port 2501\nHost = "q*" \n  User qq\n'},
     "q1", ()),
    ("escaped-space-in-path", {"cfg": "Host e\n  IdentityFile ~/.ssh/with\\ space\n  CertificateFile x\n"}, "e", ()),
    ("match-negated-exec-and-host-list", {"cfg": "Match !exec false host \"*.corp,!bad.corp\"\n  User corp\n"
                                                 "Match host bad.corp\n  Port 2601\n"}, "bad.corp", ()),
    ("match-host-list-positive", {"cfg": "Match host \"*.corp,!bad.corp\"\n  User corp\n"}, "good.corp", ()),
    ("proxyjump-ipv6-and-several", {"cfg": "Host six\n  ProxyJump a@gw1,[::1]:2222\n"}, "six", ()),
    ("connecttimeout-none-then-value", {"cfg": "Host *\n  ConnectTimeout none\nHost *\n  ConnectTimeout 9\n"},
     "c", ()),
    ("blank-comment-and-tab-lines", {"cfg": "# a comment\n\n\t\n   # indented comment\nHost\tb\n\tPort\t2031\n"},
     "b", ()),
]


@pytest.mark.parametrize("files, host, options", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_resolved_settings_equal_ssh_G(tmp_path, monkeypatch, files, host, options):
    home = tmp_path / "home"
    write_tree(home, files)
    monkeypatch.setenv("HOME", str(home))  # Include's ~ follows $HOME for ssh (glob) and the tool alike
    config = home / "cfg"
    expected = ssh_g(config, host, home, options)
    assert tool(config, host, options) == expected


def test_at_least_25_oracle_cases():
    assert len({c[0] for c in CASES}) >= 25


# ---------------------------------------------------------------- bad lines: rejected as ssh rejects them


BAD = [
    ("unknown keyword", "Host x\n  HostNmae 10.0.0.1\n", 2, "bad configuration option: hostnmae"),
    ("bad port", "Host x\n  Port 22x\n", 2, "bad port '22x'"),
    ("port out of range", "Port 70000\n", 1, "bad port"),
    ("unclosed quote", 'Host x\n  User "alice\n', 2, "invalid quotes"),
    ("extra argument", "Host x\n  HostName a b\n", 2, "extra arguments"),
    ("bad flag", "BatchMode perhaps\n", 1, "unsupported value"),
    ("bad time", "ConnectTimeout soon\n", 1, "invalid time value"),
    ("no argument", "Host x\n  User\n", 2, "no argument after keyword"),
    ("bad match attribute", "Match colour blue\n", 1, "unsupported Match attribute"),
    ("bad proxyjump", "ProxyJump user@\n", 1, "invalid ProxyJump"),
    ("match all combined", "Match host x all\n  User y\nMatch user z host q all\n", 3, "cannot be combined"),
]


@pytest.mark.parametrize("text, line, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_lines_are_rejected_with_file_and_line(tmp_path, text, line, message):
    config = tmp_path / "cfg"
    config.write_text(text)
    oracle = subprocess.run([SSH, "-G", "-F", str(config), "x"], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL)
    assert oracle.returncode != 0, "ssh accepts this config: the case is wrong"
    with pytest.raises(SSHConfigError, match=message) as caught:
        resolve("x", config=str(config))
    assert str(caught.value).startswith(f"{config}:{line}: ")
    assert caught.value.exit_code == 5


def test_bad_line_in_an_include_names_the_included_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write_tree(tmp_path, {"cfg": "Include extra\n", ".ssh/extra": "\n\nPort nope\n"})
    with pytest.raises(SSHConfigError, match=rf"{tmp_path}/.ssh/extra:3: bad port"):
        resolve("x", config=str(tmp_path / "cfg"))


def test_bad_line_in_an_include_of_an_inactive_block_is_still_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write_tree(tmp_path, {"cfg": "Host nomatch\n  Include extra\n", ".ssh/extra": "Host *\n  Bogus yes\n"})
    oracle = subprocess.run([SSH, "-G", "-F", str(tmp_path / "cfg"), "x"], capture_output=True, text=True,
                            env={**os.environ, "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL)
    assert oracle.returncode != 0
    with pytest.raises(SSHConfigError, match=rf"{tmp_path}/.ssh/extra:2: bad configuration option: bogus"):
        resolve("x", config=str(tmp_path / "cfg"))


def test_writable_include_is_refused_as_ssh_refuses_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    write_tree(tmp_path, {"cfg": "Include extra\n", ".ssh/extra": "Port 2000\n"})
    (tmp_path / ".ssh/extra").chmod(0o666)
    oracle = subprocess.run([SSH, "-G", "-F", str(tmp_path / "cfg"), "x"], capture_output=True, text=True,
                            env={**os.environ, "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL)
    assert oracle.returncode != 0 and "Bad owner or permissions" in oracle.stderr
    with pytest.raises(SSHConfigError, match="bad owner or permissions"):
        resolve("x", config=str(tmp_path / "cfg"))


def test_unknown_token_is_an_error(tmp_path):
    config = tmp_path / "cfg"
    config.write_text("Host x\n  IdentityFile ~/.ssh/id_%z\n")
    with pytest.raises(SSHConfigError, match="unknown token %z"):
        resolve("x", config=str(config))


def test_match_exec_runs_with_the_shell_and_its_tokens(tmp_path):
    marker = tmp_path / "ran"
    config = tmp_path / "cfg"
    config.write_text(f"Match exec \"echo %h %n %p %r %u %d > {marker}\"\n  Port 2100\n")
    assert ssh_g(config, "Some-Host", tmp_path, ("User=ops",))["port"] == ["2100"]
    by_ssh = marker.read_text()
    marker.unlink()
    s = resolve("Some-Host", config=str(config), preset=("User=ops",))
    assert s.port == 2100
    assert marker.read_text() == by_ssh  # the same command line, tokens expanded as ssh expands them
    # a syntax check (preflight) reads every line but runs nothing
    marker.unlink()
    ssh_config.check(str(config), ["a", "b"])
    assert not marker.exists()


def test_proxy_command_tokens_are_expanded_as_ssh_runs_them(tmp_path):
    config = tmp_path / "cfg"
    config.write_text("Host pc\n  HostName real.example\n  User u\n  Port 2022\n  ProxyCommand nc %h %p # %r %n\n")
    s = resolve("pc", config=str(config))
    assert s.expanded_proxy_command() == "exec nc real.example 2022 # u pc"


def test_cli_refuses_a_bad_ssh_config_line_with_exit_5_before_running(tmp_path):
    import sys

    config = tmp_path / "cfg"
    config.write_text("Host *\n  ServerAliveInterval 30\n  Port 22 # std\n  HostName 10.0.0.5 primary\n")
    inventory = tmp_path / "inv.yml"
    inventory.write_text("hosts:\n  pc-1: {address: 127.0.0.1}\n")
    done = subprocess.run([sys.executable, "-m", "remote_support", "exec", "all", "-i", str(inventory),
                           "--ssh-config", str(config), "--journal", str(tmp_path / "j.sqlite"), "--", "true"],
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 5, done.stdout + done.stderr
    assert f"{config}:4: keyword hostname: extra arguments" in done.stderr


@pytest.mark.parametrize("address", ["127.0.0.1;touch${IFS}MARK", "$(touch MARK)", "`touch MARK`", "a|touch MARK"])
def test_shell_metacharacters_in_a_name_never_reach_proxycommand_or_match_exec(tmp_path, address):
    """The attack: an inventory address expanded by %h into ProxyCommand / Match exec, run by a shell."""
    marker = tmp_path / "pwned"
    address = address.replace("MARK", str(marker))
    config = tmp_path / "cfg"
    config.write_text("Match exec \"echo %h >/dev/null\"\n  User x\nHost *\n  ProxyCommand echo %h\n")
    with pytest.raises(SSHConfigError, match="characters a shell would interpret"):
        resolve(address, config=str(config))
    assert not marker.exists()
    with pytest.raises(SSHConfigError, match="user name"):
        resolve("fine", config=str(config), preset=("User=a;touch " + str(marker),))
    assert not marker.exists()
