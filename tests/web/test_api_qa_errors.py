"""The REST API's errors as an integrating system (the provincial one-stop portal) reads them.

Every error body has the stable name (``error``), the English text for developers (``message``),
the same in Vietnamese (``message_vi``) for the staff the portal shows it to, and the request field
at fault (``field``); a refused request changes nothing (``engine.store.dump``).
"""

from __future__ import annotations

import re

import pytest

from engine.store import dump
from tests.web.conftest import PASSWORD

#: A Vietnamese text: at least one letter with a Vietnamese diacritic.
VIETNAMESE = re.compile(r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I)


def bearer(client_for, username: str):
    c = client_for()
    r = c.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return c, {"Authorization": f"Bearer {r.json()['access_token']}"}


def body_of(r, status: int, error: str) -> dict:
    """The error body of ``r``: ``status``, the stable name ``error``, an English and a Vietnamese message."""
    assert r.status_code == status, r.text
    got = r.json()
    assert set(got) == {"error", "message", "message_vi", "field"}, got
    assert got["error"] == error, got
    assert got["message"] and got["message_vi"] and VIETNAMESE.search(got["message_vi"]), got
    assert "quytrinh " not in got["message_vi"] and "--" not in got["message_vi"], got  # no CLI advice
    return got


def test_sign_in_and_token_errors_have_a_vietnamese_message_and_the_field(client_for):
    c = client_for()
    got = body_of(c.get("/api/me"), 401, "not_authenticated")
    assert got["field"] == "Authorization" and "POST /api/auth/token" in got["message_vi"]
    got = body_of(c.get("/api/me", headers={"Authorization": "Bearer forged"}), 401, "not_authenticated")
    assert got["field"] == "Authorization" and "hết hạn" in got["message_vi"]
    got = body_of(c.post("/api/auth/token", json={"username": "motcua", "password": "sai"}), 401,
                  "not_authenticated")
    assert got["message_vi"] == "Tên đăng nhập hoặc mật khẩu không đúng."
    got = body_of(c.post("/api/auth/token", json={"username": "motcua"}), 422, "invalid")
    assert got["field"] == "password" and "Trường 'password' (trong nội dung JSON) thiếu" in got["message_vi"]
    got = body_of(c.post("/api/auth/token", content=b"{not json", headers={"content-type": "application/json"}),
                  422, "invalid")
    assert got["field"] == "body" and "không phải JSON hợp lệ" in got["message_vi"]
    for _ in range(3):
        c.post("/api/auth/token", json={"username": "tckh_cv", "password": "sai"})
    got = body_of(c.post("/api/auth/token", json={"username": "tckh_cv", "password": PASSWORD}), 429,
                  "too_many_requests")
    assert re.fullmatch(r"Đăng nhập sai nhiều lần; hãy thử lại sau \d+ giây\.", got["message_vi"])


def test_an_unknown_address_or_method_is_said_in_vietnamese(client_for):
    c, mc = bearer(client_for, "motcua")
    got = body_of(c.get("/api/khong-co", headers=mc), 404, "not_found")
    assert "/docs" in got["message_vi"]
    got = body_of(c.delete("/api/me", headers=mc), 405, "method_not_allowed")
    assert "DELETE" in got["message_vi"]


def test_validation_errors_name_the_field_in_vietnamese_and_receive_nothing(web, client_for):
    c, mc = bearer(client_for, "motcua")
    before = dump(web.store)
    got = body_of(c.post("/api/dossiers", json={"procedure_code": "1.001612"}, headers=mc), 422, "invalid")
    assert got["field"] == "applicant" and "applicant" in got["message"]  # the English text as before
    assert got["message_vi"] == "Trường 'applicant' (trong nội dung JSON) thiếu (bắt buộc)."
    got = body_of(c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "A", "channel": "fax"},
                         headers=mc), 422, "invalid")
    assert got["field"] == "channel" and "phải là một trong: 'counter', 'online' hoặc 'post'" in \
        got["message_vi"].replace(" or ", " hoặc ")
    got = body_of(c.post("/api/tasks/abc/claim", headers=mc), 422, "invalid")
    assert got["field"] == "item_id" and "(trong địa chỉ) phải là số nguyên" in got["message_vi"]
    got = body_of(c.get("/api/tasks?scope=all", headers=mc), 422, "invalid")
    assert got["field"] == "scope"
    got = body_of(c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "A"},
                         headers={**mc, "Idempotency-Key": "k" * 201}), 422, "invalid")
    assert got["field"] == "Idempotency-Key" and "nhiều nhất 200 ký tự" in got["message_vi"]
    assert dump(web.store) == before


def test_a_bad_reception_decision_names_the_field_and_the_outcomes(web, client_for):
    c, mc = bearer(client_for, "motcua")
    before = dump(web.store)
    r = c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "A", "decision": "maybe"},
               headers=mc)
    got = body_of(r, 409, "illegal_action")  # the status and name integrators already handle
    assert got["field"] == "decision"
    assert "work item -1" not in got["message"] and "accept, supplement, refuse" in got["message"]
    assert got["message_vi"].startswith("Trường 'decision': 'maybe' không phải kết quả của bước tiếp nhận")
    assert "accept (" in got["message_vi"] and "Hồ sơ chưa được tiếp nhận." in got["message_vi"]
    assert dump(web.store) == before


def test_commune_errors_are_located_in_vietnamese(web, client_for):
    c, xa = bearer(client_for, "xa_motcua")
    before = dump(web.store)
    code = "1.001193"  # a commune-level procedure (khai sinh)
    got = body_of(c.post("/api/dossiers", json={"procedure_code": code, "applicant": "A"}, headers=xa),
                  422, "invalid_action")
    assert got["field"] == "commune" and f"Thủ tục {code} là thủ tục cấp xã" in got["message_vi"]
    got = body_of(c.post("/api/dossiers", json={"procedure_code": code, "applicant": "A", "commune": "Xã Bat Trang"},
                         headers=xa), 422, "invalid_action")
    assert got["field"] == "commune" and "không phải xã trong danh mục đơn vị (có phải 'Xã Bát Tràng'?)" in \
        got["message_vi"]
    c2, mc = bearer(client_for, "motcua")
    got = body_of(c2.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "A",
                                                 "commune": "Xã Bát Tràng"}, headers=mc), 422, "invalid_action")
    assert got["field"] == "commune" and "thủ tục cấp huyện" in got["message_vi"]
    assert dump(web.store) == before


def test_engine_refusals_are_located_in_vietnamese_with_api_words_not_cli_options(web, client_for):
    c, mc = bearer(client_for, "motcua")
    d = c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "Hộ kinh doanh Bình An"},
               headers={**mc, "Idempotency-Key": "nhan-1"}).json()
    item = d["opened"][-1]
    before = dump(web.store)

    # another request under the same key: the client's key, not the stored 'api:<id>:' form
    got = body_of(c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "Người khác"},
                         headers={**mc, "Idempotency-Key": "nhan-1"}), 409, "duplicate_request")
    assert "'nhan-1'" in got["message"] and "api:" not in got["message"] and got["field"] == "Idempotency-Key"
    assert "khóa chống lặp 'nhan-1'" in got["message_vi"] and "api:" not in got["message_vi"]

    c2, head = bearer(client_for, "tckh_head")
    got = body_of(c2.post(f"/api/tasks/{item}/claim", json={"expected_version": 7}, headers=head), 409,
                  "stale_version")
    assert f"hồ sơ {d['dossier_code']} đang ở lần cập nhật 1, không phải lần cập nhật 7" in got["message_vi"]
    assert "(expected_version)" in got["message_vi"] and f"GET /api/dossiers/{d['dossier_code']}" in \
        got["message_vi"]
    assert got["field"] == "expected_version"

    # An officer who does not exist, given a work item that does: a 404 that names the body's field 'to'.
    got = body_of(c2.post(f"/api/tasks/{item}/assign", json={"to": "khong-ai"}, headers=head), 404, "not_found")
    assert got["field"] == "to" and got["message"] == "assign: user 'khong-ai' does not exist"
    assert got["message_vi"].startswith("Trường 'to': không có người dùng 'khong-ai'")
    got = body_of(c2.post("/api/tasks/999999/assign", json={"to": "tckh_cv"}, headers=head), 404, "not_found")
    assert got["field"] is None and "công việc 999999" in got["message_vi"]

    # The one-stop unit sees the dossier it received, but the department's work item is not its own: 403.
    got = body_of(c.post(f"/api/tasks/{item}/claim", headers=mc), 403, "not_authorized")
    assert got["message_vi"].startswith("Không có quyền: người dùng 'motcua'") and f"công việc {item}" in \
        got["message_vi"]
    # A unit that has nothing to do with the dossier is answered as for a missing one: ids are not revealed.
    c3, cv = bearer(client_for, "qldt_cv")
    got = body_of(c3.post(f"/api/tasks/{item}/claim", headers=cv), 404, "not_found")
    missing = body_of(c3.post(f"/api/tasks/{item + 100000}/claim", headers=cv), 404, "not_found")
    assert got["message"] == f"claim: work item {item} does not exist" and got["field"] is None
    assert got["message_vi"] == missing["message_vi"].replace(f"công việc {item + 100000};", f"công việc {item};")
    got = body_of(c3.get(f"/api/dossiers/{d['dossier_code']}", headers=cv), 404, "not_found")
    assert got["message_vi"] == (f"Không tìm thấy: hồ sơ '{d['dossier_code']}'; xem danh sách công việc: "
                                 "GET /api/tasks.")

    got = body_of(c.post("/api/dossiers", json={"procedure_code": "9.999999", "applicant": "A"}, headers=mc), 404,
                  "not_found")
    assert got["message_vi"] == "Không tìm thấy: thủ tục '9.999999' chưa được đưa vào hệ thống."
    got = body_of(c.get("/api/dossiers/khong-co", headers=mc), 404, "not_found")
    assert "hồ sơ 'khong-co'" in got["message_vi"] and "GET /api/tasks" in got["message_vi"]

    got = body_of(c2.post(f"/api/tasks/{item}/complete", json={"outcome": "nope"}, headers=head), 409,
                  "illegal_action")
    assert "'nope'" in got["message_vi"]
    assert dump(web.store) == before


@pytest.mark.parametrize("path", ["/api/tasks", "/api/dossiers/1"])
def test_a_cookie_session_without_the_csrf_header_is_refused_in_vietnamese(client_for, path):
    c = client_for("motcua")
    got = body_of(c.post("/api/dossiers", json={"procedure_code": "1.001612", "applicant": "A"}), 403,
                  "not_authorized")
    assert got["field"] == "X-CSRF-Token" and "X-CSRF-Token" in got["message_vi"]
    assert c.get(path).status_code in (200, 404)  # reading needs no CSRF header


def test_the_openapi_error_schema_documents_the_vietnamese_message_and_the_field(client_for):
    spec = client_for().get("/openapi.json").json()
    props = spec["components"]["schemas"]["ErrorOut"]["properties"]
    assert {"error", "message", "message_vi", "field"} <= set(props)


def test_the_openapi_document_declares_the_bearer_token_on_every_action(client_for):
    """/docs offers its Authorize button and client generators know the actions need the token."""
    c = client_for()
    spec = c.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http" and schemes["bearer"]["scheme"].lower() == "bearer"
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path == "/api/auth/token":
                assert "security" not in op, (method, path)
            else:
                assert op.get("security") == [{"bearer": []}], (method, path)
    # Declaring it changes nothing for the clients: a token, or a browser session, is read as before.
    r = c.post("/api/auth/token", json={"username": "motcua", "password": PASSWORD})
    assert c.get("/api/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}).json()["username"] \
        == "motcua"
    assert c.get("/api/me", headers={"Authorization": "Basic bW90Y3VhOng="}).json()["error"] == "not_authenticated"
    signed = client_for("tckh_cv")
    assert signed.get("/api/me").json()["username"] == "tckh_cv"
