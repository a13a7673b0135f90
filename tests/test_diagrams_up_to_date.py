"""The committed diagrams/ match the catalogue (issue 5).

Every definition under procedures_yaml/ is drawn in memory and compared with
its file under diagrams/ (same relative path, .svg). When this fails, run
`quytrinh render` from the repository root and commit diagrams/.
"""

from __future__ import annotations

from pathlib import Path

from engine.definition import load_catalogue
from engine.render import catalogue_diagrams, diagram_path, out_of_date

ROOT = Path(__file__).resolve().parent.parent


def test_committed_diagrams_match_the_catalogue():
    catalogue = load_catalogue([ROOT / "procedures_yaml"])
    assert not catalogue.problems, (
        "some definitions cannot be loaded, so their diagrams cannot be checked:\n"
        + "\n".join(str(p) for p in catalogue.problems))
    assert catalogue.definitions, "the catalogue has no definitions"
    diagrams = catalogue_diagrams(catalogue.definitions, catalogue.root, catalogue.organisation)
    expected = [diagram_path(f, catalogue.root) for f in catalogue.files]
    problems = out_of_date(diagrams, ROOT / "diagrams", expected)
    assert not problems, (
        "diagrams/ is out of date with procedures_yaml/:\n"
        + "\n".join(f"  {reason}: diagrams/{rel.as_posix()}" for reason, rel in problems)
        + "\nRun `quytrinh render` from the repository root (delete the orphans) and commit diagrams/.")
