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
