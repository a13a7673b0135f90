"""Safe, bounded, located YAML loading.

Only plain YAML data is accepted: mappings, sequences and the standard scalar
types. Any explicit tag outside YAML's core schema is refused (no tag can
construct an object), the file size is bounded, and alias expansion is bounded
by counting every node visited, so a "billion laughs" file is refused at once
without eating memory. Every value carries its source position, so later
checks can say ``path:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.errors import DefinitionError, Location, Problem

MAX_BYTES = 1_000_000
MAX_NODES = 50_000

_ALLOWED_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}


class LMap(dict):
    """A mapping that remembers where it and each of its keys stand."""

    loc: Location
    key_locs: dict[str, Location]


class LSeq(list):
    """A sequence that remembers where it and each of its items stand."""

    loc: Location
    item_locs: list[Location]


@dataclass
class _Budget:
    nodes: int = 0


def _loc(file: str, node: Node) -> Location:
    mark = node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


def _fail(file: str, node: Node | None, rule: str, message: str) -> DefinitionError:
    loc = _loc(file, node) if node is not None else Location(file, 1, 1)
    return DefinitionError([Problem(loc, rule, message)])


_scalar_constructor = yaml.SafeLoader(stream="")


def _convert(node: Node, file: str, budget: _Budget, depth: int = 0) -> Any:
    budget.nodes += 1
    if budget.nodes > MAX_NODES:
        raise _fail(
            file, node, "yaml-too-large",
            f"the document expands to more than {MAX_NODES:,} values (alias bomb?); "
            "write the data out plainly",
        )
    if depth > 64:
        raise _fail(file, node, "yaml-too-deep", "the document nests more than 64 levels deep")
    if node.tag not in _ALLOWED_TAGS:
        raise _fail(
            file, node, "yaml-tag",
            f"the tag {node.tag!r} is not allowed; only plain YAML data "
            "(mappings, lists, text, numbers, dates, true/false) is accepted",
        )
    if isinstance(node, ScalarNode):
        try:
            return _scalar_constructor.construct_object(node, deep=False)
        except (yaml.YAMLError, ValueError) as exc:
            raise _fail(file, node, "yaml-value", f"cannot read this value: {exc}") from None
    if isinstance(node, SequenceNode):
        out = LSeq()
        out.loc = _loc(file, node)
        out.item_locs = []
        for item in node.value:
            out.append(_convert(item, file, budget, depth + 1))
            out.item_locs.append(_loc(file, item))
        return out
    if isinstance(node, MappingNode):
        out = LMap()
        out.loc = _loc(file, node)
        out.key_locs = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _fail(file, key_node, "yaml-merge-key",
                            "merge keys ('<<') are not supported; use `extends` and overrides")
            key = _convert(key_node, file, budget, depth + 1)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise _fail(file, key_node, "yaml-key", "a key must be plain text")
            key = str(key)
            if key in out:
                raise _fail(file, key_node, "yaml-duplicate-key",
                            f"the key '{key}' appears twice in the same mapping; keep one")
            out[key] = _convert(value_node, file, budget, depth + 1)
            out.key_locs[key] = _loc(file, key_node)
        return out
    raise _fail(file, node, "yaml-node", "unsupported YAML node")  # pragma: no cover


def load_text(text: str | bytes, file: str) -> Any:
    """Parse one YAML document into located plain data.

    Parameters
    ----------
    text : str or bytes
        The document. Bytes must be UTF-8.
    file : str
        The name used in error locations.

    Returns
    -------
    LMap, LSeq or a scalar
        Plain data whose mappings and sequences carry ``loc`` attributes.

    Raises
    ------
    DefinitionError
        For anything that is not a single, plain, bounded YAML document; the
        message is located as ``file:line:col: rule-id: message``.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise _fail(file, None, "yaml-too-large",
                        f"the file is {len(text):,} bytes; the limit is {MAX_BYTES:,}")
        if b"\x00" in text:
            raise _fail(file, None, "yaml-binary", "the file is binary, not YAML text")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DefinitionError([Problem(
                Location(file, 1, 1), "yaml-encoding",
                f"the file is not UTF-8 text (byte {exc.start}); save it as UTF-8")]) from None
    if len(text) > MAX_BYTES:
        raise _fail(file, None, "yaml-too-large",
                    f"the file has {len(text):,} characters; the limit is {MAX_BYTES:,}")
    if "\x00" in text:
        raise _fail(file, None, "yaml-binary", "the file is binary, not YAML text")
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        what = exc.problem or exc.context or "syntax error"
        raise DefinitionError([Problem(loc, "yaml-syntax", f"{what} (check indentation, quotes and colons here)")]) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(Location(file, 1, 1), "yaml-syntax", str(exc))]) from None
    if len(nodes) > 1:
        raise _fail(file, nodes[1], "yaml-multi-document", "the file holds more than one YAML document ('---'); keep one")
    if not nodes or nodes[0] is None:
        raise _fail(file, None, "yaml-empty", "the file is empty; a definition needs at least `code`, `name` and `steps`")
    return _convert(nodes[0], file, _Budget())


def load_file(path: str) -> Any:
    """Read and parse a YAML file (see :func:`load_text`)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise DefinitionError([Problem(Location(path), "file-unreadable", exc.strerror or str(exc))]) from None
    return load_text(data, path)
