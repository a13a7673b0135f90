"""`quytrinh task assign --to` repeated with the same key, the officer's name in another case: one request."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.store import Store, dump

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli(db_url, monkeypatch):
    """Run ``quytrinh`` in-process against the test database; returns (exit code, output)."""
    from quytrinh.cli import app

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", db_url)
    monkeypatch.delenv("QUYTRINH_USER", raising=False)
    monkeypatch.chdir(REPO)
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    return invoke


def test_task_assign_repeated_with_the_officer_in_another_case_replays_the_first_result(cli, db_url):
    cli("user", "add", "motcua", "--unit", "bp_mot_cua", "--role", "staff")
    cli("user", "add", "truongphong", "--unit", "phong_tckh", "--role", "head")
    cli("user", "add", "an", "--unit", "phong_tckh", "--role", "staff", "--name", "Nguyễn Văn An")
    cli("dossier", "receive", "1.001612", "--applicant", "Trần Văn Bình", "--as", "motcua",
        "--now", "2026-03-10T08:00")
    assert "mở công việc 3" in cli("task", "complete", "2", "--outcome", "done", "--as", "truongphong",
                                   "--now", "2026-03-10T09:00")
    first = cli("task", "assign", "3", "--to", "An", "--as", "truongphong", "--key", "giao-3",
                "--now", "2026-03-10T09:10")
    assert "Đã phân công công việc 3 cho An" in first
    store = Store(db_url)
    try:
        before = dump(store)
        again = cli("task", "assign", "3", "--to", "an", "--as", "truongphong", "--key", "giao-3",
                    "--now", "2026-03-10T09:20")
        assert dump(store) == before  # nothing changed: no second event, no second notice
    finally:
        store.dispose()
    # the same result (the line names the officer as typed)
    assert again.split(": ", 1)[1].strip() == first.split(": ", 1)[1].strip() + " (yêu cầu lặp lại: không thay đổi gì)"
