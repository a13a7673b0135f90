"""The one-stop forms and the ledger, filled from dossiers run through the real engine."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import docx
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from engine import services as sv
from engine.documents import (
    CONTROL_COLUMNS,
    FORMS_2018,
    FORMS_2025,
    DocumentError,
    FormNotApplicable,
    available_forms,
    form_set_for,
    render_form,
    render_ledger,
    short_instant,
    split_contact,
    vn_instant,
)
from engine.errors import NotFound
from engine.sla import LABELS_VI
from engine.store import WorkItem
from tests.conftest import REPO

HANOI = dt.timezone(dt.timedelta(hours=7))
QUYTRINH = Path(sys.executable).parent / "quytrinh"
HOUSEHOLD = "1.001612"


def at(day: int, hour: int, minute: int = 0, month: int = 3, year: int = 2026) -> dt.datetime:
    """An instant in Hanoi time (default March 2026)."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=HANOI)


def item(db, dossier_id: int, step: str) -> WorkItem:
    with db.session() as s:
        rows = s.exec(select(WorkItem).where(WorkItem.dossier_id == dossier_id, WorkItem.step_id == step,
                                             WorkItem.state.in_(("open", "claimed")))).all()
    assert len(rows) == 1, f"{len(rows)} open items of step {step}"
    return rows[0]


def step(rt, dossier_id: int, step_id: str, user: str, outcome: str | None, when: dt.datetime, **kw):
    return sv.complete(rt.db, rt.actor(user), item(rt.db, dossier_id, step_id).id, outcome=outcome, now=when, **kw)


def text(data: bytes) -> str:
    """The visible text of an HTML form, whitespace collapsed."""
    body = re.sub(r"<style>.*?</style>", "", data.decode("utf-8"), flags=re.S)
    body = re.sub(r"<[^>]+>", " ", body)
    import html

    return re.sub(r"\s+", " ", html.unescape(body))


def docx_text(data: bytes) -> str:
    d = docx.Document(io.BytesIO(data))
    parts = [p.text for p in d.paragraphs]

    def cells(tables):
        for t in tables:
            for row in t.rows:
                for c in row.cells:
                    parts.extend(p.text for p in c.paragraphs)
                    cells(c.tables)

    cells(d.tables)
    return re.sub(r"\s+", " ", " ".join(parts))


@pytest.fixture
def household(runtime):
    """A household-business dossier run to its result, with one supplementation at appraisal."""
    rt = runtime
    r = sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Nguyễn Văn An", now=at(10, 8),
                   contact="0912 345 678")
    d = r.dossier_id
    step(rt, d, "assign", "tckh_head", "done", at(10, 9))
    step(rt, d, "appraise", "tckh_cv", "supplement", at(10, 14),
         comment="Bổ sung bản sao Giấy chứng nhận quyền sử dụng địa điểm kinh doanh")
    sv.supplement_received(rt.db, rt.actor("motcua"), d, now=at(11, 9))
    step(rt, d, "appraise", "tckh_cv", "ok", at(11, 15))
    step(rt, d, "check", "tckh_head", "ok", at(12, 9))
    sv.sign(rt.db, rt.actor("tckh_head"), item(rt.db, d, "sign").id, now=at(12, 10))
    step(rt, d, "issue", "vanthu", "done", at(12, 11))
    sv.return_result(rt.db, rt.actor("motcua"), item(rt.db, d, "deliver").id, now=at(12, 14))
    return r.dossier_code


# --------------------------------------------------------------------------- regime


def test_form_set_switches_on_1_july_2025():
    assert form_set_for(dt.datetime(2025, 6, 30, 16, 59, tzinfo=HANOI)) is FORMS_2018
    assert form_set_for(dt.datetime(2025, 6, 30, 17, 30, tzinfo=dt.timezone.utc)) is FORMS_2025  # 00:30 on 1/7 in Hanoi
    assert form_set_for(dt.date(2025, 7, 1)) is FORMS_2025
    assert [f.number for f in FORMS_2018.forms] == ["01", "02", "03", "04", "05", "06"]
    assert [f.kind for f in FORMS_2025.forms] == ["receipt", "supplement", "refusal", "apology", "stop", "control",
                                                  "ledger"]
    assert "chưa đối chiếu" in FORMS_2025.note  # shown on screen, never printed
    with pytest.raises(DocumentError):
        form_set_for(None)


def test_a_dossier_received_in_august_2025_gets_the_2025_set(runtime):
    rt = runtime
    r = sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Trần Thị Bình", now=at(12, 9, month=8, year=2025))
    sv.stop(rt.db, rt.actor("motcua"), r.dossier_id, now=at(13, 10, month=8, year=2025),
            reason="Tổ chức, cá nhân đề nghị dừng để điều chỉnh ngành nghề kinh doanh")
    receipt = text(render_form(rt.db, "01", r.dossier_code))
    assert "Mẫu số 01 (Thông tư số 03/2025/TT-VPCP)" in receipt
    control = text(render_form(rt.db, "06", r.dossier_code))  # 06 is the control sheet in the 2025 set
    assert "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ" in control
    stop = text(render_form(rt.db, "05", r.dossier_code))
    assert "THÔNG BÁO DỪNG GIẢI QUYẾT HỒ SƠ" in stop and "điều chỉnh ngành nghề" in stop
    assert "chưa đối chiếu" in stop  # the screen note says the 2025 wording is unverified


def test_a_dossier_received_in_june_2025_gets_the_2018_set(runtime):
    rt = runtime
    r = sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Lê Văn Cường", now=at(16, 9, month=6, year=2025))
    receipt = text(render_form(rt.db, "01", r.dossier_code))
    assert "Mẫu số 01 (Thông tư số 01/2018/TT-VPCP)" in receipt
    assert "PHIẾU KIỂM SOÁT" in text(render_form(rt.db, "05", r.dossier_code))
    with pytest.raises(DocumentError, match="not in the set"):
        render_form(rt.db, "07", r.dossier_code)
    with pytest.raises(DocumentError, match="not in the set"):  # no stop notice before Circular 03/2025
        render_form(rt.db, "stop", r.dossier_code)
    assert sv.sweep_timers(rt.db, now=at(18, 9, month=6, year=2025)).apologies == 1  # nothing done for two days
    apology = text(render_form(rt.db, "04", r.dossier_code))
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in apology and "gia hạn" not in apology


# --------------------------------------------------------------------------- forms 01-05


def test_receipt_has_code_applicant_procedure_and_the_calendar_appointment(runtime, household):
    rt = runtime
    defn = sv.current_definition(rt.db, HOUSEHOLD)[1]
    due = rt.calendar.add(at(10, 8), defn.time_limit.minutes)
    for fmt, read in (("html", text), ("docx", docx_text)):
        body = read(render_form(rt.db, "01", household, fmt=fmt))
        assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in body
        assert household in body and "Nguyễn Văn An" in body and defn.name in body
        assert "0912 345 678" in body
        assert f"Thời gian nhận hồ sơ: {vn_instant(at(10, 8))}" in body
        moved = sv.dossier_sheet(rt.db, household).dossier.due_at  # the supplementation moved the appointment
        assert moved != due
        assert f"Thời gian trả kết quả giải quyết hồ sơ: {vn_instant(moved)}" in body  # the one in force
        assert f"(Đã hẹn lại; thời gian hẹn trả lần đầu: {vn_instant(due)})" in body
        assert "NGƯỜI TIẾP NHẬN HỒ SƠ" in body and "motcua" in body


def test_the_stored_contact_is_split_into_phone_and_email(runtime, household):
    rt = runtime
    body = text(render_form(rt.db, "01", household))  # "0912 345 678": a phone, no e-mail
    assert "Số điện thoại: 0912 345 678 Email: ……" in body and "Số điện thoại, Email" not in body
    r = sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Vũ Thị Giang", now=at(10, 9),
                   contact="0987 654 321; giang.vt@example.vn")
    for fmt, read in (("html", text), ("docx", docx_text)):
        body = read(render_form(rt.db, "01", r.dossier_code, fmt=fmt))
        assert "Số điện thoại: 0987 654 321" in body and "Email: giang.vt@example.vn" in body
    assert split_contact("an@example.vn") == ("", "an@example.vn")
    assert split_contact("an@example.vn, 024 3827 1234") == ("024 3827 1234", "an@example.vn")
    assert split_contact(None) == ("", "")


def test_forms_header_the_issuing_unit_bold_under_its_parent(runtime, household):
    d = docx.Document(io.BytesIO(render_form(runtime.db, "01", household, fmt="docx")))
    left = d.tables[0].rows[0].cells[0]
    lines = [p for p in left.paragraphs if p.text and not p.text.startswith("Số")]
    # On A5 beside the national name the parent body's name is cut after "ỦY BAN NHÂN DÂN" and the unit's
    # name into lines of its own, each kept whole, as on form 04.
    assert [p.text for p in lines[:2]] == ["ỦY BAN NHÂN DÂN", "HUYỆN GIA LÂM"]
    assert not any(r.bold for p in lines[:2] for r in p.runs)
    unit = lines[2:]
    assert len(unit) == 2 and " ".join(p.text for p in unit) == "BỘ PHẬN TIẾP NHẬN VÀ TRẢ KẾT QUẢ CẤP HUYỆN"
    assert all(r.bold for p in unit for r in p.runs)
    page = render_form(runtime.db, "01", household).decode()
    assert all(f"<b>{p.text}</b>" in page for p in unit)


def test_the_legal_limit_is_written_zero_padded_as_in_the_annex(runtime, household):
    body = text(render_form(runtime.db, "01", household))
    assert re.search(r"3\. Thời gian giải quyết hồ sơ theo quy định là: 0\d ngày làm việc", body)


def test_control_sheet_names_the_partner_agency_before_its_step_opens(runtime, household):
    rt = runtime
    r = sv.receive(rt.db, rt.actor("motcua"), "1.013225", applicant="Ngô Văn Khánh", now=at(10, 9))
    body = text(render_form(rt.db, "control", r.dossier_code))  # only the reception is done
    assert "Cơ quan phối hợp giải quyết hồ sơ: Ủy ban nhân dân xã, thị trấn nơi có đất Nhận hồ sơ" in body
    assert "Cơ quan phối hợp giải quyết hồ sơ: Không" in text(render_form(rt.db, "control", household))


def test_receipt_html_prints_on_a5(runtime, household):
    page = render_form(runtime.db, "receipt", household).decode()
    assert "@page { size: 148mm 210mm;" in page
    d = docx.Document(io.BytesIO(render_form(runtime.db, "01", household, fmt="docx")))
    assert round(d.sections[0].page_width.mm) == 148 and round(d.sections[0].page_height.mm) == 210
    assert d.styles["Normal"].font.name == "Times New Roman"


def test_supplement_request_carries_the_reason(runtime, household):
    for fmt, read in (("html", text), ("docx", docx_text)):
        body = read(render_form(runtime.db, "02", household, fmt=fmt))
        assert "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ" in body and household in body
        assert "Bổ sung bản sao Giấy chứng nhận quyền sử dụng địa điểm kinh doanh" in body
        assert "Nguyễn Văn An" in body and "NGƯỜI HƯỚNG DẪN" in body


def test_refusal_carries_the_reason_and_a_refused_dossier_has_no_receipt(runtime):
    rt = runtime
    r = sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Phạm Thị Dung", now=at(10, 10),
                   decision="refuse", comment="Ngành nghề kinh doanh thuộc danh mục cấm")
    body = text(render_form(rt.db, "03", r.dossier_code))
    assert "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ" in body
    assert "Lý do: Ngành nghề kinh doanh thuộc danh mục cấm" in body and "Phạm Thị Dung" in body
    with pytest.raises(DocumentError, match="never received"):
        render_form(rt.db, "01", r.dossier_code)
    with pytest.raises(DocumentError, match="supplementation request"):
        render_form(rt.db, "02", r.dossier_code)


def test_the_forms_a_dossier_has_follow_its_life(runtime, household):
    rt = runtime
    assert [f.kind for f in available_forms(sv.dossier_sheet(rt.db, household))] == [
        "receipt", "supplement", "control"]
    refused = sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Đỗ Văn Hùng", now=at(13, 10),
                         decision="refuse", comment="Hồ sơ không thuộc thẩm quyền")
    assert [f.number for f in available_forms(sv.dossier_sheet(rt.db, refused.dossier_id))] == ["03", "06"]
    for kind in ("receipt", "supplement", "apology", "stop"):  # exactly what it lacks is refused, in both languages
        with pytest.raises(FormNotApplicable) as err:
            render_form(rt.db, kind, refused.dossier_code)
        assert err.value.vi.startswith(f"Hồ sơ {refused.dossier_code} (Không được tiếp nhận) chưa có ")


def test_cli_says_in_vietnamese_why_a_form_is_not_there(runtime, household):
    env = {**os.environ, "QUYTRINH_DATABASE_URL": runtime.url}
    proc = subprocess.run([str(QUYTRINH), "form", "03", household], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == (f"quytrinh: Hồ sơ {household} (Đã trả kết quả) chưa có Phiếu từ chối tiếp nhận giải quyết "
                           "hồ sơ (mẫu 03): phiếu này chỉ lập khi Bộ phận tiếp nhận và trả kết quả từ chối tiếp nhận "
                           "hồ sơ (hồ sơ đã tiếp nhận mà không giải quyết được thì trả lời bằng văn bản nêu rõ lý do).\n")


def test_apology_gives_the_new_date_drafted_by_the_timers(runtime):
    rt = runtime
    r = sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Hoàng Văn Em", now=at(10, 8))
    with pytest.raises(DocumentError, match="apology"):
        render_form(rt.db, "04", r.dossier_code)
    step(rt, r.dossier_id, "assign", "tckh_head", "done", at(10, 9))
    res = sv.sweep_timers(rt.db, now=at(12, 9))  # the appraisal is still open a day before the appointment
    assert res.apologies == 1
    sheet = sv.dossier_sheet(rt.db, r.dossier_code)
    proposed = sheet.apologies[0].proposed_due_at
    for fmt, read in (("html", text), ("docx", docx_text)):
        body = read(render_form(rt.db, "apology", r.dossier_code, fmt=fmt))
        # Received in 2026: the 2025 set, whose form 04 is an apology and extension request.
        assert "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT" in body and "gia hạn" in body
        assert "Kính gửi: Ông/Bà Hoàng Văn Em" in body and r.dossier_code in body
        assert vn_instant(proposed) in body and vn_instant(sheet.dossier.due_at) in body
        # Drafted a working day before the appointment: it is still to come, not already missed.
        assert (f"dự kiến không trả được kết quả giải quyết hồ sơ của Ông/Bà đúng hẹn vào "
                f"{vn_instant(sheet.dossier.due_at)} như đã ghi trên Giấy tiếp nhận hồ sơ và hẹn trả kết quả") in body
        assert "đến nay" not in body
    # The new date comes and the appraisal is still open: a second apology, for the date the first one gave
    assert sv.sweep_timers(rt.db, now=proposed - dt.timedelta(minutes=1)).apologies == 0  # not before it
    assert sv.sweep_timers(rt.db, now=proposed).apologies == 1
    assert sv.sweep_timers(rt.db, now=proposed + dt.timedelta(minutes=1)).apologies == 0  # once per missed date
    second = sv.dossier_sheet(rt.db, r.dossier_code).apologies[-1]
    assert second.due_at == proposed and second.proposed_due_at > proposed
    body = text(render_form(rt.db, "04", r.dossier_code))
    assert f"Ngày hẹn trả kết quả giải quyết hồ sơ: {vn_instant(proposed)}" in body
    # Drafted when the new date came: that one is missed already.
    assert "Tuy nhiên đến nay," in body and "chưa trả kết quả giải quyết hồ sơ của Ông/Bà đúng thời hạn " \
        "đã hẹn lại tại văn bản xin lỗi lập ngày 12 tháng 3 năm 2026." in body
    assert "Ngày 10 tháng 3 năm 2026, " in body  # the reception, in the letter's own date style


def test_control_sheet_has_one_row_per_step_with_times_and_classes(runtime, household):
    rt = runtime
    sheet = sv.dossier_sheet(rt.db, household)
    page = render_form(rt.db, "06", household).decode()  # received in 2026: form 06 of the 2025 set
    rows = re.findall(r"<tr>(.*?)</tr>", page.split('class="grid control"')[1].split("</table>")[0], flags=re.S)
    assert len(rows) == 1 + len(sheet.rows)  # header + one per work item
    body = text(page.encode())
    for h in CONTROL_COLUMNS:
        assert h in body
    labels = {str(k): v for k, v in LABELS_VI.items()}
    for tr, row in zip(rows[1:], sheet.rows):
        cell_text = text(tr.encode())
        assert row.step_name in cell_text
        if row.kind == "citizen":
            assert "Tạm dừng tính thời gian" in cell_text
        else:
            assert labels[row.timeliness] in cell_text
    assert "Trước hạn" in body or "Đúng hạn" in body
    doc = docx.Document(io.BytesIO(render_form(rt.db, "control", household, fmt="docx")))
    grid = [t for t in doc.tables if t.style is not None and t.style.name == "Table Grid"]
    assert len(grid) == 1 and len(grid[0].rows) == 1 + len(sheet.rows)


def test_unknown_dossier_and_form_are_errors(runtime, household):
    with pytest.raises(NotFound, match="nope"):
        render_form(runtime.db, "01", "nope")
    with pytest.raises(DocumentError, match="form '09'"):
        render_form(runtime.db, "09", household)
    with pytest.raises(DocumentError, match="ledger"):
        render_form(runtime.db, "07", household)
    with pytest.raises(DocumentError, match="format"):
        render_form(runtime.db, "01", household, fmt="pdf")


# --------------------------------------------------------------------------- ledger


def test_ledger_lists_the_dossiers_of_the_period(runtime, household):
    rt = runtime
    other = sv.receive(rt.db, rt.actor("motcua"), "1.013225", applicant="Công ty TNHH Xây dựng Gia Lâm",
                       now=at(11, 10)).dossier_code
    late = sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Ngoài kỳ", now=at(2, 9, month=4)).dossier_code
    page = render_ledger(rt.db, date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31))
    body = text(page)
    assert "SỔ THEO DÕI HỒ SƠ" in body and "@page { size: 297mm 210mm;" in page.decode()
    assert household in body and other in body and late not in body
    assert "Nguyễn Văn An" in body and "Công ty TNHH Xây dựng Gia Lâm" in body
    assert "Tổng số hồ sơ: 2." in body
    assert "Đã trả kết quả" in body  # the returned dossier's note
    tbody = page.decode().split('class="grid ledger"')[1].split("<tbody>")[1].split("</tbody>")[0]
    assert tbody.count("<tr>") == 2
    only_qldt = text(render_ledger(rt.db, date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31),
                                   unit="phong_qldt"))
    assert other in only_qldt and household not in only_qldt
    d = docx.Document(io.BytesIO(render_ledger(rt.db, date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31),
                                               fmt="docx")))
    sec = d.sections[0]
    assert round(sec.page_width.mm) == 297 and round(sec.page_height.mm) == 210
    grid = [t for t in d.tables if t.style is not None and t.style.name == "Table Grid"][0]
    assert len(grid.rows) == 3 + 2  # two header rows, the column numbers, two dossiers
    with pytest.raises(DocumentError, match="before it starts"):
        render_ledger(rt.db, date_from=dt.date(2026, 3, 31), date_to=dt.date(2026, 3, 1))
    with pytest.raises(DocumentError, match="unknown unit"):
        render_ledger(rt.db, date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31), unit="nowhere")


def test_the_ledger_gives_the_appointment_in_force_and_the_class_at_print_time(runtime, household):
    rt = runtime
    open_one = sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Lê Thị Hoa", now=at(11, 10)).dossier_code
    march = dict(date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31))
    d = sv.dossier_sheet(rt.db, household).dossier
    body = text(render_ledger(rt.db, **march))
    assert f"{short_instant(d.due_at)} (hẹn lần đầu {short_instant(d.original_due_at)})" in body  # moved by the supplementation
    row = body.split(open_one)[1]
    assert "Quá hạn" not in row  # no timer has stored a class yet
    row = text(render_ledger(rt.db, **march, now=at(31, 16))).split(open_one)[1]
    assert "Được tiếp nhận; Quá hạn" in row  # three working days are long gone on 31/3


def test_form_01_and_the_ledger_give_a_dossier_the_same_number_in_its_book(runtime, household):
    rt = runtime
    april = sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Trịnh Văn Tư", now=at(2, 9, month=4))
    assert "Vào Sổ theo dõi hồ sơ, Quyển số: 01/2026 Số thứ tự: 2" in text(render_form(rt.db, "01", april.dossier_code))
    page = render_ledger(rt.db, date_from=dt.date(2026, 4, 1), date_to=dt.date(2026, 4, 30)).decode()
    assert _ledger_numbers(page) == [("2", april.dossier_code)]  # April's ledger goes on from March's entry 1
    assert "Quyển số: 01/2026 – Bộ phận Tiếp nhận và Trả kết quả cấp huyện" in text(page.encode())
    assert "Số thứ tự: 1" in text(render_form(rt.db, "01", household))
    word = docx_text(render_form(rt.db, "01", april.dossier_code, fmt="docx"))
    assert "Vào Sổ theo dõi hồ sơ, Quyển số: 01/2026 Số thứ tự: 2" in word


def _ledger_numbers(page: str) -> list[tuple[str, str]]:
    """(first column, code) of each row of the ledger's table; a book's heading row as (its text, "")."""
    tbody = page.split('class="grid ledger"')[1].split("<tbody>")[1].split("</tbody>")[0]
    out = []
    for row in re.findall(r"<tr>(.*?)</tr>", tbody, re.S):
        cells = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        out.append((cells[0], cells[1] if len(cells) > 1 else ""))
    return out


def _entry(db, code: str) -> tuple[str, int]:
    """("Quyển số", "Số thứ tự") form 01 prints for a dossier."""
    m = re.search(r"Vào Sổ theo dõi hồ sơ, Quyển số: (\S+) Số thứ tự: (\d+)", text(render_form(db, "01", code)))
    assert m, "no book entry on form 01"
    return m.group(1), int(m.group(2))


def test_each_one_stop_unit_numbers_its_own_book_each_year(runtime):
    """The district's one-stop unit and each commune's keep their own book, a new one each year; online
    dossiers are in the same book as those received at the counter; a receipt printed again after more
    dossiers came gives the same number, and so does the ledger, whatever is printed first."""
    rt = runtime
    motcua, xa = rt.actor("motcua"), rt.actor("xa_motcua")
    first = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Một", now=at(2, 8))
    second = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Hai", now=at(2, 9))
    assert [_entry(rt.db, r.dossier_code) for r in (first, second)] == [("01/2026", 1), ("01/2026", 2)]
    # a commune's one-stop unit starts its own numbering; another commune its own again
    bat_trang = sv.receive(rt.db, xa, "1.001193", applicant="Ba", now=at(2, 10), commune="Xã Bát Tràng")
    trau_quy = sv.receive(rt.db, xa, "1.001193", applicant="Bốn", now=at(2, 11), commune="Thị trấn Trâu Quỳ")
    bat_trang2 = sv.receive(rt.db, xa, "1.001193", applicant="Năm", now=at(3, 8), commune="Xã Bát Tràng")
    assert [_entry(rt.db, r.dossier_code) for r in (bat_trang, trau_quy, bat_trang2)] == [
        ("01/2026", 1), ("01/2026", 1), ("01/2026", 2)]
    # an online dossier, accepted at the counter later, takes the next number of the district's book
    online = sv.submit(rt.db, sv.SYSTEM, HOUSEHOLD, applicant="Sáu", now=at(3, 7), channel="online")
    assert _ledger_row_number(rt, online.dossier_code, at(3, 7)) == 3  # the ledger before any receipt
    sv.complete(rt.db, motcua, online.opened[0], outcome="accept", now=at(3, 9))
    third = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Bảy", now=at(3, 10))
    assert _entry(rt.db, online.dossier_code) == ("01/2026", 3) and _entry(rt.db, third.dossier_code)[1] == 4
    # the next year opens a new book, at 1, in every unit
    next_year = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Tám", now=at(5, 9, month=1, year=2027))
    next_commune = sv.receive(rt.db, xa, "1.001193", applicant="Chín", now=at(5, 10, month=1, year=2027),
                              commune="Xã Bát Tràng")
    assert _entry(rt.db, next_year.dossier_code) == ("01/2027", 1)
    assert _entry(rt.db, next_commune.dossier_code) == ("01/2027", 1)
    # printed again after all those, the 2026 receipts keep their numbers; the ledger gives the same ones
    for r, n in ((first, 1), (second, 2), (online, 3), (third, 4), (bat_trang, 1), (trau_quy, 1), (bat_trang2, 2)):
        assert _entry(rt.db, r.dossier_code) == ("01/2026", n), r.dossier_code
        assert _ledger_row_number(rt, r.dossier_code, at(31, 9)) == n, r.dossier_code
    assert _ledger_row_number(rt, next_year.dossier_code, at(5, 9, month=1, year=2027)) == 1


def _ledger_row_number(rt, code: str, when: dt.datetime) -> int:
    """The number in the first column of the dossier's row in the ledger of its registration's month."""
    day = when.date()
    start = day.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    rows = dict((c, n) for n, c in _ledger_numbers(render_ledger(rt.db, date_from=start, date_to=end).decode()))
    return int(rows[code])


def test_a_ledger_of_several_books_heads_each_books_rows(runtime):
    """Without a book chosen, the ledger gives each book's rows under a line naming it (Quyển số, the one-stop
    unit, the commune), book by book; with one chosen (its key, its unit or its commune), that book alone,
    headed by its commune's People's Committee."""
    from engine.documents import find_book, ledger_books, ledger_rows

    rt = runtime
    motcua, xa = rt.actor("motcua"), rt.actor("xa_motcua")
    d1 = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Huyện một", now=at(2, 8)).dossier_code
    c1 = sv.receive(rt.db, xa, "1.001193", applicant="Xã một", now=at(2, 9), commune="Xã Bát Tràng").dossier_code
    d2 = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Huyện hai", now=at(2, 10)).dossier_code
    c2 = sv.receive(rt.db, xa, "1.001193", applicant="Xã hai", now=at(2, 11), commune="Xã Bát Tràng").dossier_code
    march = dict(date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31))
    rows = ledger_rows(rt.db, **march)
    assert [(r.code, r.book, r.number) for r in rows] == [
        (d1, "bp_mot_cua", 1), (d2, "bp_mot_cua", 2), (c1, "xa_mot_cua/Xã Bát Tràng", 1),
        (c2, "xa_mot_cua/Xã Bát Tràng", 2)]
    page = render_ledger(rt.db, **march).decode()
    assert _ledger_numbers(page) == [
        ("Quyển số 01/2026 – Bộ phận Tiếp nhận và Trả kết quả cấp huyện", ""), ("1", d1), ("2", d2),
        ("Quyển số 01/2026 – Bộ phận Tiếp nhận và Trả kết quả cấp xã – Xã Bát Tràng", ""), ("1", c1), ("2", c2)]
    books = ledger_books(rt.db, **march)
    assert books == [("bp_mot_cua", "Bộ phận Tiếp nhận và Trả kết quả cấp huyện"),
                     ("xa_mot_cua/Xã Bát Tràng", "Bộ phận Tiếp nhận và Trả kết quả cấp xã – Xã Bát Tràng")]
    assert find_book("bát tràng", books) == find_book("xa_mot_cua/Xã Bát Tràng", books) == "xa_mot_cua/Xã Bát Tràng"
    assert find_book("bp_mot_cua", books) == "bp_mot_cua" and find_book("Xã Cổ Bi", books) is None
    one = render_ledger(rt.db, **march, book="xa_mot_cua/Xã Bát Tràng").decode()
    assert _ledger_numbers(one) == [("1", c1), ("2", c2)]
    body = text(one.encode())
    assert "ỦY BAN NHÂN DÂN XÃ BÁT TRÀNG" in body and "BỘ PHẬN TIẾP NHẬN VÀ TRẢ KẾT QUẢ CẤP XÃ" in body
    assert "Quyển số: 01/2026 – Bộ phận Tiếp nhận và Trả kết quả cấp xã – Xã Bát Tràng" in body
    word = docx_text(render_ledger(rt.db, **march, fmt="docx"))
    assert "Quyển số 01/2026 – Bộ phận Tiếp nhận và Trả kết quả cấp xã – Xã Bát Tràng" in word


def test_the_book_number_is_read_with_the_dossier_and_counted_only_for_a_row_without_one(runtime):
    """Form 01 of the 100,000th dossier does not read the book's rows: the number was stored when it was
    registered (dossiers.ledger_no). A row without one (written by a bulk load, not the services) gets its
    rank, counted in the database on ix_dossiers_ledger_book (ledger_book, registered_at, id), index-only."""
    import sqlalchemy as sa
    from sqlalchemy import event

    from engine.documents import book_number
    from engine.store import Dossier

    rt = runtime
    for i in range(3):
        sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant=f"Người {i}", now=at(2, 8 + i))
    statements: list[tuple[str, object]] = []

    def seen(conn, cursor, statement, parameters, *args):
        statements.append((statement, parameters))

    def entry_of_last():
        with rt.db.session() as s:
            d = s.exec(select(Dossier).order_by(Dossier.id.desc())).first()
            event.listen(engine, "before_cursor_execute", seen)
            try:
                return book_number(s, d)
            finally:
                event.remove(engine, "before_cursor_execute", seen)

    engine = rt.db.engine
    entry = entry_of_last()
    assert (entry.key, entry.volume, entry.number) == ("bp_mot_cua", "01/2026", 3)
    assert statements == []
    with engine.begin() as conn:  # as a bulk load would write it: no number
        conn.execute(sa.text("UPDATE dossiers SET ledger_year = NULL, ledger_no = NULL "
                             "WHERE id = (SELECT max(id) FROM dossiers)"))
    entry = entry_of_last()
    assert (entry.key, entry.volume, entry.number) == ("bp_mot_cua", "01/2026", 3)
    [(sql, params)] = statements
    assert sql.count("count(*)") == 2 and "ledger_book" in sql
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")  # a few rows: the planner would read the table
            plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql, params).all())
            # (with three rows the planner may take either index that starts with ledger_book)
            assert plan.count("Index Only Scan using ix_dossiers_ledger_book") == 2 or (
                plan.count("Index Cond: ((ledger_book)::text = ") == 2 and "Seq Scan" not in plan), plan
        else:
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all())
            assert plan.count("USING COVERING INDEX ix_dossiers_ledger_book") == 2, plan
        conn.execute(sa.text("SELECT 1"))


def test_a_printed_number_stays_when_a_dossier_is_entered_later_with_an_earlier_instant(runtime):
    """A dossier entered after others with the earlier instant it was received at (on paper while the system
    was down, or two counters at the same moment) takes the book's next number: the numbers form 01 printed
    for the others do not move. The ledger gives each its number, in the order of registration instants."""
    from engine.documents import ledger_rows

    rt = runtime
    motcua = rt.actor("motcua")
    a = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Trước", now=at(3, 10))
    b = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Sau", now=at(3, 11))
    printed = text(render_form(rt.db, "01", b.dossier_code))
    assert "Quyển số: 01/2026 Số thứ tự: 2" in printed
    late = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Nhập sau", now=at(3, 9))
    assert text(render_form(rt.db, "01", b.dossier_code)) == printed
    assert "Quyển số: 01/2026 Số thứ tự: 3" in text(render_form(rt.db, "01", late.dossier_code))
    rows = ledger_rows(rt.db, date_from=dt.date(2026, 3, 3), date_to=dt.date(2026, 3, 3))
    assert [(r.code, r.number) for r in rows] == [(late.dossier_code, 3), (a.dossier_code, 1), (b.dossier_code, 2)]


def test_migration_0012_keeps_the_numbers_the_ledger_gave_before(runtime):
    """Dossiers registered before dossiers.ledger_no existed take the numbers the ledger counted for them
    (their rank by instant, then id, in their book and year): the numbers their receipts printed."""
    import sqlalchemy as sa
    from alembic import command

    from engine.store import HEAD_REVISION, alembic_config, migrate

    rt = runtime
    motcua = rt.actor("motcua")
    received = [sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Chín giờ", now=at(3, 9)),
                sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Mười giờ", now=at(3, 10)),
                sv.receive(rt.db, rt.actor("xa_motcua"), "1.001193", applicant="Xã", now=at(3, 11),
                           commune="Xã Bát Tràng"),
                sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Năm trước", now=at(30, 9, month=12, year=2025)),
                sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Tám giờ", now=at(3, 8))]
    command.downgrade(alembic_config(rt.url), "0011")
    with rt.db.engine.connect() as conn:
        assert "ledger_no" not in {c["name"] for c in sa.inspect(conn).get_columns("dossiers")}
    migrate(rt.db.engine)
    rt.db.engine.dispose()
    with rt.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
        stored = {i: (y, n) for i, y, n in conn.execute(sa.text("SELECT id, ledger_year, ledger_no FROM dossiers"))}
        assert "ux_dossiers_ledger_no" in {i["name"] for i in sa.inspect(conn).get_indexes("dossiers")}
    assert [stored[r.dossier_id] for r in received] == [(2026, 2), (2026, 3), (2026, 1), (2025, 1), (2026, 1)]
    nine = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Tiếp theo", now=at(4, 9))
    assert _entry(rt.db, nine.dossier_code) == ("01/2026", 4)


def _ledger_reference(db, date_from: dt.date, date_to: dt.date, unit: str | None = None) -> list[tuple]:
    """What the ledger's item-derived columns must be, read the plain way: each dossier's work items on
    their own (ledger_rows reads the period's items in one statement)."""
    from engine.store import Dossier, UnitRow

    start = dt.datetime.combine(date_from, dt.time(0, 0), HANOI)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0, 0), HANOI)
    out = []
    with db.session() as s:
        units = {u.id: u for u in s.exec(select(UnitRow)).all()}
        for d in s.exec(select(Dossier).where(Dossier.registered_at >= start, Dossier.registered_at < end)
                        .order_by(Dossier.registered_at, Dossier.id)).all():
            items = s.exec(select(WorkItem).where(WorkItem.dossier_id == d.id).order_by(WorkItem.id)).all()
            if unit is not None and not any(w.unit_id == unit for w in items):
                continue
            start_step = sv.dossier_sheet(db, d.id).definition.start.id
            first = next((w for w in items if w.step_id == start_step and w.state == "done"), None)
            ret = [w for w in items if w.kind == "return"]
            lead = next((w.unit_id for w in items if w.unit_id and w.kind not in ("return", "citizen")
                         and units[w.unit_id].kind != "one_stop"), None)
            out.append((d.code, units[lead].name if lead else "",
                        first.closed_at if first is not None and d.received_at else None,
                        ret[-1].opened_at if ret and d.result == "result" else d.finished_at))
    return out


def test_the_ledger_reads_each_dossiers_steps_right_whatever_its_state(runtime, household):
    """Several dossiers at different steps and states (returned, claimed at appraisal, waiting for a
    supplement at the counter, refused at reception, withdrawn, at another unit): each row's lead unit
    and dates come from that dossier's own work items, in book order, with the unit filter."""
    from engine.documents import ledger_rows

    rt = runtime
    motcua = rt.actor("motcua")
    claimed = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Đang thẩm định", now=at(11, 8))
    step(rt, claimed.dossier_id, "assign", "tckh_head", "done", at(11, 9))
    sv.claim(rt.db, rt.actor("tckh_cv"), item(rt.db, claimed.dossier_id, "appraise").id, now=at(11, 10))
    waiting = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Chờ bổ sung", now=at(11, 11), decision="supplement",
                         comment="Thiếu bản sao giấy tờ")
    refused = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Bị từ chối", now=at(11, 14), decision="refuse",
                         comment="Không thuộc thẩm quyền")
    gone = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Rút hồ sơ", now=at(12, 8))
    sv.withdraw(rt.db, motcua, gone.dossier_id, now=at(12, 9), comment="Đơn xin rút số 1 ngày 12/3/2026")
    qldt = sv.receive(rt.db, motcua, "1.013225", applicant="Công ty Xây dựng", now=at(13, 8))
    sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Tháng trước", now=at(27, 9, month=2))
    sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Tháng sau", now=at(1, 9, month=4))
    march = dict(date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31))

    rows = ledger_rows(rt.db, **march)
    codes = [household, claimed.dossier_code, waiting.dossier_code, refused.dossier_code, gone.dossier_code,
             qldt.dossier_code]
    assert [r.code for r in rows] == codes
    assert [r.number for r in rows] == [1, 2, 3, 4, 5, 6]  # February's dossier, entered after them, is entry 7
    assert [(r.code, r.lead_unit, r.transferred_at, r.result_at) for r in rows] == _ledger_reference(rt.db, **march)
    by = {r.code: r for r in rows}
    assert by[household].lead_unit == by[claimed.dossier_code].lead_unit == "Phòng Tài chính – Kế hoạch"
    assert by[household].returned_at is not None and by[household].result_at is not None
    assert by[claimed.dossier_code].transferred_at == at(11, 8) and by[claimed.dossier_code].result_at is None
    assert by[waiting.dossier_code].transferred_at is None and by[waiting.dossier_code].lead_unit == ""
    assert by[refused.dossier_code].transferred_at is None and by[refused.dossier_code].received_at is None
    assert by[qldt.dossier_code].lead_unit != by[household].lead_unit and by[qldt.dossier_code].lead_unit
    only_qldt = ledger_rows(rt.db, **march, unit="phong_qldt")
    assert [r.code for r in only_qldt] == [qldt.dossier_code]
    assert ([(r.code, r.lead_unit, r.transferred_at, r.result_at) for r in only_qldt]
            == _ledger_reference(rt.db, **march, unit="phong_qldt"))
    assert ledger_rows(rt.db, date_from=dt.date(2026, 3, 14), date_to=dt.date(2026, 3, 31)) == []


def test_the_ledger_reads_the_work_items_of_a_period_in_one_statement(runtime, household):
    """The number of statements does not grow with the number of dossiers (one per dossier took 13 s
    for a month of 4,300 dossiers on PostgreSQL)."""
    from sqlalchemy import event

    from engine.documents import ledger_rows

    rt = runtime
    march = dict(date_from=dt.date(2026, 3, 1), date_to=dt.date(2026, 3, 31))
    engine = rt.db.engine
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    def run() -> int:
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            ledger_rows(rt.db, **march)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return sum("work_items" in q for q in statements)

    assert run() == 1
    for i in range(5):
        sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant=f"Người nộp {i}", now=at(13, 8 + i))
    assert run() == 1 and len(ledger_rows(rt.db, **march)) == 6


def test_migration_0011_enters_earlier_dossiers_in_their_one_stop_units_books(runtime):
    """Dossiers registered before dossiers.ledger_book existed are entered in the book of the unit of
    their reception step (and their commune's, for a commune-level dossier): the same book, and so the
    same numbers, as a dossier registered now."""
    import sqlalchemy as sa
    from alembic import command

    from engine.store import HEAD_REVISION, alembic_config, migrate

    rt = runtime
    received = [sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Huyện", now=at(2, 8)),
                sv.receive(rt.db, rt.actor("xa_motcua"), "1.001193", applicant="Xã", now=at(2, 9),
                           commune="Xã Bát Tràng"),
                sv.submit(rt.db, sv.SYSTEM, HOUSEHOLD, applicant="Trực tuyến", now=at(2, 10)),
                sv.receive(rt.db, rt.actor("xa_motcua"), "1.001193", applicant="Xã khác", now=at(2, 11),
                           commune="Thị trấn Trâu Quỳ")]
    with rt.db.engine.connect() as conn:
        books = dict(conn.execute(sa.text("SELECT id, ledger_book FROM dossiers")).all())
    assert [books[r.dossier_id] for r in received] == [
        "bp_mot_cua", "xa_mot_cua/Xã Bát Tràng", "bp_mot_cua", "xa_mot_cua/Thị trấn Trâu Quỳ"]
    numbers = [_ledger_row_number(rt, r.dossier_code, at(2, 8)) for r in received]
    assert numbers == [1, 1, 2, 1]
    command.downgrade(alembic_config(rt.url), "0010")
    with rt.db.engine.connect() as conn:
        assert "ledger_book" not in {c["name"] for c in sa.inspect(conn).get_columns("dossiers")}
        assert "ix_dossiers_ledger_book" not in {i["name"] for i in sa.inspect(conn).get_indexes("dossiers")}
    migrate(rt.db.engine)
    rt.db.engine.dispose()
    with rt.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
        assert dict(conn.execute(sa.text("SELECT id, ledger_book FROM dossiers")).all()) == books
        assert "ix_dossiers_ledger_book" in {i["name"] for i in sa.inspect(conn).get_indexes("dossiers")}
    assert [_ledger_row_number(rt, r.dossier_code, at(2, 8)) for r in received] == numbers
    assert _entry(rt.db, received[3].dossier_code) == ("01/2026", 1)


def test_the_book_number_counts_the_years_dossiers_and_orders_a_same_instant_by_id(runtime):
    from engine.documents import book_number, ledger_rows
    from engine.store import Dossier

    rt = runtime
    motcua = rt.actor("motcua")
    new_year = dt.datetime(2026, 1, 1, 0, 0, tzinfo=HANOI)
    sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Năm trước", now=new_year - dt.timedelta(minutes=1))
    first = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Đầu năm", now=new_year)
    twins = [sv.receive(rt.db, motcua, HOUSEHOLD, applicant=f"Cùng lúc {i}", now=at(5, 9, month=1)) for i in range(3)]
    later = sv.receive(rt.db, motcua, HOUSEHOLD, applicant="Sau đó", now=at(5, 10, month=1))
    with rt.db.session() as s:
        numbers = {r.dossier_code: book_number(s, s.get(Dossier, r.dossier_id)) for r in [first, *twins, later]}
    assert [(numbers[r.dossier_code].volume, numbers[r.dossier_code].number) for r in [first, *twins, later]] == [
        ("01/2026", n) for n in range(1, 6)]
    rows = ledger_rows(rt.db, date_from=dt.date(2026, 1, 5), date_to=dt.date(2026, 1, 5))
    assert [(r.code, r.number) for r in rows] == [(r.dossier_code, n) for n, r in enumerate([*twins, later], 2)]
    assert "Quyển số: 01/2026 Số thứ tự: 4" in text(render_form(rt.db, "01", twins[2].dossier_code))


def test_a_commune_level_dossiers_forms_are_headed_by_its_commune(runtime, household):
    rt = runtime
    named = sv.receive(rt.db, rt.actor("xa_motcua"), "1.001193", applicant="Lê Thị Na", now=at(10, 9),
                       commune="Xã Bát Tràng")
    body = text(render_form(rt.db, "01", named.dossier_code))
    assert "ỦY BAN NHÂN DÂN XÃ BÁT TRÀNG" in body and "Bát Tràng, ngày 10 tháng 3 năm 2026" in body
    assert "HUYỆN GIA LÂM" not in body
    unnamed = sv.receive(rt.db, rt.actor("xa_motcua"), "1.001193", applicant="Lê Văn Nam", now=at(10, 10))
    body = text(render_form(rt.db, "01", unnamed.dossier_code))
    assert "ỦY BAN NHÂN DÂN XÃ ……" in body and "……, ngày 10 tháng 3 năm 2026" in body  # to be filled in by hand
    assert "ỦY BAN NHÂN DÂN HUYỆN GIA LÂM" in text(render_form(rt.db, "01", household))  # a district dossier


def test_a_refusal_after_reception_is_not_form_03(runtime):
    rt = runtime
    r = sv.receive(rt.db, rt.actor("motcua"), HOUSEHOLD, applicant="Vũ Văn Nam", now=at(10, 9))
    step(rt, r.dossier_id, "assign", "tckh_head", "done", at(10, 10))
    step(rt, r.dossier_id, "appraise", "tckh_cv", "refuse", at(10, 14), comment="Tên hộ kinh doanh trùng")
    assert "refusal" not in [f.kind for f in available_forms(sv.dossier_sheet(rt.db, r.dossier_id))]
    with pytest.raises(FormNotApplicable, match="refuses to receive"):
        render_form(rt.db, "03", r.dossier_code)


def test_the_head_of_a_unit_signs_with_the_title_of_that_unit():
    from engine.documents import head_title

    assert head_title("Phòng Tài chính – Kế hoạch") == "TRƯỞNG PHÒNG TÀI CHÍNH – KẾ HOẠCH"
    assert head_title("Văn phòng HĐND và UBND") == "CHÁNH VĂN PHÒNG HĐND VÀ UBND"
    assert head_title("Bộ phận Tiếp nhận và Trả kết quả") == "TRƯỞNG BỘ PHẬN TIẾP NHẬN VÀ TRẢ KẾT QUẢ"
    assert head_title("Chi cục Thuế khu vực") == "THỦ TRƯỞNG CHI CỤC THUẾ KHU VỰC"


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(runtime, monkeypatch):
    from quytrinh.cli import app

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", runtime.url)
    monkeypatch.chdir(REPO)
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=True)

    return invoke


def test_cli_form_and_ledger_write_files(cli, household, tmp_path):
    out = tmp_path / "bm01.docx"
    res = cli("form", "01", household, "--format", "docx", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert household in docx_text(out.read_bytes())
    res = cli("form", "control", household)
    assert res.exit_code == 0 and "PHIẾU KIỂM SOÁT" in res.output
    res = cli("ledger", "--from", "2026-03-01", "--to", "2026-03-31", "--out", str(tmp_path / "so.html"))
    assert res.exit_code == 0 and household in (tmp_path / "so.html").read_text()
    res = cli("form", "01", household, "--format", "docx")
    assert res.exit_code == 1 and "cần --out FILE" in str(res.exception)


def test_cli_ledger_prints_one_book(cli, runtime, household, tmp_path):
    """``quytrinh ledger --book`` prints one one-stop unit's book: by the unit's id or by its commune."""
    commune = sv.receive(runtime.db, runtime.actor("xa_motcua"), "1.001193", applicant="Lê Thị Na", now=at(10, 9),
                         commune="Xã Bát Tràng").dossier_code
    march = ("ledger", "--from", "2026-03-01", "--to", "2026-03-31")
    res = cli(*march, "--out", str(tmp_path / "all.html"))
    assert res.exit_code == 0, res.output
    assert [c for _, c in _ledger_numbers((tmp_path / "all.html").read_text())] == ["", household, "", commune]
    res = cli(*march, "--book", "bát tràng", "--out", str(tmp_path / "xa.html"))
    assert res.exit_code == 0, res.output
    page = (tmp_path / "xa.html").read_text()
    assert _ledger_numbers(page) == [("1", commune)] and "ỦY BAN NHÂN DÂN XÃ BÁT TRÀNG" in text(page.encode())
    res = cli(*march, "--book", "bp_mot_cua", "--out", str(tmp_path / "huyen.html"))
    assert res.exit_code == 0 and _ledger_numbers((tmp_path / "huyen.html").read_text()) == [("1", household)]
    res = cli(*march, "--book", "Cổ Bi")
    assert res.exit_code == 1
    said = str(res.exception)
    assert "--book 'Cổ Bi': không có quyển sổ nào như vậy" in said and "xa_mot_cua/Xã Bát Tràng" in said


def test_cli_unknown_dossier_is_one_line_and_exit_1(runtime, household):
    env = {**os.environ, "QUYTRINH_DATABASE_URL": runtime.url}
    proc = subprocess.run([str(QUYTRINH), "form", "01", "1.001612-20990101-999999"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == ("quytrinh: Không tìm thấy: hồ sơ '1.001612-20990101-999999'; xem danh sách công việc "
                           "(quytrinh tasks) hoặc sổ theo dõi (quytrinh ledger).\n")
    proc = subprocess.run([str(QUYTRINH), "ledger", "--from", "2026-13-01", "--to", "2026-03-31"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip().count("\n") == 0 and "--from" in proc.stderr


# --------------------------------------------------------------------------- web


from tests.web.conftest import client_for, web  # noqa: E402,F401  (fixtures of the web app)


def test_web_serves_forms_ledger_and_decision(web, client_for, household):
    staff = client_for("motcua")
    r = staff.get(f"/documents/dossiers/{household}/forms/01")
    assert r.status_code == 200 and "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in r.text and household in r.text
    r = staff.get(f"/documents/dossiers/{household}/forms/control?format=docx")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert household in docx_text(r.content)
    assert staff.get("/documents/dossiers/nope/forms/01").status_code == 404
    r = staff.get(f"/documents/dossiers/{household}/forms/03")  # not refused
    assert r.status_code == 409 and "03" in r.text
    r = staff.get("/documents/ledger?from=2026-03-01&to=2026-03-31")
    assert r.status_code == 200 and household in r.text
    assert staff.get("/documents/decision?codes=1.001612").status_code == 403  # one-stop staff draft no decisions
    other_unit = client_for("qldt_cv")
    assert other_unit.get(f"/documents/dossiers/{household}/forms/01").status_code == 404  # as a missing one
    leader = client_for("ld_pct")
    r = leader.get("/documents/decision?codes=1.001612")
    assert r.status_code == 200 and r.text.count('class="grid annex"') == 1 and "<svg" in r.text
    assert leader.get("/documents/decision?codes=9.999999").status_code == 422
