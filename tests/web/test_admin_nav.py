"""The administrator's navigation and header (fresh-machine audit, finding 11).

``/leader`` opens for an administrator (``$QUYTRINH_ADMINS``: read only, docs/approval.md), so the
navigation offers it, and the header says the user is the system's administrator besides their post.
For every kind of user the navigation offers what opens, and ``/leader`` is offered exactly when it opens.
"""

from __future__ import annotations

import re

import pytest

from quytrinh.web.deps import ROLE_LABELS


def _nav(html: str) -> dict[str, str]:
    block = re.search(r'<nav aria-label="Chức năng">(.*?)</nav>', html, re.S).group(1)
    return {path: label for path, label in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', block)}


def _who(html: str) -> str:
    return re.search(r'<span class="who-unit">([^<]*)</span>', html).group(1)


def test_the_administrator_is_offered_the_approval_pages_and_called_administrator(client_for, monkeypatch):
    monkeypatch.setenv("QUYTRINH_ADMINS", "vanthu")  # Văn thư of Văn phòng, made administrator
    c = client_for("vanthu")
    page = c.get("/inbox").text
    assert _nav(page).get("/leader") == "Phê duyệt quy trình"
    assert _who(page).endswith(" · " + ROLE_LABELS["admin"]) and "Văn phòng" in _who(page)
    leader = c.get("/leader")
    assert leader.status_code == 200
    assert 'id="approve-form"' not in c.get("/leader/procedures/1.001612").text  # read only


@pytest.mark.parametrize("who, admin", [("motcua", False), ("tckh_head", False), ("ld_pct", False),
                                        ("vanthu", False), ("vanthu", True)])
def test_the_navigation_offers_what_opens_and_leader_exactly_when_it_opens(client_for, monkeypatch, who, admin):
    """One-stop staff, a unit's head, a leader, a clerk, and the same clerk made administrator."""
    monkeypatch.setenv("QUYTRINH_ADMINS", who if admin else "admin")
    c = client_for(who)
    page = c.get("/inbox").text
    nav = _nav(page)
    for path in nav:
        assert c.get(path).status_code == 200, path
    assert ("/leader" in nav) == (c.get("/leader").status_code == 200)
    assert (ROLE_LABELS["admin"] in _who(page)) == admin
