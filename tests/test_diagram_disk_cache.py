"""The on-disk cache of graphviz's output (engine.render.DiskCache), checked across real processes.

Each test runs the real ``dot`` behind a wrapper put first on the PATH that writes down every run, so "drawn
without running dot" is counted where dot is run, not in our code: a second process gets the same bytes from
the folder, a damaged entry is drawn again, another graphviz version draws again, the folder stays within its
bound, and a folder that cannot be used only costs the drawing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.render import _DISK_MAGIC, DiskCache

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "procedures_yaml"
#: A one-page procedure, a split one (drawn whole, then in two pages) and the one drawing every feature.
CODES = ("1.001193", "1.001612", "1.013225")

#: Draws CODES in SVG and PNG (the web app's and the Word file's formats) with engine.render.render and writes
#: them to the folder argv[1].
DRAW = """
import sys
from pathlib import Path
from engine.definition import load_catalogue
from engine.render import render
cat = load_catalogue([sys.argv[2]])
for code in sys.argv[3].split(","):
    d = cat.find(code)
    for fmt in ("svg", "png"):
        (Path(sys.argv[1]) / f"{code}.{fmt}").write_bytes(render(d, cat.organisation, fmt))
"""


class Dot:
    """A ``dot`` wrapper on the PATH that logs each run (its arguments, one line) and runs the real one;
    ``version`` makes ``dot -V`` report another graphviz."""

    def __init__(self, folder: Path, version: str | None = None):
        real = shutil.which("dot")
        assert real, "graphviz is required (make system-deps)"
        self.bin, self.log = folder / "bin", folder / "dot.log"
        self.bin.mkdir(parents=True, exist_ok=True)
        fake = (f'case "$1" in -V) echo "dot - graphviz version {version} (0)" >&2; exit 0;; esac\n'
                if version else "")
        script = self.bin / "dot"
        script.write_text(f'#!/bin/sh\necho "$*" >> "{self.log}"\n{fake}exec "{real}" "$@"\n')
        script.chmod(0o755)

    def layouts(self) -> int:
        """The graphs laid out so far (``dot -V`` runs not counted)."""
        if not self.log.exists():
            return 0
        return sum("-T" in line for line in self.log.read_text().splitlines())

    def env(self, cache: Path | str, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUYTRINH_")}
        env.update(PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}", QUYTRINH_DIAGRAM_CACHE=str(cache),
                   PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), **more)
        return env


def draw(dot: Dot, cache: Path | str, out: Path, codes=CODES, **env: str) -> dict[str, bytes]:
    """Draw ``codes`` in a new Python process; returns the files it wrote."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", DRAW, str(out), str(SHIPPED), ",".join(codes)],
                          env=dot.env(cache, **env), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.glob("??/*") if not p.name.startswith("."))


def test_a_second_process_gets_the_same_bytes_without_running_dot(tmp_path):
    dot, cache = Dot(tmp_path), tmp_path / "cache"
    first = draw(dot, cache, tmp_path / "first")
    drawn = dot.layouts()
    assert drawn == 2 * len(CODES) and len(entries(cache)) == drawn  # one entry per drawing
    second = draw(dot, cache, tmp_path / "second")
    assert second == first and dot.layouts() == drawn  # read back: no dot run
    # Another graphviz version lays out again (its output may differ), next to the first one's entries.
    other = Dot(tmp_path / "other", version="9.9.9")
    assert draw(other, cache, tmp_path / "third") == first and other.layouts() == drawn
    assert len(entries(cache)) == 2 * drawn


def test_the_draft_decision_from_the_cli_is_the_same_file_without_running_dot(tmp_path):
    dot, cache = Dot(tmp_path), tmp_path / "cache"
    command = Path(sys.executable).parent / "quytrinh"
    args = [str(command) if command.exists() else sys.executable, *([] if command.exists() else ["-m", "quytrinh.cli"]),
            "decision", "--level", "district", "--codes", "1.001612", "--format", "html", "--catalogue", str(SHIPPED)]
    project = tmp_path / "project"  # a project folder with no database: the decision is drafted from the files
    project.mkdir()
    (project / "procedures_yaml").symlink_to(SHIPPED, target_is_directory=True)
    files = []
    for run in (1, 2):
        out = tmp_path / f"du-thao-{run}.html"
        proc = subprocess.run([*args, "--out", str(out)], env=dot.env(cache), cwd=project,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        files.append(out.read_bytes())
        if run == 1:
            drawn = dot.layouts()
            assert drawn == 3  # whole (too small on one page), then its two pages
    assert files[1] == files[0] and dot.layouts() == drawn
    assert b"trang 2/2" in files[0]


def test_a_damaged_entry_is_drawn_again(tmp_path):
    dot, cache = Dot(tmp_path), tmp_path / "cache"
    first = draw(dot, cache, tmp_path / "first")
    drawn = dot.layouts()
    found = entries(cache)
    cut, flipped, garbage = found[0], found[1], found[2]
    cut.write_bytes(cut.read_bytes()[:-100])  # a write cut short
    data = bytearray(flipped.read_bytes())
    data[-1] ^= 0xFF  # one byte changed
    flipped.write_bytes(bytes(data))
    garbage.write_bytes(b"<svg>not what dot printed</svg>")  # another program's file
    assert draw(dot, cache, tmp_path / "second") == first and dot.layouts() == drawn + 3
    assert all(p.read_bytes().startswith(_DISK_MAGIC) for p in (cut, flipped, garbage))  # written again
    assert draw(dot, cache, tmp_path / "third") == first and dot.layouts() == drawn + 3


def test_processes_drawing_at_once_share_the_folder(tmp_path):
    dot, cache = Dot(tmp_path), tmp_path / "cache"
    reference = draw(Dot(tmp_path / "alone"), tmp_path / "alone-cache", tmp_path / "reference")
    procs = [subprocess.Popen([sys.executable, "-c", DRAW, str(out), str(SHIPPED), ",".join(CODES)],
                              env=dot.env(cache), stderr=subprocess.PIPE)
             for out in (tmp_path / "a", tmp_path / "b", tmp_path / "c") if not out.mkdir()]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    for name in ("a", "b", "c"):
        assert {p.name: p.read_bytes() for p in (tmp_path / name).iterdir()} == reference
    assert len(entries(cache)) == 2 * len(CODES)
    assert not [p for p in cache.glob("??/.*")]  # no temporary file left
    disk = DiskCache(cache, 1 << 30)
    assert all(disk.get(p.stem, p.suffix[1:]) is not None for p in entries(cache))


def test_a_folder_that_cannot_be_used_or_off_only_costs_the_drawing(tmp_path):
    dot = Dot(tmp_path)
    reference = draw(dot, "off", tmp_path / "off")
    assert dot.layouts() == 2 * len(CODES)
    assert draw(dot, "off", tmp_path / "off-again") == reference and dot.layouts() == 4 * len(CODES)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert draw(dot, blocked, tmp_path / "blocked") == reference and dot.layouts() == 6 * len(CODES)
    assert blocked.read_text() == "not a folder"
    assert draw(dot, tmp_path / "zero", tmp_path / "zero", QUYTRINH_DIAGRAM_CACHE_MB="0") == reference
    assert not (tmp_path / "zero").joinpath("ab").exists() and dot.layouts() == 8 * len(CODES)


def test_the_folder_stays_within_its_bound_the_entries_used_longest_ago_going_first(tmp_path):
    cache = DiskCache(tmp_path / "cache", 100_000)
    blob = 10_000 - len(_DISK_MAGIC) - 32  # 10 000 bytes on disk
    keys = [f"{i:064x}" for i in range(20)]
    for i, key in enumerate(keys[:9]):
        cache.put(key, "svg", bytes([i]) * blob)
    old = time.time() - 1000
    for i, p in enumerate(entries(tmp_path / "cache")):  # used 1000 s ago, keys[0] first
        os.utime(p, (old + i, old + i))
    assert cache.get(keys[0], "svg") == bytes([0]) * blob  # read now: used last
    for i, key in enumerate(keys[9:12], 9):  # over the bound at the 11th: down to three quarters
        cache.put(key, "svg", bytes([i]) * blob)
        assert sum(p.stat().st_size for p in entries(tmp_path / "cache")) <= 100_000
    kept = {p.stem for p in entries(tmp_path / "cache")}
    assert kept == {keys[0], *keys[5:12]}  # the oldest unread went first; the one read again stays
    for i, key in enumerate(keys[12:], 12):
        cache.put(key, "svg", bytes([i]) * blob)
        assert sum(p.stat().st_size for p in entries(tmp_path / "cache")) <= 100_000
    assert keys[-1] in {p.stem for p in entries(tmp_path / "cache")}
    cache.put("f" * 64, "png", b"x" * 100_001)  # larger than the whole bound: not kept
    assert cache.get("f" * 64, "png") is None
    # A second process's view: the bound holds with its writes too (it looks at the folder first).
    other = DiskCache(tmp_path / "cache", 100_000)
    for i in range(30, 40):
        other.put(f"{i:064x}", "svg", b"y" * blob)
    assert sum(p.stat().st_size for p in entries(tmp_path / "cache")) <= 100_000
    cache.clear()
    assert entries(tmp_path / "cache") == []


def test_the_bound_from_the_environment_holds_across_processes(tmp_path):
    dot, cache = Dot(tmp_path), tmp_path / "cache"
    bound = 0.15  # MB: a few SVGs, not the PNGs of the larger processes
    for run in range(2):
        draw(dot, cache, tmp_path / f"run{run}", QUYTRINH_DIAGRAM_CACHE_MB=str(bound))
        total = sum(p.stat().st_size for p in entries(cache))
        assert 0 < total <= bound * 1024 * 1024
