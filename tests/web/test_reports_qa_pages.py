"""The reports pages with the dates and groupings a leader may type or a link may carry.

A date outside the working calendar's years (1995–2099: year 9999 is not even an instant in Hanoi) is an
error shown on the page, with the period actually used, never a 500; the exports and the heatmap alike.
The figures are checked against a count made here from the dossiers received through the services.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from html import unescape as html_unescape

from engine import services as sv
from engine.calendar import LOCAL_TZ
from tests.web.conftest import shot, signed_in_page


def _alert(html: str) -> str:
    m = re.search(r'<div class="flash flash-error" role="alert">(.*?)</div>', html, re.S)
    assert m, "no error on the page"
    return html_unescape(" ".join(m[1].split()))


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ)


def test_a_date_outside_the_calendars_years_is_an_error_on_the_page_not_a_500(web, client_for):
    c = client_for("tckh_head")
    r = c.get("/reports?from=2026-01-01&to=9999-12-31&by=unit")
    assert r.status_code == 200, r.text[:300]  # was: 500 (OverflowError in period_bounds)
    today = web.clock().astimezone(LOCAL_TZ).date()
    assert _alert(r.text) == (f"Ô “Đến ngày” ('9999-12-31') không hợp lệ: lịch làm việc chỉ có các năm 1995–2099; "
                              f"báo cáo dưới đây lấy kỳ từ 01/01/2026 đến {today:%d/%m/%Y}.")
    r = c.get("/reports?from=0001-01-01&to=2026-01-31")
    assert r.status_code == 200
    assert _alert(r.text).startswith("Ô “Từ ngày” ('0001-01-01') không hợp lệ: lịch làm việc chỉ có các năm 1995–2099")
    assert 'min="1995-01-01" max="2099-12-31"' in r.text  # the date pickers do not offer them
    for path in ("/reports/export.csv", "/reports/export.xlsx"):
        r = c.get(f"{path}?from=2026-01-01&to=9999-12-31")
        assert r.status_code == 200, path
    # an unknown grouping says what was asked and what is shown; a bad date's message is kept
    r = c.get("/reports?from=2026-13-01&by=donvi")
    assert _alert(r.text) == ("Ô “Từ ngày” ('2026-13-01') không hợp lệ: hãy chọn một ngày trên lịch của ô; "
                              f"báo cáo dưới đây lấy kỳ từ {today.replace(day=1):%d/%m/%Y} đến {today:%d/%m/%Y}. "
                              "Cách nhóm 'donvi' không hợp lệ; báo cáo dưới đây nhóm theo thủ tục hành chính.")


def test_the_heatmap_with_a_date_outside_the_calendars_years(web, client_for):
    c = client_for("tckh_head")
    r = c.get("/reports/heatmap?code=1.001612&since=0001-01-01")
    assert r.status_code == 200, r.text[:300]  # was: 500
    since = web.clock().astimezone(LOCAL_TZ).date() - dt.timedelta(days=90)
    assert _alert(r.text) == (f"Ô “Từ ngày” ('0001-01-01') không hợp lệ: lịch làm việc chỉ có các năm 1995–2099; bản đồ "
                              f"dưới đây lấy số liệu từ ngày {since:%d/%m/%Y}.")
    assert 'id="heatmap"' in r.text
    # both mistakes are said, not only the last one
    r = c.get("/reports/heatmap?code=9.999999&since=hom-qua")
    assert _alert(r.text) == (f"Ô “Từ ngày” ('hom-qua') không hợp lệ: hãy chọn một ngày trên lịch của ô; bản đồ dưới "
                              f"đây lấy số liệu từ ngày {since:%d/%m/%Y}. Không có thủ tục mã 9.999999 đã công bố.")


def test_step_performance_takes_any_date(web):
    from engine.reports import step_performance

    assert step_performance(web.store, "1.001612", dt.date(1, 1, 1), dt.date(9999, 12, 31)) == {}


def _october(web) -> dict[str, int]:
    """Dossiers of 1.001612 (3 working days) around October 2026, and the October figures counted by hand."""
    st = web.store
    a = web.runtime.actor

    def receive(name: str, at: str):
        return sv.receive(st, a("motcua"), "1.001612", applicant=name, now=_at(at))

    def finish(res, times: list[str], returned: str | None):
        for who, outcome, at in zip(("tckh_head", "tckh_cv", "tckh_head", "tckh_head", "vanthu"),
                                    ("done", "ok", "ok", "approve", "done"), times):
            res = sv.complete(st, a(who), res.opened[-1], outcome=outcome, now=_at(at))
        assert res.status == 9  # finished: the result waits at the one-stop unit
        if returned:
            assert sv.complete(st, a("motcua"), res.opened[-1], outcome=None, now=_at(returned)).status == 10

    # carried over (received in September), finished late on 2/10 (due 1/10 09:00)
    finish(receive("A", "2026-09-28T09:00"), ["2026-09-28T10:00", "2026-09-29T10:00", "2026-09-30T10:00",
                                             "2026-10-02T09:00", "2026-10-02T10:00"], "2026-10-02T11:00")
    # early (due 7/10 17:00), returned
    finish(receive("B", "2026-10-05T08:00"), ["2026-10-05T09:00", "2026-10-05T10:00", "2026-10-05T11:00",
                                             "2026-10-05T14:00", "2026-10-05T16:00"], "2026-10-06T09:00")
    # on time: finished at the minute of its due instant (14/10 17:00), returned
    finish(receive("C", "2026-10-12T08:00"), ["2026-10-12T09:00", "2026-10-13T10:00", "2026-10-14T11:00",
                                             "2026-10-14T14:00", "2026-10-14T17:00"], "2026-10-15T09:00")
    # early, not collected
    finish(receive("E", "2026-10-20T08:00"), ["2026-10-20T09:00", "2026-10-20T10:00", "2026-10-20T11:00",
                                             "2026-10-20T14:00", "2026-10-21T09:00"], None)
    # late (due 21/10 17:00, finished 26/10)
    finish(receive("D", "2026-10-19T08:00"), ["2026-10-19T09:00", "2026-10-20T10:00", "2026-10-22T11:00",
                                             "2026-10-23T14:00", "2026-10-26T10:00"], "2026-10-26T11:00")
    receive("F", "2026-10-26T08:00")  # open, due 28/10 17:00: overdue at the end of October
    receive("G", "2026-10-28T14:00")  # due 2/11 14:00: 5 working hours left, nearly due
    receive("H", "2026-10-30T14:00")  # due 4/11 14:00: not due
    receive("P", "2026-09-30T08:00")  # carried over, due 2/10: overdue
    n = receive("N", "2026-10-07T08:00")
    sv.withdraw(st, a("motcua"), n.dossier_code, comment="Đơn đề nghị rút hồ sơ số 5 ngày 08/10/2026",
                now=_at("2026-10-08T09:00"))
    sv.receive(st, a("motcua"), "1.001612", applicant="O", decision="refuse", comment="Không thuộc thẩm quyền",
               now=_at("2026-10-09T09:00"))  # refused at reception: never received, in no figure
    return {"carried_over": 2, "received": 8, "to_process": 10, "completed_early": 2, "completed_on_time": 1,
            "completed_late": 2, "open_not_due": 1, "open_nearly_due": 1, "open_overdue": 2, "withdrawn": 1,
            "not_collected": 1, "apologies": 0}


def test_the_october_figures_are_the_ones_counted_by_hand(web, client_for, live_server, browser, tmp_path):
    expected = _october(web)
    web.clock.t = _at("2026-11-28T15:30")
    c = client_for("tckh_head")
    rows = list(csv.reader(io.StringIO(c.get("/reports/export.csv?from=2026-10-01&to=2026-10-31&by=unit")
                                       .text.lstrip("\ufeff"))))
    head, total = rows[0], rows[-1]
    got = dict(zip(head, total))
    assert total[0] == "Tổng cộng"
    assert got["Tồn kỳ trước"] == str(expected["carried_over"])
    assert got["Tiếp nhận trong kỳ"] == str(expected["received"])
    assert got["Tổng số phải giải quyết"] == str(expected["to_process"])
    assert [got[f"Đã giải quyết: {k}"] for k in ("trước hạn", "đúng hạn", "trễ hạn")] == ["2", "1", "2"]
    assert [got[f"Đang giải quyết: {k}"] for k in ("chưa đến hạn", "sắp đến hạn", "quá hạn")] == ["1", "1", "2"]
    assert got["Rút hồ sơ, dừng xử lý"] == "1" and got["Đã có kết quả, chưa trả"] == "1"
    # late rate (2 open overdue + 2 completed late) / 10 = 40 %; on time 60 %; completed 3 / 5 = 60 %
    assert (got["Tỷ lệ trễ hạn (%)"], got["Tỷ lệ đúng và trước hạn (%)"],
            got["Tỷ lệ đã giải quyết đúng và trước hạn (%)"]) == ("40.00", "60.00", "60.00")

    page = signed_in_page(browser, live_server.url, "tckh_head", viewport={"width": 1366, "height": 900})
    page.goto("/reports?from=2026-10-01&to=2026-10-31&by=unit")
    total_row = page.locator("#report-table tr.total td")
    assert total_row.all_inner_texts() == ["Tổng cộng", "2", "8", "10", "2", "1", "2", "1", "1", "2", "1", "1", "0",
                                           "40,00%", "60,00%", "60,00%"]
    # figures read as figures: right-aligned, digits of one width, so a column's units line up; names left
    aligns = total_row.evaluate_all("cells => cells.map(c => [getComputedStyle(c).textAlign, "
                                    "getComputedStyle(c).fontVariantNumeric])")
    assert aligns[0][0] in ("left", "start")
    assert all(a == ["right", "tabular-nums"] for a in aligns[1:]), aligns
    shot(page, tmp_path, "reports-october")
    # the browser's date picker keeps to the calendar's years
    assert page.locator("input[name=to]").get_attribute("max") == "2099-12-31"
    page.goto("/reports?from=2026-10-01&to=9999-12-31&by=unit")
    assert "lịch làm việc chỉ có các năm 1995–2099" in page.locator("[role=alert]").inner_text()
    shot(page, tmp_path, "reports-bad-date")
    page.context.close()


def test_every_signed_in_user_sees_the_figures_an_officer_and_the_one_stop_counter_too(web, client_for):
    """The figures are the district's and judge staff as much as their leaders: the nav link, the page, both
    downloads and the heatmap open for a plain officer and a counter officer; signed out, the sign-in page."""
    _october(web)
    web.clock.t = _at("2026-11-28T15:30")
    leader_csv = client_for("tckh_head").get("/reports/export.csv?from=2026-10-01&to=2026-10-31&by=unit").text
    for username in ("tckh_cv", "motcua"):
        c = client_for(username)
        inbox = c.get("/inbox").text
        assert '<a href="/reports"' in inbox, username  # in the header's navigation
        page = c.get("/reports?from=2026-10-01&to=2026-10-31&by=unit")
        assert page.status_code == 200 and "Tỷ lệ trễ hạn" in page.text, username
        csv_text = c.get("/reports/export.csv?from=2026-10-01&to=2026-10-31&by=unit")
        assert csv_text.status_code == 200 and csv_text.text == leader_csv  # the same figures as their head's
        xlsx = c.get("/reports/export.xlsx?from=2026-10-01&to=2026-10-31&by=unit")
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
        assert c.get("/reports/heatmap?code=1.001612&since=2026-10-01").status_code == 200
    signed_out = client_for().get("/reports", follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/login")
