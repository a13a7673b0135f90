"""quytrinh report reads each published version's field and lead unit with libyaml (engine.yamlsrc.load_stored).

The figures and the output are covered by tests/test_reports.py and the CLI's tests; here: the stored text
reads the same through libyaml as through PyYAML's parser, and the report's grouping facts are those of
:func:`engine.services.definition_of`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.errors import DefinitionError
from engine.yamlsrc import load_stored, load_text

REPO = Path(__file__).resolve().parent.parent
T = "2026-03-31T17:00"


def _same(a, b, path="$"):
    """Equal values, types and source locations, all the way down."""
    assert type(a) is type(b), path
    if isinstance(a, dict):
        assert list(a) == list(b) and a.loc == b.loc and a.key_locs == b.key_locs, path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b) and a.loc == b.loc and a.item_locs == b.item_locs, path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


@pytest.fixture(scope="module")
def whole_catalogue():
    from engine.definition import load_catalogue

    cat = load_catalogue([REPO / "procedures_yaml"])
    assert cat.definitions
    return cat


def test_stored_definitions_and_catalogue_files_read_the_same_through_libyaml(whole_catalogue):
    from engine.definition import definition_to_data, dump_yaml

    for defn in whole_catalogue.definitions:  # what publish_definition stores
        text = dump_yaml(definition_to_data(defn))
        _same(load_text(text, "<x v1>"), load_stored(text, "<x v1>"))
    for path in sorted((REPO / "procedures_yaml").rglob("*.yaml")):  # author's text, Vietnamese, comments, flow lists
        text = path.read_text(encoding="utf-8")
        _same(load_text(text, str(path)), load_stored(text, str(path)))


@pytest.mark.parametrize("text", [
    "code: a\n  name: b\n",  # syntax
    "code: a\ncode: b\n",  # duplicate key
    "a: &x [1]\nb: *x\nc: *y\n",  # undefined alias
    "a: &a [*a]\n",  # an alias inside itself
    "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcd", "bcde")),
    "a: " + "[" * 70 + "]" * 70 + "\n",  # too deep
    "a: !!python/object:os.system x\n",  # a tag
    "<<: {a: 1}\n",  # merge key
    "a: 1\n---\nb: 2\n",  # two documents
    "",  # empty
    "# only a comment\n",
    "a: 2026-02-30\n",  # a date that does not exist
    "a:\tb\n\tc: d\n",  # tabs
    "a: \x07\n",  # a control character
])
def test_text_libyaml_or_the_bounds_refuse_is_refused_as_load_text_refuses_it(text):
    with pytest.raises(DefinitionError) as expected:
        load_text(text, "f.yaml")
    with pytest.raises(DefinitionError) as got:
        load_stored(text, "f.yaml")
    assert str(got.value) == str(expected.value)


def test_report_groups_as_the_definitions_say_without_parsing_them_through_the_services(runtime, monkeypatch):
    import engine.services as sv
    from engine import reports
    from engine.definition import STORED_DEFINITIONS
    from engine.store import DefinitionVersion
    from quytrinh.cli import app

    from sqlmodel import select

    with runtime.db.session() as s:
        versions = s.exec(select(DefinitionVersion)).all()
    assert versions
    for v in versions:
        defn = sv.definition_of(v)
        assert reports._version_facts(v) == (defn.field, reports.lead_unit(defn))

    monkeypatch.setenv("QUYTRINH_DATABASE_URL", runtime.url)
    monkeypatch.chdir(REPO)
    sv.receive(runtime.db, runtime.actor("motcua"), "1.001612", applicant="Trần Văn Bình", now=runtime.now)
    STORED_DEFINITIONS.clear()  # read afresh, by the report alone

    def refused(row):
        raise AssertionError("the report parsed a definition through the services")

    monkeypatch.setattr(sv, "definition_of", refused)
    for by, label in (("unit", "Phòng Tài chính"), ("field", "Thành lập và hoạt động")):
        result = CliRunner().invoke(app, ["report", "--from", "2026-03-01", "--to", "2026-03-31", "--by", by,
                                          "--format", "csv", "--now", T], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert label in result.output, result.output
