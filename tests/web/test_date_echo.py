"""Date pickers say their date in Vietnamese, with the weekday, beside them (static/dates.js).

A browser shows a date picker's value in its own language's order: an English Chromium shows 11/01/2026 for
1 November 2026, which a Vietnamese reader takes for 11 January. The echo beside it is unambiguous.
"""

from __future__ import annotations

from tests.web.conftest import shot, signed_in_page


def test_the_report_dates_are_said_in_vietnamese_with_their_weekday(web, live_server, browser, tmp_path):
    page = signed_in_page(browser, live_server.url, "tckh_head", viewport={"width": 1366, "height": 900})
    page.goto("/reports?from=2026-02-01&to=2026-03-07&by=unit")  # the web clock: 10/3/2026
    assert page.locator("input[name=from] + .date-echo").inner_text() == "Chủ nhật, 01/02/2026"
    assert page.locator("input[name=to] + .date-echo").inner_text() == "Thứ Bảy, 07/03/2026"
    # a date chosen in the picker is said at once, before the form is sent
    page.locator("input[name=to]").fill("2026-03-09")
    assert page.locator("input[name=to] + .date-echo").inner_text() == "Thứ Hai, 09/03/2026"
    page.locator("input[name=to]").fill("")
    assert page.locator("input[name=to] + .date-echo").inner_text() == ""
    shot(page, tmp_path, "reports-date-echo")
    # the heatmap's own page too
    page.goto("/reports/heatmap?code=1.001612&since=2026-01-07")
    assert page.locator("input[name=since] + .date-echo").inner_text() == "Thứ Tư, 07/01/2026"
    page.context.close()


def test_the_decision_date_and_the_apologys_new_appointment_are_said_too(live_server, browser, tmp_path):
    from tests.web.test_apology_pages import _late
    from tests.web.test_leader_field_errors import CODE, DESK, _submitted

    web = live_server.web
    _submitted(web)
    page = signed_in_page(browser, live_server.url, "ld_pct", viewport=DESK)
    page.goto(f"/leader/procedures/{CODE}")
    page.fill("#decision_date", "2026-03-09")
    assert page.locator("#decision_date-echo").inner_text() == "Thứ Hai, 09/03/2026"
    page.context.close()

    r, apology = _late(web)
    page = signed_in_page(browser, live_server.url, "tckh_head", viewport=DESK)
    page.goto(f"/dossiers/{r.dossier_code}")
    proposed = page.locator(f"#apology-form-{apology.id} input[name=proposed]")
    page.fill(f"#apology-form-{apology.id} input[name=proposed]", "2026-03-16T08:00")
    assert page.locator(f"#apology-form-{apology.id} input[name=proposed] + .date-echo").inner_text() == \
        "Thứ Hai, 16/03/2026, 08:00"
    assert proposed.input_value() == "2026-03-16T08:00"
    shot(page, tmp_path, "apology-date-echo")
    page.context.close()
