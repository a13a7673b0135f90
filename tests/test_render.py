"""Diagrams: engine.render and `quytrinh render`, checked on real graphviz output.

Each SVG is parsed with xml.etree and read the way a person reads the
picture: lanes and their names, the text in each step's box, the labels on
the edges, the header, and the looks that tell step kinds apart.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from engine.definition import (
    STATUS_LABELS,
    Definition,
    Route,
    definition_to_data,
    format_minutes,
    load_catalogue,
)
from engine.graph import critical_path
from engine.render import (
    CITIZEN_LANE,
    HIGHLIGHT_STYLES,
    NO_UNIT_LANE,
    RenderError,
    diagram_path,
    lane_order,
    render,
    render_svg,
    total_text,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "procedures_yaml"
#: The three example definitions that exercise every drawing feature, with the
#: shipped units and templates (the whole catalogue is checked, faster, by
#: tests/test_diagrams_up_to_date.py).
EXAMPLES = (
    "commune/1.001193-dang-ky-khai-sinh.yaml",
    "district/1.001612-dang-ky-thanh-lap-ho-kinh-doanh.yaml",
    "district/1.013225-cap-giay-phep-xay-dung-moi-cong-trinh-cap-iii-iv.yaml",
)


def _small_catalogue() -> Path:
    root = Path(tempfile.mkdtemp(prefix="quytrinh-render-")) / "procedures_yaml"
    shutil.copytree(SHIPPED / "templates", root / "templates")
    shutil.copy(SHIPPED / "units.yaml", root / "units.yaml")
    for rel in EXAMPLES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHIPPED / rel, root / rel)
    atexit.register(shutil.rmtree, root.parent, ignore_errors=True)
    return root


CATALOGUE = _small_catalogue()
SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def catalogue():
    cat = load_catalogue([CATALOGUE])
    assert not cat.problems, "\n".join(map(str, cat.problems))
    assert cat.definitions
    return cat


@pytest.fixture(scope="module")
def svgs(catalogue):
    """Each shipped definition's SVG, parsed (rendered once for the module)."""
    return {d.key: ET.fromstring(render_svg(d, catalogue.organisation)) for d in catalogue.definitions}


def _groups(root: ET.Element, cls: str) -> dict[str, ET.Element]:
    """The <g class=cls> elements of an SVG keyed by their <title> (graphviz's name)."""
    return {g.find(f"{SVG}title").text: g for g in root.iter(f"{SVG}g") if g.get("class") == cls}


def _text(g: ET.Element) -> str:
    """All text drawn in a group, lines joined by spaces."""
    return " ".join(" ".join((t.text or "").split()) for t in g.iter(f"{SVG}text"))


def _norm(text: str) -> str:
    return " ".join(text.split())


def _shapes(g: ET.Element) -> list[ET.Element]:
    return [e for e in g if e.tag in (f"{SVG}path", f"{SVG}polygon", f"{SVG}ellipse")]


def _bbox(shape: ET.Element) -> tuple[float, float, float, float]:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", shape.get("d") or shape.get("points"))]
    xs, ys = numbers[0::2], numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def _header(root: ET.Element) -> str:
    """The text drawn directly on the graph (not in a lane, box or edge)."""
    graph = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "graph")
    return " ".join(_norm(t.text or "") for t in graph.findall(f"{SVG}text"))


def _shipped(catalogue, code: str) -> Definition:
    d = catalogue.find(code)
    assert d is not None, f"the example {code} is no longer shipped"
    return d


def _run(*args: str):
    """Run `quytrinh render ARGS` through the app as quytrinh.cli assembles it."""
    from quytrinh.cli import app

    argv = list(args)
    if getattr(typer.main.get_command(app), "commands", None) is not None:
        argv.insert(0, "render")  # several commands: name ours (one alone is run bare)
    return CliRunner().invoke(app, argv)


# --------------------------------------------------------------------------- the picture


def test_one_lane_per_unit_named_from_units_yaml(catalogue, svgs):
    units = catalogue.organisation.units
    for d in catalogue.definitions:
        lanes = _groups(svgs[d.key], "cluster")
        labels = sorted(_text(g) for g in lanes.values())
        expected = {units[s.unit].name for s in d.steps if not s.paused}
        if any(s.paused for s in d.steps):
            expected.add(CITIZEN_LANE)
        assert labels == sorted(expected), d.key


def test_every_step_is_drawn_inside_its_own_lane(catalogue, svgs):
    units = catalogue.organisation.units
    for d in catalogue.definitions:
        lanes = {_text(g): _bbox(_shapes(g)[0]) for g in _groups(svgs[d.key], "cluster").values()}
        nodes = _groups(svgs[d.key], "node")
        for s in d.steps:
            lane = CITIZEN_LANE if s.paused else units[s.unit].name
            x0, y0, x1, y1 = _bbox(_shapes(nodes[s.id])[0])
            lx0, ly0, lx1, ly1 = lanes[lane]
            assert lx0 <= x0 and x1 <= lx1 and ly0 <= y0 and y1 <= ly1, (d.key, s.id, lane)


def test_lanes_come_in_the_order_units_first_appear(catalogue, svgs):
    d = _shipped(catalogue, "1.001193")
    assert lane_order(d) == ["xa_mot_cua", "xa_tu_phap", "_citizen", "xa_lanh_dao"]
    titles = list(_groups(svgs[d.key], "cluster"))
    assert titles == ["cluster_00_xa_mot_cua", "cluster_01_xa_tu_phap", "cluster_02_citizen",
                      "cluster_03_xa_lanh_dao"]


def test_every_step_box_shows_its_name_and_working_time(catalogue, svgs):
    for d in catalogue.definitions:
        nodes = _groups(svgs[d.key], "node")
        for s in d.steps:
            text = _text(nodes[s.id])
            assert _norm(s.name) in text, (d.key, s.id, text)
            if not s.paused:
                assert format_minutes(s.duration) in text, (d.key, s.id, text)
    # a concrete value, so format_minutes itself is pinned too
    receive = _text(_groups(svgs["1.001612"], "node")["receive"])
    assert "2 giờ" in receive and "Công chức tiếp nhận và trả kết quả" in receive


def test_edges_carry_the_outcome_labels(catalogue, svgs):
    for d in catalogue.definitions:
        edges = _groups(svgs[d.key], "edge")
        for s in d.steps:
            for r in s.routes:
                if r.parallel:
                    split = edges[f"{s.id}->_fork_{s.id}_{r.outcome}"]
                    assert r.display in _text(split)
                    for t in r.targets:
                        assert f"_fork_{s.id}_{r.outcome}->{t}" in edges
                    continue
                edge = edges[f"{s.id}->{r.targets[0]}"]
                assert r.display in _text(edge), (d.key, s.id, r.outcome)
    accept = _text(_groups(svgs["1.001193"], "edge")["receive->verify"])
    assert accept == "Tiếp nhận"


def test_bounded_rework_edges_are_dashed_with_their_bound(catalogue, svgs):
    d = _shipped(catalogue, "1.001193")
    edge = _groups(svgs[d.key], "edge")["sign->verify"]
    assert "Không phê duyệt (tối đa 1 lần)" == _text(edge)
    assert _shapes(edge)[0].get("stroke-dasharray")
    plain = _groups(svgs[d.key], "edge")["verify->sign"]
    assert not _shapes(plain)[0].get("stroke-dasharray")


def test_header_gives_code_name_version_status_and_time_against_limit(catalogue, svgs):
    for d in catalogue.definitions:
        header = _header(svgs[d.key])
        assert d.code in header
        assert _norm(d.name) in header
        assert f"Phiên bản {d.version}" in header
        assert STATUS_LABELS[d.status] in header
        total = total_text(critical_path(d).minutes, d.time_limit)
        assert f"tổng {total} / thời hạn {d.time_limit.describe()}" in header, header
    assert "tổng 3 ngày làm việc / thời hạn 3 ngày làm việc" in _header(svgs["1.001612"])
    # Against a limit in days the total is in days too, as the annex writes it (not "18 giờ").
    assert total_text(1080, _shipped(catalogue, "1.001612").time_limit) == "2,25 ngày làm việc"
    same_day = _header(svgs["1.001193"])
    assert "thời hạn trong ngày (nhận sau 15:00 trả trong ngày làm việc tiếp theo)" in same_day
    assert "Dự thảo" in same_day


def test_citizen_steps_are_dashed_grey_and_say_the_clock_is_paused(catalogue, svgs):
    for d in catalogue.definitions:
        nodes = _groups(svgs[d.key], "node")
        for s in d.steps:
            box = _shapes(nodes[s.id])[0]
            if s.paused:
                assert box.get("stroke-dasharray"), (d.key, s.id)
                assert box.get("fill") == "#eeeeee"
                assert "tạm dừng tính thời gian" in _text(nodes[s.id])
            elif s.kind != "automated":
                assert not box.get("stroke-dasharray"), (d.key, s.id)
                assert "tạm dừng tính thời gian" not in _text(nodes[s.id])


def test_sign_result_and_refusal_steps_look_different(catalogue, svgs):
    nodes = _groups(svgs["1.001193"], "node")
    sign, result, refusal, plain = (nodes[i] for i in ("sign", "deliver", "refuse", "verify"))
    assert len(_shapes(sign)) == 2  # a double border
    assert "Ký duyệt" in _text(sign)
    assert "Kết thúc: trả kết quả" in _text(result)
    assert "Kết thúc: từ chối" in _text(refusal)
    looks = {name: (_shapes(g)[0].get("fill"), _shapes(g)[0].get("stroke"))
             for name, g in (("sign", sign), ("result", result), ("refusal", refusal), ("plain", plain))}
    assert len(set(looks.values())) == 4, looks


def test_parallel_split_and_join_are_visible(catalogue, svgs):
    d = _shipped(catalogue, "1.013225")
    nodes = _groups(svgs[d.key], "node")
    fork = nodes["_fork_appraise_ok"]
    assert "song song" in _text(fork)
    edges = _groups(svgs[d.key], "edge")
    assert "Đạt" in _text(edges["appraise->_fork_appraise_ok"])
    assert {"_fork_appraise_ok->consult_commune", "_fork_appraise_ok->site_check"} <= set(edges)
    assert "chờ đủ các nhánh" in _text(nodes["report"])
    assert "chờ đủ các nhánh" not in _text(nodes["check"])


def test_same_input_gives_byte_identical_output(catalogue):
    again = load_catalogue([CATALOGUE])
    for d in catalogue.definitions:
        first = render_svg(d, catalogue.organisation)
        assert render_svg(d, catalogue.organisation) == first
        assert render_svg(again.find(d.key), again.organisation) == first
        assert b"Generated by graphviz" not in first


def test_the_renderer_leaves_the_definition_as_it_was(catalogue):
    d = _shipped(catalogue, "1.013225")
    before = definition_to_data(d)
    render_svg(d, catalogue.organisation, highlight={"report": "current"})
    assert definition_to_data(d) == before


def test_each_highlight_style_is_drawn_with_its_tag(catalogue):
    d = _shipped(catalogue, "1.001193")
    plain = _groups(ET.fromstring(render_svg(d, catalogue.organisation)), "node")["verify"]
    for style, (tag, attrs, _) in HIGHLIGHT_STYLES.items():
        root = ET.fromstring(render_svg(d, catalogue.organisation, highlight={"verify": style}))
        node = _groups(root, "node")["verify"]
        assert tag in _text(node), style
        assert _shapes(node)[0].get("stroke") == attrs["color"], style
        assert _shapes(node)[0].get("stroke") != _shapes(plain)[0].get("stroke")
        other = _groups(root, "node")["sign"]
        assert tag not in _text(other)


def test_a_bad_highlight_is_refused(catalogue):
    d = _shipped(catalogue, "1.001193")
    with pytest.raises(RenderError, match="no_such_step"):
        render_svg(d, catalogue.organisation, highlight={"no_such_step": "current"})
    with pytest.raises(RenderError, match="blinking"):
        render_svg(d, catalogue.organisation, highlight={"verify": "blinking"})
    with pytest.raises(RenderError, match="gif"):
        render(d, catalogue.organisation, "gif")


def test_without_units_the_lanes_show_unit_ids(catalogue):
    d = _shipped(catalogue, "1.001193")
    root = ET.fromstring(render_svg(d, None))
    labels = {_text(g) for g in _groups(root, "cluster").values()}
    assert labels == {"xa_mot_cua", "xa_tu_phap", "xa_lanh_dao", CITIZEN_LANE}


def test_a_definition_the_linter_would_reject_is_still_drawn(catalogue):
    """Unknown unit, no unit, an unbounded loop, a route to nowhere, markup in a name."""
    d = _shipped(catalogue, "1.001193")
    steps = {s.id: s for s in d.steps}
    steps["verify"] = replace(steps["verify"], unit="phong_khong_co", name="Kiểm tra <hồ sơ> & ghi sổ")
    steps["sign"] = replace(steps["sign"], unit=None, kind="human",
                            routes=(Route("approve", ("deliver",)), Route("reject", ("verify",)),
                                    Route("consult", ("nowhere", "deliver"))))
    odd = replace(d, steps=tuple(steps[s.id] for s in d.steps))
    root = ET.fromstring(render_svg(odd, catalogue.organisation))
    labels = {_text(g) for g in _groups(root, "cluster").values()}
    assert {"phong_khong_co", NO_UNIT_LANE} <= labels
    assert "Kiểm tra <hồ sơ> & ghi sổ" in _text(_groups(root, "node")["verify"])
    assert "tổng – / thời hạn" in _header(root)  # the unbounded loop leaves no critical path
    assert "_fork_sign_consult->deliver" in _groups(root, "edge")


def test_png_and_pdf_are_real_and_stable(catalogue):
    d = _shipped(catalogue, "1.001193")
    png = render(d, catalogue.organisation, "png")
    assert png.startswith(PNG_MAGIC)
    pdf = render(d, catalogue.organisation, "pdf")
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert render(d, catalogue.organisation, "pdf") == pdf  # the creation date is fixed


def test_diagram_path_mirrors_the_catalogue_folders(catalogue):
    d = _shipped(catalogue, "1.001612")
    assert diagram_path(d, catalogue.root) == Path("district/1.001612-dang-ky-thanh-lap-ho-kinh-doanh.svg")
    assert diagram_path(d, "/elsewhere", "pdf") == Path("1.001612-dang-ky-thanh-lap-ho-kinh-doanh.pdf")


# --------------------------------------------------------------------------- the command


def test_cli_writes_one_file_per_definition_and_check_finds_a_stale_one(catalogue, tmp_path):
    out = tmp_path / "diagrams"
    result = _run(str(CATALOGUE), "--out", str(out))
    assert result.exit_code == 0, result.output
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.svg"))
    assert files == sorted(diagram_path(d, catalogue.root).as_posix() for d in catalogue.definitions)
    assert any(f.startswith("district/") for f in files) and any(f.startswith("commune/") for f in files)
    assert f"Đã vẽ {len(files)} sơ đồ vào {out}/" in result.stdout
    for d in catalogue.definitions:
        assert (out / diagram_path(d, catalogue.root)).read_bytes() == render_svg(d, catalogue.organisation)

    assert _run(str(CATALOGUE), "--out", str(out), "--check").exit_code == 0

    stale = out / diagram_path(_shipped(catalogue, "1.001612"), catalogue.root)
    stale.write_bytes(stale.read_bytes().replace("Tiếp nhận".encode(), "Tiep nhan".encode()))
    (out / "commune" / "1.999999-removed.svg").write_text("<svg/>")
    result = _run(str(CATALOGUE), "--out", str(out), "--check")
    assert result.exit_code == 1
    assert f"cũ: {stale} (khác với quy trình hiện tại)" in result.stderr
    assert "thừa:" in result.stderr and "1.999999-removed.svg" in result.stderr
    assert "quytrinh render" in result.stderr
    assert b"Tiep nhan" in stale.read_bytes()  # --check wrote nothing

    result = _run(str(CATALOGUE), "--out", str(out))
    assert result.exit_code == 0
    assert "1 tệp ghi mới" in result.stdout
    assert _run(str(CATALOGUE / "district"), "--out", str(out), "--check").exit_code == 0


@pytest.mark.parametrize("fmt,magic", [("png", PNG_MAGIC), ("pdf", b"%PDF-")])
def test_cli_formats_write_files_with_the_right_magic(tmp_path, fmt, magic):
    result = _run(str(CATALOGUE / "commune"), "--out", str(tmp_path), "--format", fmt)
    assert result.exit_code == 0, result.output
    written = list(tmp_path.rglob(f"*.{fmt}"))
    assert [p.name for p in written] == [f"1.001193-dang-ky-khai-sinh.{fmt}"]
    assert written[0].read_bytes().startswith(magic)


def test_cli_reports_a_broken_definition_and_still_draws_the_others(tmp_path):
    cat = tmp_path / "procedures_yaml"
    shutil.copytree(CATALOGUE, cat)
    broken = cat / "district" / "9.000001-broken.yaml"
    good = (cat / "commune" / "1.001193-dang-ky-khai-sinh.yaml").read_text(encoding="utf-8")
    broken.write_text(good.replace("duration: 45m", "duration: soon").replace('code: "1.001193"',
                                                                              'code: "9.000001"'),
                      encoding="utf-8")
    line = next(i for i, text in enumerate(broken.read_text().splitlines(), 1) if "duration: soon" in text)
    out = tmp_path / "out"
    result = _run(str(cat), "--out", str(out))
    assert result.exit_code == 1
    assert f"9.000001-broken.yaml:{line}:" in result.stderr
    assert "bad-duration" in result.stderr and "bước 'verify'" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (out / "district" / "9.000001-broken.svg").exists()
    drawn = sorted(p.name for p in out.rglob("*.svg"))
    assert len(drawn) == 3 and "1.001193-dang-ky-khai-sinh.svg" in drawn


def test_cli_without_units_yaml_says_so(tmp_path):
    lone = tmp_path / "x.yaml"
    shutil.copy(CATALOGUE / "commune" / "1.001193-dang-ky-khai-sinh.yaml", lone)
    result = _run(str(lone), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "không có units.yaml" in result.stderr
    assert not (tmp_path / "out").exists()


def _size_pt(svg: bytes) -> tuple[float, float]:
    root = ET.fromstring(svg)
    return float(root.get("width").removesuffix("pt")), float(root.get("height").removesuffix("pt"))


def test_top_to_bottom_is_an_option_that_leaves_the_default_as_it_was(catalogue):
    from engine.render import build_digraph, render_many

    d = _shipped(catalogue, "1.013225")
    lr = render_svg(d, catalogue.organisation)
    assert render(d, catalogue.organisation, "svg", direction="LR") == lr  # the default is LR
    tb = render(d, catalogue.organisation, "svg", direction="TB")
    assert "rankdir=TB" in build_digraph(d, catalogue.organisation, direction="TB").source
    (lw, lh), (tw, th) = _size_pt(lr), _size_pt(tb)
    assert lw / lh > 3 and tw / th < 1.5 and tw < lw / 2  # the wide strip becomes a page-shaped drawing
    root = ET.fromstring(tb)  # same content: every step, every lane
    assert set(_groups(root, "node")) >= {s.id for s in d.steps}
    assert render_many([d], catalogue.organisation, "svg", direction="TB", jobs=1) == [tb]
    with pytest.raises(RenderError, match="direction"):
        render(d, catalogue.organisation, "svg", direction="RL")


def _label_boxes(g: ET.Element) -> list[tuple[float, float, float, str]]:
    """(x centre, baseline y, font size, text) of each line drawn on an edge."""
    return [(float(t.get("x")), float(t.get("y")), float(t.get("font-size")), t.text or "")
            for t in g.iter(f"{SVG}text")]


@pytest.fixture(scope="module")
def shipped():
    return load_catalogue([SHIPPED])


# Before, these and 27 more of the 81 district diagrams drew "Yêu cầu bổ sung" over "Đã bổ sung" top to bottom.
@pytest.mark.parametrize("code", ["1.001612", "1.012817", "1.004036", "cho-phep-truong-mam-non-hoat-dong-giao-duc"])
def test_top_to_bottom_keeps_the_labels_of_the_way_to_the_applicant_and_back_apart(shipped, code):
    catalogue = shipped
    d = _shipped(catalogue, code)
    by_id = d.steps_by_id()
    pairs = [(s.id, t.id) for s in d.steps if not s.paused for r in s.routes if not r.parallel
             for t in [by_id.get(r.targets[0])] if t is not None and t.paused
             and any(s.id in r2.targets for r2 in t.routes)]
    assert pairs
    for direction in ("TB", "LR"):
        edges = _groups(ET.fromstring(render(d, catalogue.organisation, "svg", direction=direction,
                                             header=False)), "edge")
        for there, back in pairs:
            out, home = edges[f"{there}->{back}"], edges[f"{back}->{there}"]
            for x1, y1, size1, t1 in _label_boxes(out):
                for x2, y2, size2, t2 in _label_boxes(home):
                    half_widths = (len(t1) * size1 + len(t2) * size2) * 0.6 / 2
                    # apart vertically by more than a line's height, or side by side without touching
                    assert abs(y1 - y2) > max(size1, size2) or abs(x1 - x2) > half_widths, \
                        (direction, there, back, t1, t2, x1, y1, x2, y2)


def test_a_diff_diagram_draws_a_removed_step_with_its_arrows_in_and_out(catalogue):
    from dataclasses import replace

    from engine.approval import diff, merged_for_diff

    old = _shipped(catalogue, "1.001612")
    # The new version drops the head's check: the appraisal goes straight to the signature.
    steps = []
    for s in old.steps:
        if s.id == "check":
            continue
        if s.id == "appraise":
            s = replace(s, routes=tuple(replace(r, targets=("sign",)) if r.outcome == "ok" else r for r in s.routes))
        steps.append(s)
    new = replace(old, steps=tuple(steps))
    d = diff(old, new)
    assert d.removed == ("check",)
    merged = merged_for_diff(old, new, d)
    appraise = merged.step("appraise")
    assert [r.targets for r in appraise.routes if r.outcome == "ok"] == [("sign",), ("check",)]  # new, then old
    assert [r.targets for r in new.step("appraise").routes if r.outcome == "ok"] == [("sign",)]  # input untouched
    root = ET.fromstring(render_svg(merged, catalogue.organisation, highlight=d.highlight()))
    edges = {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"}
    into, out = edges["route-appraise-ok-check"], edges["route-check-ok-sign"]
    for e in (into, out):  # dashed red, as the removed step
        path = e.find(f"{SVG}path")
        assert path.get("stroke") == "#c0392b" and path.get("stroke-dasharray")
    kept = edges["route-appraise-ok-sign"].find(f"{SVG}path")
    assert kept.get("stroke") != "#c0392b" and not kept.get("stroke-dasharray")
    # The header gives the new version's total (2,5 days), not the merged drawing's (check put back: 3).
    assert critical_path(new).minutes == 1200 and critical_path(merged).minutes == 1440
    assert "tổng 3 ngày làm việc" in _header(root)
    fixed = ET.fromstring(render_svg(merged, catalogue.organisation, highlight=d.highlight(), header_from=new))
    assert "tổng 2,5 ngày làm việc / thời hạn 3 ngày làm việc" in _header(fixed)
    # A step that ends the new version gets no route back (it would no longer look like an end).
    last = replace(old, steps=tuple(s for s in old.steps if s.id != "deliver"))
    issue = merged_for_diff(old, replace(last, steps=tuple(
        replace(s, routes=()) if s.id == "issue" else s for s in last.steps))).step("issue")
    assert issue.terminal


def test_the_added_highlight_looks_like_no_other_step():
    from engine.render import _step_attrs

    added = HIGHLIGHT_STYLES["added"][1]
    others = {v[1]["color"] for k, v in HIGHLIGHT_STYLES.items() if k != "added"}
    others |= {v[1]["fillcolor"] for k, v in HIGHLIGHT_STYLES.items() if k != "added"}
    from engine.definition import Step

    for step in (Step("a", "A", ends="result"), Step("b", "B", ends="refusal"), Step("c", "C", kind="sign",
                 routes=(Route("ok", ("a",)),)), Step("d", "D", kind="citizen", routes=(Route("ok", ("a",)),)),
                 Step("e", "E", kind="automated", routes=(Route("ok", ("a",)),))):
        attrs = _step_attrs(step, None)
        others |= {attrs["color"], attrs["fillcolor"]}
    assert added["color"] not in others and added["fillcolor"] not in others


# --------------------------------------------------------------------------- the in-memory cache


def _fresh(d, units, fmt: str, **kw) -> bytes:
    """A diagram drawn the way render does, around both caches (in memory and on disk): by ``dot`` itself."""
    import engine.render as er

    return er._clean(er._run_dot(er.build_digraph(d, units, **kw).source, fmt), fmt)


def test_a_diagram_from_the_cache_is_byte_identical_to_a_fresh_drawing(catalogue, dot_calls):
    import engine.render as er

    org = catalogue.organisation
    fresh = {(d.key, fmt): _fresh(d, org, fmt) for d in catalogue.definitions for fmt in ("svg", "png", "pdf")}
    dot_calls.clear()
    for d in catalogue.definitions:
        for fmt in ("svg", "png", "pdf"):
            assert render(d, org, fmt) == fresh[(d.key, fmt)]  # drawn, then kept
    assert len(dot_calls) == 3 * len(catalogue.definitions)
    dot_calls.clear()
    again = load_catalogue([CATALOGUE])  # the same files loaded again: other objects, the same content
    for d in again.definitions:
        for fmt in ("svg", "png", "pdf"):
            assert render(d, again.organisation, fmt) == fresh[(d.key, fmt)]
    assert dot_calls == []
    tb = er.render_many(catalogue.definitions, org, "svg", direction="TB", header=False)
    assert tb == [_fresh(d, org, "svg", direction="TB", header=False) for d in catalogue.definitions]
    dot_calls.clear()
    assert er.render_many(catalogue.definitions, org, "svg", direction="TB", header=False) == tb
    assert [render(d, org, "svg", direction="TB", header=False) for d in catalogue.definitions] == tb
    assert dot_calls == []


def test_whatever_changes_the_picture_draws_it_again(catalogue, dot_calls, monkeypatch):
    import engine.render as er

    org = catalogue.organisation
    d = _shipped(catalogue, "1.001193")
    render_svg(d, org)
    timed = next(s for s in d.steps if s.duration)
    renamed_unit = {**org.units, "xa_tu_phap": replace(org.units["xa_tu_phap"], name="Công chức Tư pháp mới")}
    changed = [
        lambda: render_svg(replace(d, name=d.name + " (sửa)"), org),
        lambda: render_svg(replace(d, steps=tuple(replace(s, duration=s.duration + 60) if s.id == timed.id else s
                                                  for s in d.steps)), org),
        lambda: render_svg(d, renamed_unit),
        lambda: render_svg(d, None),
        lambda: render_svg(d, org, highlight={"verify": "current"}),
        lambda: render(d, org, "svg", direction="TB"),
        lambda: render(d, org, "svg", header=False),
        lambda: render(d, org, "png"),
    ]
    for i, draw in enumerate(changed):
        before = len(dot_calls)
        draw()
        assert len(dot_calls) == before + 1, f"change {i} came from the cache"
    assert "Công chức Tư pháp mới".encode() in render_svg(d, renamed_unit)
    before = len(dot_calls)
    render_svg(d, org)
    assert len(dot_calls) == before  # the first one is still there
    monkeypatch.setattr(er, "graphviz_version", lambda: "99.0.0")  # another graphviz draws again
    render_svg(d, org)
    assert len(dot_calls) == before + 1
    heat = {}  # a heatmap is measured data: never kept
    er.render_heatmap(d, org, heat)
    er.render_heatmap(d, org, heat)
    assert len(dot_calls) == before + 3


def test_the_cache_is_bounded_in_entries_and_bytes():
    from engine.render import _DiagramCache

    cache = _DiagramCache(2, 100)
    cache.put(("a",), b"1" * 10)
    cache.put(("b",), b"2" * 10)
    assert cache.get(("a",)) == b"1" * 10  # now the most recent
    cache.put(("c",), b"3" * 10)
    assert cache.get(("b",)) is None and cache.get(("a",)) is not None and len(cache) == 2
    cache.put(("d",), b"4" * 95)  # pushes out everything else to stay under 100 bytes
    assert len(cache) == 1 and cache.get(("d",)) is not None
    cache.put(("e",), b"5" * 101)  # larger than the whole cache: not kept
    assert cache.get(("e",)) is None and cache.get(("d",)) is not None


# --------------------------------------------------------------------------- a diagram split over pages


def _by_id(root: ET.Element, cls: str) -> dict[str, ET.Element]:
    """The <g class=cls> elements of an SVG keyed by their id (steps, lanes, routes, connectors)."""
    return {g.get("id"): g for g in root.iter(f"{SVG}g") if g.get("class") == cls and g.get("id")}


def assert_pages_hold_everything(defn: Definition, whole: bytes, pages: list[bytes], parts) -> None:
    """Every step of the whole diagram is drawn on exactly one page, the one its part names, with the same
    text (name, role, working time, tags); every lane, route (with its label), fork and the start on at
    least one; each connector names its step and the page it is on ("trang 2/3")."""
    w = ET.fromstring(whole)
    roots = [ET.fromstring(p) for p in pages]
    w_nodes, w_edges, w_lanes = _by_id(w, "node"), _by_id(w, "edge"), _by_id(w, "cluster")
    steps = {i.removeprefix("step-") for i in w_nodes if i.startswith("step-")}
    assert sorted(s for part in parts for s in part.steps) == sorted(steps)  # each step on one page
    for k, (root, part) in enumerate(zip(roots, parts), 1):
        nodes = _by_id(root, "node")
        drawn = {i.removeprefix("step-") for i in nodes if i.startswith("step-")}
        assert drawn == set(part.steps)
        for sid in drawn:
            assert _text(nodes[f"step-{sid}"]) == _text(w_nodes[f"step-{sid}"]), sid
        where = dict(part.elsewhere)
        for cid, g in nodes.items():
            if cid.startswith("offpage-"):
                sid = cid.removeprefix("offpage-")
                page = next(j for j, p in enumerate(parts, 1) if sid in p.steps)
                assert page != k and f"trang {page}/{len(parts)}" in where[sid]
                assert _text(g) == f"{_norm(defn.step(sid).name)} ↪ {where[sid]}", cid
        for eid, g in _by_id(root, "edge").items():
            # the same label; an arm of a parallel split drawn from its step's connector says so
            assert eid in w_edges and _text(g) in (_text(w_edges[eid]), f"{_text(w_edges[eid])} (song song)",
                                                   _edge_label(defn, eid) + " (song song)"), eid
        for lid, g in _by_id(root, "cluster").items():
            assert _text(g) == _text(w_lanes[lid])
    for cls, found in (("node", w_nodes), ("edge", w_edges), ("cluster", w_lanes)):
        on_pages = set().union(*(_by_id(r, cls) for r in roots))
        assert set(found) <= on_pages, (cls, set(found) - on_pages)


def _edge_label(defn: Definition, edge_id: str) -> str:
    """The outcome's label of a parallel route's arm "route-<step>-<outcome>-<target>" (drawn without a
    label from the fork in the whole diagram)."""
    for s in defn.steps:
        for r in s.routes:
            if edge_id.startswith(f"route-{s.id}-{r.outcome}-"):
                return r.display
    return ""


def test_a_diagram_split_over_pages_loses_no_step_route_or_lane(catalogue):
    from engine.render import DiagramPart, build_digraph, render_many

    org = catalogue.organisation
    d = _shipped(catalogue, "1.013225")
    ids = [s.id for s in d.steps]
    groups = [tuple(ids[:6]), tuple(ids[6:10]), tuple(ids[10:])]
    page_of = {sid: k for k, g in enumerate(groups, 1) for sid in g}
    parts = [DiagramPart(g, tuple((sid, f"trang {page_of[sid]}/3") for sid in ids if sid not in g)) for g in groups]
    whole = render(d, org, "svg", direction="TB", header=False)
    pages = [render(d, org, "svg", direction="TB", header=False, part=p) for p in parts]
    assert_pages_hold_everything(d, whole, pages, parts)
    assert render_many([d] * 3, org, "svg", direction="TB", header=False, parts=parts) == pages
    assert all(p != whole for p in pages) and len(set(pages)) == 3
    # A connector stands in the lane of the step it names, dashed, and reads where that step is.
    source = build_digraph(d, org, direction="TB", header=False, part=parts[0]).source
    assert "↪ trang 2/3" in source and "rounded,dashed,filled" in source
    # A part holding every step draws what the whole draws (no connector).
    every = DiagramPart(tuple(ids))
    assert "offpage-" not in render(d, org, "svg", direction="TB", header=False, part=every).decode()
    with pytest.raises(RenderError, match="'nope'"):
        render(d, org, "svg", part=DiagramPart(("nope",)))
