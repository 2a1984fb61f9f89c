"""``user``: a local account is present with the given attributes, or absent, as Ansible's ``user`` module.

One probe (run with the step's become: /etc/shadow needs root) reads the account: ids, groups, home,
shell, comment, whether its password is locked, its expiry day, and whether its password already is the
wanted one. Then only what differs is changed, with useradd/usermod/chage/userdel.

Passwords never appear on a command line, in the output or in the journal:

- ``password_hash``: a crypt hash (``$6$...``) set as it is with ``chpasswd -e``;
- ``password``: a secret reference (``{secret: "env:NAME"}``, ``file:PATH``, ``prompt``) or a ``secret``
  parameter (``"{{ new_password }}"``). It goes to the host on stdin, is hashed there by
  ``openssl passwd -6 -stdin`` and set with ``chpasswd -e``, which reads ``user:hash`` on its stdin.

Whether the password already matches is found on the host too: the given password is hashed with the
salt of the current hash and the two are compared (for $1$, $5$ and $6$ hashes; any other kind, such as
yescrypt, cannot be compared with openssl and counts as different when ``update_password: always``).

```yaml
- user: {name: jdoe, groups: [helpdesk], append: true, shell: /bin/bash, password: {secret: "env:JDOE_PW"}}
  become: true
```
"""

from __future__ import annotations

import math
import re
import shlex
from typing import Any, Mapping

from ..errors import SecretError, TaskError
from ..secrets import MASK, SecretRef
from .base import Arg, Outcome, StepContext, StepKind, as_bool
from .probing import SBIN_PATH, applied, check_name, last_line, pairs, planned, run_all

_HASH = re.compile(r"^(\$[0-9a-z]+\$[^:\s]+|[!*]+[^:\s]*)$")
_SECRET_SPEC = re.compile(r"^(env:\w+|file:.+|prompt(:.*)?)$")


class User(StepKind):
    name = "user"
    description = "A local account is present with the given attributes (groups, shell, password...) or absent."
    secret_args = frozenset({"password"})  # masked everywhere, never echoed in an error (issue 11)
    args = {
        "name": Arg("str", required=True, help="the login name"),
        "state": Arg("str", default="present", choices=("present", "absent")),
        "uid": Arg("int", help="numeric user id"),
        "group": Arg("str", help="primary group (must exist)"),
        "groups": Arg("any", help="supplementary groups: a list or a comma-separated string"),
        "append": Arg("bool", default=False, help="add to the groups and keep the others (false: exactly these)"),
        "shell": Arg("str", help="login shell"),
        "home": Arg("str", help="home directory"),
        "create_home": Arg("bool", default=True, help="create the home directory with the account"),
        "move_home": Arg("bool", default=False, help="when home changes, move the old one there"),
        "comment": Arg("str", help="the GECOS field (full name)"),
        "system": Arg("bool", default=False, help="create a system account"),
        "password_hash": Arg("str", help="a crypt hash ($6$...), set as it is"),
        "password": Arg("any", help="a secret reference ({secret: env:NAME}, file:, prompt) or a secret "
                                    "parameter; hashed on the host"),
        "update_password": Arg("str", default="always", choices=("always", "on_create"),
                               help="on_create: set the password only when creating the account"),
        "password_lock": Arg("bool", help="true: lock the password (usermod -L); false: unlock it"),
        "expires": Arg("float", help="account expiry in seconds since the epoch (as Ansible); -1: never"),
        "remove": Arg("bool", default=False, help="with state absent: remove the home directory and mail spool"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        check_name(self.name, "name", args["name"], where)
        if args.get("password") is not None and args.get("password_hash") is not None:
            raise TaskError(f"{where}: user takes password (a secret, hashed on the host) or password_hash "
                            "(a crypt hash), not both")
        password = args.get("password")
        if isinstance(password, str) and "{" not in password:
            raise TaskError(f"{where}: user password must not be written in the task: give a reference, "
                            "password: {secret: \"env:NAME\"} (or file:PATH, prompt), a secret parameter "
                            "(\"{{ new_password }}\"), or a crypt hash as password_hash")
        if isinstance(password, Mapping):
            _reference(password, where)
        elif password is not None and not isinstance(password, (str, SecretRef)):
            raise TaskError(f"{where}: user password is a secret reference such as {{secret: \"env:NAME\"}}")
        groups = args.get("groups")
        if isinstance(groups, (list, tuple)) or (isinstance(groups, str) and "{" not in groups):
            for group in _group_list(groups) or ():
                if "{" not in group:
                    check_name(self.name, "group", group, where)
        hashed = args.get("password_hash")
        if isinstance(hashed, str) and "{" not in hashed and not _HASH.match(hashed):
            raise TaskError(f"{where}: user password_hash {hashed[:4]}... is not a crypt hash: give one such as "
                            "$6$salt$... (openssl passwd -6), or use password with a secret reference")
        if args["state"] == "absent":
            extra = [k for k in ("password", "password_hash", "password_lock", "groups", "shell", "home", "uid")
                     if args.get(k) is not None]
            if extra:
                raise TaskError(f"{where}: user with state absent takes no {', '.join(extra)}")
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        name = args["name"]
        check_name(self.name, "name", name, ctx.where)
        try:
            secret, secret_kind = _secret(args, ctx.where)
        except (TaskError, SecretError) as exc:
            return Outcome(failed=True, msg=str(exc))
        current = _probe(ctx, name, secret, secret_kind)
        if "error" in current:
            return Outcome(failed=True, msg=f"cannot read account {name}: {current['error']}{_hint(ctx)}")
        data = {"name": name, "state": args["state"]}
        if args["state"] == "absent":
            if current["found"] != "yes":
                return Outcome(msg=f"user {name} is absent", data=data)
            remove = as_bool(args.get("remove"))
            changes = [f"remove user {name}" + (" and its home directory" if remove else "")]
            commands = [f"userdel {'-r ' if remove else ''}{shlex.quote(name)}"]
            return _finish(ctx, changes, commands, name, data)
        changes, commands = _plan(args, current, secret, secret_kind)
        data.update({k: current.get(k) for k in ("uid", "home", "shell")})
        if not changes:
            return Outcome(msg=f"user {name} is as wanted", data=data)
        return _finish(ctx, changes, commands, name, data, stdin=secret)


def _hint(ctx: StepContext) -> str:
    return "" if ctx.become else " (reading /etc/shadow needs root: use become: true)"


def _reference(value: Mapping, where: str) -> SecretRef:
    spec = value.get("secret")
    if set(value) != {"secret"} or not isinstance(spec, str):
        raise TaskError(f"{where}: user password is written {{secret: \"env:NAME\"}} (or file:PATH, prompt)")
    if "{" not in spec and not _SECRET_SPEC.match(spec):
        raise TaskError(f"{where}: user password secret {spec!r} is not a reference: use env:NAME, file:PATH "
                        "or prompt")
    if spec.startswith("prompt") and ":" not in spec:
        spec = "prompt:password"
    return SecretRef(spec, source=where)


def _secret(args: dict[str, Any], where: str) -> tuple[str | None, str]:
    """The password to compare and set, and whether it is ``plain`` (hash it on the host) or a ``hash``."""
    if args.get("password_hash") is not None:
        hashed = str(args["password_hash"])
        if not _HASH.match(hashed):
            raise TaskError(f"{where}: user password_hash is not a crypt hash ($6$salt$...)")
        return hashed, "hash"
    password = args.get("password")
    if password is None:
        return None, ""
    if isinstance(password, Mapping):
        password = _reference(password, where).resolve()
    elif isinstance(password, SecretRef):
        password = password.resolve()
    password = str(password)
    MASK.add(password)
    if "\n" in password or "\r" in password or not password:
        raise TaskError(f"{where}: user password must be one non-empty line")
    return password, "plain"


def _probe(ctx: StepContext, name: str, secret: str | None, secret_kind: str) -> dict[str, str]:
    """The account as the host has it; the secret (if any) goes on stdin and is compared there."""
    q = shlex.quote(name)
    compare = ""
    if secret_kind == "plain":
        compare = """case "$bare" in
  '$1$'*|'$5$'*|'$6$'*)
    alg=$(printf '%s' "$bare" | cut -d'$' -f2); salt=$(printf '%s' "$bare" | cut -d'$' -f3)
    case "$salt" in rounds=*) echo password=unknown ;; *)
      new=$(openssl passwd "-$alg" -salt "$salt" -stdin 2>/dev/null) || new=
      if [ -n "$new" ] && [ "$new" = "$bare" ]; then echo password=same; else echo password=differs; fi ;;
    esac ;;
  '') echo password=differs ;;
  *) echo password=unknown ;;
esac"""
    elif secret_kind == "hash":
        compare = 'IFS= read -r want; if [ "$want" = "$cur" ] || [ "$want" = "$bare" ]; then echo password=same; ' \
                  'else echo password=differs; fi'
    script = SBIN_PATH + f"""u={q}
e=$(getent passwd "$u") || {{ echo found=no; exit 0; }}
echo found=yes
printf '%s\\n' "$e" | awk -F: '{{ print "uid=" $3; print "gid=" $4; print "comment=" $5
  print "home=" $6; print "shell=" $7 }}'
echo "group=$(id -gn -- "$u")"
echo "groups=$(id -Gn -- "$u" | tr ' ' '\\n' | grep -vxF -- "$(id -gn -- "$u")" | sort | paste -sd, -)"
s=$(getent shadow "$u") || {{ echo "error=no entry in /etc/shadow readable"; exit 0; }}
cur=$(printf '%s' "$s" | cut -d: -f2)
bare=${{cur#!}}
case "$cur" in '!'|'!!'|'!*'|'!!*') echo locked=nopassword ;; '!'*) echo locked=yes ;; *) echo locked=no ;; esac
echo "expire=$(printf '%s' "$s" | cut -d: -f8)"
{compare}"""
    result = ctx.run(script, stdin=secret + "\n" if secret is not None else None)
    fields = pairs(result.stdout)
    if result.rc != 0 or "found" not in fields:
        fields["error"] = last_line(result)
    return fields


def _group_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return sorted({str(g).strip() for g in items if str(g).strip()})


def _plan(args: dict[str, Any], current: dict[str, str], secret: str | None,
          secret_kind: str) -> tuple[list[str], list[str]]:
    q = shlex.quote
    name = args["name"]
    groups = _group_list(args.get("groups"))
    for group in groups or ():
        check_name("user", "group", group, f"groups of {name}")
    append = as_bool(args.get("append"))
    changes: list[str] = []
    commands: list[str] = []
    creating = current["found"] != "yes"
    if creating:
        options = []
        if args.get("uid") is not None:
            options.append(f"-u {int(args['uid'])}")
        if args.get("group"):
            options.append(f"-g {q(args['group'])}")
        if groups:
            options.append(f"-G {q(','.join(groups))}")
        for key, flag in (("shell", "-s"), ("home", "-d"), ("comment", "-c")):
            if args.get(key) is not None:
                options.append(f"{flag} {q(str(args[key]))}")
        options.append("-m" if as_bool(args.get("create_home")) else "-M")
        if as_bool(args.get("system")):
            options.append("-r")
        changes.append(f"create user {name}" + (f" in groups {','.join(groups)}" if groups else ""))
        commands.append(f"useradd {' '.join(options)} {q(name)}")
    else:
        options = []
        if args.get("uid") is not None and current.get("uid") != str(int(args["uid"])):
            changes.append(f"uid {current.get('uid')} -> {int(args['uid'])}")
            options.append(f"-u {int(args['uid'])}")
        wanted_group = args.get("group")
        if wanted_group and wanted_group not in (current.get("group"), current.get("gid")):
            changes.append(f"primary group {current.get('group')} -> {wanted_group}")
            options.append(f"-g {q(wanted_group)}")
        if groups is not None:
            have = sorted(g for g in current.get("groups", "").split(",") if g)
            if append:
                missing = [g for g in groups if g not in have]
                if missing:
                    changes.append(f"groups {','.join(have) or '(none)'} -> {','.join(sorted({*have, *missing}))}")
                    options.append(f"-a -G {q(','.join(missing))}")
            elif have != groups:
                changes.append(f"groups {','.join(have) or '(none)'} -> {','.join(groups) or '(none)'}")
                options.append(f"-G {q(','.join(groups))}")
        for key, flag in (("shell", "-s"), ("home", "-d"), ("comment", "-c")):
            if args.get(key) is not None and current.get(key) != str(args[key]):
                changes.append(f"{key} {current.get(key) or '(empty)'} -> {args[key]}")
                options.append(f"{flag} {q(str(args[key]))}")
                if key == "home" and as_bool(args.get("move_home")):
                    options.append("-m")
        if options:
            commands.append(f"usermod {' '.join(options)} {q(name)}")
    locked = current.get("locked") == "yes"
    if secret is not None and (creating or (args.get("update_password") == "always"
                                            and current.get("password") != "same")):
        changes.append("set the password" if creating or current.get("password") == "differs"
                       else "set the password (the current hash cannot be compared)")
        if secret_kind == "plain":
            commands += ["h=$(openssl passwd -6 -stdin)", '[ -n "$h" ]']
        else:
            commands.append("IFS= read -r h")
        commands.append(f"printf '%s:%s\\n' {q(name)} \"$h\" | chpasswd -e")
        if locked and args.get("password_lock") is None:
            commands.append(f"usermod -L {q(name)}")  # chpasswd drops the lock: keep it as it was
    lock = args.get("password_lock")
    if current.get("locked") == "nopassword" and secret is None:
        lock = None  # no password to lock or unlock (useradd's "!"): unlocking would allow empty logins
    if lock is not None:
        lock = as_bool(lock)
        if lock and (creating or not locked):
            changes.append("lock the password")
            commands.append(f"usermod -L {q(name)}")
        elif not lock and locked:
            changes.append("unlock the password")
            commands.append(f"usermod -U {q(name)}")
    if args.get("expires") is not None:
        expires = float(args["expires"])
        wanted = "" if expires < 0 else str(math.floor(expires / 86400))
        if creating or current.get("expire", "") != wanted:
            shown = "never" if not wanted else f"day {wanted}"
            changes.append(f"expiry {('day ' + current['expire']) if current.get('expire') else 'never'} -> {shown}")
            commands.append(f"chage -E {wanted or -1} {q(name)}")
    return changes, commands


def _finish(ctx: StepContext, changes: list[str], commands: list[str], name: str, data: dict[str, Any],
            stdin: str | None = None) -> Outcome:
    if ctx.check:
        outcome = planned(ctx, changes, f"user {name}")
    else:
        # the secret is on stdin for the one command that reads it: run them as one script
        script = "set -e\n" + "\n".join(commands)
        outcome = applied(ctx, changes, f"user {name}",
                          run_all(ctx, [script], stdin=stdin + "\n" if stdin is not None else None))
    outcome.data.update(data)
    return outcome
