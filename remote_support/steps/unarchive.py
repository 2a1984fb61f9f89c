"""``unarchive``: unpack a tar (gz/bz2/xz) or zip archive into a directory on the host, as Ansible's
``unarchive`` module: the archive is on the controller by default, on the host with ``remote_src: true``.

Every member is checked before anything is unpacked, and an archive with one bad member is refused
whole (nothing is extracted):

- its path must stay inside ``dest``: no absolute path, no ``..`` that climbs out, no NUL, tab or line
  break in a name;
- symbolic and hard links must point inside ``dest``, also when followed through the archive's other
  links (``a -> .`` then ``a/../../etc``); the path of every member is resolved through the links the
  archive itself makes, so writing *through* a link cannot leave ``dest`` either;
- no device files or FIFOs, and no setuid or setgid files (a bundle must not bring its own root
  programs); files belong to whoever unpacks (tar --no-same-owner), as with zip, not to the uids
  written in the archive;
- on the host, a path a member goes through that already exists (a symlink someone left in ``dest``)
  must resolve inside ``dest`` too.

The checks read the archive here, with Python's tarfile/zipfile; a host archive (``remote_src``) is
read from the host first. What the host then unpacks is a private copy whose sha256 is checked against
the bytes inspected, so the archive cannot change between the check and the extraction.

Idempotent as Ansible's: when every file member already has the same content (sha256) in ``dest``, every
directory exists and every link points where the archive says, the step is ok.

```yaml
- unarchive: {src: vendor-tools.tar.gz, dest: /opt/vendor}
  become: true
```
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import shlex
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from typing import Any

from ..errors import TaskError
from .base import Arg, Outcome, StepContext, StepKind, as_bool
from .copy import _places, find_local_file
from .probing import SBIN_PATH, last_line, pairs, root_hint

#: a host archive (remote_src) is read into memory to be checked: refuse bigger ones
REMOTE_LIMIT = 256 * 1024 * 1024
#: how many links a path may go through while it is resolved (a loop of links is refused)
_MAX_LINKS = 40
_DIFF_NAMES = 50
_EXTRACT_FAILED, _COPY_FAILED, _NO_TOOL = 93, 92, 91


class UnsafeArchive(Exception):
    """A member that would land outside dest (or is not something a support tool should unpack)."""


@dataclass(frozen=True)
class Member:
    kind: str  # F file, D directory, L symlink, H hard link
    path: str  # normalized, relative to dest
    value: str = ""  # F/H: sha256 of the content; L: the link's target as written


def _parts(name: str) -> list[str]:
    return [p for p in name.split("/") if p not in ("", ".")]


def _resolve(parts: list[str], links: dict[str, str], depth: int = 0) -> list[str]:
    """The physical path of ``parts`` under dest, following the archive's symlinks; raises when it
    climbs out of dest or goes through a loop of links."""
    out: list[str] = []
    for part in parts:
        if part == "..":
            if not out:
                raise UnsafeArchive("climbs out of dest")
            out.pop()
            continue
        out.append(part)
        target = links.get("/".join(out))
        if target is not None:
            if depth >= _MAX_LINKS:
                raise UnsafeArchive("goes through a loop of symbolic links")
            if target.startswith("/"):
                raise UnsafeArchive(f"goes through a symbolic link to the absolute path {target}")
            out = _resolve(out[:-1] + _parts(target), links, depth + 1)
    return out


def _check_member(kind: str, parts: list[str], target: str, links: dict[str, str]) -> None:
    """Where the member is written, and where a link of it points, resolved through ``links``."""
    _resolve(parts[:-1], links)  # the directories it is written into
    if kind == "L":
        if target.startswith("/"):
            raise UnsafeArchive(f"is a symbolic link to the absolute path {target}")
        _resolve(parts[:-1] + _parts(target), links)
    elif kind == "H":
        if target.startswith("/"):
            raise UnsafeArchive(f"is a hard link to the absolute path {target}")
        _resolve(_parts(target), links)
    else:
        _resolve(parts, links)  # a file written over a link of the archive must stay inside too


def inspect_archive(data: bytes) -> tuple[str, list[Member]]:
    """The archive's format (``tar`` or ``zip``) and its members, checked; raises UnsafeArchive naming
    the first bad member, or ValueError when it is not an archive at all."""
    raw: list[tuple[str, str, str, bytes | None]] = []  # kind, name, link target, content
    if zipfile.is_zipfile(io.BytesIO(data)):
        fmt = "zip"
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raw.append(("L", info.filename, archive.read(info).decode("utf-8", "replace"), None))
                elif info.is_dir():
                    raw.append(("D", info.filename, "", None))
                elif stat.S_IFMT(mode) and not stat.S_ISREG(mode):  # no type bits: a plain file
                    raise UnsafeArchive(f"{info.filename!r} is a special file (device, FIFO or socket)")
                else:
                    if mode & (stat.S_ISUID | stat.S_ISGID):
                        raise UnsafeArchive(f"{info.filename!r} is a setuid or setgid file")
                    raw.append(("F", info.filename, "", archive.read(info)))
    else:
        fmt = "tar"
        try:
            archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")
        except tarfile.TarError as exc:
            raise ValueError(f"neither a zip nor a tar archive ({exc})") from None
        with archive:
            for info in archive.getmembers():
                if info.issym():
                    raw.append(("L", info.name, info.linkname, None))
                elif info.islnk():
                    raw.append(("H", info.name, info.linkname, None))
                elif info.isdir():
                    raw.append(("D", info.name, "", None))
                elif info.isreg():
                    if info.mode & (stat.S_ISUID | stat.S_ISGID):
                        raise UnsafeArchive(f"{info.name!r} is a setuid or setgid file")
                    handle = archive.extractfile(info)
                    raw.append(("F", info.name, "", handle.read() if handle else b""))
                else:
                    raise UnsafeArchive(f"{info.name!r} is a special file (device, FIFO or socket)")
    links: dict[str, str] = {}
    kinds: dict[str, str] = {}
    contents: dict[str, str] = {}
    members: list[Member] = []
    checked: list[tuple[str, str, list[str], str]] = []
    for kind, name, target, content in raw:
        if any(c in name for c in "\x00\n\r\t") or any(c in target for c in "\x00\n\r\t"):
            raise UnsafeArchive(f"{name!r} has a NUL, tab or line break in its name or target")
        if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
            raise UnsafeArchive(f"{name!r} is an absolute path")
        parts = _parts(name)
        if not parts:
            continue  # "./" itself
        path = "/".join(parts)
        try:
            if ".." in parts:
                raise UnsafeArchive("has '..' in its path")
            if path in kinds and kinds[path] != kind:
                raise UnsafeArchive("appears twice in the archive, as different kinds of file")
            _check_member(kind, parts, target, links)
            if kind == "H" and "/".join(_resolve(_parts(target), links)) not in contents:
                raise UnsafeArchive(f"is a hard link to {target}, which is not a file of the archive")
        except UnsafeArchive as exc:
            raise UnsafeArchive(f"{name!r} {exc}") from None
        kinds[path] = kind
        if kind == "L":
            links[path] = target
        checked.append((kind, name, parts, target))
        if kind == "F":
            contents[path] = hashlib.sha256(content or b"").hexdigest()
            members.append(Member("F", path, contents[path]))
        elif kind == "H":
            members.append(Member("F", path, contents["/".join(_resolve(_parts(target), links))]))
        elif kind == "L":
            members.append(Member("L", path, target))
        else:
            members.append(Member("D", path))
    # again with every link of the archive: a link added later must not turn an earlier one outwards
    for kind, name, parts, target in checked:
        try:
            _check_member(kind, parts, target, links)
        except UnsafeArchive as exc:
            raise UnsafeArchive(f"{name!r} {exc} (through links made later in the archive)") from None
    return fmt, members


class Unarchive(StepKind):
    name = "unarchive"
    description = "Unpack a tar or zip archive into a directory, every member checked to stay inside it."
    args = {
        "src": Arg("str", required=True, help="the archive: a controller file (files/ beside the task), or a "
                                              "path on the host with remote_src"),
        "dest": Arg("str", required=True, help="an existing directory on the host"),
        "remote_src": Arg("bool", default=False, help="true: src is a file on the host, as Ansible's"),
        "creates": Arg("str", help="skip when this path exists on the host"),
    }

    def normalize(self, value: Any, where: str) -> dict[str, Any]:
        args = super().normalize(value, where)
        dest = args.get("dest")
        if isinstance(dest, str) and "{" not in dest and not dest.startswith("/"):
            raise TaskError(f"{where}: unarchive dest must be an absolute path, not {dest!r}")
        src = args.get("src")
        remote = args.get("remote_src")
        if isinstance(src, str) and "{" not in src and not (isinstance(remote, str) or as_bool(remote)):
            from pathlib import Path

            task_dir = Path(where.rsplit(":", 1)[0]).parent
            if find_local_file(src, task_dir) is None:
                raise TaskError(f"{where}: unarchive src {src!r} not found in {_places(src, task_dir)} (for a "
                                "file on the host, add remote_src: true)")
        return args

    def run(self, ctx: StepContext, args: dict[str, Any]) -> Outcome:
        q = shlex.quote
        src, dest = str(args["src"]), str(args["dest"]).rstrip("/") or "/"
        remote = as_bool(args.get("remote_src"))
        data_out: dict[str, Any] = {"src": src, "dest": dest, "remote_src": remote}
        if args.get("creates"):
            if ctx.run(f"test -e {q(args['creates'])}").rc == 0:
                return Outcome(skipped=True, msg=f"{args['creates']} exists", data=data_out)
        if remote:
            read = ctx.run(f"s=$(stat -c %s -- {q(src)}) || exit 1; [ \"$s\" -le {REMOTE_LIMIT} ] || "
                           f"{{ echo \"$s bytes: bigger than {REMOTE_LIMIT}\" >&2; exit 1; }}; base64 < {q(src)}")
            if read.rc != 0:
                return Outcome(failed=True, msg=f"cannot read {src} on the host: {last_line(read)}{root_hint(ctx)}",
                               data=data_out)
            try:
                archive = base64.b64decode(read.stdout, validate=False)
            except (binascii.Error, ValueError):
                return Outcome(failed=True, msg=f"cannot read {src} on the host: garbled transfer", data=data_out)
        else:
            found = find_local_file(src, ctx.task_dir)
            if found is None or found.is_dir():
                return Outcome(failed=True, msg=f"unarchive src {src!r} not found on the controller", data=data_out)
            archive = found.read_bytes()
        try:
            fmt, members = inspect_archive(archive)
        except UnsafeArchive as exc:
            return Outcome(failed=True, msg=f"refused to unpack {src}: member {exc}; nothing was extracted",
                           data=data_out)
        except (ValueError, zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
            return Outcome(failed=True, msg=f"cannot read {src} as an archive: {exc}", data=data_out)
        checksum = hashlib.sha256(archive).hexdigest()
        data_out.update(format=fmt, members=len(members), checksum=checksum)
        probe = ctx.run(SBIN_PATH + _probe_script(dest), stdin="".join(
            f"{m.kind}\t{m.value or '-'}\t{m.path}\n" for m in members))
        fields = pairs(probe.stdout)
        if probe.rc != 0 or "root" not in fields:
            return Outcome(failed=True, msg=f"cannot inspect {dest}: {last_line(probe)}{root_hint(ctx)}",
                           data=data_out)
        escapes = [line.split("=", 1)[1] for line in probe.stdout.splitlines() if line.startswith("escape=")]
        if escapes:
            return Outcome(failed=True, data=data_out,
                           msg=f"refused to unpack {src}: {dest}/{escapes[0]} already exists on the host and leads "
                               f"outside {dest} (a symbolic link); nothing was extracted")
        differs = [line.split("=", 1)[1] for line in probe.stdout.splitlines() if line.startswith("differs=")]
        data_out["extracted"] = differs
        if not differs:
            return Outcome(msg=f"{dest} already holds the {len(members)} members of {src}", data=data_out)
        shown = differs[:_DIFF_NAMES]
        diff = "".join(f"{dest}/{name}\n" for name in shown) + (
            f"... and {len(differs) - len(shown)} more\n" if len(differs) > len(shown) else "")
        diff = f"{dest}: would write {len(differs)} of {len(members)} members of {src}\n" + diff \
            if ctx.check else f"{dest}: wrote {len(differs)} of {len(members)} members of {src}\n" + diff
        show_diff = ctx.diff or ctx.check
        if ctx.check:
            return Outcome(changed=True, msg=f"check mode: would unpack {len(differs)} of {len(members)} members of "
                                             f"{src} into {dest}", diff=diff, data=data_out)
        script = _extract_script(src if remote else None, dest, fmt, checksum)
        result = ctx.run(SBIN_PATH + script, stdin=None if remote else archive)
        if result.rc != 0:
            msg = {_NO_TOOL: f"the host has no unzip to unpack {src} with (install unzip)",
                   _COPY_FAILED: f"{src} changed on the host while it was checked, or cannot be copied: "
                                 f"{last_line(result)}; nothing was extracted"}.get(
                result.rc, f"cannot unpack {src} into {dest}: {last_line(result)}{root_hint(ctx)}")
            return Outcome(failed=True, rc=result.rc, stdout=result.stdout, stderr=result.stderr, msg=msg,
                           data=data_out)
        return Outcome(changed=True, command=f"unpack {src} into {dest}", rc=0, data=data_out,
                       msg=f"unpacked {len(differs)} of {len(members)} members of {src} into {dest}",
                       diff=diff if show_diff else "")


def _probe_script(dest: str) -> str:
    """Reads ``kind<TAB>value<TAB>path`` lines: which members differ, and which existing paths lead out."""
    # dest only ever appears quoted: it is a templated value
    return f"""root=$(cd {shlex.quote(dest)} 2>/dev/null && pwd -P) || {{
  echo "dest is not a directory on the host" >&2; exit 1; }}
echo "root=$root"
while IFS='\t' read -r k v p; do
  d="$root/$p"
  while [ "$d" != "$root" ] && [ ! -e "$d" ] && [ ! -L "$d" ]; do d=$(dirname -- "$d"); done
  if [ "$d" != "$root" ]; then
    # a link of the archive already there: where it is matters, not where it points (checked here already)
    if [ "$k" = L ] && [ "$d" = "$root/$p" ]; then r=$(readlink -f -- "$(dirname -- "$d")")
    else r=$(readlink -f -- "$d"); fi
    case "$r/" in "$root"/*) ;; *) echo "escape=$p"; continue ;; esac
  fi
  f="$root/$p"
  case "$k" in
    F) if [ -f "$f" ] && [ ! -L "$f" ] && [ "$(sha256sum < "$f" | cut -d' ' -f1)" = "$v" ]; then :
       else echo "differs=$p"; fi ;;
    D) [ -d "$f" ] && [ ! -L "$f" ] || echo "differs=$p" ;;
    L) if [ -L "$f" ] && [ "$(readlink -- "$f")" = "$v" ]; then :; else echo "differs=$p"; fi ;;
  esac
done"""


def _extract_script(remote_src: str | None, dest: str, fmt: str, checksum: str) -> str:
    q = shlex.quote
    take = (f"cp -- {q(remote_src)} \"$t\" || exit {_COPY_FAILED}" if remote_src
            else f"cat > \"$t\" || exit {_COPY_FAILED}")
    unpack = (f'tar --no-same-owner -xf "$t" -C {q(dest)} || exit {_EXTRACT_FAILED}' if fmt == "tar" else
              f'command -v unzip >/dev/null 2>&1 || exit {_NO_TOOL}\n'
              f'unzip -o -q "$t" -d {q(dest)} || exit {_EXTRACT_FAILED}')
    return f"""t=$(mktemp) || exit {_COPY_FAILED}
trap 'rm -f -- "$t"' EXIT
{take}
h=$(sha256sum < "$t" | cut -d' ' -f1)
[ "$h" = {checksum} ] || {{ echo "the archive is not the one that was checked (sha256 $h)" >&2; exit {_COPY_FAILED}; }}
{unpack}"""
