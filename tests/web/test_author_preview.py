"""The editor's diagram preview names the procedure as the leader's page does."""

from __future__ import annotations

import html
import re

from engine import services as sv
from tests.web.conftest import PASSWORD


def test_a_procedure_without_national_code_is_previewed_under_its_name(web, client_for):
    sv.add_user(web.store, "noivu_cv", unit="phong_noi_vu", role="staff", now=web.clock(), full_name="Phạm Thu Hà",
                password=PASSWORD)
    key = "cap-giay-phep-ban-le-san-pham-thuoc-la"
    page = client_for("noivu_cv").get(f"/author/procedures/{key}").text
    preview = page.split('id="preview"', 1)[1].split("</svg>", 1)[0]
    texts = [html.unescape(t) for t in re.findall(r">([^<]{3,})<", preview)]
    # headed by its name, never by its file's key (nor "dự thảo –" where a code would be); the version line says
    # it has no code yet
    assert texts[0] == "Cấp Giấy phép bán lẻ sản phẩm thuốc lá" and not any("dự thảo –" in t for t in texts)
    assert not any(key in t for t in texts)
    assert any(t.startswith("Phiên bản 1") and "Chưa có mã thủ tục" in t for t in texts), texts[:3]


def test_the_drafts_list_names_who_saved_them(web, client_for):
    from engine import approval as ap
    from tests.conftest import REPO

    reform = sv.add_user(web.store, "noivu_cv", unit="phong_noi_vu", role="staff", now=web.clock(),
                         full_name="Phạm Thu Hà", password=PASSWORD)
    text = sorted((REPO / "procedures_yaml").rglob("1.001612-*.yaml"))[0].read_text(encoding="utf-8")
    ap.save_draft(web.store, text.replace("    duration: 1d\n", "    duration: 4h\n", 1), actor=reform, now=web.clock())
    page = client_for("noivu_cv").get("/author").text
    assert "· Phạm Thu Hà</td>" in page and "· noivu_cv</td>" not in page
