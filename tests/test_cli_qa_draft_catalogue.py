"""scripts/draft_catalogue.py --force rewrites the shipped files under their names, never a second file beside them.

The script writes next to itself (``<its folder>/../procedures_yaml``), so each test runs a copy of it in a
temporary tree holding a copy of the shipped catalogue: the real script, the real catalogue, nothing of the
checkout touched.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "draft_catalogue.py", root / "scripts" / "draft_catalogue.py")
    shutil.copytree(ROOT / "procedures_yaml", root / "procedures_yaml")
    return root


def _files(root: Path) -> dict[str, str]:
    """Every definition file of the copy's catalogue, by path, with a digest of its bytes."""
    out = {}
    for level in ("district", "commune"):
        for p in sorted((root / "procedures_yaml" / level).glob("*.yaml")):
            out[f"{level}/{p.name}"] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _run(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(root / "scripts" / "draft_catalogue.py"), *args], cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_force_rewrites_the_shipped_files_and_adds_none(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    before = _files(root)
    res = _run(root, "--force")
    assert res.returncode == 0, res.stdout + res.stderr
    after = _files(root)
    # the same files, no duplicate under an old long name (the 14 procedures without a code were written
    # as e.g. thanh-lap-truong-trung-hoc-co-so-cong-lap-hoac.yaml next to thanh-lap-truong-thcs.yaml)
    assert sorted(after) == sorted(before), sorted(set(after) ^ set(before))
    assert "88 written" in res.stdout
    # the procedures without a code were regenerated in place: their texts are the drafted ones, unchanged
    for name in ("thanh-lap-truong-thcs.yaml", "tang-giay-khen-chu-tich-ubnd-cap-huyen.yaml",
                 "dieu-chinh-thoi-huong-tro-cap-xa-hoi-hang-thang.yaml"):
        assert after[f"district/{name}"] == before[f"district/{name}"]


def test_a_renamed_file_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    district = root / "procedures_yaml" / "district"
    (district / "thanh-lap-truong-thcs.yaml").rename(district / "thanh-lap-truong-thcs-cong-lap.yaml")
    coded = next(district.glob("1.013949-*.yaml"))
    coded.rename(district / "1.013949-giao-dat.yaml")
    # a hand edit the refused run must keep
    other = district / "cap-lai-giay-phep-ban-le-ruou.yaml"
    other.write_text(other.read_text(encoding="utf-8") + "# sửa tay\n", encoding="utf-8")
    before = _files(root)
    res = _run(root, "--force")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "procedures_yaml/district/thanh-lap-truong-thcs-cong-lap.yaml: already holds" in res.stderr
    assert "procedures_yaml/district/1.013949-giao-dat.yaml: already holds '1.013949'" in res.stderr
    assert "nothing written: 2 procedure(s)" in res.stderr
    assert _files(root) == before
