"""The catalogue of internal processes (issue 5) and `quytrinh catalogue`.

The shipped catalogue: 81 district and 10 commune definitions that load, lint
without errors, and flag exactly the facts that are not verified (and nothing
else: every warning is an open question for the reform office, listed in
docs/catalogue.md). The command: a table, a CSV a spreadsheet opens, a level
filter, and located load errors with exit code 1.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.definition import format_minutes, load_catalogue
from engine.graph import critical_path
from engine.lint import ERROR, WARNING, lint
from quytrinh.cli import app
from quytrinh.commands.catalogue import COLUMNS, catalogue_rows, csv_text

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "procedures_yaml"
DOCS = ROOT / "docs" / "catalogue.md"
CODE_RE = re.compile(r"^\d\.\d{6}$")
FILE_RE = re.compile(r"^(\d\.\d{6}-)?[a-z0-9]+(-[a-z0-9]+)*\.yaml$")

#: The warnings that are open questions on facts; any other warning is noise.
OPEN_QUESTIONS = {"code-missing", "code-unverified", "limit-unverified", "limit-missing-draft",
                  "delegation-unverified"}

runner = CliRunner()


@pytest.fixture(scope="module")
def shipped():
    cat = load_catalogue([CATALOGUE])
    findings = {d.source: lint(d, cat.organisation) for d in cat.definitions}
    return cat, findings


def invoke(*args: str):
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return runner.invoke(app, ["catalogue", *args])
    finally:
        os.chdir(cwd)


# --------------------------------------------------------------------------- the shipped catalogue


def test_catalogue_has_81_district_and_10_commune_definitions_and_loads_cleanly(shipped):
    cat, _ = shipped
    assert cat.problems == []
    assert cat.organisation is not None
    assert Counter(d.level for d in cat.definitions) == {"district": 81, "commune": 10}
    for d in cat.definitions:  # the folder says the level
        assert Path(d.source).parent.name == d.level, d.source


def test_every_definition_lints_without_errors(shipped):
    _, findings = shipped
    errors = [str(f) for fs in findings.values() for f in fs if f.severity == ERROR]
    assert errors == []


def test_codes_are_national_codes_and_unique(shipped):
    cat, _ = shipped
    codes = [d.code for d in cat.definitions if d.code]
    assert [c for c, n in Counter(codes).items() if n > 1] == []
    assert [c for c in codes if not CODE_RE.match(c)] == []


def test_file_names_are_code_and_ascii_slug(shipped):
    cat, _ = shipped
    for d in cat.definitions:
        name = Path(d.source).name
        assert FILE_RE.match(name) and len(name) <= 80, name
        assert name.startswith(f"{d.code}-") if d.code else not CODE_RE.match(name[:8]), name
        assert re.search(r"[^\x00-\x7f]", d.name), f"{name}: the name has no Vietnamese diacritics"


def test_every_file_records_where_its_limit_comes_from(shipped):
    cat, _ = shipped
    for d in cat.definitions:
        tl = d.time_limit
        assert tl.source.strip(), f"{d.source}: time_limit.source is empty"
        if not tl.verified:
            assert tl.note.strip(), \
                f"{d.source}: an unverified limit needs a note saying what to check"
        if tl.verified:
            assert tl.minutes is not None, f"{d.source}: a verified limit needs a value"


def test_every_definition_says_how_its_supplementation_clock_was_chosen(shipped):
    cat, _ = shipped
    for d in cat.definitions:
        assert "bổ sung" in d.notes and (d.supplement_clock == "pause" or "cần xác nhận" in d.notes
                                         or "CSDL" in d.notes), d.source


def test_unverified_facts_are_exactly_the_flagged_ones(shipped):
    cat, findings = shipped
    for d in cat.definitions:
        warnings = {f.rule_id for f in findings[d.source] if f.severity == WARNING}
        assert warnings <= OPEN_QUESTIONS, f"{d.source}: warnings that are not open questions: " \
                                           f"{warnings - OPEN_QUESTIONS}"
        tl = d.time_limit
        expected = set()
        if not d.code:
            expected.add("code-missing")
        elif not d.code_verified:
            expected.add("code-unverified")
        if tl.minutes is None:
            expected.add("limit-missing-draft")
        elif not tl.verified:
            expected.add("limit-unverified")
        if d.delegation is not None and not (d.delegation.decision and d.delegation.verified):
            expected.add("delegation-unverified")
        assert warnings == expected, d.source


def test_steps_fit_the_legal_limit_and_use_it(shipped):
    cat, _ = shipped
    for d in cat.definitions:
        cp = critical_path(d)
        assert cp is not None and cp.minutes > 0, d.source
        if d.time_limit.minutes is not None:
            assert cp.minutes == d.time_limit.minutes, (d.source, cp.minutes, d.time_limit.minutes)


def test_open_questions_are_listed_in_the_docs(shipped):
    cat, _ = shipped
    text = DOCS.read_text(encoding="utf-8")
    missing = [d.key for d in cat.definitions
               if (not d.code or not d.code_verified or not d.time_limit.verified) and d.key not in text]
    assert missing == [], "docs/catalogue.md does not list these open questions"


def test_units_keep_the_ids_other_modules_use_and_name_real_communes(shipped):
    cat, _ = shipped
    units = cat.organisation.units
    for uid in ("bp_mot_cua", "lanh_dao_ubnd", "van_phong", "phong_tckh", "phong_tu_phap", "phong_qldt",
                "phong_kinh_te", "phong_tnmt", "chi_cuc_thue", "ubnd_xa_noi_co_dat", "xa_mot_cua",
                "xa_tu_phap", "xa_lanh_dao", "xa_van_thu", "phong_ldtbxh", "phong_vhtt", "phong_gddt",
                "phong_y_te", "phong_noi_vu"):
        assert uid in units, uid
    communes = cat.organisation.communes
    assert len(communes) == len(set(communes)) >= 10
    assert all(c.startswith(("Xã ", "Thị trấn ")) for c in communes)


def test_every_template_is_used(shipped):
    cat, _ = shipped
    used = Counter(d.extends for d in cat.definitions if d.extends)
    assert set(cat.templates) <= set(used), set(cat.templates) - set(used)


# --------------------------------------------------------------------------- quytrinh catalogue


def test_csv_has_a_header_and_one_row_per_procedure():
    result = invoke("--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == COLUMNS
    body = rows[1:]
    assert len(body) == 91 and all(len(r) == len(COLUMNS) for r in body)
    col = {c: i for i, c in enumerate(COLUMNS)}
    assert Counter(r[col["Cấp"]] for r in body) == {"Cấp huyện": 81, "Cấp xã": 10}
    hkd = next(r for r in body if r[col["Mã TTHC"]] == "1.001612")
    assert hkd[col["Tên thủ tục"]] == "Đăng ký thành lập hộ kinh doanh"
    assert hkd[col["Thời hạn giải quyết"]] == "3 ngày làm việc"
    assert hkd[col["Thời gian phân bổ"]] == "3 ngày"
    assert hkd[col["Trạng thái"]] == "Dự thảo"
    assert hkd[col["Tệp"]].endswith("1.001612-dang-ky-thanh-lap-ho-kinh-doanh.yaml")
    assert sum(int(r[col["Lỗi"]]) for r in body) == 0


def test_rows_match_the_graph_and_the_linter(shipped):
    cat, findings = shipped
    rows = {r.file: r for r in catalogue_rows(cat)}
    for d in cat.definitions:
        r = rows[d.source]
        assert r.allocated == format_minutes(critical_path(d).minutes)
        assert r.steps == len(d.steps)
        assert r.warnings == sum(f.severity == WARNING for f in findings[d.source])
    text = csv_text(list(rows.values()))
    assert text.startswith(",".join(COLUMNS) + "\r\n")


def test_level_filter_and_table():
    result = invoke("--level", "commune", "--format", "csv")
    assert result.exit_code == 0
    body = list(csv.reader(io.StringIO(result.stdout)))[1:]
    assert len(body) == 10 and {r[3] for r in body} == {"Cấp xã"}
    table = invoke()
    assert table.exit_code == 0, table.output
    assert "Danh mục quy trình nội bộ" in table.stdout
    assert "91 thủ tục (81 cấp huyện, 10 cấp xã); 0 lỗi," in table.stdout


def test_csv_file_for_excel_starts_with_a_byte_order_mark(tmp_path):
    out = tmp_path / "danh-muc.csv"
    result = invoke("procedures_yaml/commune", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == COLUMNS and len(rows) == 11


def test_load_errors_are_located_and_exit_1_but_the_rest_is_listed(tmp_path):
    cat = tmp_path / "procedures_yaml"
    shutil.copytree(CATALOGUE / "templates", cat / "templates")
    shutil.copy(CATALOGUE / "units.yaml", cat / "units.yaml")
    (cat / "commune").mkdir()
    good = (CATALOGUE / "commune" / "1.004837-dang-ky-giam-ho.yaml").read_text(encoding="utf-8")
    (cat / "commune" / "1.004837-dang-ky-giam-ho.yaml").write_text(good, encoding="utf-8")
    broken = good.replace("duration: 1.5d", "duration: soon")
    assert broken != good
    (cat / "commune" / "9.000001-hong.yaml").write_text(broken.replace('"1.004837"', '"9.000001"'),
                                                        encoding="utf-8")
    line = next(i for i, t in enumerate(broken.splitlines(), 1) if "duration: soon" in t)
    result = runner.invoke(app, ["catalogue", str(cat), "--format", "csv"])
    assert result.exit_code == 1
    assert f"9.000001-hong.yaml:{line}:" in result.stderr and "bad-duration" in result.stderr
    assert "Traceback" not in result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert len(rows) == 2 and rows[1][0] == "1.004837"


def test_a_missing_path_is_a_usage_error():
    result = invoke("no/such/folder")
    assert result.exit_code == 2
    # English from click in-process, Vietnamese once the console script's main() has run in this process
    assert "does not exist" in result.stderr or "không tồn tại" in result.stderr


def test_the_table_piped_keeps_every_column_as_tasks_and_dossier_show_do():
    import subprocess
    import sys

    env = {**os.environ, "COLUMNS": "80"}
    env.pop("QUYTRINH_CATALOGUE_DIR", None)
    proc = subprocess.run([str(Path(sys.executable).parent / "quytrinh"), "catalogue", "--level", "commune"],
                          cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    header = next(line for line in proc.stdout.splitlines() if "Mã TTHC" in line)
    for column in ("Tên thủ tục", "Lĩnh vực", "Cấp", "Thời hạn", "Phân bổ", "Trạng thái", "Cảnh báo"):
        assert column in header, header
    assert "Hộ tịch" in proc.stdout and "Dự thảo" in proc.stdout
