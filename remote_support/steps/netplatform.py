"""How each network platform structures its configuration: the model behind ``config``, ``compliance``, diffs.

A running config is parsed into a tree with hier_config (PyPI ``hier-config``), which knows the section
rules of IOS, NX-OS, IOS-XR, EOS, FastIron, Junos and more, per platform rather than by indentation
alone. Three styles of text:

- ``indented`` (IOS, EOS, NX-OS, FastIron, ...): a section's lines are indented under its header;
- ``flat`` (Dell OS6): nothing is indented, a section is its header line, its lines, then ``exit``.
  hier_config has no OS6 driver; :class:`DellOS6Driver` is one, on hier_config's driver interface: a
  preprocessor turns the flat text into the indented form (a header is a line matching
  :data:`OS6_SECTIONS`, its block ends at ``exit``, at the next header, or where the indentation of
  indented input ends), and pushes are rendered flat again with ``exit`` after every section;
- ``junos``: ``set`` commands, or the curly form (``vlans { VOICE { vlan-id 30; } }``), which hier_config's
  Junos driver turns into ``set`` commands.

The functions here take the netmiko ``device_type`` (:func:`platform_for`); a device type without a
hier_config driver is treated as generic indented text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from hier_config import HConfig, HConfigChild, Platform, get_hconfig, get_hconfig_driver
from hier_config.models import PerLineSubRule
from hier_config.platforms.driver_base import HConfigDriverBase, HConfigDriverRules

#: OS6 lines that open a configuration mode (a block ended by ``exit``)
OS6_SECTIONS = re.compile(
    r"^(interface |vlan \S|line |router |ipv6 router |ip access-list |ipv6 access-list |mac access-list |"
    r"class-map |policy-map |spanning-tree mst configuration|ip dhcp pool |monitor session \d+ mode|"
    r"aaa authentication dot1x|radius server |tacacs-server host |crypto |logging \d)")
#: OS6 lines of `show running-config` that only frame it
_OS6_FRAME = re.compile(r"^(configure|!.*)$")


class DellOS6Driver(HConfigDriverBase):
    """hier_config driver for Dell OS6 (N-series): flat configuration, blocks ended by ``exit``."""

    @staticmethod
    def config_preprocessor(config_text: str) -> str:
        return "\n".join(os6_indent(config_text.splitlines()))

    @staticmethod
    def _instantiate_rules() -> HConfigDriverRules:
        return HConfigDriverRules(
            indentation=1,
            per_line_sub=[PerLineSubRule(search=r"^\s*!.*", replace="")],
        )


def os6_indent(lines: Iterable[str]) -> list[str]:
    """OS6 flat text (or indented input) as indented text: section lines one space under their header."""
    out: list[str] = []
    header: str | None = None  # the open section
    indented = False  # the open section's lines came indented (no exit to expect)
    for raw in lines:
        line = raw.strip()
        if not line or _OS6_FRAME.match(line):
            continue
        if line == "exit":
            header, indented = None, False  # closes the open section; the final exit closes `configure`
            continue
        starts_section = bool(OS6_SECTIONS.match(line))
        if header is not None and not starts_section and raw[:1].isspace():
            indented = True
        if header is not None and indented and not raw[:1].isspace():
            header, indented = None, False  # indented input: the section ended with its indentation
        if starts_section and not raw[:1].isspace():
            header, indented = line, False
            out.append(line)
        elif header is not None:
            out.append(" " + line)
        else:
            out.append(line)
    return out


@dataclass(frozen=True)
class ConfigPlatform:
    """A device type's configuration model."""

    device_type: str
    style: str  # indented | flat | junos
    hier: Platform | None  # hier_config's platform (None: our own driver)

    def driver(self) -> HConfigDriverBase:
        return DellOS6Driver() if self.style == "flat" else get_hconfig_driver(self.hier)


_HIER = {
    "cisco_ios": Platform.CISCO_IOS, "cisco_xe": Platform.CISCO_IOS, "cisco_nxos": Platform.CISCO_NXOS,
    "cisco_xr": Platform.CISCO_XR, "arista_eos": Platform.ARISTA_EOS,
    "brocade_fastiron": Platform.RUCKUS_FASTIRON, "ruckus_fastiron": Platform.RUCKUS_FASTIRON,
    "juniper_junos": Platform.JUNIPER_JUNOS, "juniper": Platform.JUNIPER_JUNOS,
    "hp_procurve": Platform.HP_PROCURVE, "hp_comware": Platform.HP_COMWARE5, "huawei": Platform.HUAWEI_VRP,
    "huawei_vrp": Platform.HUAWEI_VRP, "fortinet": Platform.FORTINET_FORTIOS, "vyos": Platform.VYOS,
    "aruba_aoscx": Platform.ARUBA_AOSCX, "nokia_srl": Platform.NOKIA_SRL,
}


def platform_for(device_type: str | None) -> ConfigPlatform:
    """The configuration model of a netmiko device type (generic indented text when none is known)."""
    device_type = device_type or "generic"
    if device_type in ("dell_os6", "dell_dnos6"):
        return ConfigPlatform(device_type, "flat", None)
    hier = _HIER.get(device_type, Platform.GENERIC)
    return ConfigPlatform(device_type, "junos" if hier is Platform.JUNIPER_JUNOS else "indented", hier)


class ConfigSyntaxError(ValueError):
    """Config lines the platform cannot express (refused before anything is pushed)."""


def check_lines(platform: ConfigPlatform, lines: list[str]) -> None:
    """Refuse lines the platform cannot express, naming the first one (ConfigSyntaxError)."""
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if platform.style == "junos":
            if not text.startswith(("set ", "delete ")):
                raise ConfigSyntaxError(f"line {number} {text!r}: Junos is configured with `set ...` or "
                                        f"`delete ...` lines (the curly form is read, not pushed)")
            continue
        if number == 1 and line[:1].isspace():
            raise ConfigSyntaxError(f"line 1 {text!r} is indented but has no section line above it")
        if platform.style == "flat" and line[:1].isspace():
            previous = next((p for p in reversed(lines[:number - 1]) if not p[:1].isspace()), "")
            if not OS6_SECTIONS.match(previous.strip()):
                raise ConfigSyntaxError(f"line {number} {text!r}: {previous.strip()!r} does not open a section "
                                        f"on Dell OS6, so nothing can be configured under it")
            if OS6_SECTIONS.match(text):
                raise ConfigSyntaxError(f"line {number} {text!r}: Dell OS6 sections do not nest (end "
                                        f"{previous.strip()!r} with exit first)")


def parse(platform: ConfigPlatform, text: str) -> HConfig:
    """A config (or wanted lines) as a hier_config tree (ConfigSyntaxError if it is not of this platform)."""
    from hier_config.exceptions import DuplicateChildError

    try:
        return get_hconfig(platform.driver(), text)
    except (DuplicateChildError, ValueError) as exc:
        raise ConfigSyntaxError(f"the config does not read as {platform.device_type} configuration ({exc}): "
                                f"is device_type {platform.device_type} right for this device?") from None


def missing(platform: ConfigPlatform, running: str, lines: list[str]) -> HConfig:
    """The part of ``lines`` the running config lacks, as a tree (sections keep their header)."""
    have = parse(platform, running)
    if platform.style == "indented":
        # `exit`/`end` move between modes when typed; they are not configuration the device shows
        lines = [line for line in lines if line.strip() not in ("exit", "end")]
    wanted = parse(platform, "\n".join(lines))
    if platform.style == "indented":
        _adopt(wanted, have)
    negations = _take_negations(wanted, have, platform.driver().negation_prefix)
    result = wanted.difference(have)
    if platform.style == "junos":
        # `set system services ssh` is there when `set system services ssh root-login deny` is
        texts = [child.text for child in have.children]
        for child in list(result.children):
            if any(text.startswith(child.text + " ") for text in texts):
                child.delete()
    for path in negations:
        node: HConfig | HConfigChild = result
        for text in path:
            node = node.add_child(text, return_if_present=True)
    return result


def _take_negations(wanted: HConfig, have: HConfig, prefix: str) -> list[tuple[str, ...]]:
    """Remove ``no ...`` lines from ``wanted``; return the paths of those the running config needs.

    ``no X`` is needed where the running config has ``X`` (or ``X ...``) at that place: ``no vlan 470``
    when ``vlan 470`` is there, ``no shutdown`` inside an interface that is shut.
    """
    needed: list[tuple[str, ...]] = []

    def walk(node, running, path: tuple[str, ...]) -> None:
        for child in list(node.children):
            if child.text.startswith(prefix):
                positive = child.text[len(prefix):]
                if prefix == "delete ":  # Junos: `delete X` undoes `set X`
                    positive = "set " + positive
                if running is not None and any(c.text == positive or c.text.startswith(positive + " ")
                                               for c in running.children):
                    needed.append((*path, child.text))
                child.delete()
            else:
                walk(child, running.get_child(equals=child.text) if running is not None else None,
                     (*path, child.text))

    walk(wanted, have, ())
    return needed


def _adopt(wanted: HConfig, have: HConfig) -> None:
    """Unindented wanted lines that the device keeps inside the section above them, moved there.

    People write IOS lines as they type them (``vlan 420`` then ``name VOICE``, both unindented); the
    device shows ``name VOICE`` inside ``vlan 420``. A wanted line that is not a top-level line of the
    running config, written flat after one that is a section there, belongs in that section.
    """
    parent: HConfigChild | None = None  # a wanted line that is a section of the running config, written flat
    for child in list(wanted.children):
        top = have.get_child(equals=child.text)
        if top is not None:
            parent = child if top.children and not child.children else None
            continue
        if parent is not None and not child.children:
            parent.add_child(child.text, return_if_present=True)
            child.delete()
            continue
        parent = None


def push_lines(platform: ConfigPlatform, tree: HConfig) -> list[str]:
    """The lines to type to apply ``tree``: indented as IOS takes them, flat with ``exit`` on OS6."""
    if platform.style != "flat":
        return [line for line in tree.dump_simple()]
    out: list[str] = []
    for child in tree.children:
        out.append(child.text)
        for grandchild in child.all_children():
            out.append(grandchild.text)
        if child.children or OS6_SECTIONS.match(child.text):
            out.append("exit")
    return out


def tree_lines(tree: HConfig | HConfigChild) -> list[str]:
    """Every line of a tree, indented one space per level (for messages and results)."""
    return [" " * (c.depth() - 1) + c.text for c in tree.all_children()]


# -- the diff: the running text with the missing lines in their sections

_END = re.compile(r"^(end|exit)\s*$")


def _norm(line: str) -> str:
    return " ".join(line.split())


def _spans(platform: ConfigPlatform, lines: list[str]) -> dict[tuple[str, ...], int]:
    """Section path -> index of the running text's line after which a new line of it goes."""
    spans: dict[tuple[str, ...], int] = {}
    if platform.style == "flat":
        header = None
        for i, raw in enumerate(lines):
            line = raw.strip()
            if OS6_SECTIONS.match(line):
                header = _norm(line)
                spans[(header,)] = i
            elif line == "exit" and header is not None:
                header = None
            elif header is not None and line and not line.startswith("!"):
                spans[(header,)] = i
        return spans
    stack: list[tuple[int, str]] = []
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line or line.startswith("!") or _END.match(raw):
            continue
        indent = len(raw) - len(raw.lstrip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, _norm(line)))
        for depth in range(1, len(stack) + 1):
            spans[tuple(text for _, text in stack[:depth])] = i
    return spans


def diff_texts(platform: ConfigPlatform, running: str, tree: HConfig) -> tuple[str, str]:
    """The running config before and after adding ``tree``, as the device would show them (for the diff).

    Junos in the curly form is compared in that form (both sides rebuilt from ``set`` lines, so that a
    new statement shows inside its block); in ``set`` form the new lines follow the others.
    """
    before = running.replace("\r\n", "\n").rstrip("\n") + "\n"
    if platform.style != "junos":
        return before, after_text(platform, running, tree)
    from ..connections.junos import configuration_element, curly_to_set, set_to_xml, xml_to_curly

    added = [line for line in tree.dump_simple() if line.startswith("set ")]
    deleted = [line[len("delete "):] for line in tree.dump_simple() if line.startswith("delete ")]
    curly = "{" in running or not running.strip()
    current = curly_to_set(running) if curly else [line.strip() for line in before.splitlines() if line.strip()]
    kept = [line for line in current if not any(line == f"set {d}" or line.startswith(f"set {d} ") for d in deleted)]
    if not curly:
        return before, "\n".join([*kept, *added]) + "\n"

    def canon(lines: list[str]) -> str:
        return xml_to_curly(configuration_element(set_to_xml(lines))) if lines else ""

    return canon(current), canon([*kept, *added])


def after_text(platform: ConfigPlatform, running: str, tree: HConfig) -> str:
    """``running`` with the lines of ``tree`` added where the device would show them (for the diff)."""
    lines = running.replace("\r\n", "\n").rstrip("\n").split("\n")
    if platform.style == "junos":
        return "\n".join([*lines, *tree.dump_simple()]) + "\n"
    spans = _spans(platform, lines)
    inserts: dict[int, list[str]] = {}
    tail: list[str] = []

    def render(child: HConfigChild, depth: int) -> list[str]:
        if platform.style == "flat":
            out = [child.text, *(c.text for c in child.all_children())]
            return out + (["exit"] if child.children or OS6_SECTIONS.match(child.text) else [])
        unit = " " * (3 if platform.hier is Platform.ARISTA_EOS else 1)
        return [unit * depth + child.text, *(unit * (c.depth() - 1) + c.text for c in child.all_children())]

    def place(node: HConfig | HConfigChild, path: tuple[str, ...]) -> None:
        for child in node.children:
            here = (*path, _norm(child.text))
            if here in spans and child.children:
                place(child, here)
            elif path in spans:
                inserts.setdefault(spans[path], []).extend(render(child, len(path)))
            else:
                tail.extend(render(child, 0))

    place(tree, ())
    result: list[str] = []
    # new sections go before the closing `end` (or the OS6 final `exit`), not after it
    closing = len(lines)
    while closing > 0 and not lines[closing - 1].strip():
        closing -= 1
    if closing > 0 and _END.match(lines[closing - 1]):
        closing -= 1  # only the one closing line: the `exit` before it ends an OS6 block
    for i, line in enumerate(lines):
        if i == closing:
            result.extend(tail)
        result.append(line)
        result.extend(inserts.get(i, []))
    if closing == len(lines):
        result.extend(tail)
    return "\n".join(result) + "\n"


@dataclass
class Block:
    """A top-level config line and every (whitespace-normalized) line under it."""

    header: str
    lines: list[str]


def blocks(platform: ConfigPlatform, config: str) -> list[Block]:
    """A config as its top-level blocks, in order, by the platform's section rules.

    Junos ``set`` lines are grouped as the curly form shows them: one block per entry of a list
    container (``interfaces ge-0/0/1``, ``vlans VOICE``) or per other top-level statement (``system``),
    holding the rest of each line (``description uplink``, ``unit 0 family ...``).
    """
    tree = parse(platform, config)
    if platform.style == "junos":
        from ..connections.junos import LIST_CONTAINERS

        grouped: dict[str, list[str]] = {}
        for child in tree.children:
            words = child.text.split()
            if words[0] != "set" or len(words) < 2:
                continue
            size = 2 if words[1] in LIST_CONTAINERS and len(words) > 2 else 1
            header = " ".join(words[1:1 + size])
            rest = " ".join(words[1 + size:])
            grouped.setdefault(header, [])
            if rest:
                grouped[header].append(rest)
        return [Block(header, lines) for header, lines in grouped.items()]
    return [Block(_norm(child.text), [_norm(c.text) for c in child.all_children()]) for child in tree.children]


def config_lines(platform: ConfigPlatform, config: str) -> list[str]:
    """Every line of a config, whitespace-normalized (Junos: its ``set`` lines), for rules on whole lines."""
    return [_norm(child.text) for child in parse(platform, config).all_children()]
