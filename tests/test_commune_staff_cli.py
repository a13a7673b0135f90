"""`quytrinh user add --commune`, `quytrinh user commune` and the commune column of `quytrinh user list`.

A commune's officer is tied to the commune they work for, named as units.yaml's ``communes:`` writes it
(case, spacing and the "Xã " prefix aside); a name that is not one is a one-line Vietnamese refusal with the
closest commune as a hint, and a district unit's account is refused a commune, as the engine refuses it.
Tying gives back the work the officer held on other communes' dossiers, listed as ``user move`` lists it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlmodel import select

from engine import services as sv
from engine.store import User, WorkItem, dump
from tests.conftest import REPO, cli_in, console

BIRTH = "1.001193"  # commune level: xa_mot_cua receives, xa_tu_phap verifies
HANOI = dt.timezone(dt.timedelta(hours=7))
CATALOGUE: Path = REPO / "procedures_yaml"


def at(hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, 10, hour, minute, tzinfo=HANOI)


def _commune_of(db, username: str) -> str:
    with db.session() as s:
        return s.exec(select(User.commune).where(User.username == username)).one()


def _verify_item(db, dossier_id: int) -> int:
    with db.session() as s:
        return s.exec(select(WorkItem.id).where(WorkItem.dossier_id == dossier_id,
                                                WorkItem.step_id == "verify")).one()


def _line_of(listing: str, username: str) -> list[str]:
    return next(ln for ln in listing.splitlines() if ln.startswith(f"{username}\t")).split("\t")


def test_user_add_ties_the_officer_to_the_commune_as_units_yaml_writes_it(runtime, monkeypatch):
    cli = cli_in(monkeypatch, runtime.url, CATALOGUE)
    out = cli("user", "add", "mc_bt", "--unit", "xa_mot_cua", "--role", "staff", "--name", "Lê Văn Tám",
              "--commune", "bát  tràng")
    assert out.strip() == "Đã thêm mc_bt (Lê Văn Tám): xa_mot_cua/staff, làm việc cho Xã Bát Tràng"
    assert _commune_of(runtime.db, "mc_bt") == "Xã Bát Tràng"
    listing = cli("user", "list", "--unit", "xa_mot_cua")
    assert _line_of(listing, "mc_bt")[4] == "Xã Bát Tràng"
    assert _line_of(listing, "xa_motcua")[4] == "–"  # an account not tied to a commune
    assert listing.splitlines()[-1] == (  # said after the list: it works on every commune's dossiers
        "1 tài khoản của đơn vị cấp xã chưa gắn với xã nào nên xử lý hồ sơ của mọi xã: xa_motcua; gắn mỗi người "
        "với xã của mình bằng: quytrinh user commune TÊN \"Xã …\"")
    assert _line_of(cli("user", "list", "--unit", "phong_tckh"), "tckh_cv")[4] == "–"
    # the officer registers their commune's dossiers: `dossier receive` without --commune gives them theirs
    out = cli("dossier", "receive", BIRTH, "--applicant", "Bé An", "--as", "mc_bt", "--now", "2026-03-10T08:00")
    assert out.startswith("Đã tiếp nhận: hồ sơ 1.001193-"), out
    code = out.split("hồ sơ ", 1)[1].split()[0]
    assert sv.dossier_sheet(runtime.db, code).dossier.commune == "Xã Bát Tràng"
    before = dump(runtime.db)
    other = console(runtime.url, CATALOGUE, "dossier", "receive", BIRTH, "--applicant", "Bé Bình", "--as", "mc_bt",
                    "--commune", "Cổ Bi", "--now", "2026-03-10T08:05")
    assert other.returncode == 1 and other.stderr.strip().endswith(
        "làm việc cho Xã Bát Tràng; không được tiếp nhận hồ sơ của Xã Cổ Bi.")
    assert dump(runtime.db) == before


def test_an_unknown_commune_or_a_district_unit_is_one_vietnamese_line_and_adds_no_one(runtime):
    before = dump(runtime.db)
    wrong = console(runtime.url, CATALOGUE, "user", "add", "mc_x", "--unit", "xa_mot_cua", "--role", "staff",
                    "--commune", "Bát Trang")
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert wrong.stderr.strip() == ('quytrinh: Không thực hiện được: không có xã, thị trấn "Bát Trang" trong mục '
                                    'communes: của units.yaml (có phải "Xã Bát Tràng"?); xem danh sách trong '
                                    'units.yaml.')
    district = console(runtime.url, CATALOGUE, "user", "add", "cv_x", "--unit", "phong_tckh", "--role", "staff",
                       "--commune", "Xã Cổ Bi")
    assert district.returncode == 1 and district.stderr.strip() == (
        "quytrinh: Không thực hiện được: đơn vị 'phong_tckh' thuộc cấp huyện; chỉ cán bộ của đơn vị cấp xã mới làm "
        "việc cho một xã; bỏ --commune.")
    tied = console(runtime.url, CATALOGUE, "user", "commune", "tckh_cv", "Xã Cổ Bi")
    assert tied.returncode == 1 and tied.stderr.strip() == (
        "quytrinh: Không thực hiện được: đơn vị 'phong_tckh' thuộc cấp huyện; chỉ cán bộ của đơn vị cấp xã mới làm "
        "việc cho một xã; chuyển người đó sang đơn vị cấp xã bằng: quytrinh user move tckh_cv --unit ĐƠN_VỊ "
        "--role VAI_TRÒ.")
    neither = console(runtime.url, CATALOGUE, "user", "commune", "xa_tuphap")
    assert neither.returncode == 1 and neither.stderr.strip() == (
        'quytrinh: Không thực hiện được: hãy cho tên xã (quytrinh user commune xa_tuphap "Xã Bát Tràng") hoặc '
        '--none (không gắn với xã nào), một trong hai.')
    assert dump(runtime.db) == before


def test_user_commune_ties_the_officer_and_says_which_work_went_back(runtime, monkeypatch):
    db = runtime.db
    cli = cli_in(monkeypatch, runtime.url, CATALOGUE)
    bt = sv.receive(db, runtime.actor("xa_motcua"), BIRTH, applicant="Bé An", now=at(8), commune="Xã Bát Tràng")
    cb = sv.receive(db, runtime.actor("xa_motcua"), BIRTH, applicant="Bé Bình", now=at(8, 5), commune="Xã Cổ Bi")
    held_bt, held_cb = _verify_item(db, bt.dossier_id), _verify_item(db, cb.dossier_id)
    for item in (held_bt, held_cb):
        sv.claim(db, runtime.actor("xa_tuphap"), item, now=at(9))  # not tied yet: may take both
    out = cli("user", "commune", "XA_TUPHAP", "Bát Tràng").splitlines()
    assert out[0].startswith("xa_tuphap (") and out[0].endswith(
        "xa_tu_phap/staff) từ nay làm việc cho Xã Bát Tràng: chỉ xử lý hồ sơ của xã này và hồ sơ không thuộc xã nào.")
    assert out[1].startswith("1 công việc ") and "đang giữ của xã khác đã được trả về đơn vị" in out[1]
    assert [ln.split("\t")[:2] for ln in out[2:]] == [[f"  #{held_cb}", cb.dossier_code]]
    assert _commune_of(db, "xa_tuphap") == "Xã Bát Tràng"
    with db.session() as s:
        assert s.get(WorkItem, held_cb).assignee_id is None and s.get(WorkItem, held_bt).assignee_id is not None
    inbox = cli("tasks", "--user", "xa_tuphap", "--now", "2026-03-10T10:00")
    assert bt.dossier_code in inbox and cb.dossier_code not in inbox
    again = console(runtime.url, CATALOGUE, "user", "commune", "xa_tuphap", "xã bát tràng")
    assert again.returncode == 1 and again.stderr.strip() == (
        "quytrinh: Không thực hiện được: xa_tuphap đã làm việc cho Xã Bát Tràng và không giữ công việc nào của xã "
        "khác; không có gì thay đổi.")
    moved = cli("user", "commune", "xa_tuphap", "Cổ Bi").splitlines()  # Bát Tràng's item goes back now
    assert [ln.split("\t")[:2] for ln in moved[2:]] == [[f"  #{held_bt}", bt.dossier_code]]
    untied = cli("user", "commune", "xa_tuphap", "--none").strip()
    assert untied.startswith("xa_tuphap (") and untied.endswith("từ nay không gắn với xã nào: xử lý hồ sơ của mọi xã.")
    assert _line_of(cli("user", "list", "--unit", "xa_tu_phap"), "xa_tuphap")[4] == "–"
    again = console(runtime.url, CATALOGUE, "user", "commune", "xa_tuphap", "--none")
    assert again.returncode == 1 and again.stderr.strip() == (
        "quytrinh: Không thực hiện được: xa_tuphap vốn không gắn với xã nào; không có gì thay đổi.")
