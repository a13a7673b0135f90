"""The lint rules: for every rule of RULES, a failing and a passing fixture in
tests/fixtures/lint/ (``<rule-id>.fail.yaml`` marks the line of the expected finding
with ``# <-``; ``<rule-id>.pass.yaml`` is a near miss the rule must accept), plus the
finding format, template locations, the shipped catalogue and the generated doc."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine.lint as lint_module
from engine.definition import (
    Definition,
    Route,
    Signer,
    Step,
    TimeLimit,
    definition_from_data,
    load_catalogue,
    load_definition,
    load_units,
)
from engine.lint import RULES, Finding, Rule, lint, lint_catalogue, rules_by_id, rules_markdown
from engine.yamlsrc import load_text

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
LINT = FIXTURES / "lint"
MARK = "# <-"


@pytest.fixture(scope="module")
def units():
    return load_units(FIXTURES / "units.yaml")


def text_of(name: str) -> str:
    return (LINT / name).read_text(encoding="utf-8")


def load_str(text: str, name: str = "mem.yaml"):
    return definition_from_data(load_text(text, name), name)


def rule_ids() -> list[str]:
    return [r.id for r in RULES]


# --------------------------------------------------------------------------- the registry


def test_every_rule_has_a_failing_and_a_passing_fixture():
    missing = [f"{r.id}.{kind}.yaml" for r in RULES for kind in ("fail", "pass")
               if not (LINT / f"{r.id}.{kind}.yaml").is_file()]
    assert missing == []


def test_no_fixture_for_an_unknown_rule():
    named = {p.name.split(".")[0] for p in LINT.glob("*.*.yaml")}
    assert named <= set(rule_ids())


def test_rules_are_well_formed():
    ids = rule_ids()
    assert len(ids) == len(set(ids)) >= 30
    for r in RULES:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", r.id)
        assert r.severity in ("error", "warning")
        assert r.description and "\n" not in r.description and r.description.endswith(".")
    assert rules_by_id()["over-limit"].severity == "error"


def test_rule_docs_are_up_to_date():
    doc = ROOT / "docs" / "lint-rules.md"
    assert doc.read_text(encoding="utf-8") == rules_markdown(), \
        "docs/lint-rules.md is stale: regenerate it with engine.lint.rules_markdown()"
    for r in RULES:
        assert f"| `{r.id}` | {r.severity} |" in rules_markdown()


# --------------------------------------------------------------------------- fixtures


def test_bases_are_clean(units):
    for name in ("base.yaml", "parallel.yaml"):
        assert lint(load_definition(LINT / name), units) == []


@pytest.mark.parametrize("rule_id", rule_ids())
def test_rule_fails_on_its_fixture(rule_id, units):
    path = LINT / f"{rule_id}.fail.yaml"
    text = path.read_text(encoding="utf-8")
    header = text.splitlines()[0]
    m = re.match(r"# expect: (\S+) (error|warning) at the line marked", header)
    assert m and m[1] == rule_id, header
    marked = [i + 1 for i, line in enumerate(text.splitlines()) if line.rstrip().endswith(MARK)]
    assert len(marked) == 1
    findings = [f for f in lint(load_definition(path), units) if f.rule_id == rule_id]
    assert findings, f"{rule_id} did not fire on {path.name}"
    at_mark = [f for f in findings if f.line == marked[0]]
    assert at_mark, f"{rule_id} fired at {[f.line for f in findings]}, not at line {marked[0]}"
    f = at_mark[0]
    assert f.severity == m[2] == rules_by_id()[rule_id].severity
    assert Path(f.file) == path
    assert str(f).startswith(f"{path}:{marked[0]}:{f.col}: {rule_id}:")


@pytest.mark.parametrize("rule_id", rule_ids())
def test_rule_passes_its_near_miss(rule_id, units):
    path = LINT / f"{rule_id}.pass.yaml"
    assert path.read_text(encoding="utf-8").startswith(f"# expect: no {rule_id} (")
    findings = lint(load_definition(path), units)
    assert [str(f) for f in findings if f.rule_id == rule_id] == []


# --------------------------------------------------------------------------- messages and locations


def test_unknown_target_is_located_at_the_route_with_a_suggestion(units):
    path = LINT / "unknown-target.fail.yaml"
    (f,) = [f for f in lint(load_definition(path), units) if f.rule_id == "unknown-target"]
    assert str(f) == (f"{path}:51:7: unknown-target: step 'verify': hướng chuyển 'done' dẫn tới bước 'sgn' "
                      "không tồn tại (có phải là 'sign' không?); hãy dùng mã (id) của một bước trong quy trình này")
    assert f == Finding("unknown-target", "error", str(path), 51, 7, "verify", f.message)
    assert f.to_dict()["step"] == "verify"


def test_bad_duration_is_located_at_the_duration_key(units):
    path = LINT / "zero-duration.fail.yaml"
    (f,) = [f for f in lint(load_definition(path), units) if f.rule_id == "zero-duration"]
    assert (f.line, f.col, f.step) == (49, 5, "verify")


def test_under_limit_says_how_much_is_unallocated(units):
    text = text_of("base.yaml").replace("  value: 1\n", "  value: 3\n").replace("duration: 3h", "duration: 15h")
    (f,) = [f for f in lint(load_str(text), units) if f.rule_id == "under-limit"]
    # The whole sentence: what to do with the time left, and where to write a reserve; the steps as the
    # leader's page and the annex number them, not by their YAML ids (audit finding 7).
    assert f.message == ("các bước mới phân bổ 2,5 ngày làm việc trên thời hạn 3 ngày làm việc; còn 0,5 ngày chưa "
                         "phân bổ: hãy giao thêm cho các bước của đường dài nhất (từ Bước 1 đến Bước 4), hoặc giữ "
                         "làm thời gian dự phòng và ghi rõ điều đó trong phần ghi chú (notes) của quy trình, ví dụ "
                         "“dự phòng 0,5 ngày”")
    assert str(f).startswith("mem.yaml:11:1: under-limit: ")  # the file editor's located form


def test_a_path_off_the_main_path_names_the_unnumbered_steps():
    defn = load_str(text_of("parallel.yaml"))
    assert lint_module._numbered_path(defn, ["receive", "verify", "consult", "report", "sign", "deliver"]) == \
        "từ Bước 1 đến Bước 6"
    assert lint_module._numbered_path(defn, ["verify", "check", "report"]) == \
        "Bước 2 → “Đối chiếu sổ hộ tịch” → Bước 4"


def test_over_limit_names_the_longest_path_and_the_excess(units):
    text = text_of("parallel.yaml").replace("    unit: doi_tac\n    role: staff\n    duration: 1h",
                                            "    unit: doi_tac\n    role: staff\n    duration: 2h")
    (f,) = [f for f in lint(load_str(text), units) if f.rule_id == "over-limit"]
    assert "đường dài nhất (từ Bước 1 đến Bước 6)" in f.message
    assert "cần 1,12 ngày làm việc, vượt thời hạn 1 ngày làm việc" in f.message
    assert "rút ngắn các bước trên đường này tổng cộng 1 giờ" in f.message  # under a quarter day: in hours


def test_start_reception_wrong_kind_is_located_at_kind(units):
    text = text_of("base.yaml").replace('    name: "Tiếp nhận, kiểm tra hồ sơ"\n',
                                        '    name: "Tiếp nhận, kiểm tra hồ sơ"\n    kind: automated\n')
    (f,) = [f for f in lint(load_str(text), units) if f.rule_id == "start-reception"]
    assert (f.line, f.step) == (23, "receive") and "bắt đầu bằng một bước loại automated" in f.message


def test_unsigned_result_without_any_sign_step_points_at_signer(units):
    text = text_of("base.yaml").replace("role: chairman}", "role: vice_chairman}")
    (f,) = [f for f in lint(load_str(text), units) if f.rule_id == "unsigned-result"]
    assert f.line == 8 and "(lanh_dao, vice_chairman)" in f.message


def test_unbounded_self_loop(units):
    text = text_of("base.yaml").replace("      done: sign\n", "      done: sign\n      again: {to: verify, label: \"Lại\"}\n")
    (f,) = [f for f in lint(load_str(text), units) if f.rule_id == "unbounded-cycle"]
    assert "verify → verify" in f.message and f.line == 52


def test_join_fed_by_two_steps_of_one_branch_is_refused(units):
    # report's two inputs (check, recheck) are both on the 'check' branch of the split
    text = text_of("parallel.yaml").replace(
        "      done: [consult, check]\n", "      done: [consult, check]\n"
    ).replace("  - id: consult\n    name: \"Lấy ý kiến Chi cục Thuế\"\n    unit: doi_tac\n    role: staff\n"
              "    duration: 1h\n    routes:\n      done: report\n",
              "  - id: consult\n    name: \"Lấy ý kiến Chi cục Thuế\"\n    unit: doi_tac\n    role: staff\n"
              "    duration: 1h\n    routes:\n      done: deliver\n")
    text = text.replace("    duration: 30m\n    routes:\n      done: report\n",
                        "    duration: 30m\n    routes:\n      done: report\n      more: {to: recheck, label: \"Kiểm tra thêm\"}\n"
                        "  - id: recheck\n    name: \"Kiểm tra lại\"\n    unit: tu_phap\n    role: staff\n"
                        "    duration: 30m\n    routes:\n      done: report\n")
    findings = lint(load_str(text), units)
    assert [f.step for f in findings if f.rule_id == "join-without-split"] == ["report"]
    (f,) = [f for f in findings if f.rule_id == "join-without-split"]
    assert "không đến từ các nhánh khác nhau của cùng một điểm rẽ song song" in f.message
    assert english_in(f.message) == []


def test_rules_needing_units_are_skipped_without_them():
    defn = load_definition(LINT / "unknown-unit.fail.yaml")
    ids = {f.rule_id for f in lint(defn, None)}
    assert "unknown-unit" not in ids
    assert lint(load_definition(LINT / "missing-unit.fail.yaml"), None)[0].rule_id == "missing-unit"
    assert not any(r.needs_units and r.id in ids for r in RULES)


def test_template_steps_are_located_in_the_definition(tmp_path):
    # a definition whose template step has an unknown unit (from a bad `with:`)
    shutil.copy(ROOT / "procedures_yaml" / "units.yaml", tmp_path / "units.yaml")
    shutil.copytree(ROOT / "procedures_yaml" / "templates", tmp_path / "templates")
    src = (ROOT / "procedures_yaml" / "district" / "1.001612-dang-ky-thanh-lap-ho-kinh-doanh.yaml").read_text(
        encoding="utf-8")
    (tmp_path / "x.yaml").write_text(src.replace("with: {office: phong_tckh}", "with: {office: phong_tckhh}"),
                                     encoding="utf-8")
    cat = load_catalogue([tmp_path / "x.yaml"])
    findings = [f for f in lint_catalogue(cat) if f.rule_id == "unknown-unit"]
    by_step = {f.step: f for f in findings}
    assert set(by_step) == {"assign", "appraise", "check", "refuse_draft"}
    # 'assign' is overridden in the definition: located at its override; 'refuse_draft' is not: at `extends`
    src_lines = (tmp_path / "x.yaml").read_text(encoding="utf-8").splitlines()
    assert src_lines[by_step["assign"].line - 1].strip() == "- id: assign"
    assert src_lines[by_step["refuse_draft"].line - 1].startswith("extends:")
    assert re.search(r"\(kế thừa từ mẫu quy trình templates/standard\.yaml, dòng \d+\)$", by_step["refuse_draft"].message)
    assert str(ROOT) not in by_step["refuse_draft"].message  # no server path in what the editor shows
    assert all(Path(f.file).name == "x.yaml" for f in lint_catalogue(cat))


def test_a_failing_rule_becomes_an_internal_error_finding(monkeypatch, units):
    def broken(ctx):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(lint_module, "RULES", [Rule("boom", "error", "Fails.", broken), *RULES])
    findings = lint(load_definition(LINT / "base.yaml"), units)
    assert [f.rule_id for f in findings] == ["internal-error"]
    assert "quy tắc boom bị lỗi khi chạy (ZeroDivisionError: boom)" in findings[0].message
    assert english_in(findings[0].message) == []


# --------------------------------------------------------------------------- messages are Vietnamese

#: Letters only Vietnamese writes: a vowel with a diacritic, or đ.
VIETNAMESE_LETTERS = frozenset("àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ")
#: English words that are no YAML key, value or id a message names: one of them outside
#: quotes means the sentence is (partly) English.
ENGLISH_WORDS = frozenset({
    "the", "is", "are", "was", "be", "been", "must", "not", "has", "have", "does", "cannot", "should",
    "needs", "this", "that", "which", "its", "it", "of", "and", "would", "there", "never", "only",
    "please", "but", "than", "more", "into", "from", "when", "while", "could", "did", "you", "mean",
    "unknown", "missing", "allowed", "expected", "found", "invalid", "empty", "here", "twice",
})
# What a message may quote as the user wrote it (values, YAML, paths, a library's own text).
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`|“[^”]*”|\S*/\S*")


def english_in(message: str) -> list[str]:
    """Why ``message`` is not a Vietnamese sentence ([] when it is).

    A Vietnamese sentence has a letter with a diacritic, and no English word outside
    what it quotes (YAML keys and ids like ``time_limit.verified`` or ``kind: human``
    are not in :data:`ENGLISH_WORDS`).
    """
    reasons = []
    if not VIETNAMESE_LETTERS & set(message.lower()):
        reasons.append("no Vietnamese letter")
    words = re.findall(r"[A-Za-z]+(?:_[A-Za-z0-9]+)*", _QUOTED.sub(" ", message))
    reasons += [w for w in words if w.lower() in ENGLISH_WORDS]
    return reasons


def test_the_english_check_catches_english():
    assert english_in("the legal time limit is not verified; set time_limit.verified: true")
    assert english_in("mã TTHC is empty")  # a Vietnamese word does not make an English sentence pass
    assert english_in("thời hạn must be checked")
    assert english_in("khóa 'x' không hợp lệ (did you mean 'y'?)")
    assert english_in("Lỗi") == []
    assert english_in("hãy đặt time_limit.verified: true và kind: human (có phải là 'the one' không?)") == []


def test_rule_descriptions_are_vietnamese():
    assert {r.id: english_in(r.description) for r in RULES if english_in(r.description)} == {}


def all_findings() -> list[Finding]:
    """Every finding of the shipped catalogue, the lint fixtures and the broken corpus."""
    findings = lint_catalogue(load_catalogue([ROOT / "procedures_yaml"]))
    findings += lint_catalogue(load_catalogue([LINT]))
    findings += lint_catalogue(load_catalogue([FIXTURES / "broken"]))
    return findings


def test_every_finding_message_is_vietnamese():
    findings = all_findings()
    fired = {f.rule_id for f in findings}
    assert {r.id for r in RULES} <= fired  # every rule's message is checked
    assert len(fired - {r.id for r in RULES}) >= 15  # and the load problems of the broken corpus
    english = [f"{f}  <- {english_in(f.message)}" for f in findings if english_in(f.message)]
    assert english == []


def test_inline_variants_of_messages_are_vietnamese(units):
    # messages whose wording depends on the case, beyond the fixtures
    base = text_of("base.yaml")
    texts = [
        base.replace("role: chairman}", "role: vice_chairman}"),  # unsigned-result, no sign step at all
        base.replace("  value: 1\n", "  value: 3\n"),  # under-limit in days
        base.replace("code: \"1.000001\"", "code: \"\"", 1),  # code-missing though code_verified is true
        base.replace("unit: working_days", "unit: working_hours"),  # over-limit in hours
        base.replace("status: draft", "status: approved"),  # approval-missing, limit-missing
        text_of("delegation-unverified.fail.yaml").replace("decision: \"4610/QĐ-UBND\"", "decision: \"\""),
    ]
    findings = [f for t in texts for f in lint(load_str(t), units)]
    assert len(findings) >= len(texts)
    assert [f"{f} <- {english_in(f.message)}" for f in findings if english_in(f.message)] == []


# --------------------------------------------------------------------------- the shipped catalogue


def test_shipped_examples_lint_without_errors():
    cat = load_catalogue([ROOT / "procedures_yaml"])
    assert cat.organisation is not None and cat.definitions
    errors = [str(f) for f in lint_catalogue(cat) if f.severity == "error"]
    assert errors == []


# --------------------------------------------------------------------------- robustness


@st.composite
def definitions(draw):
    n = draw(st.integers(min_value=1, max_value=8))
    ids = [f"s{i}" for i in range(n)] + ["ghost"]
    steps = []
    for i in range(n):
        kind = draw(st.sampled_from(["human", "citizen", "automated", "sign", "return"]))
        routes = []
        for k in range(draw(st.integers(min_value=0, max_value=3))):
            targets = tuple(draw(st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True)))
            routes.append(Route(draw(st.sampled_from(["ok", "done", "rework", "supplement", "xyz"])) + str(k),
                                targets, draw(st.sampled_from([None, 1, 2]))))
        steps.append(Step(
            id=f"s{i}", name="Bước", kind=kind,
            unit=draw(st.sampled_from([None, "mot_cua", "tu_phap", "lanh_dao", "huyen_phong", "nope"])),
            role=draw(st.sampled_from([None, "staff", "chairman", "x"])),
            duration=draw(st.sampled_from([None, 0, 30, 240, 480])),
            routes=tuple(routes), join=draw(st.booleans()),
            ends=draw(st.sampled_from([None, "result", "refusal"]))))
    return Definition(
        code=draw(st.sampled_from(["", "1.000001", "x"])), name="T", field="F",
        level=draw(st.sampled_from(["commune", "district", "ward"])), authority="",
        signer=draw(st.sampled_from([None, Signer("lanh_dao", "chairman"), Signer("nope", "x")])),
        time_limit=TimeLimit(draw(st.sampled_from([None, 0.5, 1.0, 3.0])),
                             draw(st.sampled_from(["working_days", "working_hours", "same_day"]))),
        steps=tuple(steps), status=draw(st.sampled_from(["draft", "submitted", "approved"])),
        source="gen.yaml")


FIXTURE_UNITS = load_units(FIXTURES / "units.yaml")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(definitions())
def test_lint_never_fails_on_any_graph(defn):
    findings = lint(defn, FIXTURE_UNITS)
    assert all(f.rule_id != "internal-error" for f in findings), [str(f) for f in findings]
    assert all(f.severity in ("error", "warning") for f in findings)
    assert findings == sorted(findings, key=lambda f: (f.file, f.line, f.col, f.rule_id, f.step or "", f.message))


def test_time_after_a_mid_process_citizen_step_counts(units):
    # verify -> pay (citizen, clock paused) -> sign: sign and deliver still count once the clock resumes
    text = text_of("base.yaml").replace("      done: sign\n", "      done: pay\n  - id: pay\n"
                                        "    name: \"Nộp lệ phí\"\n    kind: citizen\n    routes:\n"
                                        "      paid: {to: sign, label: \"Đã nộp\"}\n")
    defn = load_str(text)
    assert [f.rule_id for f in lint(defn, units)] == []
    over = load_str(text.replace("    duration: 2h\n    ends: result\n", "    duration: 3h\n    ends: result\n"))
    (f,) = [f for f in lint(over, units) if f.rule_id == "over-limit"]
    assert "đường dài nhất (từ Bước 1 đến Bước 5)" in f.message  # the citizen step is Bước 3


def test_an_unknown_level_is_one_error_not_one_per_step(units):
    """A mistyped level is said once (unknown-level); unit-level does not add a finding per step telling the
    author to use units of a level that does not exist."""
    text = text_of("unknown-level.fail.yaml")
    ids = [f.rule_id for f in lint(load_str(text), units) if f.severity == "error"]
    assert ids == ["unknown-level"]
    wrong_unit = text.replace("level: ward  # <-", "level: district")  # its units are commune-level
    ids = [f.rule_id for f in lint(load_str(wrong_unit), units)]
    assert "unknown-level" not in ids and "unit-level" in ids  # a known level still checks its units' level


def test_an_unknown_unit_is_suggested_only_a_close_id_not_one_that_merely_shares_its_prefix():
    from engine.lint import _unit_suggestion

    known = ["bp_mot_cua", "phong_tckh", "phong_qldt", "phong_noi_vu", "xa_van_hoa_xa_hoi", "van_phong"]
    assert _unit_suggestion("phong_tckhh", known) == " (có phải là 'phong_tckh' không?)"
    assert _unit_suggestion("phong_tkch", known) == " (có phải là 'phong_tckh' không?)"  # transposed
    assert _unit_suggestion("bp_motcua", known) == " (có phải là 'bp_mot_cua' không?)"
    # A dissolved office: 'phong_qldt' (urban management) only shares 'phong_' and three letters with it.
    assert _unit_suggestion("phong_ldtbxh", known) == ""
    assert _unit_suggestion("phong_xa_hoi", known) == ""
