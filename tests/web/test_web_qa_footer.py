"""The page footer names the signed-in user's own People's Committee (the district's for district staff, the
communes' for commune staff, its own name for a unit outside it), and, to nobody signed in, the organisation
with its communes; it never says a bare "Ủy ban nhân dân huyện" to everyone."""

from __future__ import annotations

import re

import pytest

from engine.definition import Organisation
from quytrinh.web.deps import WebUser, authority


def _footer(html: str) -> str:
    return " ".join(re.search(r"<footer[^>]*>(.*?)</footer>", html, re.S).group(1).split())


@pytest.mark.parametrize(("username", "said"), [
    ("tckh_cv", "Ủy ban nhân dân huyện Gia Lâm"),
    ("ld_pct", "Ủy ban nhân dân huyện Gia Lâm"),
    ("xa_tuphap", "Ủy ban nhân dân cấp xã, huyện Gia Lâm"),
    ("xa_ct", "Ủy ban nhân dân cấp xã, huyện Gia Lâm"),
    ("xa_dat", "Ủy ban nhân dân xã, thị trấn nơi có đất"),
])
def test_the_footer_names_the_users_own_committee(client_for, username, said):
    footer = _footer(client_for(username).get("/inbox").text)
    assert footer.startswith(f'quytrinh — <span class="authority">{said}</span> · Giờ Hà Nội: '), footer


def test_nobody_signed_in_sees_the_organisation_and_its_communes(client_for):
    footer = _footer(client_for().get("/login").text)
    assert footer.startswith('quytrinh — <span class="authority">Ủy ban nhân dân huyện Gia Lâm và các xã, thị '
                             'trấn</span> · Giờ Hà Nội: '), footer


def _user(level: str, kind: str = "office", full: str = "Công chức Tư pháp – Hộ tịch") -> WebUser:
    return WebUser(1, "u", "", "x", "x", kind, "staff", "Công chức", unit_level=level, unit_full_name=full)


def test_an_organisation_that_is_itself_a_commune_is_named_as_it_is():
    two_tier = Organisation(("province", "commune"), {}, "Ủy ban nhân dân xã Bát Tràng", ())
    assert authority(two_tier, _user("commune")) == "Ủy ban nhân dân xã Bát Tràng"
    assert authority(two_tier, None) == "Ủy ban nhân dân xã Bát Tràng"


def test_without_an_organisation_name_the_level_is_said():
    nameless = Organisation(("district", "commune"), {}, "", ())
    assert authority(nameless, _user("commune")) == "Ủy ban nhân dân cấp xã"
    assert authority(nameless, _user("district")) == "Ủy ban nhân dân cấp huyện"
    assert authority(None, None) == ""
    assert authority(None, _user("any", "external", "Chi cục Thuế khu vực")) == "Chi cục Thuế khu vực"
