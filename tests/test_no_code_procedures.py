"""Procedures without a national code (known by their file's slug) received through the services.

Once published, such a definition is loaded back from the database (source ``<slug vN>``); its key must
stay the slug it was published under: its dossiers' ``procedure_code`` is the slug (what reports, the
counter's repeat check and the heatmap look for) and their codes are ``<slug, at most 40>-YYYYMMDD-NNNNNN``,
well within the 64-character column (PostgreSQL refused the longest ones before).
"""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest

from tests.conftest import REPO, T0

LONGEST = "ho-tro-chi-phi-mai-tang-doi-tuong-bao-tro-xa-hoi"  # 48 characters, the longest shipped slug
SHORT = "thanh-lap-truong-thcs"


@pytest.fixture(scope="module")
def no_code():
    from engine.definition import load_catalogue

    files = [REPO / "procedures_yaml" / "district" / f"{slug}.yaml" for slug in (LONGEST, SHORT)]
    cat = load_catalogue(files)
    assert not cat.problems
    assert [d.code for d in cat.definitions] == ["", ""]
    return {d.key: d for d in cat.definitions}


def _publish(runtime, defn):
    from engine import services as sv

    return sv.publish_definition(runtime.db, defn, now=T0, by="test")


def _dossier(runtime, code: str):
    from sqlmodel import select

    from engine.store import Dossier

    with runtime.db.session() as s:
        return s.exec(select(Dossier).where(Dossier.code == code)).one()


def test_a_definition_loaded_from_the_database_keeps_the_slug_it_was_published_under(runtime, no_code):
    from engine import services as sv

    row = _publish(runtime, no_code[LONGEST])
    assert row.procedure_code == LONGEST
    loaded = sv.definition_of(row)
    assert loaded.source == f"<{LONGEST} v1>" and loaded.key == LONGEST
    _, current = sv.current_definition(runtime.db, LONGEST)
    assert current.key == LONGEST
    # Published again from the database (as the approval flow may): the same procedure, not "<slug v1>".
    assert sv.publish_definition(runtime.db, loaded, now=T0, by="test").procedure_code == LONGEST


@pytest.mark.parametrize("slug, prefix", [(LONGEST, "ho-tro-chi-phi-mai-tang-doi-tuong-bao"), (SHORT, SHORT)])
def test_receiving_a_no_code_procedure_codes_the_dossier_by_its_slug(runtime, no_code, slug, prefix):
    from engine import services as sv

    _publish(runtime, no_code[slug])
    res = sv.receive(runtime.db, runtime.actor("motcua"), slug, applicant="Bà Nguyễn Thị Lan", now=T0,
                     calendar=runtime.calendar)
    # 08:00 on 10/03/2026 in Hanoi; the id has six digits.
    assert re.fullmatch(re.escape(prefix) + r"-20260310-\d{6}", res.dossier_code), res.dossier_code
    assert len(res.dossier_code) <= 64 - 8  # room for ids of up to 14 digits
    d = _dossier(runtime, res.dossier_code)
    assert d.procedure_code == slug
    # Online, then accepted: the same code form.
    sub = sv.submit(runtime.db, sv.SYSTEM, slug, applicant="Ông Trần Văn Bình", now=T0 + dt.timedelta(minutes=5), calendar=runtime.calendar)
    assert re.fullmatch(re.escape(prefix) + r"-20260310-\d{6}", sub.dossier_code)
    assert _dossier(runtime, sub.dossier_code).procedure_code == slug


def test_reports_and_the_counters_repeat_check_find_no_code_dossiers(runtime, no_code):
    from engine import reports
    from engine import services as sv
    from quytrinh.web.deps import WebUser
    from quytrinh.web.routes_staff import earlier_reception

    defn = no_code[LONGEST]
    _publish(runtime, defn)
    res = sv.receive(runtime.db, runtime.actor("motcua"), LONGEST, applicant="Bà Nguyễn Thị Lan", now=T0,
                     calendar=runtime.calendar)
    report = reports.timeliness_report(runtime.db, dt.date(2026, 3, 1), dt.date(2026, 3, 31), by="procedure",
                                       now=T0 + dt.timedelta(hours=1), calendar=runtime.calendar)
    rows = {r.key: r for r in report.rows}
    assert LONGEST in rows and rows[LONGEST].received == 1, list(rows)
    assert not any(k.startswith("<") for k in rows)

    motcua = runtime.actor("motcua")
    user = WebUser(id=motcua.user_id, username=motcua.username, full_name="motcua", unit_id=motcua.unit,
                   unit_name="", unit_kind="", role=motcua.role, role_title="")
    request = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(
        store=runtime.db, clock=lambda: T0 + dt.timedelta(minutes=3))))
    earlier = earlier_reception(request, user, LONGEST, " bà nguyễn thị  Lan")
    assert earlier is not None and earlier["code"] == res.dossier_code


def test_migration_0007_gives_old_dossiers_the_slug_and_keeps_their_codes(db_url, no_code, calendar):
    """A database where dossiers were stored under ``<slug v1>`` (before the fix) is mended by 0007."""
    import sqlalchemy as sa
    from alembic import command

    from engine import services as sv
    from engine.store import HEAD_REVISION, alembic_config, init_db, migrate

    store = init_db(db_url)
    try:
        with store.write() as s:
            sv.seed_organisation(s, _organisation())
            sv.publish_definition(s, no_code[SHORT], now=T0, by="test")
            motcua = sv.add_user(s, "motcua", unit="bp_mot_cua", role="staff", now=T0)
        res = sv.receive(store, motcua, SHORT, applicant="X", now=T0, calendar=calendar)
        old_code = f"<{SHORT} v1>-20260310-{res.dossier_id:06d}"
        with store.engine.begin() as conn:  # as the dossier was stored before the fix
            conn.execute(sa.text("UPDATE dossiers SET code = :code, procedure_code = :pc"),
                         {"code": old_code, "pc": f"<{SHORT} v1>"})
        command.downgrade(alembic_config(db_url), "0006")
        migrate(store.engine)
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT code, procedure_code FROM dossiers")).all() == [(old_code, SHORT)]
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
    finally:
        store.dispose()


def _organisation():
    from engine.definition import load_catalogue

    return load_catalogue([REPO / "procedures_yaml" / "district" / f"{SHORT}.yaml"]).organisation
