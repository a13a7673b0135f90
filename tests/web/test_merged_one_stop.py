"""The web pages of a merged one-stop unit's successor (units.yaml ``merged_into``).

The services give a merged reception unit's one-stop duties to the unit it was merged into: receiving
under a version whose reception step names the merged unit, supplements, withdrawals, stops. The pages
must offer them to the successor's staff too: the procedures they may receive, the dossier pages of the
merged unit's dossiers and their one-stop buttons, form 01 headed by the unit that received.
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path


from engine import services as sv
from engine.definition import load_units
from tests.web.conftest import set_all_passwords

HANOI = dt.timezone(dt.timedelta(hours=7))
REPO = Path(__file__).resolve().parent.parent.parent
CENTRE = "Trung tâm Phục vụ hành chính công huyện"




def _merge_one_stop(store, tmp_path: Path) -> None:
    """units.yaml with a new one-stop centre, the district's one-stop unit merged into it, seeded."""
    text = (REPO / "procedures_yaml" / "units.yaml").read_text(encoding="utf-8")
    head = "  - id: bp_mot_cua\n"
    start = text.index(head)
    kind = text.index("    kind:", start)
    end = text.index("\n", kind) + 1
    centre = ("  - id: trung_tam_hcc\n"
              f'    name: "{CENTRE}"\n'
              "    level: district\n"
              "    kind: one_stop\n"
              '    roles: {staff: "Công chức tiếp nhận và trả kết quả", head: "Giám đốc Trung tâm"}\n')
    text = text[:start] + centre + text[start:end] + "    merged_into: trung_tam_hcc\n" + text[end:]
    (tmp_path / "units.yaml").write_text(text, encoding="utf-8")
    sv.seed_organisation(store, load_units(tmp_path / "units.yaml"))


def test_the_successor_of_a_merged_one_stop_unit_receives_and_keeps_its_dossiers(web, client_for, tmp_path):
    store = web.store
    t = dt.datetime(2026, 3, 10, 9, 0, tzinfo=HANOI)
    before = sv.receive(store, web.runtime.actor("motcua"), "1.001612", applicant="Trước hợp nhất", now=t)
    _merge_one_stop(store, tmp_path)
    sv.add_user(store, "hcc", unit="trung_tam_hcc", role="staff", now=t, full_name="Lê Thị Hà")
    set_all_passwords(store)
    c = client_for("hcc")

    # the procedures whose reception step is the merged unit are the centre's to receive
    page = c.get("/receive")
    assert page.status_code == 200
    assert '<option value="1.001612"' in page.text

    # a dossier received by the merged unit before the merge: the centre sees it and may act for the applicant
    old = c.get(f"/dossiers/{before.dossier_code}")
    assert old.status_code == 200, old.status_code
    assert "Tổ chức, cá nhân rút hồ sơ" in old.text
    assert c.get(f"/api/dossiers/{before.dossier_code}").status_code == 200
    assert c.get(f"/documents/dossiers/{before.dossier_code}/forms/01").status_code == 200

    # one received by the centre: form 01 is headed by the centre, not by the merged unit
    after = sv.receive(store, sv.get_actor(store, "hcc"), "1.001612", applicant="Sau hợp nhất",
                       now=t + dt.timedelta(hours=1))
    receipt = html.unescape(c.get(f"/dossiers/{after.dossier_code}/receipt").text)
    assert CENTRE.upper() in receipt and "BỘ PHẬN TIẾP NHẬN VÀ TRẢ KẾT QUẢ CẤP HUYỆN" not in receipt
    # the merged unit's own receipt is still headed by it
    receipt = html.unescape(client_for("motcua").get(f"/dossiers/{before.dossier_code}/receipt").text)
    assert "BỘ PHẬN TIẾP NHẬN VÀ TRẢ KẾT QUẢ CẤP HUYỆN" in receipt

    # another unit's staff still see neither (a dossier they may not see is answered as a missing one)
    other = client_for("xa_motcua")
    assert other.get(f"/dossiers/{before.dossier_code}").status_code == 404
