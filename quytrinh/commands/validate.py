"""`quytrinh validate`: load and lint definitions, print located findings.

Each finding is one line, ``path:line:col: rule-id: [bước 'x':] message
[lỗi|cảnh báo]`` (:func:`quytrinh.messages.finding_line`), sorted by file and line, then a summary line such as
``3 quy trình: 0 lỗi, 5 cảnh báo``. A file that cannot be loaded is
reported with its load errors (rule ids such as ``yaml-syntax`` or
``unknown-key``) and the others are still checked.

Exit codes: 0 no errors (warnings allowed, unless ``--strict``); 1 errors;
2 usage error (an unknown option, or a path that does not exist — a typo on
the command line is not a finding of any file).
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

if TYPE_CHECKING:  # engine.definition and engine.lint (networkx) are imported where used, not at start-up
    from engine.lint import Finding


class OutputFormat(str, enum.Enum):
    text = "text"
    json = "json"


def summary(findings: list[Finding], definitions: int, not_loaded: int, units: str | None = None) -> dict:
    """Counts of a validation run, as the text and JSON outputs show them."""
    from engine.lint import ERROR, WARNING

    return {
        "definitions": definitions,
        "not_loaded": not_loaded,
        "errors": sum(f.severity == ERROR for f in findings),
        "warnings": sum(f.severity == WARNING for f in findings),
        "units": units,
    }


def summary_line(s: dict) -> str:
    """``91 quy trình: 0 lỗi, 37 cảnh báo`` (with the files not loaded, if any: ``(1 tệp không nạp được)``)."""
    not_loaded = f" ({s['not_loaded']} tệp không nạp được)" if s["not_loaded"] else ""
    return f"{s['definitions']} quy trình{not_loaded}: {s['errors']} lỗi, {s['warnings']} cảnh báo"


def run(paths: list[Path] | None, fmt: str = "text", strict: bool = False) -> int:
    """Validate the definitions under ``paths`` (default: the catalogue); print; return the exit code."""
    from engine.definition import load_catalogue
    from engine.lint import RULES, lint_catalogue

    try:
        catalogue = load_catalogue(paths or None)
        findings = lint_catalogue(catalogue)
        units = catalogue.organisation.source if catalogue.organisation is not None else None
        s = summary(findings, len(catalogue.files), len(catalogue.files) - len(catalogue.definitions), units)
    except Exception as exc:  # never a traceback; load_catalogue/lint already guard each file
        print(f"quytrinh validate: lỗi nội bộ ({type(exc).__name__}: {exc}); hãy báo cho người phát triển",
              file=sys.stderr)
        return 1
    failed = s["errors"] > 0 or (strict and s["warnings"] > 0)
    if units is None and not any(f.file.endswith("units.yaml") for f in findings):
        where = ", ".join(str(p) for p in paths) if paths else "danh mục"
        print(f"quytrinh validate: lưu ý: không có units.yaml trong {where} hay thư mục cha; đã bỏ qua các quy tắc "
              f"cần danh sách đơn vị ({', '.join(r.id for r in RULES if r.needs_units)})", file=sys.stderr)
    if fmt == OutputFormat.json.value:
        print(json.dumps({"findings": [f.to_dict() for f in findings],
                          "summary": {**s, "strict": strict, "ok": not failed}},
                         ensure_ascii=False, indent=2))
    else:
        from quytrinh.messages import finding_line

        for f in findings:
            print(finding_line(f))
        print(summary_line(s))
    return 1 if failed else 0


def rules_listing(fmt: str = "text") -> str:
    """The registered rules: id, severity and description (text table or JSON)."""
    from engine.lint import RULES
    from quytrinh.messages import SEVERITY_VI

    if fmt == OutputFormat.json.value:
        return json.dumps([{"id": r.id, "severity": r.severity, "description": r.description,
                            "needs_units": r.needs_units} for r in RULES], ensure_ascii=False, indent=2)
    width = max(len(r.id) for r in RULES)
    levels = max(len(v) for v in SEVERITY_VI.values())
    return "\n".join(f"{r.id:<{width}}  {SEVERITY_VI.get(r.severity, r.severity):<{levels}}  {r.description}"
                     for r in RULES)


def register(app: typer.Typer) -> None:
    """Add the ``validate`` command to the ``quytrinh`` app."""

    @app.command("validate")
    def validate_command(
        paths: Optional[List[Path]] = typer.Argument(
            None, exists=True,
            help="Tệp hoặc thư mục quy trình (mặc định: danh mục procedures_yaml/)."),
        fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f",
                                         help="text (mỗi phát hiện một dòng) hoặc json."),
        rules: bool = typer.Option(False, "--rules", help="Liệt kê các quy tắc kiểm tra rồi thoát."),
        strict: bool = typer.Option(False, "--strict", help="Coi cảnh báo là lỗi (mã thoát 1)."),
    ) -> None:
        """Kiểm tra quy trình: lỗi cú pháp và các quy tắc, chỉ rõ tệp:dòng:cột."""
        if rules:
            print(rules_listing(fmt.value))
            return
        code = run(paths, fmt.value, strict)
        if code:
            raise typer.Exit(code)
