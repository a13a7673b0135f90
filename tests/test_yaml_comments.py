"""The comments of the catalogue's files are Vietnamese.

The reform office opens a procedure in the web editor and reads its header comment first; templates,
units.yaml and calendar.yaml are read the same way. So every comment in procedures_yaml/ is Vietnamese
(identifiers such as template, parameter and key names stay as written), and so are the header comments
scripts/draft_catalogue.py writes when it drafts a file.

A comment line passes when every word of it is Vietnamese (it has a letter with a Vietnamese diacritic,
or đ, or it is spelt as a Vietnamese syllable without them: ``tin``, ``cho``, ``quy``), an identifier of
the catalogue (a YAML key or a lower-case value: ``office_signs``, ``saturday_counts``, ``true``...), an
abbreviation (``TTHC``, ``HH:MM``), a number, a file name or address, or code in backticks; so a
half-English line ("Đăng ký khai sinh: a same-day procedure") fails as an English one does. And no comment
uses common English words (``the``, ``and``, ``is``, ``of``, ``to be``, ``unknown``...), even those that
look like Vietnamese syllables.
"""

from __future__ import annotations

import bisect
import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

from engine import definition
from engine.calendar import _ConfigReader

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "procedures_yaml"
FILES = sorted(CATALOGUE.rglob("*.yaml"))

VIETNAMESE_LETTERS = set("àáảãạăằắẳẵặâầấẩẫậđèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵ")
#: A Vietnamese syllable written without its diacritics (onset, one to three vowels, coda).
SYLLABLE = re.compile(r"(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?[aeiouy]{1,3}"
                      r"(?:ng|nh|ch|[cmnpt])?")
#: English words no Vietnamese comment needs (``to be`` and ``unknown`` as the flagged facts were worded).
ENGLISH = re.compile(r"\b(?:the|and|is|of|are|to be|unknown|which|should|must|when|where|this|that|they|"
                     r"not|or|if|for|it|has|have|only|also|from|checked|confirmed|pattern)\b", re.IGNORECASE)
#: Paths and file names (``engine/calendar.py``, ``DOMAIN.md``), addresses, code in backticks and calls
#: (``WorkCalendar.default()``): not words of the text.
NAMES = re.compile(r"https?://\S+|[\w./-]+\.(?:py|md|yaml)\b|`[^`]*`|[\w.]+\(\)")
#: Words of other languages a Vietnamese text uses as they are.
LOANWORDS = {"karaoke"}


def comments(text: str) -> list[tuple[int, str]]:
    """(line number, text after the ``#``) of every comment in a YAML text: a ``#`` at the start of a line
    or after a blank that is not inside a scalar (a quoted value may hold ``#``, a URL's fragment)."""
    spans = [(t.start_mark.index, t.end_mark.index) for t in yaml.scan(text, Loader=yaml.SafeLoader)
             if isinstance(t, yaml.ScalarToken)]
    starts = [s for s, _ in spans]
    out, offset = [], 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        for m in re.finditer(r"(?:^|(?<=[ \t]))#", line):
            at = offset + m.start()
            i = bisect.bisect_right(starts, at) - 1
            if i >= 0 and spans[i][0] <= at < spans[i][1]:
                continue
            out.append((number, line[m.end():].rstrip("\n")))
            break
        offset += len(line)
    return out


def identifiers() -> set[str]:
    """Every key the loaders know, and every key and lower-case identifier value of the catalogue's files."""
    found: set[str] = set(_ConfigReader.TOP_KEYS)
    for name in dir(definition):
        if name.endswith("_KEYS"):
            found.update(getattr(definition, name))

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                found.add(str(k))
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and re.fullmatch(r"[a-z][a-z0-9_]*", value):
            found.add(value)
        elif isinstance(value, bool):
            found.add(str(value).lower())

    for path in FILES:
        walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return found


IDENTIFIERS = identifiers()


def vietnamese_word(word: str) -> bool:
    low = word.lower()
    return (any(c in VIETNAMESE_LETTERS for c in low) or SYLLABLE.fullmatch(low) is not None
            or word in IDENTIFIERS or word.isupper() or low in LOANWORDS)


def problem(comment: str) -> str | None:
    """Why a comment line is not Vietnamese, or None when it is."""
    text = NAMES.sub(" ", comment)
    english = sorted({m.group(0).lower() for m in ENGLISH.finditer(text)})
    if english:
        return f"English words {english}"
    foreign = [w for w in re.findall(r"[^\W\d_]\w*", text) if not vietnamese_word(w)]
    return f"words not Vietnamese {foreign}" if foreign else None


def problems(text: str) -> list[str]:
    return [f"{number}: {why}: #{comment}" for number, comment in comments(text)
            if (why := problem(comment)) is not None]


# --------------------------------------------------------------------------- the check itself


def test_the_check_finds_english_comments_and_only_comments():
    text = ('# Cooperative registration at a district business registry: office_signs, 3 working days\n'
            '# (read in the post-2025 national record; that it applied in 2022-2024 is to be checked).\n'
            'source: "https://example.org/page#the-limit"  # read in the record\n'
            '# Tham số: office (mã đơn vị của Phòng chuyên môn).\n'
            '# kind: one_stop | office | leadership | clerk | external | citizen\n'
            '# hours, saturday_hours, saturday_counts, same_day_cutoff\n'
            '#\n'
            'name: "Đăng ký # không phải chú thích"\n')
    found = problems(text)
    assert [f.split(":")[0] for f in found] == ["1", "2", "3"], found
    assert "words not Vietnamese ['Cooperative', 'registration', 'business', 'registry', 'working', 'days']" \
        in found[0]
    assert "English words" in found[1] and all(f"'{w}'" in found[1] for w in ("the", "is", "that", "to be"))
    assert "English words ['the']" in found[2]


# --------------------------------------------------------------------------- the shipped files


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CATALOGUE)) for p in FILES])
def test_every_comment_of_the_catalogue_is_vietnamese(path):
    text = path.read_text(encoding="utf-8")
    assert problems(text) == [], f"{path.relative_to(ROOT)}: comments not in Vietnamese"


def test_the_drafting_script_writes_vietnamese_headers():
    spec = importlib.util.spec_from_file_location("draft_catalogue", ROOT / "scripts" / "draft_catalogue.py")
    draft = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = draft  # its dataclasses look their module up
    try:
        spec.loader.exec_module(draft)
    finally:
        del sys.modules[spec.name]
    defaults = draft.template_defaults()
    procs = draft.district() + draft.commune()
    assert len(procs) == 88
    for p in procs:
        text = draft.render(p, defaults)
        assert text.startswith("# ") and problems(text) == [], p.name
