"""The head of the unit answerable for a late dossier signs the drafted apology (form 04) from the dossier page."""

from __future__ import annotations

from sqlmodel import select

from engine import services as sv
from engine.store import Apology, dump
from tests.web.conftest import csrf_of


def _late(web):
    """A household-business dossier nobody worked on, swept one working day before its appointment."""
    rt = web.runtime
    r = sv.receive(web.store, rt.actor("motcua"), "1.001612", applicant="Đỗ Thị Muộn", now=web.clock())
    due = sv.dossier_sheet(web.store, r.dossier_code).dossier.due_at
    sv.sweep_timers(web.store, now=rt.calendar.sub(due, 420))
    with web.store.session() as s:
        return r, s.exec(select(Apology).where(Apology.dossier_id == r.dossier_id)).one()


def test_the_head_signs_the_apology_on_the_dossier_page(web, client_for):
    r, apology = _late(web)
    page_url = f"/dossiers/{r.dossier_code}"
    staff = client_for("tckh_cv").get(page_url).text
    assert 'id="apologies"' in staff and "Dự thảo, chờ lãnh đạo đơn vị ký" in staff
    assert f'id="apology-form-{apology.id}"' not in staff  # an officer sees it, only the head signs
    head = client_for("tckh_head")
    page = head.get(page_url).text
    assert f'id="apology-form-{apology.id}"' in page
    sign = f"/dossiers/{r.dossier_code}/apologies/{apology.id}/sign"
    before = dump(web.store)
    r1 = head.post(sign, data={"csrf_token": csrf_of(page), "reason": " "}, follow_redirects=True)
    assert "Hãy ghi lý do chậm trễ" in r1.text and dump(web.store) == before
    key = f"apology-{apology.id}-reason"  # the message under the reason, which is marked and gets the focus
    assert f'aria-invalid="true" aria-describedby="{key}-error" autofocus> </textarea></label>' in r1.text
    assert f'<p class="field-error" id="{key}-error">Hãy ghi lý do chậm trễ' in r1.text
    r2 = head.post(sign, data={"csrf_token": csrf_of(page), "reason": "Chờ xác minh",
                               "proposed": "2001-01-01T08:00"}, follow_redirects=True)
    assert "không được sớm hơn ngày hệ thống đề xuất" in r2.text and dump(web.store) == before
    assert "Chờ xác minh</textarea>" in r2.text  # what was typed comes back
    r3 = head.post(sign, data={"csrf_token": csrf_of(page), "reason": "Chờ xác minh thông tin đăng ký",
                               "proposed": "2026-03-20T16:30"}, follow_redirects=True)
    assert "Đã ký phiếu xin lỗi và hẹn lại: hẹn trả kết quả lúc 16:30 ngày 20/03/2026" in r3.text
    assert "Hẹn lại: <strong>20/03/2026 16:30</strong>" in r3.text  # the facts give the new date too
    assert "Lý do: Chờ xác minh thông tin đăng ký" in r3.text and "Đã ký" in r3.text
    assert f'id="apology-form-{apology.id}"' not in r3.text
    form = head.get(f"/documents/dossiers/{r.dossier_code}/forms/04").text
    assert "Chờ xác minh thông tin đăng ký" in form and "20 tháng 3 năm 2026" in form.replace("03 năm", "3 năm")
