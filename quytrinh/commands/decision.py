"""`quytrinh decision`: the draft decision approving internal processes, with its annex.

    quytrinh decision --level district --out du-thao.docx
    quytrinh decision --level district --codes 1.001612,1.013225 --format html --out du-thao.html

By default it covers every procedure of the level that has no approving
decision yet (``approval`` absent from its definition); ``--codes`` picks
some. When the app's database exists (``$QUYTRINH_DATABASE_URL``, or
``var/quytrinh.db``), a procedure is printed as the leaders see it there: its
draft submitted for approval, else its version approved in the app (which
then has a decision and leaves the default selection), else its file. The organisation comes from the catalogue's units.yaml; ``--place``
sets the place name of the date line (default: derived from the organisation,
``Ủy ban nhân dân huyện Gia Lâm`` -> ``Gia Lâm``). Word (python-docx) or a
self-contained HTML page (print CSS, A4, inline SVG diagrams).
"""

from __future__ import annotations

import enum
import sys
import time
from pathlib import Path
from typing import Any, List, Optional

import typer

from engine.errors import QuytrinhError
from quytrinh.messages import located_text, localized


class Level(str, enum.Enum):
    district = "district"
    commune = "commune"


class Format(str, enum.Enum):
    docx = "docx"
    html = "html"


def split_codes(values: Optional[List[str]]) -> list[str] | None:
    """``--codes a,b --codes c`` -> ``[a, b, c]`` (None when not given)."""
    if not values:
        return None
    out = [c.strip() for v in values for c in v.split(",") if c.strip()]
    return out or None


def _database() -> Any:
    """The app's database when there is one (``$QUYTRINH_DATABASE_URL``, or the default SQLite file once
    ``quytrinh run`` made it: :func:`engine.store.default_database_path`); None: the decision is drafted from
    the files alone."""
    import os

    from engine.store import URL_ENV, default_database_path
    from quytrinh.commands.dossier import open_store

    if not os.environ.get(URL_ENV) and not default_database_path().is_file():
        return None
    return open_store()


def run(level: str, codes: list[str] | None, out: Path | None, fmt: str, place: str | None, deputy: bool,
        catalogue_dir: Path | None) -> Path:
    """Write the draft decision; returns the file written."""
    from engine.definition import default_root, load_catalogue
    from engine.documents import decision_file_stem, decision_gaps, render_decision, select_procedures

    root = catalogue_dir or default_root()
    if not root.is_dir():
        raise localized(QuytrinhError(f"{root}: không có thư mục danh mục này."))
    cat = load_catalogue([root])
    for p in cat.problems:  # broken files are left out, and said so
        print(located_text(p), file=sys.stderr)
    if cat.organisation is None:
        raise localized(QuytrinhError(f"{root}/units.yaml: không nạp được danh sách đơn vị; hãy sửa tệp này trước."))
    store = _database()
    notes: list[str] = []
    if store is not None:  # what the leaders review and approved in the app, not only the files
        from engine.approval import for_decision

        try:
            cat, notes = for_decision(store, cat, level=level)
        finally:
            store.dispose()
    target = out or Path(f"{decision_file_stem(level)}.{fmt}")
    started = time.perf_counter()
    drawing = _say_drawing(cat, level, codes)
    data = render_decision(cat, level=level, codes=codes, place=place, deputy=deputy, fmt=fmt)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    except OSError as exc:
        from quytrinh.commands._common import write_error

        raise write_error(exc, target) from None
    picked = select_procedures(cat, level=level, codes=codes)
    if drawing:
        print(f"Đã vẽ {drawing} sơ đồ và ghi {target} sau {_seconds(time.perf_counter() - started)}.", file=sys.stderr)
    print(f"{target}: dự thảo quyết định, {len(picked)} quy trình")
    for note in notes:
        print(f"Cảnh báo: {note}.", file=sys.stderr)
    for gap in decision_gaps(picked):
        print(f"Cảnh báo: {gap}; hãy bổ sung trước khi trình ký.", file=sys.stderr)
    return target


def _say_drawing(cat: Any, level: str, codes: list[str] | None) -> int:
    """When graphviz has not drawn most of the annex's diagrams yet (the first run, or the catalogue changed:
    none in the on-disk cache), say on stderr that it is drawing them, for how long about, and return how
    many; 0 (nothing said) when they are mostly drawn already, or when the selection fails (said after)."""
    from engine.documents import diagrams_to_draw, select_procedures
    from engine.render import disk_cache

    try:
        defs = select_procedures(cat, level=level, codes=codes)
    except QuytrinhError:
        return 0
    todo = diagrams_to_draw(defs, cat.organisation)
    if not todo or todo * 2 < len(defs):
        return 0
    # ~0.2 s (HTML) to ~0.5 s (Word) a diagram on two cores: the 81 of the district take about a minute
    how_long = "khoảng một phút" if todo >= 40 else "vài chục giây" if todo >= 10 else "vài giây"
    kept = "; các lần sau dùng bản vẽ đã lưu" if disk_cache() is not None else ""  # QUYTRINH_DIAGRAM_CACHE=off
    print(f"Đang vẽ {todo} sơ đồ (lần đầu có thể mất {how_long}{kept})…", file=sys.stderr, flush=True)
    return todo


def _seconds(value: float) -> str:
    """``12,3 giây`` / ``1 phút 5 giây``, as Vietnamese writes them."""
    if value < 60:
        return f"{value:.1f} giây".replace(".", ",")
    minutes, sec = divmod(round(value), 60)
    return f"{minutes} phút {sec} giây"


def register(app: typer.Typer) -> None:
    """Add the ``decision`` command to the ``quytrinh`` app."""

    @app.command("decision")
    def decision_command(
        level: Level = typer.Option(Level.district, "--level", help="Cấp: district (huyện) hoặc commune (xã)."),
        codes: Optional[List[str]] = typer.Option(
            None, "--codes", help="Mã TTHC, cách nhau bởi dấu phẩy (mặc định: các thủ tục chưa có quyết định phê duyệt)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Tệp kết quả (mặc định du-thao-quyet-dinh-cap-huyen.docx, …-cap-xa.docx theo cấp và định dạng)."),
        fmt: Format = typer.Option(Format.docx, "--format", "-f", help="docx (Word) hoặc html."),
        place: Optional[str] = typer.Option(None, "--place", help="Địa danh ở dòng ngày tháng (mặc định: theo tên cơ quan)."),
        deputy: bool = typer.Option(False, "--deputy", help="Phó Chủ tịch ký thay (KT. CHỦ TỊCH / PHÓ CHỦ TỊCH)."),
        catalogue: Optional[Path] = typer.Option(None, "--catalogue", help="Thư mục danh mục (mặc định procedures_yaml/)."),
    ) -> None:
        """Dự thảo Quyết định phê duyệt quy trình nội bộ, kèm Phụ lục (bảng các bước và sơ đồ)."""
        run(level.value, split_codes(codes), out, fmt.value, place, deputy, catalogue)
