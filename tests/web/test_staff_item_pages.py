"""A work item's page as its officer meets it: what a second tab is told of a step already done, and the layout of
its action rows."""

from __future__ import annotations

import html
import re

from engine import services as sv
from tests.web.conftest import csrf_of


def _text(page_html: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page_html)))


def _complete_twice(c, item_id: int, outcome: str, comment: str = "") -> str:
    """The item's page opened in two tabs; the first completes it, then the second: the second's answer."""
    first, second = c.get(f"/items/{item_id}").text, c.get(f"/items/{item_id}").text
    version = re.search(r'name="version" value="(\d+)"', first).group(1)
    for page in (first, second):
        r = c.post(f"/items/{item_id}/complete",
                   data={"csrf_token": csrf_of(page), "version": version, "outcome": outcome, "comment": comment,
                         "idem": re.search(r'name="idem" value="([^"]+)"', page).group(1)})
    return _text(r.text)


def test_a_step_done_in_another_tab_is_told_without_repeating_hoan_thanh(web, client_for):
    """The second tab of the head's *phân công* step, whose one outcome is labelled *Hoàn thành*, was told
    "Bạn đã hoàn thành công việc này (Hoàn thành) lúc …"; the label is left out when it only repeats the
    sentence, and kept when it says something (*Đạt*)."""
    store, rt = web.store, web.runtime
    res = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Trần Thị Mai", now=web.clock())
    told = _complete_twice(client_for("tckh_head"), res.opened[-1], "done",
                           comment="Đề nghị chuyên viên xử lý gấp")
    assert "Bạn đã hoàn thành công việc này lúc 08:00 ngày 10/03/2026 ở thẻ/cửa sổ khác" in told, told[:1200]
    assert "(Hoàn thành)" not in told
    assert "Ý kiến bạn vừa nhập chưa được ghi: “Đề nghị chuyên viên xử lý gấp”." in told
    appraise = next(r.item_id for r in sv.dossier_sheet(store, res.dossier_code).rows
                    if r.step_id == "appraise" and r.state in ("open", "claimed"))
    told = _complete_twice(client_for("tckh_cv"), appraise, "ok")
    assert "Bạn đã hoàn thành công việc này (Đạt) lúc" in told, told[:1200]


def test_the_hint_beside_an_action_button_is_on_its_line(live_server, browser):
    """In Chromium: *Cán bộ khác trong đơn vị sẽ nhận xử lý.* beside *Trả lại việc cho đơn vị* sat at the
    button's top edge; it is centred on the button's line."""
    from tests.web.conftest import signed_in_page

    web = live_server.web
    store, rt = web.store, web.runtime
    res = sv.receive(store, rt.actor("motcua"), "1.001612", applicant="Trần Thị Mai", now=web.clock())
    sv.claim(store, rt.actor("tckh_head"), res.opened[-1], now=web.clock())
    page = signed_in_page(browser, live_server.url, "tckh_head")
    page.goto(f"/items/{res.opened[-1]}")
    button = page.locator("#release-form button").bounding_box()
    # the text's own box (a range over it): the span itself was stretched to the button's height, its text on top
    hint = page.eval_on_selector("#release-form .muted", """span => {
        const range = document.createRange(); range.selectNodeContents(span);
        const r = range.getBoundingClientRect(); return {y: r.y, height: r.height}; }""")
    assert abs((button["y"] + button["height"] / 2) - (hint["y"] + hint["height"] / 2)) < 2, (button, hint)
