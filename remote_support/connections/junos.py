"""Junos configuration in its three forms: XML (NETCONF), the curly text (``show configuration``) and ``set`` lines.

NETCONF speaks XML; people read and write the curly form and ``set`` commands. :func:`xml_to_curly` and
:func:`curly_to_set` make the texts the journal keeps and the diffs show; :func:`set_to_xml` turns the
``set``/``delete`` lines of a ``config`` step into the ``<configuration>`` an ``<edit-config>`` loads.

Junos' XML names list entries by a ``<name>`` child, and a few containers hold entries of a singular
element (``<vlans><vlan><name>VOICE``, shown ``vlans { VOICE { ... } }``): :data:`LIST_CONTAINERS`. Other
keyed elements (``unit 0``, ``interface ge-0/0/1`` under a protocol) are :data:`KEYED`. A leaf with a value
is ``<vlan-id>30</vlan-id>``, one without is ``<disable/>``. This covers the common statements (VLANs,
interfaces, units, protocols per interface, system leaves); a statement of another shape is sent as the
generic reading gives it, and the device's own validation has the last word.
"""

from __future__ import annotations

import shlex
from typing import Iterable

from lxml import etree

#: container -> the element of its entries (shown without that element's name in the curly form)
LIST_CONTAINERS = {"vlans": "vlan", "interfaces": "interface", "groups": "group", "policy-statement": "term",
                   "routing-instances": "instance", "prefix-lists": "prefix-list"}
#: elements whose next word is their name (``unit 0``, ``interface ge-0/0/1`` inside a protocol)
KEYED = {"unit", "interface", "term", "prefix-list", "group", "neighbor", "filter", "policy-statement",
         "community", "user", "address", "route", "server", "host", "vlan"}
INDENT = "    "  # Junos shows, and hier_config's Junos reader expects, four spaces a level


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def configuration_element(reply_xml: str | bytes) -> etree._Element:
    """The ``<configuration>`` element of a ``<get-config>`` reply (an empty one if there is none)."""
    root = etree.fromstring(reply_xml.encode() if isinstance(reply_xml, str) else reply_xml)
    for element in root.iter():
        if _local(element.tag) == "configuration":
            return element
    return etree.Element("configuration")


def _quote(value: str) -> str:
    return f'"{value}"' if not value or any(c.isspace() or c in ';{}"' for c in value) else value


def xml_to_curly(configuration: etree._Element) -> str:
    """A ``<configuration>`` element as Junos shows it (``show configuration``)."""
    lines: list[str] = []

    def walk(element: etree._Element, depth: int, parent: str) -> None:
        tag = _local(element.tag)
        if not tag:
            return  # comments, processing instructions
        children = [c for c in element if _local(c.tag)]
        name = next((c for c in children if _local(c.tag) == "name"), None)
        pad = INDENT * depth
        if name is not None:
            rest = [c for c in children if c is not name]
            # an entry of a list container shows as its name alone: vlans { VOICE { ... } }
            label = _quote((name.text or "").strip()) if LIST_CONTAINERS.get(parent) == tag \
                else f"{tag} {_quote((name.text or '').strip())}"
            if rest:
                lines.append(f"{pad}{label} {{")
                for child in rest:
                    walk(child, depth + 1, tag)
                lines.append(f"{pad}}}")
            else:
                lines.append(f"{pad}{label};")
        elif children:
            lines.append(f"{pad}{tag} {{")
            for child in children:
                walk(child, depth + 1, tag)
            lines.append(f"{pad}}}")
        elif (element.text or "").strip():
            lines.append(f"{pad}{tag} {_quote(element.text.strip())};")
        else:
            lines.append(f"{pad}{tag};")

    for child in configuration:
        walk(child, 0, "configuration")
    return "\n".join(lines) + ("\n" if lines else "")


def curly_to_set(text: str) -> list[str]:
    """The curly form as ``set`` lines (``show configuration | display set``)."""
    path: list[str] = []
    out: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "/*")):
            continue
        if line == "}":
            if path:
                path.pop()
        elif line.endswith("{"):
            path.append(line[:-1].strip())
        else:
            out.append(" ".join(["set", *path, line.rstrip(";").strip()]))
    return out


class SetSyntaxError(ValueError):
    """A line that is not a ``set``/``delete`` statement Junos can take."""


def set_to_xml(lines: Iterable[str]) -> str:
    """``set``/``delete`` lines as the ``<config><configuration>...`` of an ``<edit-config>``."""
    root = etree.Element("configuration")
    for number, line in enumerate(lines, 1):
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise SetSyntaxError(f"line {number} {line.strip()!r}: {exc}") from None
        if not words or words[0] not in ("set", "delete") or len(words) < 2:
            raise SetSyntaxError(f"line {number} {line.strip()!r}: not a `set ...` or `delete ...` statement")
        _add(root, words[1:], delete=words[0] == "delete")
    body = etree.tostring(root, encoding="unicode")
    return f'<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0">{body}</config>'


def _child(parent: etree._Element, tag: str, name: str | None = None) -> etree._Element:
    for existing in parent:
        if existing.tag == tag and (name is None or existing.findtext("name") == name):
            if name is not None or len(existing) or existing.text is None:
                return existing
    element = etree.SubElement(parent, tag)
    if name is not None:
        etree.SubElement(element, "name").text = name
    return element


def _add(parent: etree._Element, words: list[str], *, delete: bool) -> None:
    node = parent
    i = 0
    while i < len(words):
        word = words[i]
        last = i == len(words) - 1
        if _local(node.tag) in LIST_CONTAINERS:
            # inside vlans/interfaces: the word is an entry's name
            node = _child(node, LIST_CONTAINERS[_local(node.tag)], word)
            i += 1
            if i == len(words) and delete:
                node.set("operation", "delete")
            continue
        if word in KEYED and not last and _local(node.tag) not in ("ethernet-switching",) \
                and not (word == "vlan" and words[i + 1] == "members"):
            node = _child(node, word, words[i + 1])
            i += 2
            if i == len(words) and delete:
                node.set("operation", "delete")
            continue
        if i == len(words) - 2 and words[i + 1] not in LIST_CONTAINERS and word not in LIST_CONTAINERS:
            leaf = etree.SubElement(node, word)  # a leaf and its value
            leaf.text = words[i + 1]
            if delete:
                leaf.set("operation", "delete")
            return
        node = _child(node, word)
        i += 1
        if i == len(words) and delete:
            node.set("operation", "delete")


def rpc_error_text(exc: Exception) -> str:
    """An ncclient RPCError as Junos says it: ``error: <message>`` (one line each)."""
    errors = getattr(exc, "errors", None) or [exc]
    texts = []
    for error in errors:
        message = " ".join(str(getattr(error, "message", None) or error).split())
        path = getattr(error, "path", None)
        texts.append(f"error: {message}" + (f" (at {' '.join(path.split())})" if path else ""))
    return "\n".join(dict.fromkeys(texts))
