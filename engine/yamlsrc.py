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

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

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


_BINARY = "đây là tệp nhị phân (chứa byte NUL), không phải văn bản YAML"


def vn_count(n: int) -> str:
    """A count as Vietnamese writes it: ``50.000`` (a dot between thousands)."""
    return f"{n:,}".replace(",", ".")


#: PyYAML's problem texts (English) and what the author reads instead.
_SYNTAX_PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), vi) for p, vi in (
    (r"^mapping values are not allowed here$",
     "không được có dấu ':' (khóa: giá trị) ở vị trí này"),
    (r"^mapping keys are not allowed here$", "không được đặt khóa ở vị trí này"),
    (r"^sequence entries are not allowed here$", "không được đặt mục danh sách ('-') ở vị trí này"),
    (r"^found character '\\t' that cannot start any token$",
     "ký tự Tab ('\\t') không được dùng ở đây: YAML chỉ thụt lề bằng dấu cách"),
    (r"^found character (.+) that cannot start any token$", "ký tự {0} không được đứng ở vị trí này"),
    (r"^expected <block end>, but found (.+)$",
     "khối phía trên chưa kết thúc đúng cách (gặp {0}): thụt lề không khớp hoặc thiếu dấu nháy đóng"),
    (r"^could not find expected ':'$", "không tìm thấy dấu ':' sau khóa"),
    (r"^found unexpected end of stream$", "tệp kết thúc khi chuỗi trong dấu nháy chưa được đóng"),
    (r"^found unexpected document separator$", "gặp dấu phân cách tài liệu ('---') khi chuỗi chưa được đóng"),
    (r"^expected ',' or '([\]}])', but got (.+)$", "cần dấu ',' hoặc '{0}' nhưng gặp {1}"),
    (r"^expected the node content, but found (.+)$", "thiếu giá trị ở vị trí này (gặp {0})"),
    (r"^found undefined alias (.+)$", "bí danh (alias) {0} chưa được khai báo"),
    (r"^found unknown escape character (.+)$", "ký tự thoát {0} không hợp lệ trong chuỗi ngoặc kép"),
    (r"^found undefined tag handle (.+)$", "tiền tố thẻ (tag) {0} chưa được khai báo"),
    (r"^second occurrence$", "neo (anchor) này đã được khai báo trước đó"),
    (r"^expected a comment or a line break, but found (.+)$", "cần xuống dòng hoặc chú thích nhưng gặp {0}"),
    (r"^expected alphabetic or numeric character, but found (.+)$", "cần chữ cái hoặc chữ số nhưng gặp {0}"),
))


#: PyYAML's token names, as an author would call what was found.
_TOKENS = {
    "'<scalar>'": "một giá trị",
    "'<block mapping start>'": "một khóa mới",
    "'<block sequence start>'": "một danh sách",
    "'<block end>'": "chỗ hết thụt lề",
    "'<stream end>'": "cuối tệp",
    "'?'": "một khóa",
    "'-'": "một mục danh sách ('-')",
    "':'": "dấu ':'",
}


def syntax_problem(problem: str | None) -> str:
    """PyYAML's description of a syntax error, in Vietnamese (an unknown one is quoted as it is)."""
    text = (problem or "").strip()
    for pattern, vietnamese in _SYNTAX_PROBLEMS:
        m = pattern.match(text)
        if m:
            return vietnamese.format(*(_TOKENS.get(g, g) for g in m.groups()))
    return f"lỗi cú pháp YAML ('{text}')" if text else "lỗi cú pháp YAML"


_DATE_PROBLEMS = {
    "month must be in 1..12": "tháng phải từ 1 đến 12",
    "day is out of range for month": "tháng đó không có ngày này",
}


def _value_problem(node: ScalarNode, exc: Exception) -> str:
    """Why a scalar could not be read (in practice: a date that does not exist)."""
    detail = str(getattr(exc, "problem", None) or exc)
    if node.tag == "tag:yaml.org,2002:timestamp":
        why = _DATE_PROBLEMS.get(detail, f"'{detail}'")
        return f"ngày '{node.value}' không hợp lệ ({why}); hãy ghi một ngày có thật theo dạng YYYY-MM-DD"
    return f"không đọc được giá trị '{node.value}' ('{detail}'); hãy viết lại giá trị này"


def unreadable(exc: OSError) -> str:
    """Why a file could not be read, in Vietnamese."""
    import errno

    reasons = {
        errno.ENOENT: "không có tệp này",
        errno.EISDIR: "đây là thư mục, không phải tệp",
        errno.EACCES: "không có quyền đọc tệp này",
        errno.EPERM: "không có quyền đọc tệp này",
    }
    reason = reasons.get(exc.errno or 0)
    return reason or f"không đọc được tệp ('{exc.strerror or exc}')"


class _Bounded:
    """PyYAML's composer with the depth and node count bounded while it runs (a mixin of the loaders).

    PyYAML composes recursively: without a bound, ``[[[[...]]]]`` a few
    thousand levels deep ends in a RecursionError after a long time.
    """

    _file: str
    _depth: int
    _nodes: int

    def compose_node(self, parent, index):  # noqa: D102 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            mark = self.peek_event().start_mark
            raise DefinitionError([Problem(
                Location(self._file, mark.line + 1, mark.column + 1), "yaml-too-large",
                f"tệp chứa hơn {vn_count(MAX_NODES)} giá trị; hãy tách tệp hoặc viết gọn lại")])
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise DefinitionError([Problem(
                    Location(self._file, mark.line + 1, mark.column + 1), "yaml-too-deep",
                    f"dữ liệu lồng nhau quá {MAX_DEPTH} cấp; hãy viết phẳng hơn")])
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _BoundedLoader(_Bounded, yaml.SafeLoader):
    """PyYAML's pure-Python safe loader, bounded (:class:`_Bounded`): what every text an author wrote goes through."""

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
                f"dữ liệu lồng nhau quá {MAX_DEPTH} cấp; hãy viết phẳng hơn")])
        super().fetch_flow_collection_start(TokenClass)


try:  # libyaml's parser (PyYAML's C extension, imported by ``import yaml`` when it was built)
    from yaml.cyaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML without libyaml: load_stored is load_text
    _CParser = None


if _CParser is not None:
    class _StoredLoader(_Bounded, Composer, _CParser, yaml.resolver.Resolver):  # type: ignore[misc, valid-type]
        """libyaml's parser under PyYAML's bounded composer and resolver (:func:`load_stored`)."""

        def __init__(self, stream: str, file: str):
            _CParser.__init__(self, stream)
            Composer.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self._file = file
            self._depth = 0
            self._nodes = 0


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
                        "một bí danh (alias) trỏ tới chính giá trị chứa nó; hãy viết dữ liệu ra đầy đủ, "
                        "không dùng alias")
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
                        f"khi mở rộng các bí danh (alias), tệp chứa hơn {vn_count(MAX_NODES)} giá trị "
                        "(có thể là tệp “bom alias”); hãy viết dữ liệu ra đầy đủ, không dùng alias")
        if depth[key] > MAX_DEPTH:
            raise _fail(file, node, "yaml-too-deep",
                        f"khi mở rộng các bí danh (alias), dữ liệu lồng nhau quá {MAX_DEPTH} cấp; "
                        "hãy viết dữ liệu ra đầy đủ, không dùng alias")

    measure(root)


def _convert(node: Node, file: str, budget: _Budget, depth: int = 0) -> Any:
    budget.nodes += 1
    if budget.nodes > MAX_NODES:
        raise _fail(
            file, node, "yaml-too-large",
            f"khi mở rộng các bí danh (alias), tệp chứa hơn {vn_count(MAX_NODES)} giá trị "
            "(có thể là tệp “bom alias”); hãy viết dữ liệu ra đầy đủ, không dùng alias",
        )
    if depth > MAX_DEPTH:
        raise _fail(file, node, "yaml-too-deep", f"dữ liệu lồng nhau quá {MAX_DEPTH} cấp; hãy viết phẳng hơn")
    if node.tag not in _ALLOWED_TAGS:
        raise _fail(
            file, node, "yaml-tag",
            f"không được dùng thẻ (tag) {node.tag!r}; chỉ chấp nhận dữ liệu YAML thông thường "
            "(nhóm khóa, danh sách, chữ, số, ngày tháng, true/false)",
        )
    if isinstance(node, ScalarNode):
        try:
            # A fresh constructor per value: nothing is cached across loads or threads.
            return yaml.constructor.SafeConstructor().construct_object(node, deep=False)
        except (yaml.YAMLError, ValueError) as exc:
            raise _fail(file, node, "yaml-value", _value_problem(node, exc)) from None
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
                            "không hỗ trợ khóa gộp ('<<'); hãy dùng `extends` và ghi đè từng bước")
            key = _convert(key_node, file, budget, depth + 1)
            if not isinstance(key_node, ScalarNode) or key is None:
                raise _fail(file, key_node, "yaml-key", "khóa phải là một chuỗi chữ đơn giản")
            # Keys are text as written: `no:` stays "no", `1:` stays "1".
            key = key_node.value
            if key in out:
                raise _fail(file, key_node, "yaml-duplicate-key",
                            f"khóa '{key}' xuất hiện hai lần trong cùng một nhóm khóa; hãy giữ lại một")
            out[key] = _convert(value_node, file, budget, depth + 1)
            out.key_locs[key] = _loc(file, key_node)
        return out
    raise _fail(file, node, "yaml-node", "loại dữ liệu YAML này không được hỗ trợ")  # pragma: no cover


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
                        f"tệp có {vn_count(len(text))} byte; giới hạn là {vn_count(MAX_BYTES)} byte")
        if b"\x00" in text:
            raise DefinitionError([Problem(_byte_location(text, text.index(b"\x00"), file), "yaml-binary",
                                           _BINARY)])
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DefinitionError([Problem(
                _byte_location(text, exc.start, file), "yaml-encoding",
                f"tệp không phải văn bản UTF-8 (byte 0x{text[exc.start]:02x} ở vị trí {exc.start}); "
                "hãy lưu lại tệp với bảng mã UTF-8")]) from None
    if len(text) > MAX_BYTES:
        raise _fail(file, None, "yaml-too-large",
                    f"tệp có {vn_count(len(text))} ký tự; giới hạn là {vn_count(MAX_BYTES)}")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        col = text.index("\x00") - (text.rfind("\n", 0, text.index("\x00")) + 1) + 1
        raise DefinitionError([Problem(Location(file, line, col), "yaml-binary", _BINARY)])
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
        raise DefinitionError([Problem(loc, "yaml-syntax", f"{syntax_problem(exc.problem or exc.context)} "
                                       "(hãy kiểm tra thụt lề, dấu nháy và dấu hai chấm tại đây)")]) from None
    except ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise DefinitionError([Problem(Location(file, line, col), "yaml-syntax",
                                       f"tệp chứa ký tự điều khiển không được phép (mã #x{exc.character:04x}); "
                                       "hãy xóa ký tự này")]) from None
    except yaml.YAMLError as exc:
        raise DefinitionError([Problem(Location(file, 1, 1), "yaml-syntax",
                                       f"lỗi cú pháp YAML ('{exc}')")]) from None
    if len(nodes) > 1:
        raise _fail(file, nodes[1], "yaml-multi-document",
                    "tệp chứa nhiều hơn một tài liệu YAML ('---'); hãy chỉ giữ một")
    if not nodes or nodes[0] is None:
        raise _fail(file, None, "yaml-empty", "tệp trống; một quy trình cần ít nhất `code`, `name` và `steps`")
    _check_expansion(nodes[0], file)
    return _convert(nodes[0], file, _Budget())


def load_stored(text: str, file: str) -> Any:
    """:func:`load_text` for text this program wrote itself: a published definition's stored YAML.

    Text in the database was written by :func:`engine.definition.dump_yaml`
    from a definition that loaded and validated when it was published. It is
    parsed by libyaml (C) under the same bounded composer, about four times
    faster than :func:`load_text` (2 ms instead of 8 for a definition of ~300
    values), and gives the same located data:
    the same values, and the same line and column for every mapping, key and
    item. Anything libyaml or the bounds refuse is parsed again by
    :func:`load_text`, so a problem is reported exactly as it would be there.
    Text an author wrote (files, the web editor) goes through :func:`load_text`
    only, whose parser decides what a definition may be written as.

    Returns
    -------
    LMap, LSeq or a scalar
        As :func:`load_text`.

    Raises
    ------
    DefinitionError
        As :func:`load_text`.
    """
    if _CParser is None or not isinstance(text, str) or len(text) > MAX_BYTES or "\x00" in text:
        return load_text(text, file)
    try:
        loader = _StoredLoader(text, file)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        if node is None:
            return load_text(text, file)
        if "&" in text:  # without an anchor there is no alias: the composer's bounds were the expanded ones
            _check_expansion(node, file)
        return _convert(node, file, _Budget())
    except Exception:  # noqa: BLE001 - load_text says what is wrong, as it always has
        return load_text(text, file)


def load_file(path: str) -> Any:
    """Read and parse a YAML file (see :func:`load_text`)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise DefinitionError([Problem(Location(path), "file-unreadable", unreadable(exc))]) from None
    return load_text(data, path)
