"""The loader: safe located YAML, the definition model, templates, round trips, and the
corpus of broken files in tests/fixtures/broken/ (each names its expected error on its
first line: ``# expect: LINE:COL rule-id [text in the message]``)."""

from __future__ import annotations

import re
import shutil
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.definition import (
    MINUTES_PER_DAY,
    definition_from_data,
    definition_to_data,
    duration_text,
    dump_yaml,
    load_catalogue,
    load_definition,
    load_templates,
    parse_duration,
)
from engine.errors import DefinitionError
from engine.lint import RULES, lint_catalogue
from engine.yamlsrc import LMap, load_file, load_text
from tests.test_lint import english_in

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
BROKEN = FIXTURES / "broken"
CATALOGUE = ROOT / "procedures_yaml"

_EXPECT = re.compile(rb"^# expect: (\d+):(\d+) (\S+)(?: (.*))?$")


def broken_cases() -> list[Path]:
    return sorted(BROKEN.glob("*.yaml"))


def expectation(path: Path) -> tuple[int, int, str, str]:
    """(line, col, rule id, text) from the file's first line."""
    first = path.read_bytes().split(b"\n", 1)[0]
    m = _EXPECT.match(first)
    assert m, f"{path.name}: first line must be '# expect: LINE:COL rule-id [text]'"
    return int(m[1]), int(m[2]), m[3].decode(), (m[4] or b"").decode()


def load_str(text: str, name: str = "mem.yaml", templates=None):
    return definition_from_data(load_text(text, name), name, templates)


# --------------------------------------------------------------------------- round trip


def shipped_definitions():
    return load_catalogue([CATALOGUE])


def test_shipped_catalogue_loads_without_problems():
    cat = shipped_definitions()
    assert cat.problems == []
    assert len(cat.definitions) == len(cat.files) >= 3


def _round_trip(defn):
    text = dump_yaml(definition_to_data(defn))
    again = load_str(text, "roundtrip.yaml")
    assert again == replace(defn, source="roundtrip.yaml", extends=None)
    # and the text is a fixed point: writing the reloaded model gives the same YAML
    assert dump_yaml(definition_to_data(again)) == text
    return again


@pytest.mark.parametrize("path", sorted(p for p in CATALOGUE.rglob("*.yaml")
                                        if p.name not in ("units.yaml", "calendar.yaml")
                                        and "templates" not in p.parts),
                         ids=lambda p: p.stem)
def test_round_trip_shipped(path):
    cat = load_catalogue([path])
    assert cat.problems == []
    (defn,) = cat.definitions
    _round_trip(defn)


@pytest.mark.parametrize("path", sorted((FIXTURES / "lint").glob("*.yaml")), ids=lambda p: p.stem)
def test_round_trip_fixtures(path):
    _round_trip(load_definition(path))


def test_round_trip_keeps_every_field():
    text = (FIXTURES / "lint" / "base.yaml").read_text(encoding="utf-8").replace(
        "status: draft",
        'status: approved\napproval: {decision: "12/QĐ-UBND", date: 2026-03-02, signer: "Chủ tịch"}\n'
        'delegation: {decision: "4610/QĐ-UBND", date: 2022-11-23, by: "UBND thành phố", verified: true}\n'
        'notes: "Ghi chú"',
    ).replace("  verified: true\n", '  verified: true\n  cutoff: "16:30"\n  basis: "03 ngày"\n  note: "n"\n')
    defn = load_str(text)
    assert defn.time_limit.cutoff.strftime("%H:%M") == "16:30"
    again = _round_trip(defn)
    assert again.approval.decision == "12/QĐ-UBND" and again.delegation.verified
    assert again.time_limit.cutoff == defn.time_limit.cutoff
    assert again.step("sign").route("reject").max == 1


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=40 * MINUTES_PER_DAY))
def test_duration_text_inverts_parse_duration(minutes):
    assert parse_duration(duration_text(minutes)) == minutes


# --------------------------------------------------------------------------- templates


TEMPLATE = """\
template: mini
description: "Tiếp nhận → xử lý → trả"
params: [office]
steps:
  - id: receive
    name: "Tiếp nhận"
    unit: mot_cua
    role: staff
    duration: 1h
    routes: {accept: handle, refuse: refuse}
  - id: refuse
    name: "Từ chối"
    kind: return
    unit: mot_cua
    role: staff
    duration: 1h
    ends: refusal
  - id: handle
    name: "Xử lý tại ${office}"
    unit: ${office}
    role: staff
    duration: 2h
    routes: {done: deliver}
  - id: deliver
    name: "Trả kết quả"
    kind: return
    unit: mot_cua
    role: staff
    duration: 1h
    ends: result
"""

HEADER = """\
code: "1.000001"
name: "Thủ tục mẫu"
field: "Hộ tịch"
level: commune
time_limit: {value: 1, unit: working_days}
extends: mini
"""


@pytest.fixture
def templates(tmp_path):
    d = tmp_path / "templates"
    d.mkdir()
    (d / "mini.yaml").write_text(TEMPLATE, encoding="utf-8")
    return load_templates(d)


def test_template_plain_expansion_substitutes_params(templates):
    d = load_str(HEADER + "with: {office: tu_phap}\n", templates=templates)
    assert [s.id for s in d.steps] == ["receive", "refuse", "handle", "deliver"]
    assert d.step("handle").unit == "tu_phap" and d.step("handle").name == "Xử lý tại tu_phap"
    assert d.extends == "mini"


def test_template_override_replaces_keys_and_merges_routes(templates):
    d = load_str(HEADER + """with: {office: tu_phap}
steps:
  - id: handle
    duration: 3h
    routes: {done: sign, supplement: wait}
  - id: receive
    routes: {refuse: null}
""", templates=templates)
    handle = d.step("handle")
    assert handle.duration == 180 and handle.name == "Xử lý tại tu_phap"
    assert [(r.outcome, r.targets) for r in handle.routes] == [("done", ("sign",)), ("supplement", ("wait",))]
    assert [r.outcome for r in d.step("receive").routes] == ["accept"]
    # the overridden key is located in the definition, the rest in the template
    assert handle.where("duration").file == "mem.yaml" and handle.where("duration").line == 10
    assert handle.where("unit").file.endswith("mini.yaml")


def test_template_insert_after_and_before_and_append(templates):
    d = load_str(HEADER + """with: {office: tu_phap}
steps:
  - id: sign
    after: handle
    name: "Ký"
  - id: check
    before: handle
    name: "Kiểm tra"
  - id: archive
    name: "Lưu trữ"
""", templates=templates)
    assert [s.id for s in d.steps] == ["receive", "refuse", "check", "handle", "sign", "deliver", "archive"]


def test_template_remove_steps(templates):
    d = load_str(HEADER + "with: {office: tu_phap}\nremove_steps: [refuse]\n", templates=templates)
    assert [s.id for s in d.steps] == ["receive", "handle", "deliver"]


@pytest.mark.parametrize("extra, rule, line, text", [
    ("", "missing-param", 0, "mẫu quy trình cần giá trị cho 'office': hãy thêm vào mục 'with:'"),
    ("with: {office: tu_phap, officer: x}\n", "unknown-param", 7,
     "mẫu 'mini' không có tham số 'officer' (tham số của mẫu: office)"),
    ("with: {office: tu_phap}\nremove_steps: [refuse_x]\n", "unknown-step", 8, "(có phải là 'refuse' không?)"),
    ("with: {office: tu_phap}\nsteps:\n  - id: x\n    after: handel\n    name: X\n", "unknown-step", 10,
     "'after: handel' không trỏ tới bước nào của quy trình sau khi áp dụng mẫu (có phải là 'handle' không?)"),
    # a slip in the id of a step to change: said as such (it became a new step missing its name)
    ("with: {office: tu_phap}\nsteps:\n  - id: handel\n    duration: 3h\n", "unknown-step", 9,
     "mẫu 'mini' không có bước 'handel' để sửa (có phải là 'handle' không?); một bước mới cần 'name' và vị trí"),
    # the same template step changed by two entries: the second was merged over the first, unsaid
    ("with: {office: tu_phap}\nsteps:\n  - id: handle\n    duration: 3h\n  - id: handle\n    duration: 4h\n",
     "duplicate-step", 11, "bước 'handle' của mẫu đã được sửa ở mục trước (tại mem.yaml:9:"),
])
def test_template_errors_are_located(templates, extra, rule, line, text):
    with pytest.raises(DefinitionError) as info:
        load_str(HEADER + extra, templates=templates)
    problems = [p for p in info.value.problems if p.rule == rule]
    assert problems, info.value
    problem = problems[0]
    assert text in problem.message
    assert english_in(problem.message) == []
    if line:
        assert (problem.location.file, problem.location.line) == ("mem.yaml", line)
    else:  # the first ${office} reference, in the template
        assert problem.location.file.endswith("mini.yaml") and problem.location.line == 19


def test_unknown_template_suggests_the_close_one(templates):
    with pytest.raises(DefinitionError) as info:
        load_str(HEADER.replace("extends: mini", "extends: mimi"), templates=templates)
    (problem,) = info.value.problems
    assert problem.rule == "unknown-template"
    assert problem.message == "không có mẫu quy trình 'mimi' (có phải là 'mini' không?)"
    assert str(problem).startswith("mem.yaml:6:1: unknown-template:")


# --------------------------------------------------------------------------- safe YAML


def test_keys_stay_text():
    data = load_text("routes: {yes: a, no: b, on: c, 1: d, 0.5: e}\n", "k.yaml")
    assert list(data["routes"]) == ["yes", "no", "on", "1", "0.5"]


def test_values_carry_locations():
    data = load_text("a:\n  b: [1, 2]\n  c: {d: x}\n", "loc.yaml")
    assert isinstance(data, LMap)
    assert str(data["a"].key_locs["c"]) == "loc.yaml:3:3"
    assert str(data["a"]["b"].item_locs[1]) == "loc.yaml:2:10"


def test_python_tag_constructs_nothing():
    marker = Path("/tmp/quytrinh-yaml-pwned")
    marker.unlink(missing_ok=True)
    with pytest.raises(DefinitionError) as info:
        load_file(str(BROKEN / "python-tag.yaml"))
    assert info.value.problems[0].rule == "yaml-tag"
    assert not marker.exists()


def test_billion_laughs_is_refused_fast_and_small():
    text = (BROKEN / "billion-laughs.yaml").read_text()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(DefinitionError) as info:
            load_text(text, "laughs.yaml")
        elapsed = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.problems[0].rule == "yaml-too-large"
    # 9**9 (387 million) values if expanded: refused from the node graph, never expanded.
    assert elapsed < 1.0
    assert peak < 5_000_000


def test_deep_nesting_is_refused_without_recursion_error():
    with pytest.raises(DefinitionError) as info:
        load_text("a: " + "[" * 100_000 + "]" * 100_000, "deep.yaml")
    assert info.value.problems[0].rule == "yaml-too-deep"


def test_zero_byte_file(tmp_path):
    f = tmp_path / "zero.yaml"
    f.write_bytes(b"")
    with pytest.raises(DefinitionError) as info:
        load_file(str(f))
    assert str(info.value) == f"{f}:1:1: yaml-empty: tệp trống; một quy trình cần ít nhất " \
                              "`code`, `name` và `steps`"


def test_oversized_file_is_refused_before_parsing(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_bytes(b"a: " + b"x" * 2_000_000)
    with pytest.raises(DefinitionError) as info:
        load_file(str(f))
    assert info.value.problems[0].rule == "yaml-too-large"


def test_unreadable_path_is_a_problem(tmp_path):
    with pytest.raises(DefinitionError) as info:
        load_file(str(tmp_path))  # a folder
    assert info.value.problems[0].rule == "file-unreadable"


# --------------------------------------------------------------------------- the broken corpus


def test_corpus_covers_the_cases_the_issue_names():
    names = {p.stem for p in broken_cases()}
    for needed in ("syntax-unclosed-quote", "wrong-type-steps", "unknown-key-step", "dangling-route",
                   "python-tag", "billion-laughs", "binary-garbage", "empty", "non-utf8", "duplicate-key",
                   "duplicate-step-id", "unknown-template"):
        assert needed in names


@pytest.mark.parametrize("path", broken_cases(), ids=lambda p: p.stem)
def test_broken_file_gives_its_located_error(path):
    line, col, rule, text = expectation(path)
    cat = load_catalogue([path])
    findings = lint_catalogue(cat)
    matching = [f for f in findings if (f.rule_id, f.line, f.col) == (rule, line, col)]
    assert matching, f"expected {line}:{col} {rule}; got:\n" + "\n".join(map(str, findings))
    (finding,) = matching[:1]
    assert finding.severity == "error"
    assert text.strip("'") in finding.message or text in finding.message
    assert str(finding).startswith(f"{finding.file}:{line}:{col}: {rule}:")
    assert Path(finding.file).resolve() == path.resolve()
    if rule not in {r.id for r in RULES}:
        # a load error: the file loads nothing
        assert cat.definitions == []


def test_a_broken_file_does_not_hide_the_others(tmp_path):
    shutil.copy(FIXTURES / "units.yaml", tmp_path / "units.yaml")
    shutil.copy(BROKEN / "unknown-key-step.yaml", tmp_path / "a.yaml")
    shutil.copy(FIXTURES / "lint" / "base.yaml", tmp_path / "b.yaml")
    cat = load_catalogue([tmp_path])
    assert [Path(d.source).name for d in cat.definitions] == ["b.yaml"]
    assert [p.rule for p in cat.problems] == ["unknown-key"]


def test_a_broken_units_file_is_reported_and_definitions_still_load(tmp_path):
    (tmp_path / "units.yaml").write_text("units:\n  - id: a\n    kind: offce\n", encoding="utf-8")
    shutil.copy(FIXTURES / "lint" / "base.yaml", tmp_path / "b.yaml")
    cat = load_catalogue([tmp_path / "b.yaml"])
    assert cat.organisation is None
    assert len(cat.definitions) == 1
    rules = {p.rule for p in cat.problems}
    assert {"bad-value", "missing-key"} <= rules
    assert all(p.location.file.endswith("units.yaml") for p in cat.problems)


# --------------------------------------------------------------------------- messages are Vietnamese


BASE = (FIXTURES / "lint" / "base.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("text, rule, expected", [
    # the loader's typed reads
    (BASE.replace("    duration: 1h\n", "    duration: \"\"\n", 1), "bad-duration", "thời gian đang để trống"),
    (BASE.replace("    duration: 1h\n", "    duration: 0.1m\n", 1), "bad-duration", "không tròn số phút"),
    (BASE.replace("    duration: 1h\n", "    duration: [1h]\n", 1), "bad-duration", "phải là một chuỗi chữ"),
    (BASE.replace("    duration: 1h\n", "    duration: \"1,5\"\n", 1), "bad-duration",
     "thời gian '1,5' thiếu đơn vị: hãy ghi 1,5d, 1,5h hoặc 1,5m"),
    (BASE.replace("status: draft", "status: {a: 1}"), "wrong-type", "'status' phải là một chuỗi chữ"),
    (BASE.replace("status: draft", "status: finished"), "bad-value",
     "'status' đang là 'finished'; giá trị phải là một trong: draft, submitted, approved"),
    (BASE.replace("version: 1", "version: 0"), "wrong-type", "'version' phải là số nguyên ≥ 1"),
    (BASE.replace("status: draft", "status: draft\napproval: {decision: x, date: \"2026-1-2\"}"), "wrong-type",
     "'date' phải là ngày viết theo dạng YYYY-MM-DD"),
    (BASE.replace("status: draft", "status: draft\napproval: {date: 2026-01-02}"), "missing-key",
     "phần phê duyệt (approval) thiếu khóa 'decision'"),
    (BASE.replace("legal_basis:\n", "legal_basis: {a: b}\nx_legal:\n"), "wrong-type",
     "'legal_basis' phải là danh sách các chuỗi chữ"),
    (BASE.replace("signer: {unit: lanh_dao, role: chairman}", "signer: lanh_dao"), "wrong-type",
     "'signer' phải là một nhóm khóa con"),
    (BASE.replace("signer: {unit: lanh_dao, role: chairman}", "signer: {unit: lanh_dao}"), "missing-key",
     "người ký (signer) thiếu khóa 'role'"),
    (BASE.replace("  verified: true\n", "  verified: true\n  cutoff: \"3pm\"\n", 1), "wrong-type",
     "time_limit.cutoff phải là giờ viết theo dạng HH:MM"),
    (BASE.replace("  - id: receive\n", "  - id: receive\n    after: verify\n", 1), "unknown-key",
     "quy trình này không có 'extends'"),
    (BASE.replace("steps:\n", "steps:\n  - just text\n", 1), "wrong-type",
     "mỗi bước phải là một nhóm khóa, có ít nhất 'id'"),
    (BASE.replace("  - id: receive\n", "  - name: x\n  - id: receive\n", 1), "missing-key", "bước thiếu khóa 'id'"),
    (BASE.replace("      accept: verify\n", "      Accept: verify\n", 1), "bad-id",
     "kết quả xử lý 'Accept' phải viết dạng lower_snake_case"),
    (BASE.replace("      accept: verify\n", "      accept: 3\n", 1), "wrong-type",
     "hướng chuyển 'accept' phải dẫn tới một mã bước hoặc một danh sách mã bước"),
    (BASE.replace("      accept: verify\n", "      accept: [verify, verify]\n", 1), "bad-value",
     "hướng chuyển 'accept' ghi cùng một bước hai lần"),
    (BASE.replace("steps:\n", "steps: []\n", 1).split("steps: []\n")[0] + "steps: []\n", "missing-key",
     "quy trình chưa có bước nào (steps)"),
    (BASE.replace("extends", "x").replace("version: 1", "version: 1\nextends: standard"), "unknown-template",
     "không có mẫu quy trình 'standard'; chưa có mẫu quy trình nào"),
    # the YAML layer
    ("a: [1, 2\n", "yaml-syntax", "cần dấu ',' hoặc ']'"),
    ("a: \"x\\q\"\n", "yaml-syntax", "ký tự thoát 'q' không hợp lệ"),
    ("a: *nothing\n", "yaml-syntax", "bí danh (alias) 'nothing' chưa được khai báo"),
    ("a: \"x\n", "yaml-syntax", "tệp kết thúc khi chuỗi trong dấu nháy chưa được đóng"),
    ("a: b\n- c\n", "yaml-syntax", "khối phía trên chưa kết thúc đúng cách (gặp một mục danh sách ('-'))"),
    ("a: b: c\n", "yaml-syntax", "không được có dấu ':' (khóa: giá trị) ở vị trí này"),
    ("a: {b: 1\n", "yaml-syntax", "cần dấu ',' hoặc '}' nhưng gặp cuối tệp"),
    ("a: b\x01\n", "yaml-syntax", "ký tự điều khiển không được phép (mã #x0001)"),
    ("? [a]\n: b\n", "yaml-key", "khóa phải là một chuỗi chữ đơn giản"),
    ("- a\n", "wrong-type", "quy trình phải là một nhóm khóa"),
])
def test_load_problems_are_vietnamese(text, rule, expected):
    with pytest.raises(DefinitionError) as info:
        load_str(text)
    problems = [p for p in info.value.problems if p.rule == rule]
    assert problems, str(info.value)
    assert any(expected in p.message for p in problems), str(info.value)
    assert [(str(p), english_in(p.message)) for p in info.value.problems if english_in(p.message)] == []


def test_units_and_template_problems_are_vietnamese(tmp_path):
    (tmp_path / "units.yaml").write_text(
        "levels: [commune]\nunits:\n  - id: Mot_Cua\n    level: ward\n    kind: offce\n    colour: red\n"
        "  - id: mot_cua\n    name: A\n    level: commune\n    roles: {staff: X}\n"
        "  - id: mot_cua\n    name: B\n    level: commune\n    roles: {staff: X}\n  - just text\n",
        encoding="utf-8")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "mini.yaml").write_text("template: maxi\nsteps: []\nextra: 1\n", encoding="utf-8")
    (tmp_path / "templates" / "list.yaml").write_text("- a\n", encoding="utf-8")
    shutil.copy(FIXTURES / "lint" / "base.yaml", tmp_path / "b.yaml")
    cat = load_catalogue([tmp_path / "b.yaml", tmp_path / "missing.yaml"])
    rules = {p.rule for p in cat.problems}
    assert {"bad-id", "bad-value", "unknown-key", "missing-key", "duplicate-unit", "wrong-type", "template-name",
            "file-unreadable"} <= rules
    messages = "\n".join(p.message for p in cat.problems)
    for expected in ("mã đơn vị 'Mot_Cua' phải viết dạng lower_snake_case", "đơn vị 'Mot_Cua' có cấp 'ward'",
                     "(có phải là 'office' không?)", "khóa 'colour' không hợp lệ trong đơn vị",
                     "đơn vị 'Mot_Cua' cần 'roles'", "mã đơn vị 'mot_cua' được khai báo hai lần",
                     "mỗi đơn vị phải là một nhóm khóa", "mẫu 'maxi' phải nằm trong tệp tên maxi.yaml",
                     "mẫu quy trình cần danh sách bước 'steps'", "khóa 'extra' không hợp lệ trong mẫu quy trình",
                     "mẫu quy trình phải là một nhóm khóa", "không có tệp hoặc thư mục này"):
        assert expected in messages, messages
    assert [(str(p), english_in(p.message)) for p in cat.problems if english_in(p.message)] == []


def test_unreadable_file_says_why_in_vietnamese(tmp_path):
    with pytest.raises(DefinitionError) as info:
        load_file(str(tmp_path))  # a folder
    assert info.value.problems[0].message == "đây là thư mục, không phải tệp"
    with pytest.raises(DefinitionError) as info:
        load_file(str(tmp_path / "nope.yaml"))
    assert info.value.problems[0].message == "không có tệp này"


def test_a_commune_is_found_by_its_name_in_any_case_spacing_or_without_its_prefix():
    from engine.definition import closest_commune, find_commune

    known = ("Xã Bát Tràng", "Thị trấn Trâu Quỳ", "Xã Trâu Quỳ", "Xã Đa Tốn")
    assert find_commune("  xã  BÁT   tràng ", known) == "Xã Bát Tràng"
    assert find_commune("bát tràng", known) == "Xã Bát Tràng"  # the prefix left out
    assert find_commune("Xa\u0303 Đa Tốn", known) == "Xã Đa Tốn"  # decomposed diacritics (NFD)
    assert find_commune("trâu quỳ", known) is None  # two communes of that name: the prefix decides
    assert find_commune("thị trấn trâu quỳ", known) == "Thị trấn Trâu Quỳ"
    assert find_commune("Xã Bát Tràng 2", known) is None
    assert closest_commune("Xã Bat Trang", known) == "Xã Bát Tràng"
    assert closest_commune("Phường Hoàn Kiếm", known) is None
