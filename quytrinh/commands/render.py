"""`quytrinh render`: draw the catalogue's diagrams (one per procedure).

Diagrams go under ``--out`` (default ``diagrams/``) mirroring the catalogue's
subfolders: ``procedures_yaml/district/x.yaml`` -> ``diagrams/district/x.svg``.
A definition file that cannot be loaded is reported with its located errors
and not drawn; the others are still drawn, and the exit code is 1.
``--check`` writes nothing and fails when a diagram under ``--out`` differs
from what would be drawn (how CI and the tests keep ``diagrams/`` current).

``quytrinh render CODE --heatmap [--since DATE]`` draws one procedure coloured
by its measured performance in the database (``$QUYTRINH_DATABASE_URL``):
per step the median working time spent against the allotted time and the share
late (``engine.reports.step_performance``). It is written to ``--out FILE``,
default ``CODE-heatmap.svg`` in the current folder; ``diagrams/`` is never touched.
"""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from engine.errors import QuytrinhError
from quytrinh.messages import cli_error_text, located_text, localized

DEFAULT_OUT = Path("diagrams")

#: How ``--check`` names each kind of problem (engine.render.out_of_date's reasons): label, hint.
CHECK_LABELS = {
    "stale": ("cũ", "khác với quy trình hiện tại"),
    "missing": ("thiếu", "chưa vẽ"),
    "orphan": ("thừa", "không còn quy trình nào; hãy xóa tệp này"),
}

#: engine.render.FORMATS (a test keeps them equal), written here so that listing the commands does not import
#: engine.render (graphviz, networkx): it is imported by the commands that draw.
FORMATS = ("svg", "png", "pdf")

Format = enum.Enum("Format", {f: f for f in FORMATS}, type=str)


def _fix_command(paths: list[Path] | None, out: Path, fmt: str) -> str:
    parts = ["quytrinh", "render", *(str(p) for p in paths or [])]
    if out != DEFAULT_OUT:
        parts += ["--out", str(out)]
    if fmt != "svg":
        parts += ["--format", fmt]
    return " ".join(parts)


def _covers_root(paths: list[Path] | None, root: Path) -> bool:
    """True when the paths include the whole catalogue folder (so orphans can be told)."""
    if not paths:
        return True
    root = root.resolve()
    return any(p.resolve() == root for p in paths if p.exists())


def run(paths: list[Path] | None, out: Path, fmt: str, check: bool, jobs: int | None) -> int:
    """Render (or check) the diagrams of the definitions under ``paths``; return the exit code."""
    from engine.definition import default_root, load_catalogue
    from engine.render import catalogue_diagrams, diagram_path, out_of_date

    err = sys.stderr
    catalogue = load_catalogue(paths or None)
    for problem in catalogue.problems:
        print(located_text(problem), file=err)
    if catalogue.organisation is None:
        if not catalogue.problems:
            where = ", ".join(str(p) for p in paths) if paths else str(default_root())
            print(f"quytrinh render: không có units.yaml trong {where} hay thư mục cha; tên các làn của sơ đồ "
                  f"lấy từ tệp này", file=err)
        print("quytrinh render: chưa vẽ sơ đồ nào (không nạp được danh sách đơn vị)", file=err)
        return 1
    not_drawn = len(catalogue.files) - len(catalogue.definitions)
    try:
        diagrams = catalogue_diagrams(catalogue.definitions, catalogue.root, catalogue.organisation, fmt,
                                      jobs=jobs)
    except QuytrinhError as exc:
        print(f"quytrinh render: {cli_error_text(exc)}", file=err)
        return 1

    expected = None
    if _covers_root(paths, catalogue.root):
        expected = [diagram_path(f, catalogue.root, fmt) for f in catalogue.files]
    if check:
        problems = out_of_date(diagrams, out, expected)
        for reason, rel in problems:
            label, hint = CHECK_LABELS[reason]
            print(f"{label}: {out / rel} ({hint})", file=err)
        if problems:
            print(f"{len(problems)} sơ đồ trong {out}/ chưa cập nhật; "
                  f"hãy chạy `{_fix_command(paths, out, fmt)}`", file=err)
            return 1
        print(f"Cả {len(diagrams)} sơ đồ trong {out}/ đều đã cập nhật.")
        return 1 if catalogue.problems else 0

    written = 0
    for rel, data in diagrams.items():
        file = out / rel
        if file.is_file() and file.read_bytes() == data:
            continue
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{file.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, file)
        written += 1
    print(f"Đã vẽ {len(diagrams)} sơ đồ vào {out}/ ({written} tệp ghi mới, {len(diagrams) - written} không đổi).")
    if expected is not None:
        for reason, rel in out_of_date(diagrams, out, expected):
            if reason == "orphan":
                print(f"lưu ý: {out / rel} không còn quy trình nào; hãy xóa tệp này", file=err)
    if catalogue.problems:
        print(f"quytrinh render: {not_drawn} tệp quy trình chưa vẽ được vì các lỗi ở trên", file=err)
        return 1
    return 0


def _heat_definition(ref: str):  # noqa: ANN202 - (Definition, Organisation)
    """The definition to draw a heatmap of: a definition file, a catalogue code, or a published code."""
    from engine.errors import NotFound
    from quytrinh.commands.simulate import find_definition

    try:
        return find_definition(ref)
    except NotFound:
        pass
    from engine.definition import default_root
    from engine.services import current_definition
    from quytrinh.commands.dossier import open_store

    try:
        return current_definition(open_store(), ref)[1], None  # (lanes: the organisation run_heatmap works with)
    except NotFound:
        raise localized(NotFound(f"Không tìm thấy: thủ tục '{ref}' không có trong danh mục ({default_root()}) "
                                 f"và chưa được đưa vào hệ thống.")) from None


def run_heatmap(ref: str, since_text: str | None, out: Path | None, fmt: str) -> int:
    """Draw the heatmap of procedure ``ref`` measured since ``since_text``; return the exit code.

    Raises
    ------
    QuytrinhError
        Unknown procedure, bad date, database or graphviz failure (one line).
    """
    import datetime as dt

    from engine.calendar import LOCAL_TZ
    from engine.definition import default_root
    from engine.render import render_heatmap
    from engine.reports import step_performance
    from quytrinh.commands.dossier import guarded, open_store

    if since_text is None:
        since = dt.datetime.now(LOCAL_TZ).date() - dt.timedelta(days=90)
    else:
        from quytrinh.commands._common import parse_day

        since = parse_day(since_text, "--since")
    defn, organisation = _heat_definition(ref)
    store = open_store()
    if organisation is None:  # units.yaml's, else (it has problems: said once) the units the database stores
        from engine.organisation import current_organisation

        organisation = current_organisation(store, default_root() / "units.yaml")[0]
    heat = guarded(step_performance)(store, defn.key, since)
    known = defn.steps_by_id()
    dropped = sorted(set(heat) - set(known))
    if dropped:
        print(f"lưu ý: các bước của phiên bản cũ không có trên sơ đồ: {', '.join(dropped)}", file=sys.stderr)
    heat = {k: v for k, v in heat.items() if k in known}
    title = f"Số liệu thực tế từ ngày {since:%d/%m/%Y}: {sum(c.n for c in heat.values())} lượt xử lý đã hoàn thành"
    data = render_heatmap(defn, organisation, heat, fmt, title=title)
    target = out or Path(f"{defn.key}-heatmap.{fmt}")
    if target.is_dir():
        target = target / f"{defn.key}-heatmap.{fmt}"
    try:
        target.write_bytes(data)
    except OSError as exc:
        from quytrinh.commands._common import write_error

        raise write_error(exc, target) from None
    print(f"Đã ghi sơ đồ nhiệt của {defn.key} vào {target} ({len(heat)} bước có số liệu từ ngày "
          f"{since:%d/%m/%Y}).")
    return 0


def register(app: typer.Typer) -> None:
    """Add the ``render`` command to the ``quytrinh`` app."""

    @app.command("render")
    def render_command(
        paths: Optional[List[Path]] = typer.Argument(
            None, help="Tệp hoặc thư mục quy trình (mặc định: danh mục procedures_yaml/); với --heatmap: mã thủ tục."),
        out: Optional[Path] = typer.Option(
            None, "--out", "-o", help="Thư mục ghi sơ đồ (mặc định diagrams/); với --heatmap: tệp kết quả."),
        fmt: Format = typer.Option("svg", "--format", "-f", help="Định dạng sơ đồ."),
        check: bool = typer.Option(False, "--check",
                                   help="Không ghi gì; báo lỗi và liệt kê các sơ đồ chưa cập nhật."),
        jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1,
                                           help="Số sơ đồ vẽ cùng lúc (mặc định: số CPU)."),
        heatmap: bool = typer.Option(False, "--heatmap",
                                     help="Vẽ một quy trình (theo mã) tô màu theo thời gian xử lý thực tế "
                                          "của từng bước."),
        since: Optional[str] = typer.Option(None, "--since",
                                            help="Với --heatmap: tính các việc đã làm từ ngày này "
                                                 "(YYYY-MM-DD; mặc định: 90 ngày trước)."),
    ) -> None:
        """Vẽ sơ đồ mỗi quy trình: làn theo đơn vị, thời gian từng bước, kết quả xử lý, tổng so với thời hạn."""
        if heatmap:
            if not paths or len(paths) != 1 or check:
                raise localized(QuytrinhError("--heatmap vẽ một quy trình: quytrinh render MÃ --heatmap "
                                              "[--since NGÀY]" + (" (không dùng --check)" if check else "")))
            code = run_heatmap(str(paths[0]), since, out, fmt.value)
            if code:
                raise typer.Exit(code)
            return
        if since is not None:
            raise localized(QuytrinhError("--since chỉ dùng cùng --heatmap."))
        missing = next((p for p in paths or [] if not p.exists()), None)
        if missing is not None:  # a typo on the command line, as `validate` and `catalogue` say it (exit 2)
            raise typer.BadParameter(f"Path '{missing}' does not exist.", param_hint="'paths'")
        code = run(paths, out or DEFAULT_OUT, fmt.value, check, jobs)
        if code:
            raise typer.Exit(code)
