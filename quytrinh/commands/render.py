"""`quytrinh render`: draw the catalogue's diagrams (one per procedure).

Diagrams go under ``--out`` (default ``diagrams/``) mirroring the catalogue's
subfolders: ``procedures_yaml/district/x.yaml`` -> ``diagrams/district/x.svg``.
A definition file that cannot be loaded is reported with its located errors
and not drawn; the others are still drawn, and the exit code is 1.
``--check`` writes nothing and fails when a diagram under ``--out`` differs
from what would be drawn (how CI and the tests keep ``diagrams/`` current).
"""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from engine.definition import default_root, load_catalogue
from engine.errors import QuytrinhError
from engine.render import FORMATS, catalogue_diagrams, diagram_path, out_of_date

DEFAULT_OUT = Path("diagrams")

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
    err = sys.stderr
    catalogue = load_catalogue(paths or None)
    for problem in catalogue.problems:
        print(problem, file=err)
    if catalogue.organisation is None:
        if not catalogue.problems:
            where = ", ".join(str(p) for p in paths) if paths else str(default_root())
            print(f"quytrinh render: no units.yaml in or above {where}; the lanes are named from it",
                  file=err)
        print("quytrinh render: nothing drawn (the units could not be loaded)", file=err)
        return 1
    not_drawn = len(catalogue.files) - len(catalogue.definitions)
    try:
        diagrams = catalogue_diagrams(catalogue.definitions, catalogue.root, catalogue.organisation, fmt,
                                      jobs=jobs)
    except QuytrinhError as exc:
        print(f"quytrinh render: {exc}", file=err)
        return 1

    expected = None
    if _covers_root(paths, catalogue.root):
        expected = [diagram_path(f, catalogue.root, fmt) for f in catalogue.files]
    if check:
        problems = out_of_date(diagrams, out, expected)
        for reason, rel in problems:
            hint = {"stale": "differs from its definition", "missing": "not drawn yet",
                    "orphan": "no definition draws it any more; delete it"}[reason]
            print(f"{reason}: {out / rel} ({hint})", file=err)
        if problems:
            print(f"{len(problems)} diagram(s) under {out}/ out of date; "
                  f"run `{_fix_command(paths, out, fmt)}`", file=err)
            return 1
        print(f"All {len(diagrams)} diagrams under {out}/ are up to date.")
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
    print(f"Rendered {len(diagrams)} diagrams into {out}/ "
          f"({written} written, {len(diagrams) - written} unchanged).")
    if expected is not None:
        for reason, rel in out_of_date(diagrams, out, expected):
            if reason == "orphan":
                print(f"note: {out / rel} has no definition any more; delete it", file=err)
    if catalogue.problems:
        print(f"quytrinh render: {not_drawn} definition file(s) not drawn because of the errors above",
              file=err)
        return 1
    return 0


def register(app: typer.Typer) -> None:
    """Add the ``render`` command to the ``quytrinh`` app."""

    @app.command("render")
    def render_command(
        paths: Optional[List[Path]] = typer.Argument(
            None, help="Definition files or folders (default: the catalogue, procedures_yaml/)."),
        out: Path = typer.Option(DEFAULT_OUT, "--out", "-o", help="Folder the diagrams are written to."),
        fmt: Format = typer.Option("svg", "--format", "-f", help="Diagram format."),
        check: bool = typer.Option(False, "--check",
                                   help="Write nothing; fail and list the diagrams that are out of date."),
        jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1,
                                           help="Diagrams drawn at once (default: the number of CPUs)."),
    ) -> None:
        """Draw one diagram per procedure: swimlanes per unit, durations, outcomes, limits."""
        code = run(paths, out, fmt.value, check, jobs)
        if code:
            raise typer.Exit(code)
