"""What several commands share: reading a date option, and saying in Vietnamese why a file was not written.

Not a command group (no ``register``): quytrinh/cli.py imports it with the others and skips it. It imports
nothing heavy at module level, since every command's start pays for it.
"""

from __future__ import annotations

import datetime as dt
import errno
from pathlib import Path

from engine.errors import QuytrinhError
from quytrinh.messages import localized

#: The years the working calendar answers for (engine.calendar.MIN_YEAR, MAX_YEAR, written out: importing
#: engine.calendar costs about 0.1 s, and the date options are read before anything else; a test keeps them equal).
MIN_YEAR, MAX_YEAR = 1995, 2099


def year_problem(option: str, text: str, year: int) -> str | None:
    """Why a date or instant of ``option`` cannot be used (None when it can): a year the calendar does not cover."""
    if MIN_YEAR <= year <= MAX_YEAR:
        return None
    return (f"{option} '{text}': lịch làm việc chỉ có các năm {MIN_YEAR}–{MAX_YEAR}; hãy chọn một ngày trong "
            f"khoảng đó.")


def parse_day(text: str, option: str) -> dt.date:
    """A ``YYYY-MM-DD`` option value as a date, in the calendar's years (QuytrinhError naming the option otherwise)."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise localized(QuytrinhError(f"{option} '{text}' không phải ngày; viết YYYY-MM-DD.")) from None
    problem = year_problem(option, text, day.year)
    if problem:
        raise localized(QuytrinhError(problem))
    return day


def parse_period(start: str, end: str) -> tuple[dt.date, dt.date]:
    """``--from`` and ``--to`` as dates, the end not before the start (QuytrinhError naming both otherwise)."""
    lo, hi = parse_day(start, "--from"), parse_day(end, "--to")
    if hi < lo:
        raise localized(QuytrinhError(f"--to {hi:%d/%m/%Y} trước --from {lo:%d/%m/%Y}: ngày cuối kỳ phải từ ngày "
                                      f"đầu kỳ trở đi (--from {end} --to {start}?)."))
    return lo, hi


def os_reason(exc: OSError, path: Path | str) -> str:
    """Why ``path`` could not be written or read, in Vietnamese (the system's own text, in English, otherwise)."""
    parent = Path(path).parent
    reasons = {
        errno.ENOENT: f"không có thư mục {parent}",
        errno.ENOTDIR: f"{parent} không phải là thư mục",
        errno.EEXIST: f"{exc.filename or parent} là một tệp, không phải thư mục",  # making the folders of ``path``
        errno.EISDIR: f"{path} là một thư mục; hãy cho tên tệp",
        errno.EACCES: "không có quyền ghi vào đó",
        errno.EPERM: "không có quyền ghi vào đó",
        errno.EROFS: "ổ đĩa chỉ cho đọc",
        errno.ENOSPC: "ổ đĩa đã đầy",
        errno.EDQUOT: "đã hết dung lượng được cấp",
        errno.ENAMETOOLONG: "tên tệp quá dài",
    }
    return reasons.get(exc.errno or 0) or (exc.strerror or str(exc))


def write_error(exc: OSError, path: Path | str) -> QuytrinhError:
    """The error a command raises when it cannot write ``path``: ``Không ghi được PATH: <why>.``"""
    return localized(QuytrinhError(f"Không ghi được {path}: {os_reason(exc, path)}."))
