"""The demo organisation that ``make run`` (``quytrinh run``) starts with.

:func:`seed_demo` loads the units, publishes the catalogue's definitions and
adds one member of staff for every unit and role the catalogue's processes use
(two at the one-stop counters), plus the reform office (``caicach``) and an
administrator (``admin``). The staff of the commune-level units work for one
commune (:func:`demo_communes`: Xã Bát Tràng when units.yaml lists it), and a
second commune one-stop officer (``xa_motcua_cv2``) for another, so that the demo
shows an officer seeing only their own commune's dossiers. Every demo account it creates has the password
:data:`DEMO_PASSWORD`; an account of the same name that already exists is left
as it is.

The demo accounts are for the embedded default (``make run`` on SQLite) only:
``quytrinh run`` does not seed them into a PostgreSQL database unless told to
(``--demo``), and ``quytrinh publish`` never does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

DEMO_PASSWORD = "demo123"

#: Short names of units in demo usernames.
_UNIT_SHORT = {
    "bp_mot_cua": "motcua", "lanh_dao_ubnd": "ubnd", "van_phong": "vp", "xa_mot_cua": "xa_motcua",
    "xa_lanh_dao": "xa_ld", "xa_van_thu": "xa_vt", "xa_tu_phap": "xa_tuphap", "xa_van_hoa_xa_hoi": "xa_vhxh",
    "xa_dia_chinh": "xa_diachinh", "xa_hoi_dong_khuyet_tat": "xa_hdkt", "chi_cuc_thue": "thue",
    "chi_nhanh_vpdkdd": "vpdkdd", "cong_an_huyen": "congan", "ubnd_xa_noi_co_dat": "xa_codat",
    "ubnd_xa_noi_cu_tru": "xa_cutru",
}
_ROLE_SHORT = {"staff": "cv", "head": "ld", "clerk": "vanthu", "chairman": "ct", "vice_chairman": "pct",
               "council": "hd"}
_NAMES = ["Nguyễn Thị Lan", "Trần Văn Minh", "Lê Thu Hà", "Phạm Quốc Huy", "Hoàng Minh Châu", "Vũ Thị Hồng",
          "Đặng Văn Nam", "Bùi Thị Mai", "Đỗ Đức Thắng", "Ngô Thị Hạnh", "Dương Văn Tùng", "Lý Thị Ngọc",
          "Phan Văn Khánh", "Trịnh Thị Thảo", "Đinh Công Sơn", "Mai Thị Phương", "Tạ Văn Hải", "Hà Thị Yến",
          "Cao Minh Đức", "Lương Thị Quỳnh", "Chu Văn Bình", "Kiều Thị Trang", "Tô Văn Long", "Lâm Thị Hương"]
#: More names are composed from these when the organisation has more staff than :data:`_NAMES`.
_SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô", "Dương", "Lý", "Phan",
             "Trịnh", "Đinh", "Mai", "Tạ", "Hà", "Cao", "Lương", "Chu", "Kiều", "Tô", "Lâm"]
_GIVEN = [("Thị", "Thanh"), ("Văn", "Hùng"), ("Thu", "Trang"), ("Đức", "Anh"), ("Ngọc", "Ánh"), ("Quang", "Vinh"),
          ("Thị", "Dung"), ("Minh", "Tuấn"), ("Thanh", "Hoa"), ("Văn", "Quyết"), ("Thị", "Nhung"), ("Hữu", "Nghĩa"),
          ("Thị", "Loan"), ("Công", "Thành"), ("Kim", "Oanh"), ("Xuân", "Trường")]


def demo_full_names() -> Iterator[str]:
    """Full names for the demo staff, every one different: :data:`_NAMES`, then names composed of a
    surname and a middle and given name (24 × 16 more)."""
    seen = set(_NAMES)
    yield from _NAMES
    for k in range(len(_SURNAMES)):
        for j, (middle, given) in enumerate(_GIVEN):
            name = f"{_SURNAMES[(k + 5 * j) % len(_SURNAMES)]} {middle} {given}"
            if name not in seen:
                seen.add(name)
                yield name


def demo_username(unit_id: str, role: str, n: int = 1) -> str:
    """The demo username of the ``n``-th member of staff of ``unit_id`` in ``role`` (e.g. ``tckh_cv``)."""
    unit = _UNIT_SHORT.get(unit_id, unit_id.removeprefix("phong_"))
    if unit_id == "bp_mot_cua" and role == "staff":
        base = "motcua"
    elif unit_id == "van_phong" and role == "clerk":
        base = "vanthu"
    else:
        base = f"{unit}_{_ROLE_SHORT.get(role, role)}"
    return base if n == 1 else f"{base}{n}"


def demo_communes(communes: tuple[str, ...] | list[str]) -> tuple[str, str]:
    """The commune the demo's commune staff work for, and the one its second commune one-stop officer works
    for: Xã Bát Tràng and Xã Cổ Bi when units.yaml lists them, else its first two (("", "") without communes;
    the second is the first when there is one only)."""
    communes = list(communes)
    if not communes:
        return "", ""
    home = "Xã Bát Tràng" if "Xã Bát Tràng" in communes else communes[0]
    others = [c for c in communes if c != home]
    other = "Xã Cổ Bi" if "Xã Cổ Bi" in others else (others[0] if others else home)
    return home, other


def _used_roles(catalogue: Any) -> list[tuple[str, str]]:
    used: set[tuple[str, str]] = set()
    for defn in catalogue.definitions:
        for step in defn.steps:
            if step.kind in ("human", "sign", "return") and step.unit and step.role:
                used.add((step.unit, step.role))
    return sorted(used)


def seed_demo(db: Any, catalogue: Any, now: dt.datetime) -> list[tuple[str, str, str]]:
    """Seed the demo organisation and staff (idempotent: existing rows are kept).

    Parameters
    ----------
    db : Store, Engine or URL
        A migrated database.
    catalogue : engine.definition.Catalogue
        The loaded catalogue (units and definitions).
    now : datetime
        When (aware).

    Returns
    -------
    list of (username, password, description)
        The demo accounts, to print for the person who started the app. The
        password is :data:`DEMO_PASSWORD` for an account created now or one
        that already signs in with it (an earlier seeding), ``None`` for an
        account that existed with another password, and ``""`` for one that
        existed without a password (it cannot sign in); both were left so.
    """
    from sqlmodel import select

    from engine.store import UnitRow, User, as_store
    from quytrinh.commands.publish import publish_catalogue
    from quytrinh.web.auth import hash_password, verify_password

    store = as_store(db)
    publish_catalogue(store, catalogue, now=now, by="demo")  # approved versions in the database are kept
    wanted: list[tuple[str, str, str]] = []  # (username, unit, role)
    for unit, role in _used_roles(catalogue):
        wanted.append((demo_username(unit, role), unit, role))
        if role == "staff" and unit in ("bp_mot_cua", "phong_tckh", "xa_mot_cua"):
            wanted.append((demo_username(unit, role, 2), unit, role))
    home, other = demo_communes(catalogue.organisation.communes if catalogue.organisation is not None else ())
    org_units = catalogue.organisation.units if catalogue.organisation is not None else {}
    for unit in sorted({u for u, _ in _used_roles(catalogue)}):  # every unit that works has its head: timers
        if "head" in getattr(org_units.get(unit), "roles", {}) and (unit, "head") not in _used_roles(catalogue):
            wanted.append((demo_username(unit, "head"), unit, "head"))  # and apologies go to them
    wanted.append(("caicach", "phong_noi_vu", "staff"))
    wanted.append(("admin", "van_phong", "head"))
    out: list[tuple[str, str, str]] = []
    digest = hash_password(DEMO_PASSWORD)  # one hash (random salt) for the shared demo password
    with store.write() as s:
        units = {u.id: u for u in s.exec(select(UnitRow)).all()}
        users = s.exec(select(User)).all()
        existing = {u.username: u.password_hash for u in users}
        communes = {u.username: u.commune or "" for u in users}
        demo_hashes: dict[str, bool] = {}  # earlier seedings share one hash: each distinct hash checked once
        # every new member of staff gets a name nobody has (the control sheet tells people apart by name)
        names = (n for n in demo_full_names() if n not in {u.full_name for u in users})
        for username, unit, role in wanted:
            row = units.get(unit)
            if row is None or role not in (row.roles or {}):
                continue
            title = row.roles[role]
            what = {"caicach": "Phòng phụ trách cải cách hành chính", "admin": "Quản trị hệ thống"}.get(
                username, f"{title} — {row.short or row.name}")
            # a commune's staff work for one commune (the second one-stop officer for another)
            commune = communes.get(username, (other if username == demo_username("xa_mot_cua", "staff", 2)
                                              else home) if row.level == "commune" else "")
            if commune:
                what += f" ({commune})"
            if username in existing:  # kept as it is: its password is the demo one only if it already was
                stored = existing[username]
                if stored and stored not in demo_hashes:
                    demo_hashes[stored] = verify_password(DEMO_PASSWORD, stored)
                out.append((username, (DEMO_PASSWORD if demo_hashes[stored] else None) if stored else "", what))
                continue
            s.add(User(username=username, full_name=next(names), unit_id=unit, role=role,
                       password_hash=digest, created_at=now, commune=commune))
            existing[username] = digest
            demo_hashes[digest] = True
            out.append((username, DEMO_PASSWORD, what))
    return out
