"""Safe, bounded, located YAML loading.

Only plain YAML data is accepted: mappings, sequences and the standard scalar
types. Any explicit tag outside YAML's core schema is refused (no tag can
construct an object). The file size, the nesting depth and the number of
values are bounded while the document is composed; the size the document
would have once its aliases are expanded is computed on the node graph
(memoised, never expanded), so a "billion laughs" file is refused at once
without eating memory, and an alias that contains itself is refused too.
Every value carries its source position, so later checks can say
``path:line:col``. Keys are always text: ``yes:``/``no:``/``1:`` keep the
text written, they do not become booleans or numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.errors import DefinitionError, Location, Problem

#: Largest file accepted, in bytes (a large definition is ~15 KB).
MAX_BYTES = 1_000_000
#: Most values a document may hold, aliases expanded.
MAX_NODES = 50_000
#: Deepest nesting accepted, aliases expanded.
MAX_DEPTH = 64

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


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe composer with the depth and node count bounded while it runs.

    PyYAML composes recursively: without a bound, ``[[[[...]]]]`` a few
    thousand levels deep ends in a RecursionError after a long time.
    """

    def __init__(self, stream: str, file: str):
        super().__init__(stream)
        self._file = file
        self._depth = 0
        self._nodes = 0

    def fetch_flow_collection_start(self, TokenClass):  # noqa: N803 - PyYAML hook
        # The scanner looks ahead for a possible key at every '[' or '{': bound
        # the flow depth here, before that lookahead turns quadratic.
        if self.flow_level >= MAX_DEPTH:
            mark = self.get_mark()
            raise DefinitionError([Problem(
                Location(self._file, mark.line + 1, mark.column + 1), "yaml-too-deep",
                f"the document nests more than {MAX_DEPTH} levels deep")])
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent, index):  # noqa: D102 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            mark = self.peek_event().start_mark
            raise DefinitionError([Problem(
                Location(self._file, mark.line + 1, mark.column + 1), "yaml-too-large",
                f"the document holds more than {MAX_NODES:,} values; split it or write less")])
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise DefinitionError([Problem(
                    Location(self._file, mark.line + 1, mark.column + 1), "yaml-too-deep",
                    f"the document nests more than {MAX_DEPTH} levels deep")])
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_expansion(root: Node, file: str) -> None:
    """Refuse a document whose aliases would expand too far, without expanding them.

    Sizes and depths are memoised per node: an alias can only name an anchor
    defined earlier, so its node is already measured when it is met (or is
    still being measured: the alias is inside its own anchor, a cycle).
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()

    def measure(node: Node) -> None:
        key = id(node)
        if key in size:
            return
        if key in open_:
            raise _fail(file, node, "yaml-alias-cycle",
                        "an alias refers to the value that contains it; write the data out plainly")
        open_.add(key)
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        for child in children:
            measure(child)
        open_.discard(key)
        size[key] = 1 + sum(size[id(c)] for c in children)
        depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
        if size[key] > MAX_NODES:
            raise _fail(file, node, "yaml-too-large",
                        f"with its aliases expanded the document holds more than {MAX_NODES:,} values "
                        "(alias bomb?); write the data out plainly")
        if depth[key] > MAX_DEPTH:
            raise _fail(file, node, "yaml-too-deep",
                        f"with its aliases expanded the document nests more than {MAX_DEPTH} levels deep")

    measure(root)


def _convert(node: Node, file: str, budget: _Budget, depth: int = 0) -> Any:
    budget.nodes += 1
    if budget.nodes > MAX_NODES:
        raise _fail(
            file, node, "yaml-too-large",
            f"the document expands to more than {MAX_NODES:,} values (alias bomb?); "
            "write the data out plainly",
        )
    if depth > MAX_DEPTH:
        raise _fail(file, node, "yaml-too-deep", f"the document nests more than {MAX_DEPTH} levels deep")
    if node.tag not in _ALLOWED_TAGS:
        raise _fail(
            file, node, "yaml-tag",
            f"the tag {node.tag!r} is not allowed; only plain YAML data "
            "(mappings, lists, text, numbers, dates, true/false) is accepted",
        )
    if isinstance(node, ScalarNode):
        try:
            # A fresh constructor per value: nothing is cached across loads or threads.
            return yaml.constructor.SafeConstructor().construct_object(node, deep=False)
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
            if not isinstance(key_node, ScalarNode) or key is None:
                raise _fail(file, key_node, "yaml-key", "a key must be plain text")
            # Keys are text as written: `no:` stays "no", `1:` stays "1".
            key = key_node.value
            if key in out:
                raise _fail(file, key_node, "yaml-duplicate-key",
                            f"the key '{key}' appears twice in the same mapping; keep one")
            out[key] = _convert(value_node, file, budget, depth + 1)
            out.key_locs[key] = _loc(file, key_node)
        return out
    raise _fail(file, node, "yaml-node", "unsupported YAML node")  # pragma: no cover


def _byte_location(data: bytes, offset: int, file: str) -> Location:
    """The line and column (in characters, as far as they decode) of a byte offset."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    col = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return Location(file, data.count(b"\n", 0, offset) + 1, col)


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
            raise DefinitionError([Problem(_byte_location(text, text.index(b"\x00"), file), "yaml-binary",
                                           "the file is binary (it holds NUL bytes), not YAML text")])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DefinitionError([Problem(
                _byte_location(text, exc.start, file), "yaml-encoding",
                f"the file is not UTF-8 text (byte 0x{text[exc.start]:02x} at offset {exc.start}); "
                "save it as UTF-8")]) from None
    if len(text) > MAX_BYTES:
        raise _fail(file, None, "yaml-too-large",
                    f"the file has {len(text):,} characters; the limit is {MAX_BYTES:,}")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        col = text.index("\x00") - (text.rfind("\n", 0, text.index("\x00")) + 1) + 1
        raise DefinitionError([Problem(Location(file, line, col), "yaml-binary",
                                       "the file is binary (it holds NUL bytes), not YAML text")])
    try:
        loader = _BoundedLoader(text, file)
        try:
            nodes = []
            while loader.check_node():
                nodes.append(loader.get_node())
                if len(nodes) > 1:
                    break
        finally:
            loader.dispose()
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
    _check_expansion(nodes[0], file)
    return _convert(nodes[0], file, _Budget())


def load_file(path: str) -> Any:
    """Read and parse a YAML file (see :func:`load_text`)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise DefinitionError([Problem(Location(path), "file-unreadable", exc.strerror or str(exc))]) from None
    return load_text(data, path)
