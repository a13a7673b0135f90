"""The draft decision drawn in the background after the served app's warm-up (quytrinh.web.app.warm_up_decision),
drawings of the same graph asked for twice at once made once (engine.render._pipe), and the progress lines of
``quytrinh decision`` when it has to draw.

The real ``dot`` runs behind a wrapper put first on the PATH that writes down every layout with the niceness
it ran at, so "drawn", "not drawn again" and "niced" are counted where dot is run. Each test draws into an
on-disk cache folder of its own and starts with this process's memory of drawings emptied."""

from __future__ import annotations

import gc
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.web.conftest import SECRET, set_all_passwords, sign_in

SHIPPED = REPO / "procedures_yaml"
#: Two district procedures (1.001612 split over two pages) and a commune one: a few seconds of drawing.
FILES = {"1.001612": "district", "1.001266": "district", "1.001193": "commune"}


class Dot:
    """A ``dot`` wrapper on the PATH logging each run (its niceness, then its arguments), ``delay`` seconds
    before running the real one."""

    def __init__(self, folder: Path, delay: float = 0.0):
        real = shutil.which("dot")
        assert real, "graphviz is required (make system-deps)"
        self.bin, self.log = folder / "bin", folder / "dot.log"
        self.bin.mkdir(parents=True, exist_ok=True)
        script = self.bin / "dot"
        sleep = f"sleep {delay}\n" if delay else ""
        script.write_text(f'#!/bin/sh\ncase "$1" in -V) exec "{real}" "$@";; esac\n{sleep}'
                          f'echo "$(cut -d" " -f19 /proc/$$/stat) $*" >> "{self.log}"\nexec "{real}" "$@"\n')
        script.chmod(0o755)

    def runs(self) -> list[tuple[int, str]]:
        """(niceness, arguments) of each layout so far."""
        if not self.log.exists():
            return []
        return [(int(line.split(" ", 1)[0]), line.split(" ", 1)[1])
                for line in self.log.read_text().splitlines() if line.strip()]

    def layouts(self) -> int:
        return len(self.runs())


def small_project(folder: Path) -> Path:
    """A project folder whose procedures_yaml holds units.yaml, the templates and :data:`FILES`."""
    root = folder / "procedures_yaml"
    root.mkdir(parents=True)
    shutil.copy(SHIPPED / "units.yaml", root / "units.yaml")
    shutil.copytree(SHIPPED / "templates", root / "templates")
    for code, level in FILES.items():
        src = sorted((SHIPPED / level).glob(f"{code}-*.yaml"))[0]
        (root / level).mkdir(exist_ok=True)
        shutil.copy(src, root / level / src.name)
    return folder


@pytest.fixture
def fresh_drawings(tmp_path, monkeypatch):
    """A counting ``dot`` first on the PATH, an empty on-disk cache of our own, nothing drawn in memory."""
    from engine.documents import clear_plans
    from engine.render import clear_cache

    dot = Dot(tmp_path / "dot", delay=0.2)
    monkeypatch.setenv("PATH", f"{dot.bin}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("QUYTRINH_DIAGRAM_CACHE", str(tmp_path / "diagrams"))
    clear_cache()
    clear_plans()
    yield dot
    clear_cache()
    clear_plans()


def test_the_served_app_draws_the_draft_decision_after_its_warm_up_without_waiting_for_it(
        runtime, tmp_path, monkeypatch, caplog, fresh_drawings):
    from fastapi.testclient import TestClient

    from quytrinh.web.app import create_served_app

    dot = fresh_drawings
    monkeypatch.chdir(small_project(tmp_path / "project"))  # the catalogue is found in the current folder
    monkeypatch.setenv("QUYTRINH_DATABASE_URL", runtime.url)
    monkeypatch.setenv("QUYTRINH_SECRET_KEY", SECRET)
    set_all_passwords(runtime.db)
    with caplog.at_level(logging.INFO, logger="quytrinh.web"):
        started = time.perf_counter()
        app = create_served_app()
        took = time.perf_counter() - started
        thread = app.state.decision_warm_up
        at_start = dot.layouts()  # each layout waits 0.2 s before it starts: none is done when the start ends
        was_drawing = thread.is_alive()
        thread.join(timeout=180)
    gc.unfreeze()
    try:
        assert was_drawing and at_start == 0, (took, at_start)
        assert not thread.is_alive()
        said = [r.getMessage() for r in caplog.records if r.name == "quytrinh.web"]
        order = [next(i for i, m in enumerate(said) if part in m) for part in (
            "published definitions parsed", "the district draft decision drawn (2 procedures)",
            "the commune draft decision drawn (1 procedures)", "pictures of the district draft decision's Word file",
            "pictures of the commune draft decision's Word file")]
        assert order == sorted(order), said
        runs = dot.runs()
        assert sum("-Tsvg" in a for _, a in runs) >= 4 and sum("-Tpng" in a for _, a in runs) >= 4, runs
        assert {n for n, _ in runs} == {os.nice(0) + 10}  # every layout of the warm-up niced
        drawn = len(runs)
        with TestClient(app) as c:
            assert sign_in(c, "ld_pct").status_code == 303
            for level in ("district", "commune"):
                page = c.get(f"/documents/decision?level={level}")
                assert page.status_code == 200 and page.text.count('class="grid annex"') == (2 if level == "district" else 1)
                assert c.get(f"/documents/decision?level={level}&format=docx").content[:2] == b"PK"
        assert dot.layouts() == drawn  # the first views found every drawing ready
    finally:
        app.state.store.dispose()


def test_the_decision_warm_up_can_be_left_out(runtime, tmp_path, monkeypatch, fresh_drawings):
    """QUYTRINH_WARM_DECISION=off (bench/web.py, to measure the staff's pages alone): nothing is drawn."""
    from quytrinh.web.app import create_served_app

    monkeypatch.chdir(small_project(tmp_path / "project"))
    monkeypatch.setenv("QUYTRINH_DATABASE_URL", runtime.url)
    monkeypatch.setenv("QUYTRINH_SECRET_KEY", SECRET)
    monkeypatch.setenv("QUYTRINH_WARM_DECISION", "off")
    app = create_served_app()
    gc.unfreeze()
    try:
        time.sleep(1)
        assert getattr(app.state, "decision_warm_up", None) is None
        assert fresh_drawings.layouts() == 0
    finally:
        app.state.store.dispose()


def test_a_drawing_asked_for_twice_at_once_is_made_once(tmp_path, monkeypatch, fresh_drawings):
    """Two draft decisions drawn at once (a leader's request during the warm-up, two leaders) run ``dot`` as
    often as one does: the second waits for the drawings under way instead of making them again."""
    from engine.definition import load_catalogue
    from engine.documents import clear_plans, render_decision
    from engine.render import clear_cache

    dot = fresh_drawings
    cat = load_catalogue([small_project(tmp_path / "project") / "procedures_yaml"])
    alone = render_decision(cat, level="district", fmt="html")
    once = dot.layouts()
    assert once >= 4  # 1.001612 whole, its two pages, 1.001266

    monkeypatch.setenv("QUYTRINH_DIAGRAM_CACHE", str(tmp_path / "diagrams-2"))
    clear_cache()
    clear_plans()
    gate, out = threading.Barrier(2), []

    def draw() -> None:
        gate.wait()
        out.append(render_decision(cat, level="district", fmt="html"))

    threads = [threading.Thread(target=draw) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert out == [alone, alone]
    assert dot.layouts() == 2 * once  # once more for both, not twice more


def _decision(project: Path, dot: Dot, cache: Path, out: Path) -> subprocess.CompletedProcess:
    command = Path(sys.executable).parent / "quytrinh"
    args = [str(command)] if command.exists() else [sys.executable, "-m", "quytrinh.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUYTRINH_")}
    env.update(PATH=f"{dot.bin}{os.pathsep}{os.environ['PATH']}", QUYTRINH_DIAGRAM_CACHE=str(cache))
    return subprocess.run([*args, "decision", "--level", "district", "--format", "html", "--out", str(out)],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


def test_the_cli_says_it_is_drawing_when_the_diagrams_are_not_drawn_yet(tmp_path):
    project, dot, cache = small_project(tmp_path / "project"), Dot(tmp_path / "dot"), tmp_path / "diagrams"
    first = _decision(project, dot, cache, tmp_path / "1.html")
    assert first.returncode == 0, first.stderr
    lines = first.stderr.splitlines()
    assert lines[0] == "Đang vẽ 2 sơ đồ (lần đầu có thể mất vài giây; các lần sau dùng bản vẽ đã lưu)…", lines
    assert lines[1].startswith(f"Đã vẽ 2 sơ đồ và ghi {tmp_path / '1.html'} sau ") and lines[1].endswith(" giây.")
    assert first.stdout == f"{tmp_path / '1.html'}: dự thảo quyết định, 2 quy trình\n"  # stdout as before
    drawn = dot.layouts()
    assert drawn >= 4

    again = _decision(project, dot, cache, tmp_path / "2.html")  # every diagram on disk: nothing to announce
    assert again.returncode == 0, again.stderr
    assert "Đang vẽ" not in again.stderr and "Đã vẽ" not in again.stderr, again.stderr
    assert again.stdout == f"{tmp_path / '2.html'}: dự thảo quyết định, 2 quy trình\n"
    assert dot.layouts() == drawn
