"""The worker's one line per drain run counts the outbox items it skipped (automated steps cancelled by a
withdrawal or a stop: not failures), and says nothing of them when there were none."""

from __future__ import annotations

import re

from quytrinh.commands.worker import _describe
from workflows.worker import DRAIN_FLOW, RunOutcome


def _line(result: dict) -> str:
    text = _describe(RunOutcome(flow_run_id=None, flow=DRAIN_FLOW, state="Completed", result=result,  # type: ignore[arg-type]
                                seconds=0.5))
    return re.sub(r"^\S+ ", "", text)  # the Hanoi time stamp


def test_the_drain_line_counts_the_skipped_items():
    assert _line({"done": 3, "skipped": 2, "retry_later": 1, "failed": 0}) == \
        "Chạy hàng đợi việc máy: 3 việc xong, 2 bỏ qua, 1 thử lại sau, 0 thất bại — 0.50 s"
    assert _line({"done": 3, "retry_later": 0, "failed": 1}) == \
        "Chạy hàng đợi việc máy: 3 việc xong, 0 thử lại sau, 1 thất bại — 0.50 s"


def test_the_drain_line_counts_the_items_deleted_while_it_ran():
    assert _line({"done": 1, "retry_later": 0, "failed": 0, "deleted": 2}) == \
        "Chạy hàng đợi việc máy: 1 việc xong, 0 thử lại sau, 0 thất bại, 2 đã bị xóa khỏi hàng đợi — 0.50 s"
