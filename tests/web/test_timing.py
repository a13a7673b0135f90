"""The per-request timing log ($QUYTRINH_TIMING_LOG) that bench/web.py reads."""

from __future__ import annotations

import gc

from tests.web.conftest import SECRET, Clock, set_all_passwords, sign_in


def test_timing_log_has_a_line_per_request_and_per_garbage_collection(runtime, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from quytrinh.web.app import create_app

    log = tmp_path / "timing.log"
    monkeypatch.setenv("QUYTRINH_TIMING_LOG", str(log))
    set_all_passwords(runtime.db)
    app = create_app(runtime.url, now=Clock(), secret=SECRET)
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            assert sign_in(c, "motcua").status_code == 303
            assert c.get("/inbox", headers={"X-Request-Id": "r-42"}).status_code == 200
            gc.collect()
            assert c.get("/khong-co-trang-nay").status_code == 404
    finally:
        app.state.store.dispose()
    lines = [line.split() for line in log.read_text(encoding="utf-8").splitlines()]
    inbox = [f for f in lines if f[2:4] == ["GET", "/inbox"]]
    assert len(inbox) == 1 and inbox[0][4:] == ["200", "r-42"]
    assert 0 < float(inbox[0][1]) < 60_000  # milliseconds in the app
    assert ["GET", "/khong-co-trang-nay", "404", "-"] in [f[2:] for f in lines]
    assert any(f[2] == "GC" and f[3] == "gen2" for f in lines)  # the explicit full collection


def test_warm_up_parses_each_procedures_newest_version_and_survives_a_broken_one(web, caplog):
    """Before the port opens the server parses the definitions the catalogue pages need (the newest version of
    each procedure), not the history of versions; a stored version that does not parse is logged, not fatal."""
    import dataclasses

    import sqlalchemy as sa
    from sqlmodel import select

    from engine import services as sv
    from engine.store import DefinitionVersion
    from quytrinh.web.app import warm_up

    store = web.store
    with store.session() as s:
        first = s.exec(select(DefinitionVersion).where(DefinitionVersion.procedure_code == "1.001612")).one()
    defn = sv.definition_of(first)
    sv.publish_definition(store, dataclasses.replace(defn, name=defn.name + " (sửa đổi)"), now=web.clock())
    with store.session() as s:
        rows = s.exec(select(DefinitionVersion)).all()
        newest = {}
        for r in rows:
            if r.version > newest.get(r.procedure_code, (0, None))[0]:
                newest[r.procedure_code] = (r.version, r.id)
        broken = next(r for r in rows if r.procedure_code != "1.001612")
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE definition_versions SET content = 'steps: [' WHERE id = :i"), {"i": broken.id})

    sv._DEF_CACHE.clear()
    with caplog.at_level("INFO", logger="quytrinh.web"):
        warm_up(web.app)
    cached = {i for i, _ in sv._DEF_CACHE}
    assert cached == {i for _, i in newest.values()} - {broken.id}
    assert first.id not in cached  # an older version waits for its own dossiers' pages
    assert any("could not be parsed" in r.getMessage() and broken.procedure_code in r.getMessage()
               for r in caplog.records)
