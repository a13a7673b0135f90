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
