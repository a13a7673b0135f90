"""Documents QA, web: the receipt page and the dossier's facts of a procedure without a national code
print no empty code ("(mã thủ tục )", "(, phiên bản 1)"), on SQLite and PostgreSQL."""

from __future__ import annotations

import html
import re
from dataclasses import replace

from engine import services as sv
from tests.test_forms import at

KEY = "khai-sinh-thu-nghiem"


def _visible(page: str) -> str:
    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_a_codeless_procedures_receipt_and_dossier_page_print_no_empty_code(web, client_for, catalogue):
    rt = web.runtime
    defn = replace(catalogue.find("1.001193"), code="", code_verified=False, slug=KEY)
    with rt.db.write() as s:
        sv.publish_definition(s, defn, now=at(9, 8), by="test")
    code = sv.receive(rt.db, rt.actor("xa_motcua"), KEY, applicant="Trần Thị Bình", now=at(10, 8)).dossier_code
    client = client_for("xa_motcua")
    receipt = client.get(f"/dossiers/{code}/receipt")
    assert receipt.status_code == 200, receipt.text[:500]
    text = _visible(receipt.text)
    assert f"Nội dung yêu cầu giải quyết: {defn.name}" in text
    assert "mã thủ tục )" not in text and "(mã thủ tục" not in text, text
    page = client.get(f"/dossiers/{code}")
    assert page.status_code == 200, page.text[:500]
    text = _visible(page.text)
    assert f"{defn.name} (phiên bản 1)" in text, text
    assert "(, phiên bản" not in text


def test_a_coded_procedures_pages_keep_its_code(web, client_for):
    rt = web.runtime
    code = sv.receive(rt.db, rt.actor("xa_motcua"), "1.001193", applicant="Trần Thị Bình", now=at(10, 8)).dossier_code
    client = client_for("xa_motcua")
    assert "(mã thủ tục 1.001193)" in _visible(client.get(f"/dossiers/{code}/receipt").text)
    assert "(1.001193, phiên bản 1)" in _visible(client.get(f"/dossiers/{code}").text)
