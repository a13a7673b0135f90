"""`quytrinh publish`: put the catalogue's units and internal processes into the database, and nothing else.

    quytrinh publish [--catalogue procedures_yaml/]

What an operator runs on a production database (``$QUYTRINH_DATABASE_URL``)
before ``quytrinh serve`` and ``quytrinh worker``:

1. validate the catalogue (stop on lint errors, as ``quytrinh validate``);
2. open the database, migrated to the newest schema (as every command does);
3. load the organisation (units.yaml) and publish every definition: a
   procedure not in the database yet gets version 1, a changed text a new
   version, an identical text nothing (:func:`engine.services.publish_definition`).
   A procedure whose newest version in the database was approved by a leader
   (``status: approved``, the web app's approval) is never replaced by a
   different catalogue text that is not approved: it is kept and named.

It creates no accounts (``quytrinh user add ... --password`` does), so running
it again is safe: it prints what it did, in Vietnamese, and a second run says
that nothing changed. ``quytrinh run`` uses the same functions.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import typer

from engine.errors import QuytrinhError
from quytrinh.messages import localized


def check_catalogue(root: Path) -> tuple[Any, str]:
    """The loaded catalogue and its validation summary line; its lint errors (on stderr) and a Vietnamese error
    when it has any."""
    from engine.definition import load_catalogue
    from engine.lint import ERROR, lint_catalogue
    from quytrinh.commands.validate import summary, summary_line

    if not root.is_dir():
        raise localized(QuytrinhError(f"Không có thư mục danh mục {root}/; hãy chỉ đúng thư mục bằng --catalogue."))
    catalogue = load_catalogue([root])
    findings = lint_catalogue(catalogue)
    errors = [f for f in findings if f.severity == ERROR]
    line = summary_line(summary(findings, len(catalogue.definitions),
                                len(catalogue.files) - len(catalogue.definitions)))
    if errors:
        from quytrinh.messages import located_text

        for f in errors:
            print(located_text(f), file=sys.stderr)
        raise localized(QuytrinhError(f"Danh mục còn lỗi ({line}); hãy sửa (xem quytrinh validate) rồi chạy lại."))
    return catalogue, line


@dataclass
class Published:
    """What :func:`publish_catalogue` did."""

    units: int = 0
    first: list[str] = field(default_factory=list)       # procedures published for the first time (version 1)
    updated: list[str] = field(default_factory=list)     # a new version of a procedure published before
    unchanged: list[str] = field(default_factory=list)   # the database's newest version has the same text
    kept: list[tuple[str, int]] = field(default_factory=list)  # (code, version): approved there, not replaced
    #: (code, version, unit ids): a kept approved version whose steps name units units.yaml no longer has
    kept_gone: list[tuple[str, int, list[str]]] = field(default_factory=list)
    #: (unit id, name, active members, open work items): in the database, no longer in units.yaml
    gone_units: list[tuple[str, str, int, int]] = field(default_factory=list)
    #: (username, unit id, role): active users whose role their unit no longer has in units.yaml
    gone_roles: list[tuple[str, str, str]] = field(default_factory=list)
    #: (unit id, name, successor id, successor name, active members as (username, full name, role), open work
    #: items): merged units (merged_into)
    merged_units: list[tuple[str, str, str, str, list[tuple[str, str, str]], int]] = field(default_factory=list)
    #: (code, version or None for the catalogue's text, {merged unit: successor}): processes that still name
    #: merged units (their new work opens at the successor)
    naming_merged: list[tuple[str, int | None, dict[str, str]]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What was done, in Vietnamese, one line each."""
        out = [f"Đơn vị: {self.units} đơn vị theo units.yaml" if self.units else
               "Đơn vị: danh mục không có units.yaml; không nạp đơn vị nào",
               f"Quy trình: {len(self.first)} đưa vào lần đầu, {len(self.updated)} có phiên bản mới, "
               f"{len(self.unchanged)} không đổi"]
        if self.updated:
            out.append(f"  Phiên bản mới (hồ sơ đã tiếp nhận giữ phiên bản cũ): {_some(self.updated)}")
        if self.kept:
            out.append(f"Giữ nguyên {len(self.kept)} quy trình đã được lãnh đạo phê duyệt trong hệ thống (văn bản "
                       f"trong danh mục khác bản đã duyệt và chưa được duyệt): "
                       f"{_some([f'{c} (phiên bản {v})' for c, v in self.kept])}; muốn thay thì sửa, trình và "
                       f"duyệt trong ứng dụng web (Soạn thảo quy trình).")
        for code, version, units in self.kept_gone:
            out.append(f"  Cảnh báo: {code} (phiên bản {version}, đã duyệt) giao việc cho đơn vị không còn trong "
                       f"units.yaml: {', '.join(units)}; hồ sơ mới vẫn đến các đơn vị này cho đến khi quy trình "
                       f"được sửa, trình và duyệt lại (nếu đơn vị đã hợp nhất, hãy ghi lại đơn vị trong units.yaml "
                       f"với merged_into: việc của đơn vị sẽ được mở tại đơn vị kế thừa).")
        for unit, name, members, items in self.gone_units:
            out.append(f"Cảnh báo: đơn vị {unit} ({name}) không còn trong units.yaml nhưng còn {members} cán bộ đang "
                       f"hoạt động và {items} công việc đang mở; nếu đơn vị đã hợp nhất hoặc giải thể, hãy ghi lại "
                       f"đơn vị trong units.yaml với merged_into: MÃ_ĐƠN_VỊ_KẾ_THỪA (việc mới của các hồ sơ đang "
                       f"giải quyết sẽ đến đơn vị kế thừa), chạy lại quytrinh publish, chuyển cán bộ bằng quytrinh "
                       f"user move rồi chuyển công việc bằng quytrinh unit transfer {unit}." if members or items else
                       f"Đơn vị {unit} ({name}) không còn trong units.yaml; không còn cán bộ hay công việc ở đó "
                       f"(các hồ sơ cũ vẫn ghi tên đơn vị này).")
        for unit, name, successor, successor_name, members, items in self.merged_units:
            if not (members or items):
                continue
            todo = []
            if items:
                todo.append(f"{items} công việc đang mở — chuyển sang {successor} bằng: quytrinh unit transfer {unit}")
            if members:
                who = ", ".join(f"{username} ({full_name})" if full_name else username
                                for username, full_name, _ in members)
                todo.append(f"{len(members)} cán bộ đang hoạt động: {who} — chuyển bằng: quytrinh user move TÊN "
                            f"--unit {successor} --role VAI_TRÒ (trước khi chuyển công việc, để việc họ đang giữ vẫn "
                            f"do họ xử lý; ví dụ: quytrinh user move {members[0][0]} --unit {successor} --role "
                            f"{members[0][2]})")
            out.append(f"Đơn vị {unit} ({name}) đã hợp nhất vào {successor} ({successor_name}); việc mới được mở tại "
                       f"{successor}. Còn {'; '.join(todo)}.")
        if self.naming_merged:
            named = [f"{code}{f' (phiên bản {v}, đã duyệt)' if v else ''}: "
                     + ", ".join(f"{u} → {t}" for u, t in sorted(units.items()))
                     for code, v, units in self.naming_merged]
            out.append(f"Lưu ý: {len(named)} quy trình còn giao việc cho đơn vị đã hợp nhất (việc được mở tại đơn vị kế "
                       f"thừa; hãy sửa unit trong quy trình, xem quytrinh validate): {_some(named)}")
        for username, unit, role in self.gone_roles:
            out.append(f"Cảnh báo: {username} có vai trò '{role}' mà đơn vị {unit} không còn trong units.yaml; "
                       f"chuyển vai trò bằng: quytrinh user move {username} --unit {unit} --role VAI_TRÒ.")
        return out


def _some(items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" và {len(items) - limit} quy trình khác" if len(items) > limit else "")


def _content_hash(defn: Any) -> str:
    """The ``content_hash`` :func:`engine.services.publish_definition` stores for ``defn`` (its expanded YAML)."""
    import hashlib

    from engine.definition import definition_to_data, dump_yaml

    return hashlib.sha256(dump_yaml(definition_to_data(defn)).encode()).hexdigest()


def publish_catalogue(db: Any, catalogue: Any, *, now: dt.datetime, by: str) -> Published:
    """Seed ``catalogue``'s organisation and publish its definitions into ``db`` (idempotent).

    A procedure whose newest published version is ``approved`` keeps it when the
    catalogue's text differs and is not approved itself.
    """
    from sqlmodel import select

    from engine import services as sv
    from engine.store import DefinitionVersion, as_store

    store = as_store(db)
    done = Published()
    organisation = catalogue.organisation
    if organisation is not None:
        done.units = sv.seed_organisation(store, organisation)

    def merged_in(defn: Any) -> dict[str, str]:
        if organisation is None:
            return {}
        named = {st.unit for st in defn.steps if st.unit}
        if defn.signer is not None and defn.signer.unit:
            named.add(defn.signer.unit)
        return {u: organisation.successor(u) for u in sorted(named) if organisation.successor(u)}
    newest: dict[str, DefinitionVersion] = {}
    with store.session() as s:
        for row in s.exec(select(DefinitionVersion).order_by(DefinitionVersion.version)).all():
            newest[row.procedure_code] = row
    for defn in catalogue.definitions:
        before = newest.get(defn.key)
        if before is not None and before.status == "approved" and defn.status != "approved":
            if _content_hash(defn) != before.content_hash:
                done.kept.append((defn.key, before.version))
                if organisation is not None:
                    known = organisation.units
                    kept = sv.definition_of(before)
                    gone = sorted({st.unit for st in kept.steps if st.unit and st.unit not in known})
                    if gone:
                        done.kept_gone.append((defn.key, before.version, gone))
                    if merged_in(kept):
                        done.naming_merged.append((defn.key, before.version, merged_in(kept)))
                continue
        if merged_in(defn):
            done.naming_merged.append((defn.key, None, merged_in(defn)))
        row = sv.publish_definition(store, defn, now=now, by=by)
        if before is None:
            done.first.append(defn.key)
        elif row.version != before.version:
            done.updated.append(defn.key)
        else:
            done.unchanged.append(defn.key)
    if catalogue.organisation is not None:
        _organisation_left_behind(store, catalogue.organisation, done)
    return done


def _organisation_left_behind(store: Any, organisation: Any, done: Published) -> None:
    """What the database holds that units.yaml no longer has: units (with their active members and open work)
    and the roles active users hold (``done.gone_units``, ``done.gone_roles``). Seeding only adds and updates."""
    import sqlalchemy as sa
    from sqlmodel import select

    from engine.store import OPEN_ITEM_STATES, UnitRow, User, WorkItem

    units = organisation.units
    successors = organisation.successors()
    with store.session() as s:
        rows = s.exec(select(UnitRow).order_by(UnitRow.id)).all()
        members: dict[str, int] = dict(s.exec(select(User.unit_id, sa.func.count()).where(
            User.active == True).group_by(User.unit_id)).all())  # type: ignore[arg-type]  # noqa: E712
        open_items: dict[str, int] = dict(s.exec(select(WorkItem.unit_id, sa.func.count()).where(
            WorkItem.state.in_(OPEN_ITEM_STATES)).group_by(WorkItem.unit_id)).all())  # type: ignore[attr-defined,arg-type]
        names = {row.id: row.short or row.name for row in rows}
        for row in rows:
            if row.id not in units:
                done.gone_units.append((row.id, row.short or row.name, members.get(row.id, 0),
                                        open_items.get(row.id, 0)))
            elif row.id in successors:
                successor = successors[row.id]
                done.merged_units.append((row.id, names[row.id], successor, names.get(successor, successor),
                                          [], open_items.get(row.id, 0)))
        active = s.exec(select(User).where(User.active == True).order_by(User.username)).all()  # noqa: E712
        staff: dict[str, list[tuple[str, str, str]]] = {}
        for u in active:
            staff.setdefault(u.unit_id, []).append((u.username, u.full_name or "", u.role))
        for i, (unit_id, name, successor, successor_name, _, items) in enumerate(done.merged_units):
            done.merged_units[i] = (unit_id, name, successor, successor_name, staff.get(unit_id, []), items)
        for u in active:
            unit = units.get(u.unit_id)
            if unit is not None and u.role not in unit.roles:
                done.gone_roles.append((u.username, u.unit_id, u.role))


def publish(
    catalogue: Optional[Path] = typer.Option(None, "--catalogue",
                                             help="Thư mục danh mục (mặc định procedures_yaml/)."),
) -> None:
    """Kiểm tra danh mục rồi đưa đơn vị và quy trình vào cơ sở dữ liệu (không tạo tài khoản); chạy lại được."""
    from engine.definition import default_root
    from engine.store import database_url, init_db
    from quytrinh.commands.dossier import _safe, guarded, open_database

    @guarded
    def body() -> None:
        root = catalogue or default_root()
        cat, line = check_catalogue(root)
        typer.echo(f"Kiểm tra danh mục {root}/ — {line} (chi tiết: quytrinh validate)")
        url = database_url(None)
        store = open_database(url, init_db)
        typer.echo(f"Cơ sở dữ liệu: {_safe(url)} (cấu trúc bảng đã cập nhật lên bản mới nhất)")
        done = publish_catalogue(store, cat, now=dt.datetime.now(dt.timezone.utc), by="quytrinh publish")
        for text in done.lines():
            typer.echo(text)
        typer.echo("Không tạo tài khoản nào. Thêm người dùng: quytrinh user add TÊN --unit ĐƠN_VỊ --role VAI_TRÒ "
                   "--name \"Họ và tên\" --password")
        default = default_root()
        if Path(root).resolve() != Path(default).resolve():
            # Every other command and the web app read units.yaml into the database from the default
            # catalogue: without the variable, the next of them would put its units back. The worker never
            # reads units.yaml (it works on the database's units, workflows/), but it counts deadlines on that
            # catalogue's calendar.yaml (engine.calendar.catalogue_dir), so it needs the variable too.
            typer.echo(f"Lưu ý: các lệnh khác và ứng dụng web đọc units.yaml ở {default}/ và ghi đơn vị của tệp đó "
                       f"vào cơ sở dữ liệu (worker không đọc units.yaml, nhưng tính thời hạn theo lịch làm việc "
                       f"calendar.yaml ở thư mục đó); để tất cả dùng danh mục này, đặt biến môi trường "
                       f"QUYTRINH_CATALOGUE_DIR={Path(root).resolve()} cho mọi lệnh, ứng dụng web và worker")

    body()


def register(app: typer.Typer) -> None:
    """Add the ``publish`` command to the ``quytrinh`` app."""
    app.command("publish")(publish)
