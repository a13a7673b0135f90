"""`quytrinh validate`: the real console script for a representative subset, typer's
CliRunner (in-process) for the rest; every broken file gives exit 1, its located
message and never a traceback."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.lint import RULES
from quytrinh.cli import app

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
BROKEN = FIXTURES / "broken"
LINT = FIXTURES / "lint"
SCRIPT = Path(sys.executable).parent / "quytrinh"
SUMMARY = re.compile(r"^(\d+) quy trình(?: \((\d+) tệp không nạp được\))?: (\d+) lỗi, (\d+) cảnh báo$")

runner = CliRunner()


def expectation(path: Path) -> tuple[int, int, str]:
    m = re.match(rb"# expect: (\d+):(\d+) (\S+)", path.read_bytes())
    return int(m[1]), int(m[2]), m[3].decode()


def rel(path: Path) -> str:
    return os.path.relpath(path, ROOT)


def run_script(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), "validate", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def invoke(*args: str):
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        return runner.invoke(app, ["validate", *args])
    finally:
        os.chdir(cwd)


def no_traceback(*texts: str) -> bool:
    return not any("Traceback" in t for t in texts)


# --------------------------------------------------------------------------- the real console script


def test_console_script_is_installed():
    assert SCRIPT.is_file(), "run `make setup` (pip install -e .) to install the quytrinh console script"


def test_shipped_catalogue_validates_with_exit_0():
    p = run_script()
    assert p.returncode == 0, p.stdout + p.stderr
    last = p.stdout.strip().splitlines()[-1]
    m = SUMMARY.match(last)
    assert m and int(m[1]) >= 3 and m[3] == "0", last
    assert no_traceback(p.stdout, p.stderr)


@pytest.mark.parametrize("name", ["syntax-unclosed-quote", "billion-laughs", "python-tag", "binary-garbage"])
def test_console_script_on_broken_files(name):
    path = BROKEN / f"{name}.yaml"
    line, col, rule = expectation(path)
    p = run_script(rel(path))
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"{rel(path)}:{line}:{col}: {rule}:" in p.stdout
    assert no_traceback(p.stdout, p.stderr)
    assert SUMMARY.match(p.stdout.strip().splitlines()[-1])


def test_console_script_usage_errors_exit_2():
    def text(stderr: str) -> str:  # the error panel's words, without its frame and line breaks
        return " ".join(re.sub(r"[│╭╮╰╯─]", " ", stderr).split())

    p = run_script("no/such/file.yaml")
    assert p.returncode == 2 and p.stderr == ("quytrinh validate: giá trị không hợp lệ cho 'paths': đường dẫn "
                                              "'no/such/file.yaml' không tồn tại (xem: quytrinh validate --help)\n")
    p = run_script("--no-such-option")
    assert p.returncode == 2
    assert p.stderr == "quytrinh validate: không có tùy chọn --no-such-option (xem: quytrinh validate --help)\n"
    p = run_script("--strct")
    assert p.returncode == 2
    assert "không có tùy chọn --strct (các tùy chọn gần giống: --strict) (xem: quytrinh validate --help)" \
        in text(p.stderr)
    assert no_traceback(p.stdout, p.stderr)


@pytest.mark.parametrize("command", ["validate", "render", "catalogue"])
def test_a_missing_path_is_a_usage_error_of_every_command_that_reads_definitions(command, tmp_path):
    p = subprocess.run([str(SCRIPT), command, "/nonexistent.yaml", *(["--out", str(tmp_path)] if command == "render"
                                                                     else [])],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    said = " ".join(re.sub(r"[│╭╮╰╯─]", " ", p.stderr).split())
    assert p.returncode == 2 and "đường dẫn '/nonexistent.yaml' không tồn tại (xem:" in said, p.stderr
    assert "danh sách đơn vị" not in said and no_traceback(p.stdout, p.stderr)


# --------------------------------------------------------------------------- in process, every broken file


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_validate_every_broken_file(path):
    line, col, rule = expectation(path)
    result = invoke(rel(path))
    assert result.exit_code == 1, result.output
    assert f"{rel(path)}:{line}:{col}: {rule}:" in result.stdout
    assert re.search(rf"^{re.escape(rel(path))}:{line}:{col}: {rule}: .* \[lỗi\]$", result.stdout, re.M)
    assert no_traceback(result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_folder_of_broken_files_is_sorted_and_counted():
    result = invoke(rel(BROKEN))
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    findings, summary = lines[:-1], lines[-1]
    keys = []
    for f in findings:
        m = re.match(r"^(.+?):(\d+):(\d+): ", f)
        keys.append((m[1], int(m[2]), int(m[3])))
    assert keys == sorted(keys)
    files = len(list(BROKEN.glob("*.yaml")))
    m = SUMMARY.match(summary)
    assert m and int(m[1]) == files and int(m[2]) == files - 1  # only dangling-route loads
    assert int(m[3]) == sum(f.endswith("[lỗi]") for f in findings)
    assert int(m[4]) == sum(f.endswith("[cảnh báo]") for f in findings)


# --------------------------------------------------------------------------- options


def test_json_output_matches_the_text_output():
    path = rel(LINT / "unknown-target.fail.yaml")
    text = invoke(path)
    data = json.loads(invoke(path, "--format", "json").stdout)
    assert text.exit_code == 1
    assert [f"{f['file']}:{f['line']}:{f['col']}: {f['rule_id']}:" for f in data["findings"]] == \
        [line.split(" ", 2)[0] + " " + line.split(" ", 2)[1] for line in text.stdout.splitlines()[:-1]]
    s = data["summary"]
    assert (s["definitions"], s["not_loaded"], s["ok"], s["strict"]) == (1, 0, False, False)
    assert s["errors"] == sum(f["severity"] == "error" for f in data["findings"]) >= 1
    assert {"rule_id", "severity", "file", "line", "col", "step", "message"} == set(data["findings"][0])


def test_json_output_of_a_load_error():
    data = json.loads(invoke(rel(BROKEN / "duplicate-key.yaml"), "-f", "json").stdout)
    assert data["summary"] == {"definitions": 1, "not_loaded": 1, "errors": 1, "warnings": 0,
                               "units": "tests/fixtures/units.yaml", "strict": False, "ok": False}
    assert data["findings"][0]["rule_id"] == "yaml-duplicate-key"


def test_rules_lists_every_rule():
    result = invoke("--rules")
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == [r.id for r in RULES]
    assert all(line.split(None, 1)[1].startswith({"error": "lỗi ", "warning": "cảnh báo "}[r.severity])
               for line, r in zip(lines, RULES))
    data = json.loads(invoke("--rules", "--format", "json").stdout)
    assert [d["id"] for d in data] == [r.id for r in RULES]
    assert all(d["description"] for d in data)


def test_strict_turns_warnings_into_failure():
    path = rel(LINT / "code-missing.fail.yaml")
    plain = invoke(path)
    assert plain.exit_code == 0 and "code-missing:" in plain.stdout and "[cảnh báo]" in plain.stdout
    assert plain.stdout.strip().splitlines()[-1] == "1 quy trình: 0 lỗi, 1 cảnh báo"
    assert invoke(path, "--strict").exit_code == 1
    assert invoke(rel(LINT / "base.yaml"), "--strict").exit_code == 0


def test_errors_in_one_file_do_not_hide_the_others():
    result = invoke(rel(BROKEN / "unknown-key-step.yaml"), rel(LINT / "code-missing.fail.yaml"))
    assert result.exit_code == 1
    assert "unknown-key:" in result.stdout and "code-missing:" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "2 quy trình (1 tệp không nạp được): 1 lỗi, 1 cảnh báo"


def test_default_root_comes_from_the_environment(tmp_path):
    shutil.copy(FIXTURES / "units.yaml", tmp_path / "units.yaml")
    (tmp_path / "commune").mkdir()
    shutil.copy(LINT / "base.yaml", tmp_path / "commune" / "a.yaml")
    shutil.copy(LINT / "over-limit.fail.yaml", tmp_path / "commune" / "b.yaml")
    p = run_script(cwd=tmp_path, env={"QUYTRINH_CATALOGUE_DIR": str(tmp_path)})
    assert p.returncode == 1
    assert "commune/b.yaml:" in p.stdout and "over-limit:" in p.stdout
    assert p.stdout.strip().splitlines()[-1] == "2 quy trình: 1 lỗi, 0 cảnh báo"


def test_without_units_the_unit_rules_are_skipped_and_said_so(tmp_path):
    shutil.copy(LINT / "unknown-unit.fail.yaml", tmp_path / "x.yaml")
    result = invoke(str(tmp_path / "x.yaml"))
    assert "unknown-unit:" not in result.stdout
    assert "lưu ý: không có units.yaml trong" in result.stderr and "unknown-unit" in result.stderr
    data = json.loads(invoke(str(tmp_path / "x.yaml"), "-f", "json").stdout)
    assert data["summary"]["units"] is None


def test_an_unexpected_failure_in_one_file_becomes_its_finding(monkeypatch, tmp_path, capsys):
    # fault injection: the loader fails unexpectedly on one file (a bug, not a DefinitionError)
    import engine.definition as definition
    from quytrinh.commands import validate

    real = definition.load_definition

    def failing_on_a(path, templates=None):
        if str(path).endswith("a.yaml"):
            raise RuntimeError("boom")
        return real(path, templates)

    monkeypatch.setattr(definition, "load_definition", failing_on_a)
    shutil.copy(FIXTURES / "units.yaml", tmp_path / "units.yaml")
    shutil.copy(LINT / "base.yaml", tmp_path / "a.yaml")
    shutil.copy(LINT / "code-missing.fail.yaml", tmp_path / "b.yaml")
    assert validate.run([tmp_path]) == 1
    out = capsys.readouterr()
    assert re.search(r"a\.yaml:1:1: internal-error: không tải được tệp do lỗi của chương trình "
                     r"\(RuntimeError: boom\); đây là lỗi của quytrinh", out.out)
    assert "b.yaml:2:1: code-missing:" in out.out
    assert out.out.strip().splitlines()[-1] == "2 quy trình (1 tệp không nạp được): 1 lỗi, 1 cảnh báo"
    assert no_traceback(out.out, out.err)
