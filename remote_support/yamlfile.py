"""YAML that remembers line numbers, so every error in a user's file can say file:line.

Shared by inventories and task files. Mappings load as :class:`Map` and sequences as :class:`Seq`,
plain dict/list subclasses that also carry the line of themselves and of each key or item.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import yaml

from .errors import SourceError


class Map(dict):
    """A YAML mapping that remembers its own line and each key's line (1-based)."""

    def __init__(self, *args: Any, line: int = 0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.line = line
        self.lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class Seq(list):
    """A YAML sequence that remembers each item's line."""

    def __init__(self, *args: Any, line: int = 0):
        super().__init__(*args)
        self.line = line
        self.lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if index < len(self.lines) else self.line


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml: 6x faster, same marks
    """SafeLoader that records line numbers and rejects duplicate keys, which PyYAML silently accepts."""

    def __init__(self, stream: str, path: str, error: type[SourceError]):
        super().__init__(stream)
        self.path = path
        self.error = error

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            # Keys merged in with `<<:` may be overridden on purpose; only the mapping's own keys count.
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise self.error(f"key {key!r} appears twice in the same mapping (first at line {seen[key]}): "
                                 f"YAML keeps only the last one; remove or merge one of them",
                                 source=self.path, line=line)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[Map]:
    data = Map(line=node.start_mark.line + 1)
    yield data
    data.update(loader.construct_mapping(node))
    for key_node, _ in node.value:  # flattened by now; the mapping's own keys come last and win
        key = loader.construct_object(key_node)
        try:
            data.lines[key] = key_node.start_mark.line + 1
        except TypeError:  # an unhashable key would have failed above; keep going regardless
            pass


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> Iterator[Seq]:
    data = Seq(line=node.start_mark.line + 1)
    yield data
    data.extend(loader.construct_sequence(node))
    data.lines = [item.start_mark.line + 1 for item in node.value]


def _construct_vault(loader: _LineLoader, node: yaml.Node) -> Any:
    raise loader.error("Ansible Vault values (!vault) are not supported: store the secret elsewhere and write "
                       "{secret: \"env:NAME\"} or {secret: \"file:PATH\"}", source=loader.path,
                       line=node.start_mark.line + 1)


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
_LineLoader.add_constructor("!vault", _construct_vault)


#: nodes that aliases may add beyond the document's own: a "billion laughs" file of a few lines expands
#: to gigabytes as soon as anything walks it (merging, templating, the journal's JSON)
MAX_ALIAS_EXPANSION = 1_000_000


def _check_expansion(node: yaml.Node | None, path: str, error: type[SourceError]) -> None:
    """Refuse a document whose aliases expand it beyond MAX_ALIAS_EXPANSION nodes, or refer to themselves."""
    if node is None:
        return
    sizes: dict[int, int] = {}
    distinct = 0
    busy: set[int] = set()
    # an explicit stack: a deeply nested document must not hit Python's recursion limit
    stack: list[tuple[yaml.Node, bool]] = [(node, False)]
    while stack:
        current, done = stack.pop()
        key = id(current)
        children = []
        if isinstance(current, yaml.SequenceNode):
            children = current.value
        elif isinstance(current, yaml.MappingNode):
            children = [n for pair in current.value for n in pair]
        if done:
            busy.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] - distinct > MAX_ALIAS_EXPANSION:
                raise error(f"aliases (*name) expand this document to more than {MAX_ALIAS_EXPANSION} values: "
                            "refusing it (a YAML bomb?); write the values out or use fewer aliases",
                            source=path, line=current.start_mark.line + 1)
            continue
        if key in sizes:
            continue
        if key in busy:
            raise error("an alias (*name) refers to the value that contains it: a YAML value cannot contain "
                        "itself", source=path, line=current.start_mark.line + 1)
        busy.add(key)
        distinct += 1
        stack.append((current, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)


def load_yaml(text: str, path: str, error: type[SourceError]) -> Any:
    """Parse YAML (or JSON) text from ``path``; syntax errors raise ``error`` with the line."""
    loader = _LineLoader(text, path, error)
    try:
        node = loader.get_single_node()
        _check_expansion(node, path, error)
        return loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        if path.endswith(".json") or text.lstrip().startswith("{"):
            return load_json(text, path, error)  # JSON may indent with tabs, which YAML refuses
        mark = exc.problem_mark or exc.context_mark
        what = ", ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise error(f"not valid YAML ({what}): fix the syntax on this line or just above it",
                    source=path, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise error(f"not valid YAML ({exc}): fix the syntax", source=path) from None
    finally:
        loader.dispose()


def load_json(text: str, path: str, error: type[SourceError]) -> Any:
    """JSON that is not YAML: without line numbers, which only the YAML loader tracks."""

    def mapping(pairs: list[tuple[str, Any]]) -> Map:
        data = Map()
        for key, value in pairs:
            if key in data:
                raise error(f"key {key!r} appears twice in the same object: remove or merge one of them",
                            source=path)
            data[key] = value
        return data

    try:
        return json.loads(text, object_pairs_hook=mapping)
    except json.JSONDecodeError as exc:
        raise error(f"not valid JSON ({exc.msg}): fix the syntax", source=path, line=exc.lineno) from None
