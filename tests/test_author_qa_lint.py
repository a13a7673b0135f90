"""What the reform office sees for a typical slip in the editor: one mistake, one located finding.

A mistyped step id in a route ('delivr' for 'deliver') used to give three findings: the route's own
error, an "extra-start" error on the step it meant (no route leads to it any more) and an "under-limit"
warning computed on the cut path, numbered in an order no table shows ("Bước 1 → Bước 4 → …")."""

from __future__ import annotations

import pytest

from engine import approval as ap
from engine.definition import load_catalogue
from engine.lint import ERROR
from tests.conftest import REPO

CODE = "1.001612"
SOURCE = sorted((REPO / "procedures_yaml").rglob(f"{CODE}-*.yaml"))[0].read_text(encoding="utf-8")
ISSUE = "  - id: issue\n    duration: 2h\n"


@pytest.fixture(scope="module")
def shipped():
    return load_catalogue([REPO / "procedures_yaml"])


def check(shipped, text: str) -> ap.Check:
    return ap.check_text(text, file=f"{CODE}.yaml", templates=shipped.templates, units=shipped.organisation)


def test_a_mistyped_route_target_is_one_error_at_the_route(shipped):
    assert ISSUE in SOURCE
    text = SOURCE.replace(ISSUE, ISSUE + "    routes:\n      done: delivr\n")
    checked = check(shipped, text)
    assert [(f.rule_id, f.severity) for f in checked.findings] == [("unknown-target", ERROR)]
    (f,) = checked.findings
    line = text.splitlines().index("      done: delivr") + 1
    assert (f.line, f.col, f.step) == (line, 7, "issue")
    assert "'delivr' không tồn tại (có phải là 'deliver' không?)" in f.message
    assert checked.errors == 1 and checked.warnings == 0


def test_a_step_no_route_leads_to_without_a_typo_is_still_a_second_start(shipped):
    # the route goes to an existing step instead: 'deliver' is really left without a way in
    text = SOURCE.replace(ISSUE, ISSUE + "    routes:\n      done: receive\n")
    rules = {f.rule_id for f in check(shipped, text).findings}
    assert "extra-start" in rules and "unknown-target" not in rules


def test_a_typo_far_from_every_step_id_keeps_the_second_start(shipped):
    text = SOURCE.replace(ISSUE, ISSUE + "    routes:\n      done: zzz_khong_co\n")
    found = [(f.rule_id, f.step) for f in check(shipped, text).findings]
    assert ("unknown-target", "issue") in found and ("extra-start", "deliver") in found
    assert not any(rule == "under-limit" for rule, _ in found)  # the cut path's spare time says nothing yet


def test_spare_time_is_still_reported_on_a_whole_process(shipped):
    text = SOURCE.replace("  - id: appraise\n    duration: 1d\n", "  - id: appraise\n    duration: 0.5d\n")
    (f,) = check(shipped, text).findings
    assert f.rule_id == "under-limit" and "(từ Bước 1 đến Bước 7)" in f.message


SIGN_AT = "    unit: phong_tckh\n    role: head\n"  # the sign step of 1.001612, the signer's (phong_tckh, head)


@pytest.mark.parametrize("typo, rule, line_of", [
    ("    unit: phong_tckhh\n    role: head\n", "unknown-unit", "    unit: phong_tckhh"),
    ("    unit: phong_tckh\n    role: boss\n", "unknown-role", "    role: boss"),
])
def test_a_typo_in_the_signing_steps_unit_or_role_is_one_error_there(shipped, typo, rule, line_of):
    assert SOURCE.count(SIGN_AT) == 1
    text = SOURCE.replace(SIGN_AT, typo)
    findings = check(shipped, text).findings
    # not also "no signing step by the signer" (unsigned-result) and "signed by someone else" (one-signature)
    assert [(f.rule_id, f.step) for f in findings] == [(rule, "sign")]
    assert findings[0].line == text.splitlines().index(line_of) + 1


def test_a_typo_in_the_signer_is_one_error_at_signer(shipped):
    text = SOURCE.replace("signer: {unit: phong_tckh, role: head}", "signer: {unit: phong_tckhx, role: head}")
    assert [f.rule_id for f in check(shipped, text).findings] == ["unknown-signer"]


def test_a_signing_step_really_at_another_unit_is_still_reported(shipped):
    text = SOURCE.replace(SIGN_AT, "    unit: van_phong\n    role: clerk\n")
    rules = [f.rule_id for f in check(shipped, text).findings]
    assert "unsigned-result" in rules and "one-signature" in rules
