"""The definition approval workflow (engine.approval), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from sqlmodel import select

from engine import approval as ap
from engine import services as sv
from engine.definition import load_units
from engine.errors import DefinitionError, NotAuthorized, NotFound
from engine.store import DefinitionVersion, Dossier, dump
from tests.conftest import REPO, T0

CODE = "1.001612"
SOURCE = sorted((REPO / "procedures_yaml").rglob(f"{CODE}-*.yaml"))[0].read_text(encoding="utf-8")
DECISION_DATE = dt.date(2026, 3, 9)


def later(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


@pytest.fixture
def rt(runtime):
    """The seeded runtime plus two reform-office officers (Phòng Nội vụ) and a Văn phòng officer (not reform)."""
    runtime.actors["cchc"] = sv.add_user(runtime.db, "cchc", unit="phong_noi_vu", role="staff", now=T0,
                                         full_name="Trần Thị Cải Cách")
    runtime.actors["noivu"] = sv.add_user(runtime.db, "noivu", unit="phong_noi_vu", role="head", now=T0)
    runtime.actors["vp_cv"] = sv.add_user(runtime.db, "vp_cv", unit="van_phong", role="staff", now=T0)
    return runtime


def shortened() -> str:
    """The procedure with its appraisal step shortened from 1 day to 4 hours."""
    assert "    duration: 1d\n" in SOURCE
    return SOURCE.replace("    duration: 1d\n", "    duration: 4h\n", 1)


def through_submission(rt, text: str | None = None) -> ap.DefinitionDraft:
    row, _ = ap.save_draft(rt.db, text or shortened(), actor=rt.actor("cchc"), now=later(1))
    return ap.submit(rt.db, CODE, row.number, actor=rt.actor("cchc"), now=later(2))


# --------------------------------------------------------------------------- lifecycle


def test_save_submit_approve_publishes_a_frozen_version(rt):
    row, findings = ap.save_draft(rt.db, shortened(), actor=rt.actor("cchc"), now=later(1))
    assert (row.procedure_code, row.status, row.number, row.base_version) == (CODE, ap.DRAFT, 2, 1)
    # shortening a step leaves part of the 3-day limit unallocated: a warning, kept on the draft
    assert [f.rule_id for f in findings] == ["under-limit"] and findings[0].line > 1
    assert row.warnings == 1 and row.errors == 0 and row.findings[0]["rule_id"] == "under-limit"

    ap.submit(rt.db, CODE, 2, actor=rt.actor("cchc"), now=later(2))
    done = ap.approve(rt.db, CODE, 2, actor=rt.actor("ld_pct"), decision_number="125/QĐ-UBND",
                      decision_date=DECISION_DATE, now=later(3))
    assert (done.status, done.decision_number, done.decision_date) == (ap.APPROVED, "125/QĐ-UBND", DECISION_DATE)
    assert done.published_version == 2

    version, defn = sv.current_definition(rt.db, CODE)
    assert version.id == done.published_id and version.version == 2 and version.published_by == "ld_pct"
    assert defn.status == "approved" and defn.version == 2
    assert (defn.approval.decision, defn.approval.date, defn.approval.signer) == \
        ("125/QĐ-UBND", DECISION_DATE, "ld_pct")
    assert defn.step("appraise").duration == 240

    assert [(h.number, h.action, h.actor) for h in ap.history(rt.db, CODE)] == [
        (2, "create", "cchc"), (2, "submit", "cchc"), (2, "approve", "ld_pct")]
    assert ap.history(rt.db, CODE)[-1].decision_number == "125/QĐ-UBND"
    assert ap.open_draft(rt.db, CODE) is None and ap.pending(rt.db) == []


def test_saving_again_replaces_the_open_draft(rt):
    first, _ = ap.save_draft(rt.db, shortened(), actor=rt.actor("cchc"), now=later(1))
    second, _ = ap.save_draft(rt.db, SOURCE, actor=rt.actor("noivu"), now=later(2))
    assert second.id == first.id and second.number == first.number
    assert second.text == SOURCE and second.updated_by == "noivu" and second.warnings == 0
    assert [h.action for h in ap.history(rt.db, CODE)] == ["create", "save"]


def test_send_back_returns_the_draft_with_the_comment(rt):
    through_submission(rt)
    assert [d.number for d in ap.pending(rt.db)] == [2]
    back = ap.send_back(rt.db, CODE, 2, actor=rt.actor("ld_pct"), comment="Giữ thẩm định 1 ngày", now=later(3))
    assert (back.status, back.comment) == (ap.DRAFT, "Giữ thẩm định 1 ngày")
    # the reform office edits the same version and submits it again
    again, _ = ap.save_draft(rt.db, SOURCE, actor=rt.actor("cchc"), now=later(4))
    assert again.number == 2
    ap.submit(rt.db, CODE, 2, actor=rt.actor("cchc"), now=later(5))
    ap.approve(rt.db, CODE, 2, actor=rt.actor("ld_pct"), decision_number="7/QĐ-UBND", decision_date=DECISION_DATE,
               now=later(6))
    with pytest.raises(ap.ApprovalError) as err:
        ap.send_back(rt.db, CODE, 2, actor=rt.actor("ld_pct"), comment="x", now=later(7))
    assert "Đã phê duyệt" in err.value.vi
    entries = ap.history(rt.db, CODE)
    assert [h.action for h in entries] == ["create", "submit", "send_back", "save", "submit", "approve"]
    assert entries[2].comment == "Giữ thẩm định 1 ngày"


def test_a_text_that_does_not_load_is_refused_with_located_problems(rt):
    broken = SOURCE.replace("    duration: 2h\n", "    duration: hai giờ\n", 1)
    with pytest.raises(DefinitionError) as err:
        ap.save_draft(rt.db, broken, actor=rt.actor("cchc"), now=later(1))
    line = broken.splitlines().index("    duration: hai giờ") + 1
    assert any(p.location.line == line for p in err.value.problems)
    without_code = SOURCE.replace(f'code: "{CODE}"\n', "", 1)
    assert without_code != SOURCE
    with pytest.raises(DefinitionError, match="chưa có mã TTHC"):
        ap.save_draft(rt.db, without_code, actor=rt.actor("cchc"), now=later(1))
    assert ap.drafts(rt.db) == []


def test_check_text_gives_findings_with_lines_and_never_raises():
    bad = ap.check_text("code: x\nname: [unclosed\nfield: y\n")
    assert not bad.loads and bad.errors >= 1 and bad.findings[0].line in (2, 3)
    dangling = SOURCE.replace("steps:\n", "steps:\n  - id: extra\n    name: \"Bước thêm\"\n    kind: human\n"
                              "    unit: phong_tckh\n    role: staff\n    duration: 1h\n"
                              "    routes: {ok: khong_co}\n", 1)
    check = ap.check_text(dangling, file="x.yaml")
    assert check.loads and check.errors >= 1
    found = [f for f in check.findings if f.step == "extra" and f.severity == "error"]
    assert found and found[0].file == "x.yaml"
    first = dangling.splitlines().index("  - id: extra") + 1
    assert first <= found[0].line <= first + 7


def test_a_draft_with_lint_errors_is_neither_submitted_nor_approved(rt):
    # a route to a step that does not exist loads, but is a lint error
    text = SOURCE.replace("steps:\n", "steps:\n  - id: extra\n    name: \"Bước thêm\"\n    kind: human\n"
                          "    unit: phong_tckh\n    role: staff\n    duration: 1h\n"
                          "    routes: {ok: khong_co}\n", 1)
    row, findings = ap.save_draft(rt.db, text, actor=rt.actor("cchc"), now=later(1))
    assert row.errors >= 1 and any(f.severity == "error" for f in findings)
    with pytest.raises(ap.ApprovalError, match="lint error") as refused:  # the server refuses what the page greys out
        ap.submit(rt.db, CODE, row.number, actor=rt.actor("cchc"), now=later(2))
    assert f"còn {row.errors} lỗi kiểm tra" in refused.value.vi
    assert ap.get_draft(rt.db, CODE, row.number).status == ap.DRAFT
    # a clean draft submitted, then checked against units that changed since: approval re-checks and refuses
    row, _ = ap.save_draft(rt.db, shortened(), actor=rt.actor("cchc"), now=later(3))
    ap.submit(rt.db, CODE, row.number, actor=rt.actor("cchc"), now=later(4))
    other_units = load_units(REPO / "tests" / "fixtures" / "units.yaml")  # knows none of the district's units
    with pytest.raises(ap.ApprovalError, match="lint error"):
        ap.approve(rt.db, CODE, row.number, actor=rt.actor("ld_pct"), decision_number="1/QĐ-UBND",
                   decision_date=DECISION_DATE, now=later(5), units=other_units)
    assert ap.get_draft(rt.db, CODE, row.number).status == ap.SUBMITTED
    assert sv.current_definition(rt.db, CODE)[0].version == 1


def test_the_decision_number_and_date_must_be_plausible(rt):
    row = through_submission(rt)
    for bad in ("abc", "125", "125/QĐ", "QĐ-UBND/125", "125/QD-UBND", "0/QĐ-UBND", "0125/QĐ-UBND"):
        with pytest.raises(ap.ApprovalError, match="not a number/symbol") as refused:
            ap.approve(rt.db, CODE, row.number, actor=rt.actor("ld_pct"), decision_number=bad,
                       decision_date=DECISION_DATE, now=later(3))
        assert "ví dụ 125/QĐ-UBND" in refused.value.vi and refused.value.field == "decision_number"
    done = ap.approve(rt.db, CODE, row.number, actor=rt.actor("ld_pct"), decision_number=" 125 / qđ-ubnd ",
                      decision_date=DECISION_DATE, now=later(3))
    assert done.decision_number == "125/QĐ-UBND"  # stored as the decision prints it
    row2 = through_submission(rt, shortened().replace("    duration: 4h\n", "    duration: 3h\n", 1))
    with pytest.raises(ap.ApprovalError, match="before the decision of the version in force") as older:
        ap.approve(rt.db, CODE, row2.number, actor=rt.actor("ld_pct"), decision_number="18/2020/QĐ-UBND",
                   decision_date=dt.date(2001, 1, 1), now=later(4))
    assert "trước ngày của quyết định đã phê duyệt phiên bản đang áp dụng (09/03/2026)" in older.value.vi
    assert older.value.field == "decision_date"
    with pytest.raises(ap.ApprovalError) as no_comment:
        ap.send_back(rt.db, CODE, row2.number, actor=rt.actor("ld_pct"), comment=" ", now=later(4))
    assert no_comment.value.field == "comment"
    assert ap.get_draft(rt.db, CODE, row2.number).status == ap.SUBMITTED
    ap.approve(rt.db, CODE, row2.number, actor=rt.actor("ld_pct"), decision_number="18/2026/QĐ-UBND",
               decision_date=DECISION_DATE, now=later(4))  # the same day as the one in force is accepted
    assert sv.current_definition(rt.db, CODE)[0].version == row2.number


@pytest.mark.parametrize("who", ["motcua", "tckh_head", "ld_pct", "vp_cv"])
def test_only_the_reform_office_saves_and_submits(rt, who):
    with pytest.raises(NotAuthorized):
        ap.save_draft(rt.db, shortened(), actor=rt.actor(who), now=later(1))
    row, _ = ap.save_draft(rt.db, shortened(), actor=rt.actor("cchc"), now=later(1))
    with pytest.raises(NotAuthorized):
        ap.submit(rt.db, CODE, row.number, actor=rt.actor(who), now=later(2))
    assert ap.get_draft(rt.db, CODE, row.number).status == ap.DRAFT


@pytest.mark.parametrize("who", ["motcua", "cchc", "qldt_head", "vanthu"])
def test_only_leaders_approve_or_send_back(rt, who):
    row = through_submission(rt)
    with pytest.raises(NotAuthorized):
        ap.approve(rt.db, CODE, row.number, actor=rt.actor(who), decision_number="1/QĐ-UBND",
                   decision_date=DECISION_DATE, now=later(3))
    with pytest.raises(NotAuthorized):
        ap.send_back(rt.db, CODE, row.number, actor=rt.actor(who), comment="không", now=later(3))
    assert ap.get_draft(rt.db, CODE, row.number).status == ap.SUBMITTED
    assert ap.is_leader(rt.actor("xa_ct")) and ap.is_leader(rt.actor("ld_pct"))


# --------------------------------------------------------------------------- freezing


def test_an_approved_version_can_never_change(rt):
    row = through_submission(rt)
    ap.approve(rt.db, CODE, row.number, actor=rt.actor("ld_pct"), decision_number="9/QĐ-UBND",
               decision_date=DECISION_DATE, now=later(3))
    # not through the workflow ...
    with pytest.raises(ap.ApprovalError):
        ap.submit(rt.db, CODE, row.number, actor=rt.actor("cchc"), now=later(4))
    with pytest.raises(ap.ApprovalError):
        ap.send_back(rt.db, CODE, row.number, actor=rt.actor("ld_pct"), comment="x", now=later(4))
    # ... nor behind its back (ORM guards on the draft and on the published version)
    with pytest.raises(ap.ApprovalError, match="frozen"):
        with rt.db.write() as s:
            frozen = s.exec(select(ap.DefinitionDraft).where(ap.DefinitionDraft.id == row.id)).one()
            frozen.text = SOURCE
            s.add(frozen)
    with pytest.raises(ap.ApprovalError, match="may not be deleted"):
        with rt.db.write() as s:
            s.delete(s.get(ap.DefinitionDraft, row.id))
    with pytest.raises(ap.ApprovalError, match="frozen"):
        with rt.db.write() as s:
            published = s.get(DefinitionVersion, row.id and ap.get_draft(rt.db, CODE, row.number).published_id)
            published.content = "code: x\n"
            s.add(published)
    kept = ap.get_draft(rt.db, CODE, row.number)
    assert kept.text == shortened() and kept.status == ap.APPROVED
    # a new save starts the next version
    nxt, _ = ap.save_draft(rt.db, SOURCE, actor=rt.actor("cchc"), now=later(5))
    assert nxt.number == row.number + 1 and nxt.base_version == row.number


def test_running_dossiers_keep_their_version_when_a_new_one_is_approved(rt):
    before = sv.receive(rt.db, rt.actor("motcua"), CODE, applicant="Nguyễn Văn Bình", now=later(0))
    row = through_submission(rt)
    ap.approve(rt.db, CODE, row.number, actor=rt.actor("ld_pct"), decision_number="9/QĐ-UBND",
               decision_date=DECISION_DATE, now=later(3))
    after = sv.receive(rt.db, rt.actor("motcua"), CODE, applicant="Lê Thị Cúc", now=later(4))
    with rt.db.session() as s:
        old = s.exec(select(Dossier).where(Dossier.code == before.dossier_code)).one()
        new = s.exec(select(Dossier).where(Dossier.code == after.dossier_code)).one()
        versions = {v.id: v.version for v in s.exec(select(DefinitionVersion))}
    assert versions[old.definition_id] == 1 and old.definition_version == 1
    assert versions[new.definition_id] == 2 and new.definition_version == 2
    # the running dossier still follows the old durations
    assert sv.dossier_sheet(rt.db, before.dossier_code, now=later(5)).definition.step("appraise").duration == 480
    assert sv.dossier_sheet(rt.db, after.dossier_code, now=later(5)).definition.step("appraise").duration == 240


# --------------------------------------------------------------------------- diff


def _defn(text: str):
    check = ap.check_text(text)
    assert check.definition is not None, check.findings
    return check.definition


def test_diff_names_added_removed_and_changed_steps():
    old = _defn(SOURCE)
    new = _defn(shortened())
    assert ap.diff(old, new) == ap.StepDiff((), (), {"appraise": ["duration"]})
    assert ap.diff(old, old).empty
    assert ap.diff(None, old).added == tuple(s.id for s in old.steps)

    # replace the check by a consultation step: appraise now routes 'ok' to it
    steps = list(new.steps)
    ids = [s.id for s in steps]
    check = steps.pop(ids.index("check"))
    i = ids.index("appraise")
    steps[i] = replace(steps[i], routes=tuple(replace(r, targets=("consult",)) if r.outcome == "ok" else r
                                              for r in steps[i].routes))
    steps.insert(i + 1, replace(check, id="consult", name="Lấy ý kiến phối hợp"))
    changed = replace(new, steps=tuple(steps))
    d = ap.diff(old, changed)
    assert d.added == ("consult",) and d.removed == ("check",)
    assert d.changed == {"appraise": ["duration", "routes"]}
    assert d.highlight() == {"consult": "added", "check": "removed", "appraise": "changed"}

    merged = ap.merged_for_diff(old, changed, d)
    ids = [s.id for s in merged.steps]
    assert "check" in ids and ids.index("check") > ids.index("appraise")
    from engine.render import render_svg

    svg = render_svg(merged, None, highlight=d.highlight()).decode()
    assert "Bước mới" in svg and "Bước bị bỏ" in svg and "Bước thay đổi" in svg


def test_the_approval_tables_come_with_the_migrated_schema(rt):
    with rt.db.write() as s:
        assert ap.drafts(s) == []
    through_submission(rt)
    assert [d.status for d in ap.drafts(rt.db, CODE)] == [ap.SUBMITTED]


def test_concurrent_first_saves_leave_one_draft(rt):
    import threading

    results: list[object] = []
    barrier = threading.Barrier(2)

    def save(who: str, text: str) -> None:
        barrier.wait()
        try:
            results.append(ap.save_draft(rt.db, text, actor=rt.actor(who), now=later(1))[0].number)
        except ap.ApprovalError as exc:  # the loser of a race on PostgreSQL is told to retry
            results.append(exc)

    threads = [threading.Thread(target=save, args=("cchc", shortened())),
               threading.Thread(target=save, args=("noivu", SOURCE))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2 and any(r == 2 for r in results)
    assert all(r == 2 or isinstance(r, ap.ApprovalError) for r in results)
    assert [(d.number, d.status) for d in ap.drafts(rt.db, CODE)] == [(2, ap.DRAFT)]


def test_the_draft_decision_prints_what_the_leaders_review_and_leaves_out_what_they_approved(rt):
    from engine.definition import load_catalogue
    from engine.documents import render_decision, select_procedures

    files = load_catalogue([REPO / "procedures_yaml"])
    appraise = next(s for s in files.find(CODE).steps if s.duration == 480)
    cat, notes = ap.for_decision(rt.db, files)
    assert notes == [] and cat.find(CODE) is files.find(CODE)  # nothing in the app yet: the files
    row = through_submission(rt)  # appraisal shortened to 4 hours, submitted
    cat, notes = ap.for_decision(rt.db, files)
    shown = cat.find(CODE)
    assert (shown.version, shown.status, shown.approval) == (row.number, ap.SUBMITTED, None)
    assert shown.step(appraise.id).duration == 240 and files.find(CODE).step(appraise.id).duration == 480
    assert shown in select_procedures(cat, level="district")
    page = render_decision(cat, level="district", codes=[CODE], fmt="html").decode("utf-8")
    before = render_decision(files, level="district", codes=[CODE], fmt="html").decode("utf-8")
    assert page.count("0,5 ngày làm việc") == before.count("0,5 ngày làm việc") + 1  # the 1-day row is now 0,5
    ap.approve(rt.db, CODE, row.number, actor=rt.actor("ld_pct"), decision_number="125/QĐ-UBND",
               decision_date=DECISION_DATE, now=later(3))
    cat, notes = ap.for_decision(rt.db, files)
    assert cat.find(CODE).approval.decision == "125/QĐ-UBND"
    assert CODE not in [d.key for d in select_procedures(cat, level="district")]  # it has its decision now
    assert len(select_procedures(cat, level="district")) == len(select_procedures(files, level="district")) - 1
    ap.save_draft(rt.db, SOURCE, actor=rt.actor("cchc"), now=later(4))  # being written, not submitted
    cat, notes = ap.for_decision(rt.db, files)
    assert cat.find(CODE).approval.decision == "125/QĐ-UBND"
    assert notes == [f"{CODE}: phiên bản {row.number + 1} đang soạn, chưa trình lãnh đạo; phiên bản {row.number} "
                     "đang áp dụng đã có Quyết định số 125/QĐ-UBND, nên thủ tục này không có trong dự thảo (chọn mã "
                     "để in lại)"]
    assert ap.for_decision(rt.db, files, level="commune")[1] == []  # a district procedure: not the commune's concern


def test_a_draft_being_written_says_which_version_the_decision_prints(rt):
    from engine.definition import load_catalogue

    files = load_catalogue([REPO / "procedures_yaml"])
    ap.save_draft(rt.db, shortened(), actor=rt.actor("cchc"), now=later(1))
    _, notes = ap.for_decision(rt.db, files, level="district")
    stem = sorted((REPO / "procedures_yaml").rglob(f"{CODE}-*.yaml"))[0].name
    assert notes == [f"{CODE}: phiên bản 2 đang soạn, chưa trình lãnh đạo; dự thảo quyết định in bản trong danh "
                     f"mục ({stem})"]


def test_a_leader_decides_only_on_the_submission_they_reviewed(rt):
    """A version sent back, edited and submitted again under the same number is not the one a leader reviewed:
    approving or sending back with the reviewed ``row_version`` is refused, nothing changes (audit 7e #1)."""
    reviewed = through_submission(rt).row_version  # ld_pct opens the page
    chairman = sv.add_user(rt.db, "ld_ct", unit="lanh_dao_ubnd", role="chairman", now=T0)
    ap.send_back(rt.db, CODE, 2, actor=chairman, comment="Sửa tên bước thẩm định", now=later(3))
    text_b = shortened().replace("    duration: 4h\n", "    duration: 2h\n", 1)
    assert text_b != shortened()
    ap.save_draft(rt.db, text_b, actor=rt.actor("cchc"), now=later(4))
    resubmitted = ap.submit(rt.db, CODE, 2, actor=rt.actor("cchc"), now=later(5))
    assert resubmitted.number == 2 and resubmitted.row_version != reviewed
    before = dump(rt.db)
    with pytest.raises(ap.ApprovalError) as err:
        ap.approve(rt.db, CODE, 2, actor=rt.actor("ld_pct"), decision_number="125/QĐ-UBND",
                   decision_date=DECISION_DATE, now=later(6), reviewed=reviewed)
    assert err.value.field is None
    assert "đã thay đổi sau khi bạn mở trang" in err.value.vi and "chưa được phê duyệt" in err.value.vi
    # a stale page is refused first, whatever its fields hold
    with pytest.raises(ap.ApprovalError) as err:
        ap.approve(rt.db, CODE, 2, actor=rt.actor("ld_pct"), decision_number="", decision_date=None,  # type: ignore[arg-type]
                   now=later(6), reviewed=reviewed)
    assert err.value.field is None and "đã thay đổi sau khi bạn mở trang" in err.value.vi
    with pytest.raises(ap.ApprovalError) as err:
        ap.send_back(rt.db, CODE, 2, actor=rt.actor("ld_pct"), comment="x", now=later(6), reviewed=reviewed)
    assert err.value.field is None and "chưa được trả lại" in err.value.vi
    assert dump(rt.db) == before
    assert sv.current_definition(rt.db, CODE)[0].version == 1
    # reviewed again (the current revision), it is approved; without ``reviewed`` (the CLI) nothing is checked
    done = ap.approve(rt.db, CODE, 2, actor=rt.actor("ld_pct"), decision_number="125/QĐ-UBND",
                      decision_date=DECISION_DATE, now=later(7), reviewed=resubmitted.row_version)
    assert done.status == ap.APPROVED and done.text == text_b
