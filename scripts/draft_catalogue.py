"""Draft the catalogue's internal-process definitions from the research table.

A one-off drafting aid, kept for re-drafting: it holds, per procedure, what
was established about it (name, national code, legal limit and where the
limit comes from, competent authority, who signs) and writes one readable,
commented YAML file per procedure under procedures_yaml/district/ and
procedures_yaml/commune/ (its header comment in Vietnamese, as the reform
office reads it in the editor; tests/test_yaml_comments.py checks both). The committed YAML files are the product: once a
file exists it is edited by hand, and this script does not overwrite it
unless run with --force (then the hand edits are lost).

Facts come from /work/shared/catalogue_candidates.tsv (its `source` column)
and from the legal texts and public procedure pages named in each entry's
`source`; docs/catalogue.md explains the choices. Nothing here invents a code
or a decision number: unknown codes are "" and flagged.

Usage (from the repository root):
    .venv/bin/python scripts/draft_catalogue.py [--force] [--check]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.definition import (  # noqa: E402
    MINUTES_PER_DAY,
    duration_text,
    load_catalogue,
    load_templates,
    parse_duration,
)
from engine.graph import critical_path  # noqa: E402

D = MINUTES_PER_DAY
H = 60

# --------------------------------------------------------------------------- sources

CSDL = "Cơ sở dữ liệu quốc gia về TTHC"
CRAWL = "https://github.com/chatbot-tthc/chatbot_tthc/blob/main/scripts/crawler/data/raw/{ministry}/{code}.json"
PHAP_DIEN_HO_TICH = ("Bộ Pháp điển, đề mục Hộ tịch (bản sao công khai: "
                     "https://github.com/diepxuan/diepxuan.github.io/blob/main/van-ban/hanh-chinh-tu-phap/ho-tich.md)")
PHAP_DIEN_CHUNG_THUC = ("Bộ Pháp điển, đề mục Chứng thực (bản sao công khai: https://github.com/diepxuan/"
                        "diepxuan.github.io/blob/main/van-ban/hanh-chinh-tu-phap_cap-ban-sao-tu-so-goc-chung-thuc-"
                        "ban-sao-tu-ban-chinh-chung-thuc-chu-ky.md)")
TT_HUE = "Cổng DVC Thừa Thiên Huế, danh mục TTHC mức độ 4 cấp huyện (http://tthc.thuathienhue.gov.vn/Content/Dichvucong/donvi?iDonVi=1&iMucDo=4)"
CLOCK_TBC = ("Quy tắc tính thời gian khi bổ sung hồ sơ chưa xác định được trong CSDL quốc gia cho thủ tục này: "
             "tạm để 'pause' (thời gian bổ sung không tính), cần xác nhận.")
CLOCK_HO_TICH = ("Trình tự trong CSDL quốc gia: hồ sơ cần bổ sung thì thông báo cho người nộp và "
                 "'thực hiện lại bước (i)' (tiếp nhận lại, hẹn lại) nên thời hạn tính lại từ đầu; cần xác nhận.")
CLOCK_DKKD = ("Thời hạn tính từ khi nhận hồ sơ hợp lệ; hồ sơ chưa hợp lệ được thông báo bổ sung và tính lại "
              "khi nhận đủ (như hồ sơ mẫu 1.001612); cần xác nhận.")


#: The national database page of each record read (dichvucong.gov.vn/thu-tuc-hanh-chinh/<id>).
RECORD_PAGE = {
    "1.000656": "019d2bfd-3fac-7489-b53b-9c6c958f2da4",
    "1.000893": "019d2bfd-3faf-768a-9224-a27e812b1907",
    "1.000894": "019d2bfd-3fac-7489-b53b-a15eb239a6fe",
    "1.001193": "019d2bfd-3fe0-70ac-b9d6-5e9e20d6eef7",
    "1.001266": "019d2bfb-d748-72d1-848f-3607bc86e647",
    "1.001570": "019d2bfb-d768-7446-bd77-3bb11051041c",
    "1.001612": "019d2bfb-d76d-737f-81b9-69258b07240b",
    "1.001669": "019d2bfd-47a7-74cf-a1de-4c9e077743e9",
    "1.001695": "019d2bfd-47b0-7285-b035-456104e16436",
    "1.001766": "019d2bfd-47da-7259-b8fe-0d5327727234",
    "1.003583": "019d2bfd-66dc-714a-90a8-11942739ea86",
    "1.004036": "019d2bfe-3a96-7539-a429-b3b40b607710",
    "1.004047": "019d2bfe-3a86-717c-992c-1393a2f50382",
    "1.004088": "019d2bfe-3b31-723b-920f-539e8ad6cf95",
    "1.004837": "019d2bfd-671b-75fa-82fb-8ad05a37f638",
    "1.004845": "019d2bfd-6724-715f-822c-28e986912730",
    "1.004873": "019d2bfd-6eb3-7019-bf3f-fc58c9ee44b9",
    "1.004901": "019d2bfb-df2c-74f3-8af6-e48a719ef3d9",
    "1.004979": "019d2bfb-df29-704d-8fe8-deafd721c54b",
    "1.004982": "019d2bfb-df21-71b8-a4b2-634a2adec623",
    "1.005010": "019d2bfb-df25-74f6-b5fb-0951a4719ba5",
    "1.005277": "019d2bfb-df1f-73fa-97e4-f60546098f7f",
    "1.005280": "019d2bfb-df2c-74f3-8af6-ef7dc8d36f08",
    "1.005378": "019d2bfb-df3a-71d0-af09-cf4e1a45e6a4",
    "1.012796": "019d2bfa-76cb-741b-996e-33d1ef50be50",
    "1.012817": "019d2bfa-76ef-752f-a5e5-ff4ce5737bb1",
    "1.012818": "019d2bfa-76e6-7468-b6f2-417e588578f5",
    "1.012888": "019d2bfe-8124-711f-ad0c-71830d00b0b1",
    "1.013225": "019d2bfe-9088-744d-aa0a-e846b6dce3d5",
    "1.013226": "019d2bfe-9097-7135-94e7-f539d8b0cc19",
    "1.013227": "019d2bfe-9097-700f-899f-6dfc532f0e6b",
    "1.013228": "019d2bfe-908a-775a-833e-26b204dfda4f",
    "1.013229": "019d2bfe-909c-759d-9dc9-416500074f0f",
    "1.013232": "019d2bfe-908d-726f-a05f-7026ac241c2d",
    "1.013949": "019d2bfa-867b-703e-a311-18fc1df76fc8",
    "1.013950": "019d2bfa-8678-7030-8757-70c3e9763bc1",
    "1.013952": "019d2bfa-8672-74d6-a162-9d0368d68fb5",
    "1.013953": "019d2bfa-8676-77f3-ba25-0d0f1b588227",
    "2.000522": "019d2bfd-867a-70eb-bc54-effd523ebc99",
    "2.000528": "019d2bfd-8662-763f-927f-dc039ede198c",
    "2.000547": "019d2bfd-8661-77ca-9811-6106ea8c43db",
    "2.000554": "019d2bfd-867a-70eb-bc54-e836b23a4649",
    "2.000575": "019d2bfc-d9d1-7475-8e58-1aa4479901eb",
    "2.000720": "019d2bfc-d9ca-768c-a8f4-cc0dff5f41ed",
    "2.000748": "019d2bfd-8e02-7590-b74b-fb572a57eda2",
    "2.000756": "019d2bfd-8e04-756b-bf4f-2a70964e4c40",
    "2.000779": "019d2bfd-8dff-7296-94d7-25b5966319d5",
    "2.000806": "019d2bfd-8e13-728a-a0cd-635811d8432e",
    "2.000815": "019d2bfd-8e22-77ef-819f-e49460350904",
    "2.000884": "019d2bfd-8e2e-7359-b42f-d5dc8d74741b",
    "2.000908": "019d2bfd-8e5d-72f9-8cf2-c71780251483",
    "2.000913": "019d2bfd-8e59-72ab-ae1a-a2985865d253",
    "2.000992": "019d2bfd-95d3-7258-b613-a71dbf432f07",
    "2.001008": "019d2bfd-95d4-72d6-be00-ed0e9e5dd66a",
    "2.001035": "019d2bfd-95fa-70ca-93fd-4cab11b87897",
    "2.001215": "019d2bfe-98ac-77de-bb23-6dbc853ac7d4",
    "2.001958": "019d2bfc-d9f1-779d-ad28-da10af3e13e6",
    "2.002123": "019d2bfc-e1f5-7431-995a-f6d33945b83a",
    "2.002189": "019d2bfd-9dec-73f6-b213-be4bfb4f911b",
    "2.002638": "019d2bfc-f17c-7186-bdb9-8f95159cd11d",
    "2.002641": "019d2bfc-f186-70fe-b3fc-98274fa94661",
    "2.002648": "019d2bfc-f199-75ef-bfcc-b0508a0c8b9b",
    "2.002649": "019d2bfc-f184-7758-a081-05a3f955f465",
}


def crawl(ministry: str, code: str) -> str:
    """The national record's page and its public crawl copy."""
    copy = CRAWL.format(ministry=ministry, code=code)
    if code in RECORD_PAGE:
        return f"https://dichvucong.gov.vn/thu-tuc-hanh-chinh/{RECORD_PAGE[code]}; bản sao: {copy}"
    return copy


# --------------------------------------------------------------------------- header comments

#: Each template's name (an identifier, kept as written) with what it means, for the header comment of each
#: file: the reform office reads these first in the editor, so they are Vietnamese, as every text a user sees.
STANDARD = "mẫu quy trình standard (Phòng chuyên môn thẩm định, Lãnh đạo UBND huyện ký)"
OFFICE_SIGNS = "mẫu quy trình office_signs (Phòng chuyên môn ký)"
LIEN_THONG = "mẫu quy trình lien_thong (liên thông, lấy ý kiến cơ quan phối hợp song song)"
SAME_DAY = "mẫu quy trình same_day (giải quyết trong ngày)"
COMMUNE = "mẫu quy trình commune (cấp xã: công chức thẩm định, Chủ tịch UBND xã ký)"
#: What the linter's warnings stand for in a comment: the fact is flagged as an open question.
FLAGGED = "(đã đánh dấu cần kiểm tra)"


# --------------------------------------------------------------------------- model


@dataclass
class Proc:
    """What the draft of one procedure needs."""

    level: str
    code: str
    name: str
    field: str
    authority: str
    signer: tuple[str, str]
    legal_basis: list[str]
    limit: dict[str, Any]
    template: str
    with_: dict[str, str]
    steps: list[dict[str, Any]]
    comment: str
    code_verified: bool = False
    online: str = "mot_phan"
    clock: str = "pause"
    notes: list[str] = field(default_factory=list)
    remove_steps: list[str] = field(default_factory=list)
    slug: str | None = None


def limit(value: float | None, source: str, *, verified: bool, basis: str = "", note: str = "",
          unit: str = "working_days") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if value is not None:
        out["value"] = value
    out["unit"] = unit
    if unit == "same_day":
        out["cutoff"] = "15:00"
    if basis:
        out["basis"] = basis
    out["source"] = source
    out["verified"] = verified
    if note:
        out["note"] = note
    return out


def same_day_limit(source: str, basis: str, note: str = "", verified: bool = False) -> dict[str, Any]:
    return limit(None, source, verified=verified, basis=basis, note=note, unit="same_day")


def m(text: str) -> int:
    return parse_duration(text)


def steps_with(durations: dict[str, int], names: dict[str, str] | None = None,
               extra: list[dict[str, Any]] | None = None, **over: dict[str, Any]) -> list[dict[str, Any]]:
    """Step overrides: durations (minutes) and names by step id, plus whole extra steps."""
    ids = list(dict.fromkeys([*durations, *(names or {}), *over]))
    out = []
    for sid in ids:
        s: dict[str, Any] = {"id": sid}
        if names and sid in names:
            s["name"] = names[sid]
        if sid in durations:
            s["duration"] = durations[sid]
        s.update(over.get(sid, {}))
        out.append(s)
    return out + list(extra or [])


# --------------------------------------------------------------------------- allocations
# Working time per step for each template, by legal limit (days). Each returns
# durations that sum, along the critical path, to the limit (or just under it
# where steps cannot be cut finer).


#: The refusal branch of a one-day procedure must not outlast its result branch.
SHORT_REFUSAL = {"refuse_draft": H, "return_refusal": 30}


def alloc_standard(days: float) -> dict[str, int]:
    if days >= 10:
        fixed = {"receive": 4 * H, "assign": 4 * H, "check": D, "sign": 2 * D if days >= 20 else D,
                 "issue": 4 * H, "deliver": 4 * H}
    elif days >= 5:
        fixed = {"receive": 4 * H, "assign": 4 * H, "check": 4 * H, "sign": 4 * H, "issue": 4 * H, "deliver": 4 * H}
    elif days >= 3:
        fixed = {"receive": 2 * H, "assign": 2 * H, "check": 4 * H, "sign": 4 * H, "issue": 2 * H, "deliver": 2 * H}
    elif days >= 2:
        fixed = {"receive": H, "assign": H, "check": 2 * H, "sign": 2 * H, "issue": H, "deliver": H}
    else:
        fixed = {"receive": 30, "assign": 30, "check": H, "sign": 90, "issue": 30, "deliver": H}
    rest = round(days * D) - sum(fixed.values())
    return {"receive": fixed["receive"], "assign": fixed["assign"], "appraise": rest, "check": fixed["check"],
            "sign": fixed["sign"], "issue": fixed["issue"], "deliver": fixed["deliver"]}


def alloc_office(days: float) -> dict[str, int]:
    if days >= 10:
        fixed = {"receive": 4 * H, "assign": 4 * H, "sign": D, "issue": 4 * H, "deliver": 4 * H}
    elif days >= 5:
        fixed = {"receive": 4 * H, "assign": 4 * H, "sign": 4 * H, "issue": 4 * H, "deliver": 4 * H}
    elif days >= 3:
        fixed = {"receive": 2 * H, "assign": 2 * H, "sign": 4 * H, "issue": 2 * H, "deliver": 2 * H}
    elif days >= 2:
        fixed = {"receive": H, "assign": H, "sign": 2 * H, "issue": H, "deliver": H}
    else:
        fixed = {"receive": 30, "assign": 30, "sign": 90, "issue": 30, "deliver": H}
    rest = round(days * D) - sum(fixed.values())
    out = {"receive": fixed["receive"], "assign": fixed["assign"], "appraise": rest, "sign": fixed["sign"],
           "issue": fixed["issue"], "deliver": fixed["deliver"]}
    return {**out, **SHORT_REFUSAL} if days < 2 else out


def alloc_commune(days: float) -> dict[str, int]:
    if days >= 3:
        fixed = {"receive": 4 * H, "sign": 4 * H, "issue": 2 * H, "deliver": 2 * H}
    elif days >= 2:
        fixed = {"receive": 2 * H, "sign": 4 * H, "issue": H, "deliver": H}
    else:
        fixed = {"receive": H, "sign": 90, "issue": 30, "deliver": H}
    rest = round(days * D) - sum(fixed.values())
    return {"receive": fixed["receive"], "appraise": rest, **{k: fixed[k] for k in ("sign", "issue", "deliver")}}


def alloc_lien_thong(days: float) -> dict[str, int]:
    """receive, assign, appraise, consult ‖ site_check, report, check, sign, issue, deliver.

    The consultation gets what the fixed steps leave, up to 10 days (5 below a
    20-day limit); the appraisal absorbs the rest; the site check takes about
    half the consultation's time, in half days.
    """
    if days >= 20:
        fixed = {"receive": 4 * H, "assign": 4 * H, "appraise": 2 * D, "report": 2 * D, "check": D, "sign": 2 * D,
                 "issue": 4 * H, "deliver": 4 * H}
    elif days >= 10:
        fixed = {"receive": 4 * H, "assign": 4 * H, "appraise": D, "report": D, "check": 4 * H, "sign": D,
                 "issue": 4 * H, "deliver": 4 * H}
    else:
        fixed = {"receive": 2 * H, "assign": 2 * H, "appraise": D, "report": 4 * H, "check": 4 * H, "sign": 4 * H,
                 "issue": 2 * H, "deliver": 2 * H}
    avail = round(days * D) - sum(fixed.values())
    cap = 10 * D if days >= 20 else 5 * D if days >= 10 else avail
    consult = min(avail, cap)
    fixed["appraise"] += avail - consult
    site = min(consult, max(4 * H, (consult // 2) // (4 * H) * (4 * H)))
    return {**fixed, "consult": consult, "site_check": site}


# --------------------------------------------------------------------------- helpers per field

UBND_VICE = ("lanh_dao_ubnd", "vice_chairman")
UBND_CHAIR = ("lanh_dao_ubnd", "chairman")
SIGNER_TITLE = {
    UBND_VICE: "Lãnh đạo UBND huyện",
    UBND_CHAIR: "Chủ tịch UBND huyện",
    ("xa_lanh_dao", "chairman"): "Chủ tịch UBND xã",
    ("xa_lanh_dao", "vice_chairman"): "Chủ tịch hoặc Phó Chủ tịch UBND xã",
}


def sign_title(signer: tuple[str, str]) -> str:
    if signer in SIGNER_TITLE:
        return SIGNER_TITLE[signer]
    return "Lãnh đạo Phòng"


def office_proc(*, code: str, name: str, field_: str, office: str, authority: str, result: str, days: float | None,
                lim: dict[str, Any], basis_laws: list[str], comment: str, appraise: str | None = None,
                design_days: float | None = None, **kw: Any) -> Proc:
    """A procedure the specialist office signs (template office_signs)."""
    d = alloc_office(days if days is not None else design_days)  # type: ignore[arg-type]
    names = {"appraise": appraise or f"Thẩm định hồ sơ, dự thảo {result}, trình Lãnh đạo Phòng",
             "sign": f"Lãnh đạo Phòng ký {result}"}
    return Proc(level="district", code=code, name=name, field=field_, authority=authority, signer=(office, "head"),
                legal_basis=basis_laws, limit=lim, template="office_signs", with_={"office": office},
                steps=steps_with(d, names), comment=comment, **kw)


def standard_proc(*, code: str, name: str, field_: str, office: str, authority: str, result: str,
                  days: float | None, lim: dict[str, Any], basis_laws: list[str], comment: str,
                  signer: tuple[str, str] = UBND_VICE, appraise: str | None = None,
                  design_days: float | None = None, extra: list[dict[str, Any]] | None = None,
                  alloc_over: dict[str, int] | None = None, names_over: dict[str, str] | None = None,
                  step_over: dict[str, dict[str, Any]] | None = None, **kw: Any) -> Proc:
    """A procedure the committee's leader signs (template standard)."""
    d = alloc_standard(days if days is not None else design_days)  # type: ignore[arg-type]
    d.update(alloc_over or {})
    names = {"appraise": appraise or f"Thẩm định hồ sơ, dự thảo {result}",
             "sign": f"{sign_title(signer)} xem xét, ký {result}"}
    names.update(names_over or {})
    over = {k: dict(v) for k, v in (step_over or {}).items()}
    if signer != UBND_VICE:
        over.setdefault("sign", {}).update({"unit": signer[0], "role": signer[1]})
    return Proc(level="district", code=code, name=name, field=field_, authority=authority, signer=signer,
                legal_basis=basis_laws, limit=lim, template="standard", with_={"office": office},
                steps=steps_with(d, names, extra, **over), comment=comment, **kw)


def lien_thong_proc(*, code: str, name: str, field_: str, office: str, partner: str, authority: str, result: str,
                    days: float | None, lim: dict[str, Any], basis_laws: list[str], comment: str,
                    consult: str, site_check: str, signer: tuple[str, str] = UBND_VICE,
                    appraise: str | None = None, design_days: float | None = None,
                    extra: list[dict[str, Any]] | None = None, alloc_over: dict[str, int] | None = None,
                    names_over: dict[str, str] | None = None, step_over: dict[str, dict[str, Any]] | None = None,
                    **kw: Any) -> Proc:
    """A procedure with a parallel consultation (template lien_thong)."""
    d = alloc_lien_thong(days if days is not None else design_days)  # type: ignore[arg-type]
    d.update(alloc_over or {})
    names = {"appraise": appraise or "Thẩm định hồ sơ; gửi văn bản lấy ý kiến cơ quan phối hợp",
             "consult": consult, "site_check": site_check,
             "report": f"Tổng hợp ý kiến, lập báo cáo thẩm định, dự thảo {result}",
             "sign": f"{sign_title(signer)} xem xét, ký {result}"}
    names.update(names_over or {})
    over = dict(step_over or {})
    if signer != UBND_VICE:
        over.setdefault("sign", {}).update({"unit": signer[0], "role": signer[1]})
    return Proc(level="district", code=code, name=name, field=field_, authority=authority, signer=signer,
                legal_basis=basis_laws, limit=lim, template="lien_thong", with_={"office": office, "partner": partner},
                steps=steps_with(d, names, extra, **over), comment=comment, **kw)


def same_day_proc(*, level: str, code: str, name: str, field_: str, authority: str, signer: tuple[str, str],
                  lim: dict[str, Any], basis_laws: list[str], comment: str, names: dict[str, str],
                  reception: str, officer: str, clerk: tuple[str, str], durations: dict[str, int] | None = None,
                  **kw: Any) -> Proc:
    """A same-day procedure (template same_day)."""
    with_ = {"reception": reception, "officer": officer, "signer_unit": signer[0], "signer_role": signer[1],
             "clerk": clerk[0], "clerk_role": clerk[1]}
    return Proc(level=level, code=code, name=name, field=field_, authority=authority, signer=signer,
                legal_basis=basis_laws, limit=lim, template="same_day", with_=with_,
                steps=steps_with(durations or {}, names), comment=comment, **kw)


def commune_proc(*, code: str, name: str, field_: str, officer: str, authority: str, result: str, days: float,
                 lim: dict[str, Any], basis_laws: list[str], comment: str, appraise: str | None = None,
                 signer: tuple[str, str] = ("xa_lanh_dao", "chairman"), extra: list[dict[str, Any]] | None = None,
                 alloc_over: dict[str, int] | None = None, step_over: dict[str, dict[str, Any]] | None = None,
                 names_over: dict[str, str] | None = None, **kw: Any) -> Proc:
    """A multi-day commune procedure (template commune)."""
    d = alloc_commune(days)
    d.update(alloc_over or {})
    names = {"appraise": appraise or f"Thẩm tra hồ sơ, dự thảo {result}, trình Lãnh đạo UBND xã",
             "sign": f"{sign_title(signer)} ký {result}"}
    names.update(names_over or {})
    over = dict(step_over or {})
    if signer != ("xa_lanh_dao", "chairman"):
        over.setdefault("sign", {}).update({"unit": signer[0], "role": signer[1]})
    return Proc(level="commune", code=code, name=name, field=field_, authority=authority, signer=signer,
                legal_basis=basis_laws, limit=lim, template="commune", with_={"officer": officer},
                steps=steps_with(d, names, extra, **over), comment=comment, **kw)


# --------------------------------------------------------------------------- legal bases

LB_HKD = ["Nghị định số 01/2021/NĐ-CP ngày 04/01/2021 của Chính phủ về đăng ký doanh nghiệp",
          "Thông tư số 01/2021/TT-BKHĐT ngày 16/3/2021 của Bộ Kế hoạch và Đầu tư"]
LB_HTX = ["Luật Hợp tác xã số 23/2012/QH13 (đến 30/6/2024)",
          "Luật Hợp tác xã số 17/2023/QH15 (từ 01/7/2024)"]
LB_GPXD = ["Luật Xây dựng số 50/2014/QH13, sửa đổi, bổ sung bởi Luật số 62/2020/QH14",
           "Nghị định số 15/2021/NĐ-CP (đến 2024) và Nghị định số 175/2024/NĐ-CP"]
LB_WATER = ["Luật Giao thông đường thủy nội địa số 23/2004/QH11, sửa đổi, bổ sung bởi Luật số 48/2014/QH13",
            "Thông tư số 75/2014/TT-BGTVT của Bộ Giao thông vận tải về đăng ký phương tiện thủy nội địa"]
LB_HO_TICH = ["Luật Hộ tịch số 60/2014/QH13", "Nghị định số 123/2015/NĐ-CP ngày 15/11/2015 của Chính phủ",
              "Thông tư số 04/2020/TT-BTP ngày 28/5/2020 của Bộ Tư pháp"]
LB_CHUNG_THUC = ["Nghị định số 23/2015/NĐ-CP ngày 16/02/2015 của Chính phủ",
                 "Thông tư số 01/2020/TT-BTP ngày 03/3/2020 của Bộ Tư pháp"]
LB_RUOU = ["Nghị định số 105/2017/NĐ-CP ngày 14/9/2017 của Chính phủ về kinh doanh rượu",
           "Nghị định số 17/2020/NĐ-CP ngày 05/02/2020 của Chính phủ"]
LB_THUOC_LA = ["Nghị định số 67/2013/NĐ-CP ngày 27/6/2013 của Chính phủ",
               "Nghị định số 106/2017/NĐ-CP ngày 14/9/2017 của Chính phủ"]
LB_KARAOKE = ["Nghị định số 54/2019/NĐ-CP ngày 19/6/2019 của Chính phủ quy định về kinh doanh dịch vụ karaoke, "
              "dịch vụ vũ trường"]
LB_LE_HOI = ["Nghị định số 110/2018/NĐ-CP ngày 29/8/2018 của Chính phủ quy định về quản lý và tổ chức lễ hội"]
LB_TON_GIAO = ["Luật Tín ngưỡng, tôn giáo số 02/2016/QH14", "Nghị định số 95/2023/NĐ-CP của Chính phủ"]
LB_DAT_2024 = ["Luật Đất đai số 31/2024/QH15", "Nghị định số 102/2024/NĐ-CP ngày 30/7/2024 của Chính phủ"]
LB_GCN_2024 = ["Luật Đất đai số 31/2024/QH15", "Nghị định số 101/2024/NĐ-CP của Chính phủ"]
LB_DAT_2013 = ["Luật Đất đai số 45/2013/QH13 (đến 31/7/2024)", "Nghị định số 43/2014/NĐ-CP ngày 15/5/2014 của Chính phủ"]
LB_GD = ["Luật Giáo dục số 43/2019/QH14", "Nghị định số 46/2017/NĐ-CP ngày 21/4/2017 của Chính phủ, "
         "sửa đổi, bổ sung bởi Nghị định số 135/2018/NĐ-CP (đến 2024)", "Nghị định số 125/2024/NĐ-CP (từ 2024)"]
LB_ATTP = ["Luật An toàn thực phẩm số 55/2010/QH12", "Nghị định số 15/2018/NĐ-CP ngày 02/02/2018 của Chính phủ"]
LB_BTXH = ["Nghị định số 20/2021/NĐ-CP ngày 15/3/2021 của Chính phủ quy định chính sách trợ giúp xã hội "
           "đối với đối tượng bảo trợ xã hội"]
LB_TDKT = ["Luật Thi đua, khen thưởng số 06/2022/QH15", "Nghị định số 98/2023/NĐ-CP của Chính phủ"]
LB_PBGDPL = ["Luật Phổ biến, giáo dục pháp luật số 14/2012/QH13",
             "Thông tư số 10/2016/TT-BTP của Bộ Tư pháp quy định về báo cáo viên pháp luật, tuyên truyền viên pháp luật"]
LB_BVMT = ["Luật Bảo vệ môi trường số 72/2020/QH14", "Nghị định số 08/2022/NĐ-CP ngày 10/01/2022 của Chính phủ",
           "Thông tư số 02/2022/TT-BTNMT ngày 10/01/2022 của Bộ Tài nguyên và Môi trường"]
LB_NKT = ["Luật Người khuyết tật số 51/2010/QH12", "Nghị định số 28/2012/NĐ-CP ngày 10/4/2012 của Chính phủ",
          "Thông tư số 01/2019/TT-BLĐTBXH ngày 02/01/2019 của Bộ Lao động – Thương binh và Xã hội"]
LB_NHA_O = ["Luật Nhà ở số 27/2023/QH15"]

# --------------------------------------------------------------------------- the district catalogue

F_HKD = "Thành lập và hoạt động doanh nghiệp (hộ kinh doanh)"
F_HTX = "Thành lập và hoạt động của tổ hợp tác, hợp tác xã, liên hiệp hợp tác xã"
F_XD = "Hoạt động xây dựng"
F_WATER = "Hàng hải và đường thủy nội địa"
F_HO_TICH = "Hộ tịch"
F_CT = "Chứng thực"
F_LTHH = "Lưu thông hàng hóa trong nước"
F_DAT = "Đất đai"


def district() -> list[Proc]:
    out: list[Proc] = []

    # ---- household business (Phòng Tài chính – Kế hoạch signs as the district business registry)
    hkd = dict(field_=F_HKD, office="phong_tckh", basis_laws=LB_HKD, online="toan_trinh", clock="restart",
               authority="Phòng Tài chính – Kế hoạch thuộc UBND cấp huyện (cơ quan đăng ký kinh doanh cấp huyện)")
    hkd_note = "Phòng Tài chính – Kế hoạch là cơ quan đăng ký kinh doanh cấp huyện: Lãnh đạo Phòng ký."
    for code, name, days, result, src_basis in [
        ("1.001266", "Chấm dứt hoạt động hộ kinh doanh", 5,
         "Thông báo về việc chấm dứt hoạt động hộ kinh doanh", ""),
        ("1.001570", "Tạm ngừng kinh doanh, tiếp tục kinh doanh trước thời hạn đã thông báo của hộ kinh doanh", 1,
         "Giấy xác nhận về việc hộ kinh doanh tạm ngừng (tiếp tục) kinh doanh", ""),
        ("2.000720", "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh", 3,
         "Giấy chứng nhận đăng ký hộ kinh doanh", "trong thời hạn 03 ngày làm việc kể từ ngày nhận hồ sơ hợp lệ"),
    ]:
        out.append(office_proc(
            code=code, name=name, result=result, days=days, code_verified=True,
            lim=limit(days, f"{CSDL}, mã {code} ({crawl('bo-tai-chinh', code)}); thời hạn đọc từ trình tự thực hiện",
                      verified=True, basis=src_basis),
            comment=f"{name}: {OFFICE_SIGNS}, điều chỉnh cho vừa thời hạn {days} ngày làm việc. {hkd_note}",
            notes=[CLOCK_DKKD], **hkd))
    out.append(office_proc(
        code="2.000575", name="Cấp lại Giấy chứng nhận đăng ký hộ kinh doanh, Cấp đổi sang Giấy chứng nhận đăng ký hộ kinh doanh",
        result="Giấy chứng nhận đăng ký hộ kinh doanh (cấp lại, cấp đổi)", days=None, design_days=3,
        code_verified=True,
        lim=limit(None, f"{CSDL}, mã 2.000575 ({crawl('bo-tai-chinh', '2.000575')})", verified=False,
                  note="Bản ghi CSDL không cho thời hạn có đơn vị; các thủ tục hộ kinh doanh cùng nhóm là 03 ngày "
                       "làm việc — cần xác nhận. Các bước được thiết kế trong 03 ngày làm việc."),
        comment=f"Cấp lại, cấp đổi Giấy chứng nhận đăng ký hộ kinh doanh: {OFFICE_SIGNS}; chưa rõ thời hạn giải "
                "quyết theo quy định (để trống, đã đánh dấu cần kiểm tra), các bước được thiết kế trong 3 ngày "
                "làm việc như các thủ tục hộ kinh doanh cùng nhóm.",
        notes=[CLOCK_DKKD], **hkd))

    # ---- cooperatives (Phòng Tài chính – Kế hoạch, 3 working days each, all verified)
    htx = dict(field_=F_HTX, office="phong_tckh", basis_laws=LB_HTX, online="toan_trinh", clock="restart",
               authority="Phòng Tài chính – Kế hoạch thuộc UBND cấp huyện (cơ quan đăng ký hợp tác xã cấp huyện)")
    for code, name, result in [
        ("1.005010", "Chấm dứt hoạt động chi nhánh, văn phòng đại diện, địa điểm kinh doanh của hợp tác xã, liên hiệp hợp tác xã",
         "văn bản xác nhận chấm dứt hoạt động"),
        ("2.002638", "Cấp lại Giấy chứng nhận đăng ký tổ hợp tác/ Giấy chứng nhận đăng ký hợp tác xã/ Giấy chứng nhận đăng ký hoạt động chi nhánh, văn phòng đại diện/ Giấy chứng nhận đăng ký địa điểm kinh doanh của hợp tác xã, liên hiệp hợp tác xã do bị mất, cháy, rách, nát hoặc bị tiêu hủy",
         "Giấy chứng nhận đăng ký (cấp lại)"),
        ("1.004901", "Cấp đổi Giấy chứng nhận đăng ký hợp tác xã, liên hiệp hợp tác xã",
         "Giấy chứng nhận đăng ký hợp tác xã (cấp đổi)"),
        ("2.002648", "Hiệu đính, cập nhật, bổ sung thông tin đăng ký hợp tác xã, liên hiệp hợp tác xã, chi nhánh, văn phòng đại diện, địa điểm kinh doanh của hợp tác xã, liên hiệp hợp tác xã",
         "Giấy chứng nhận đăng ký đã hiệu đính, cập nhật"),
        ("2.002649", "Thông báo bổ sung, cập nhật thông tin trong hồ sơ đăng ký hợp tác xã, liên hiệp hợp tác xã",
         "văn bản xác nhận bổ sung, cập nhật thông tin"),
        ("1.004979", "Thông báo thay đổi nội dung đăng ký hợp tác xã, liên hiệp hợp tác xã; Thông báo thay đổi nội dung đăng ký đối với hợp tác xã, liên hiệp hợp tác xã bị tách, nhận sáp nhập",
         "Giấy xác nhận về việc thay đổi nội dung đăng ký"),
        ("2.002641", "Thông báo tạm ngừng kinh doanh, tiếp tục kinh doanh trở lại đối với tổ hợp tác, hợp tác xã, liên hiệp hợp tác xã, chi nhánh, văn phòng đại diện, địa điểm kinh doanh",
         "Giấy xác nhận về việc tạm ngừng (tiếp tục) kinh doanh"),
        ("2.001958", "Thông báo về việc thành lập doanh nghiệp của hợp tác xã, liên hiệp hợp tác xã",
         "văn bản xác nhận đã cập nhật thông tin"),
        ("1.004982", "Đăng ký giải thể hợp tác xã, liên hiệp hợp tác xã",
         "thông báo về việc giải thể hợp tác xã"),
        ("2.002123", "Đăng ký hoạt động chi nhánh, văn phòng đại diện, thông báo địa điểm kinh doanh; Thông báo lập chi nhánh, văn phòng đại diện ở nước ngoài của hợp tác xã, liên hiệp hợp tác xã",
         "Giấy chứng nhận đăng ký hoạt động chi nhánh, văn phòng đại diện, địa điểm kinh doanh"),
        ("1.005378", "Đăng ký thay đổi nội dung đăng ký hoạt động của chi nhánh, văn phòng đại diện, địa điểm kinh doanh của hợp tác xã, liên hiệp hợp tác xã",
         "Giấy chứng nhận đăng ký hoạt động (thay đổi)"),
        ("1.005277", "Đăng ký thay đổi nội dung đăng ký hợp tác xã, liên hiệp hợp tác xã; Đăng ký thay đổi nội dung đối với trường hợp hợp tác xã, liên hiệp hợp tác xã bị tách, nhận sáp nhập",
         "Giấy chứng nhận đăng ký hợp tác xã (thay đổi)"),
        ("1.005280", "Đăng ký thành lập hợp tác xã, liên hiệp hợp tác xã; đăng ký chuyển đổi tổ hợp tác thành hợp tác xã; đăng ký khi hợp tác xã, liên hiệp hợp tác xã chia, tách, hợp nhất",
         "Giấy chứng nhận đăng ký hợp tác xã"),
    ]:
        out.append(office_proc(
            code=code, name=name, result=result, days=3, code_verified=True,
            lim=limit(3, f"{CSDL}, mã {code} ({crawl('bo-tai-chinh', code)})", verified=True),
            comment=f"Đăng ký hợp tác xã tại cơ quan đăng ký kinh doanh cấp huyện: {OFFICE_SIGNS}, 3 ngày làm "
                    "việc (theo bản ghi trên CSDL quốc gia sau năm 2025; cần kiểm tra lại mức này có áp dụng trong "
                    "giai đoạn 2022–2024 không).",
            notes=[CLOCK_DKKD], **htx))

    # ---- construction permits (Phòng Quản lý đô thị; UBND huyện signs)
    gpxd_basis = "Trong thời hạn 20 ngày (hoặc 15 ngày đối với nhà ở riêng lẻ) kể từ ngày nhận đủ hồ sơ hợp lệ"
    gpxd_note = ("Nguồn ghi 'ngày', không nói ngày làm việc; quy trình theo mức 15 ngày (nhà ở riêng lẻ), ngắn "
                 "hơn mức 20 ngày của công trình — cần xác nhận.")
    for code, name, verb, src_note in [
        ("1.013229", "Cấp giấy phép xây dựng sửa chữa, cải tạo đối với công trình cấp III, cấp IV (công trình Không theo tuyến/Theo tuyến trong đô thị/Tín ngưỡng, tôn giáo/Tượng đài, tranh hoành tráng/Theo giai đoạn cho công trình không theo tuyến/Theo giai đoạn cho công trình theo tuyến trong đô thị/Dự án) và nhà ở riêng lẻ",
         "giấy phép xây dựng sửa chữa, cải tạo", "bản ghi ghi '15 Ngày'"),
        ("1.013226", "Cấp điều chỉnh giấy phép xây dựng đối với công trình cấp III, cấp IV (công trình Không theo tuyến/Theo tuyến trong đô thị/Tín ngưỡng, tôn giáo/Tượng đài, tranh hoành tráng/Theo giai đoạn cho công trình không theo tuyến/Theo giai đoạn cho công trình theo tuyến trong đô thị/Dự án) và nhà ở riêng lẻ",
         "giấy phép xây dựng điều chỉnh", "bản ghi ghi '20 Ngày'; trình tự: thẩm định, thông báo bổ sung một lần trong 07 ngày làm việc; cơ quan được hỏi ý kiến trả lời trong 12 ngày"),
        ("1.013232", "Cấp giấy phép di dời đối với công trình cấp III, cấp IV (Công trình không theo tuyến/Theo tuyến trong đô thị/Tín ngưỡng, tôn giáo/Tượng đài, tranh hoành tráng/Theo giai đoạn cho công trình không theo tuyến/Theo giai đoạn cho công trình theo tuyến trong đô thị/Dự án) và nhà ở riêng lẻ",
         "giấy phép di dời công trình", "bản ghi của thủ tục này chưa được đọc trực tiếp; mức 20/15 ngày theo Luật Xây dựng áp dụng chung cho giấy phép xây dựng, kể cả điều chỉnh, di dời"),
    ]:
        out.append(lien_thong_proc(
            code=code, name=name, field_=F_XD, office="phong_qldt", partner="ubnd_xa_noi_co_dat",
            authority="Ủy ban nhân dân cấp huyện", result=verb, days=15, code_verified=True,
            lim=limit(15, f"{CSDL}, mã {code} ({crawl('bo-xay-dung', code)}); {src_note}", verified=False,
                      basis=gpxd_basis, note=gpxd_note),
            basis_laws=LB_GPXD,
            appraise="Thẩm định hồ sơ (thông báo bổ sung một lần nếu thiếu); gửi lấy ý kiến UBND xã nơi có công trình",
            consult="UBND xã nơi có công trình có ý kiến về sự phù hợp quy hoạch, hiện trạng",
            site_check="Kiểm tra thực địa công trình, lập biên bản",
            alloc_over={"appraise": 2 * D, "consult": 7 * D, "site_check": 3 * D, "report": 2 * D, "check": D,
                        "sign": D, "issue": 4 * H, "deliver": 4 * H, "receive": 4 * H, "assign": 4 * H},
            comment=f"Giấy phép xây dựng công trình cấp III, cấp IV và nhà ở riêng lẻ: {LIEN_THONG}: lấy ý kiến "
                    "UBND xã nơi có công trình trong khi Phòng Quản lý đô thị kiểm tra thực địa (như quy trình mẫu "
                    "1.013225).",
            notes=[CLOCK_TBC]))
    for code, name, result in [
        ("1.013228", "Cấp lại giấy phép xây dựng đối với công trình cấp III, cấp IV (công trình Không theo tuyến/Theo tuyến trong đô thị/Tín ngưỡng, tôn giáo/Tượng đài, tranh hoành tráng/Sửa chữa, cải tạo/Theo giai đoạn cho công trình không theo tuyến/Theo giai đoạn cho công trình theo tuyến trong đô thị/Dự án) và nhà ở riêng lẻ",
         "giấy phép xây dựng (cấp lại)"),
        ("1.013227", "Gia hạn giấy phép xây dựng đối với công trình cấp III, cấp IV (công trình Không theo tuyến/Theo tuyến trong đô thị/Tín ngưỡng, tôn giáo/Tượng đài, tranh hoành tráng/Sửa chữa, cải tạo/Theo giai đoạn cho công trình không theo tuyến/Theo giai đoạn cho công trình theo tuyến trong đô thị/Dự án) và nhà ở riêng lẻ",
         "giấy phép xây dựng (gia hạn)"),
    ]:
        out.append(standard_proc(
            code=code, name=name, field_=F_XD, office="phong_qldt", authority="Ủy ban nhân dân cấp huyện",
            result=result, days=5, code_verified=True,
            lim=limit(5, f"{CSDL}, mã {code} ({crawl('bo-xay-dung', code)})", verified=True),
            basis_laws=LB_GPXD, comment=f"{result.capitalize()}: {STANDARD}, trong 5 ngày làm việc.",
            notes=[CLOCK_TBC]))

    # ---- inland waterway vehicles (Phòng Quản lý đô thị as the district registry)
    water = dict(field_=F_WATER, office="phong_qldt", basis_laws=LB_WATER, code_verified=True,
                 authority="Cơ quan đăng ký phương tiện thủy nội địa cấp huyện (Phòng Quản lý đô thị)",
                 result="Giấy chứng nhận đăng ký phương tiện thủy nội địa")
    for code, name, days in [
        ("1.004036", "Đăng ký lại phương tiện trong trường hợp chuyển từ cơ quan đăng ký khác sang cơ quan đăng ký phương tiện thủy nội địa", 2),
        ("2.001215", "Đăng ký phương tiện hoạt động vui chơi, giải trí dưới nước lần đầu", 3),
        ("1.004088", "Đăng ký phương tiện lần đầu đối với phương tiện chưa khai thác trên đường thủy nội địa", 2),
        ("1.004047", "Đăng ký phương tiện lần đầu đối với phương tiện đang khai thác trên đường thủy nội địa", 2),
    ]:
        out.append(office_proc(
            code=code, name=name, days=days,
            lim=limit(days, f"{CSDL}, mã {code} ({crawl('bo-xay-dung', code)})", verified=True),
            comment=f"Đăng ký phương tiện thủy nội địa: {OFFICE_SIGNS}, trong {days} ngày làm việc. Cần xác nhận "
                    "UBND huyện giao phòng nào làm cơ quan đăng ký (Phòng Quản lý đô thị hay Phòng Kinh tế).",
            notes=[CLOCK_TBC, "Đơn vị được giao làm cơ quan đăng ký phương tiện cấp huyện (Phòng Quản lý đô thị "
                   "hay Phòng Kinh tế) cần xác nhận."], **water))

    # ---- apartment boards
    out.append(standard_proc(
        code="1.012888", name="Công nhận Ban quản trị nhà chung cư", field_="Nhà ở và công sở", office="phong_qldt",
        authority="Ủy ban nhân dân cấp huyện", result="Quyết định công nhận Ban quản trị nhà chung cư", days=7,
        code_verified=True,
        lim=limit(7, f"{CSDL}, mã 1.012888 ({crawl('bo-xay-dung', '1.012888')}): 'Ủy ban nhân dân cấp huyện có "
                     "trách nhiệm kiểm tra và ban hành quyết định'", verified=True),
        basis_laws=LB_NHA_O, comment=f"Công nhận Ban quản trị nhà chung cư: {STANDARD}, trong 7 ngày.",
        notes=[CLOCK_TBC]))

    out += ho_tich_district()
    out += chung_thuc_district()
    out += trade_culture_religion()
    out += land()
    out += education_health_social()
    return out


def ho_tich_district() -> list[Proc]:
    out: list[Proc] = []
    base = dict(field_=F_HO_TICH, office="phong_tu_phap", basis_laws=LB_HO_TICH, clock="restart",
                code_verified=True, authority="Ủy ban nhân dân cấp huyện (Phòng Tư pháp tham mưu)")

    def rec(code: str) -> str:
        return f"{CSDL}, mã {code} ({crawl('bo-tu-phap', code)})"

    # same-day registrations at the district (Luật Hộ tịch: "Ngay sau khi nhận đủ giấy tờ")
    for code, name, article, what, note in [
        ("2.000528", "Thủ tục đăng ký khai sinh có yếu tố nước ngoài", "Điều 36 khoản 2",
         ("Giấy khai sinh", "Kiểm tra giấy tờ, ghi Sổ đăng ký khai sinh; người đi đăng ký ký Sổ; trình ký Giấy khai sinh"),
         "Luật ghi 'ngay sau khi nhận đủ giấy tờ'; bản ghi CSDL (bản 2025) chỉ ghi một con số không đơn vị; "
         "mốc 15 giờ theo thực tiễn trả kết quả trong ngày — cần xác nhận."),
        ("1.001766", "Thủ tục đăng ký khai tử có yếu tố nước ngoài", "Điều 52 khoản 2",
         ("Trích lục khai tử", "Kiểm tra giấy tờ, ghi Sổ đăng ký khai tử; người đi khai tử ký Sổ; trình ký Trích lục"),
         "Luật ghi 'ngay sau khi nhận đủ giấy tờ'; trường hợp cần xác minh thì không quá 03 ngày làm việc (chưa "
         "mô hình hóa nhánh xác minh); mốc 15 giờ theo thực tiễn — cần xác nhận."),
    ]:
        out.append(same_day_proc(
            level="district", code=code, name=name, field_=F_HO_TICH, signer=UBND_CHAIR,
            authority="Chủ tịch Ủy ban nhân dân cấp huyện (Phòng Tư pháp tham mưu)", code_verified=True,
            lim=same_day_limit(f"Luật Hộ tịch số 60/2014/QH13, {article} ({PHAP_DIEN_HO_TICH}); {rec(code)}",
                               basis=("Ngay sau khi nhận đủ giấy tờ..., công chức làm công tác hộ tịch ghi vào Sổ "
                                      "hộ tịch... Phòng Tư pháp báo cáo Chủ tịch Ủy ban nhân dân cấp huyện cấp "
                                      f"{what[0]}"), note=note),
            basis_laws=LB_HO_TICH, reception="bp_mot_cua", officer="phong_tu_phap", clerk=("van_phong", "clerk"),
            names={"process": what[1], "sign": f"Chủ tịch UBND huyện (hoặc Phó Chủ tịch được phân công) ký {what[0]}",
                   "deliver": f"Trả {what[0]}; thu lệ phí (nếu có)"},
            comment=f"{name}: {SAME_DAY} ở cấp huyện (Phòng Tư pháp ghi sổ, Chủ tịch UBND huyện ký, Văn phòng "
                    "HĐND và UBND huyện đóng dấu), gói trong hai giờ làm việc từ giờ chốt nhận hồ sơ đến hết giờ "
                    "làm việc.",
            online="toan_trinh", clock="restart", notes=[CLOCK_HO_TICH]))

    # multi-day registrations with the law's limit in working days
    for code, name, days, article, basis, result, src_extra in [
        ("2.000748", "Thủ tục thay đổi, cải chính, bổ sung thông tin hộ tịch, xác định lại dân tộc có yếu tố nước ngoài",
         3, "Điều 47 và Điều 28 khoản 2",
         "Trong thời hạn 03 ngày làm việc kể từ ngày nhận đủ giấy tờ...; trường hợp cần phải xác minh thì thời hạn "
         "được kéo dài thêm không quá 03 ngày làm việc", "Trích lục thay đổi, cải chính hộ tịch", ""),
        ("1.001669", "Thủ tục đăng ký giám hộ có yếu tố nước ngoài", 5, "Điều 40 khoản 2",
         "Trong thời hạn 05 ngày làm việc kể từ ngày nhận đủ giấy tờ..., công chức làm công tác hộ tịch xác minh... "
         "Phòng Tư pháp báo cáo Chủ tịch Ủy ban nhân dân cấp huyện cấp trích lục", "Trích lục đăng ký giám hộ",
         "; bản ghi CSDL (bản 2025) ghi số không đơn vị"),
    ]:
        out.append(standard_proc(
            code=code, name=name, result=result, days=days, signer=UBND_CHAIR,
            lim=limit(days, f"Luật Hộ tịch số 60/2014/QH13, {article} ({PHAP_DIEN_HO_TICH}); {rec(code)}{src_extra}",
                      verified=True, basis=basis),
            comment=f"{name}: {STANDARD}, trong {days} ngày làm việc; Chủ tịch UBND huyện ký (Luật Hộ tịch).",
            online="mot_phan", notes=[CLOCK_HO_TICH], **base))
    out.append(standard_proc(
        code="2.000756", name="Thủ tục đăng ký chấm dứt giám hộ có yếu tố nước ngoài", result="Trích lục đăng ký chấm dứt giám hộ",
        days=2, signer=UBND_CHAIR,
        lim=limit(2, rec("2.000756"), verified=True,
                  basis="Luật Hộ tịch, Điều 42 dẫn chiếu Điều 22 khoản 2: trong thời hạn 02 ngày làm việc"),
        comment=f"Đăng ký chấm dứt giám hộ có yếu tố nước ngoài: {STANDARD}, trong 2 ngày làm việc.",
        online="mot_phan", notes=[CLOCK_HO_TICH], **base))

    # limits from the national records (unit not stated) or from the law in calendar days
    out.append(standard_proc(
        code="2.000547", name="Thủ tục ghi vào Sổ hộ tịch việc hộ tịch khác của công dân Việt Nam đã được giải quyết tại cơ quan có thẩm quyền của nước ngoài (khai sinh; giám hộ; nhận cha, mẹ, con; xác định cha, mẹ, con; nuôi con nuôi; khai tử; thay đổi hộ tịch)",
        result="Trích lục ghi vào Sổ hộ tịch", days=3, signer=UBND_CHAIR,
        lim=limit(3, f"Luật Hộ tịch số 60/2014/QH13, Điều 49 khoản 2 ({PHAP_DIEN_HO_TICH}); {rec('2.000547')}",
                  verified=False,
                  basis="Sau khi nhận đủ giấy tờ..., công chức làm công tác hộ tịch kiểm tra, nếu thấy yêu cầu là phù "
                        "hợp thì ghi vào Sổ hộ tịch... Trong trường hợp phải xác minh thì thời hạn giải quyết không "
                        "quá 03 ngày làm việc",
                  note="Luật chỉ nêu 03 ngày làm việc cho trường hợp phải xác minh; trường hợp thường giải quyết ngay. "
                       "Quy trình theo mức trần 03 ngày làm việc — cần xác nhận."),
        comment=f"Ghi vào Sổ hộ tịch việc hộ tịch đã được giải quyết ở nước ngoài: {STANDARD}, trong mức tối đa "
                "3 ngày làm việc mà luật quy định cho trường hợp phải xác minh.",
        online="mot_phan", notes=[CLOCK_HO_TICH], **base))
    for code, name, result in [
        ("2.002189", "Thủ tục ghi vào Sổ hộ tịch việc kết hôn của công dân Việt Nam đã được giải quyết tại cơ quan có thẩm quyền của nước ngoài",
         "Trích lục ghi chú kết hôn"),
        ("2.000554", "Thủ tục ghi vào Sổ hộ tịch việc ly hôn, hủy việc kết hôn của công dân Việt Nam đã được giải quyết tại cơ quan có thẩm quyền của nước ngoài",
         "Trích lục ghi chú ly hôn"),
    ]:
        out.append(standard_proc(
            code=code, name=name, result=result, days=12, signer=UBND_CHAIR,
            lim=limit(12, f"Luật Hộ tịch số 60/2014/QH13, Điều 50 khoản 2 ({PHAP_DIEN_HO_TICH}); {rec(code)}",
                      verified=False,
                      basis="Trong thời hạn 12 ngày kể từ ngày nhận đủ hồ sơ hợp lệ..., công chức làm công tác hộ "
                            "tịch ghi vào Sổ hộ tịch. Phòng Tư pháp báo cáo Chủ tịch Ủy ban nhân dân cấp huyện cấp "
                            "trích lục",
                      note="Luật ghi '12 ngày', không nói ngày làm việc — cần xác nhận."),
            comment=f"{result}: {STANDARD}, trong 12 ngày.", online="mot_phan", notes=[CLOCK_HO_TICH], **base))
    out.append(standard_proc(
        code="2.000806", name="Thủ tục đăng ký kết hôn có yếu tố nước ngoài", result="Giấy chứng nhận kết hôn",
        days=15, signer=UBND_CHAIR,
        appraise="Nghiên cứu, thẩm tra hồ sơ, xác minh điều kiện kết hôn; báo cáo Lãnh đạo Phòng",
        lim=limit(15, f"Luật Hộ tịch số 60/2014/QH13, Điều 38 khoản 2 ({PHAP_DIEN_HO_TICH}); {rec('2.000806')}",
                  verified=False,
                  basis="Trong thời hạn 15 ngày kể từ ngày nhận đủ giấy tờ..., công chức làm công tác hộ tịch có "
                        "trách nhiệm xác minh, nếu thấy đủ điều kiện kết hôn... thì Phòng Tư pháp báo cáo Chủ tịch "
                        "Ủy ban nhân dân cấp huyện giải quyết",
                  note="Luật ghi '15 ngày', không nói ngày làm việc; bản ghi CSDL bản 2025 ghi '5' (sau cải cách "
                       "2025) — cần xác nhận mức áp dụng 2022–2025."),
        extra=[{"id": "interview", "after": "appraise",
                "name": "Làm việc trực tiếp với hai bên nam, nữ để làm rõ nhân thân, sự tự nguyện, mục đích kết hôn (nếu cần)",
                "unit": "phong_tu_phap", "role": "staff", "duration": 2 * D, "routes": {"done": "check"}}],
        step_over={"appraise": {"routes": {"ok": "interview"}}},
        names_over={"deliver": "Tổ chức trao Giấy chứng nhận kết hôn; hai bên nam, nữ ký Sổ và Giấy chứng nhận kết hôn"},
        alloc_over={"appraise": 9 * D},
        comment=f"Đăng ký kết hôn có yếu tố nước ngoài: {STANDARD}, thêm bước phỏng vấn sau bước thẩm định; Chủ "
                "tịch UBND huyện ký và Giấy chứng nhận kết hôn được trao trực tiếp cho hai bên.",
        online="mot_phan", notes=[CLOCK_HO_TICH], **base))

    for code, name, days, result, src, basis, note in [
        ("1.000893", "Thủ tục đăng ký khai sinh có yếu tố nước ngoài cho người đã có hồ sơ, giấy tờ cá nhân", 5,
         "Giấy khai sinh", rec("1.000893") + "; bản ghi ghi '5' không đơn vị", "",
         "Bản ghi CSDL (bản 2025) ghi '5' không đơn vị. Khi giấy tờ không chứng minh được quan hệ cha, mẹ, con, "
         "cơ quan đăng ký đề nghị Công an xác minh (tối đa 20 ngày) — nhánh này chưa mô hình hóa. Cần xác nhận."),
        ("2.000522", "Thủ tục đăng ký lại khai sinh có yếu tố nước ngoài", 5, "Giấy khai sinh (đăng ký lại)",
         rec("2.000522") + "; bản ghi ghi '5' không đơn vị", "",
         "Bản ghi CSDL (bản 2025) ghi '5' không đơn vị — cần xác nhận mức 2022–2025."),
    ]:
        out.append(standard_proc(
            code=code, name=name, result=result, days=days, signer=UBND_CHAIR,
            lim=limit(days, src, verified=False, basis=basis, note=note),
            comment=f"{name}: {STANDARD}, trong {days} ngày làm việc.", online="mot_phan",
            notes=[CLOCK_HO_TICH], **base))

    # acknowledgement of paternity: posted 7 consecutive days at the district and at the commune (in parallel)
    for code, name, days, result, src, basis, note in [
        ("2.000779", "Thủ tục đăng ký nhận cha, mẹ, con có yếu tố nước ngoài", 15, "Trích lục đăng ký nhận cha, mẹ, con",
         f"Luật Hộ tịch số 60/2014/QH13, Điều 44 khoản 2 ({PHAP_DIEN_HO_TICH}); {rec('2.000779')}",
         "Trong thời hạn 15 ngày kể từ ngày nhận đủ giấy tờ..., công chức làm công tác hộ tịch xác minh, niêm yết "
         "việc nhận cha, mẹ, con tại trụ sở Ủy ban nhân dân cấp huyện trong thời gian 07 ngày liên tục, đồng thời "
         "gửi văn bản đề nghị Ủy ban nhân dân cấp xã nơi thường trú của người được nhận là cha, mẹ, con niêm yết",
         "Luật ghi '15 ngày', không nói ngày làm việc; bản ghi CSDL bản 2025 ghi '10 Ngày' — cần xác nhận."),
        ("1.001695", "Thủ tục đăng ký khai sinh kết hợp đăng ký nhận cha, mẹ, con có yếu tố nước ngoài", 10,
         "Giấy khai sinh và Trích lục đăng ký nhận cha, mẹ, con", rec("1.001695") + "; bản ghi ghi '10 Ngày'",
         "Thủ tục nhận cha, mẹ, con (Luật Hộ tịch, Điều 44) kết hợp đăng ký khai sinh",
         "Bản ghi CSDL (bản 2025) ghi '10 Ngày' (ngày theo lịch?); Luật Hộ tịch, Điều 44 cho việc nhận cha, mẹ, "
         "con ghi 15 ngày. Quy trình theo mức chặt hơn (10) — cần xác nhận."),
    ]:
        out.append(lien_thong_proc(
            code=code, name=name, field_=F_HO_TICH, office="phong_tu_phap", partner="ubnd_xa_noi_cu_tru",
            authority="Chủ tịch Ủy ban nhân dân cấp huyện (Phòng Tư pháp tham mưu)", result=result, days=days,
            signer=UBND_CHAIR, code_verified=True, lim=limit(days, src, verified=False, basis=basis, note=note),
            basis_laws=LB_HO_TICH,
            appraise="Thẩm tra, xác minh hồ sơ; gửi văn bản đề nghị UBND xã nơi thường trú niêm yết",
            consult="UBND xã nơi thường trú của người được nhận niêm yết việc nhận cha, mẹ, con 07 ngày liên tục, báo kết quả",
            site_check="Niêm yết việc nhận cha, mẹ, con tại trụ sở UBND huyện 07 ngày liên tục",
            alloc_over={"receive": 4 * H, "assign": 4 * H, "appraise": 3 * D, "consult": 5 * D, "site_check": 5 * D,
                        "report": 2 * D, "check": D, "sign": 2 * D, "issue": 4 * H, "deliver": 4 * H} if days >= 15 else
            {"receive": 2 * H, "assign": 2 * H, "appraise": m("2.5d"), "consult": 5 * D, "site_check": 5 * D,
             "report": 4 * H, "check": 4 * H, "sign": 4 * H, "issue": 2 * H, "deliver": 2 * H},
            names_over={"deliver": f"Các bên có mặt ký Sổ hộ tịch; trả {result}"},
            comment=f"{name}: {LIEN_THONG}; hai lần niêm yết 7 ngày (tại UBND huyện và tại UBND xã) diễn ra song "
                    "song.",
            online="mot_phan", clock="restart", notes=[CLOCK_HO_TICH]))
    return out


def chung_thuc_district() -> list[Proc]:
    out: list[Proc] = []
    art7 = ("Thời hạn thực hiện yêu cầu chứng thực là ngay trong ngày cơ quan, tổ chức tiếp nhận yêu cầu hoặc "
            "trong ngày làm việc tiếp theo nếu tiếp nhận yêu cầu sau 15 giờ")
    art7_note = ("Lời văn theo CSDL quốc gia (trích trong dữ liệu mẫu của một kho mã công khai); Điều 7 Nghị định "
                 "23/2015/NĐ-CP chưa đọc trực tiếp. Yêu cầu số lượng lớn có thể kéo dài theo thỏa thuận — cần xác nhận.")
    for code, name, what, article in [
        ("2.000815", "Chứng thực bản sao từ bản chính giấy tờ, văn bản do cơ quan, tổ chức có thẩm quyền của Việt Nam; cơ quan, tổ chức có thẩm quyền của nước ngoài; cơ quan, tổ chức có thẩm quyền của Việt Nam liên kết với cơ quan, tổ chức có thẩm quyền của nước ngoài cấp hoặc chứng nhận",
         ("Đối chiếu bản sao với bản chính, ghi lời chứng, ghi sổ chứng thực", "bản sao"), "Điều 7 (dẫn chiếu từ Điều 20)"),
        ("2.001008", "Chứng thực chữ ký người dịch mà người dịch không phải là cộng tác viên dịch thuật của Ủy ban nhân dân cấp xã, tổ chức hành nghề công chứng",
         ("Kiểm tra giấy tờ, người dịch ký trước mặt; ghi lời chứng, ghi sổ chứng thực", "bản dịch"), "Điều 33 dẫn chiếu Điều 7"),
        ("2.000992", "Chứng thực chữ ký người dịch mà người dịch là cộng tác viên dịch thuật của Ủy ban nhân dân cấp xã, tổ chức hành nghề công chứng",
         ("Đối chiếu chữ ký người dịch với chữ ký mẫu; ghi lời chứng, ghi sổ chứng thực", "bản dịch"), "Điều 33 dẫn chiếu Điều 7"),
    ]:
        out.append(same_day_proc(
            level="district", code=code, name=name, field_=F_CT, signer=("phong_tu_phap", "head"),
            authority="Phòng Tư pháp thuộc UBND cấp huyện (Trưởng phòng, Phó Trưởng phòng ký chứng thực)",
            code_verified=True,
            lim=same_day_limit(f"Nghị định số 23/2015/NĐ-CP, {article} ({PHAP_DIEN_CHUNG_THUC}); "
                               f"{CSDL}, mã {code} ({crawl('bo-tu-phap', code)})", basis=art7, note=art7_note),
            basis_laws=LB_CHUNG_THUC, reception="bp_mot_cua", officer="phong_tu_phap",
            clerk=("phong_tu_phap", "staff"),
            names={"process": what[0], "sign": f"Lãnh đạo Phòng Tư pháp ký chứng thực {what[1]}",
                   "issue": "Ghi số chứng thực, đóng dấu Phòng Tư pháp"},
            comment=f"Chứng thực tại cấp huyện (Phòng Tư pháp): {SAME_DAY}; Lãnh đạo Phòng ký và đóng dấu của "
                    "Phòng.", online="none", notes=[CLOCK_TBC]))
    out.append(office_proc(
        code="2.000913", name="Chứng thực việc sửa đổi, bổ sung, hủy bỏ giao dịch", field_=F_CT, office="phong_tu_phap",
        authority="Phòng Tư pháp thuộc UBND cấp huyện (Trưởng phòng, Phó Trưởng phòng ký chứng thực)",
        result="lời chứng chứng thực việc sửa đổi, bổ sung, hủy bỏ giao dịch", days=2, code_verified=True,
        appraise="Kiểm tra hồ sơ, các bên ký trước mặt người thực hiện chứng thực; ghi lời chứng, trình ký",
        lim=limit(2, f"Nghị định số 23/2015/NĐ-CP, Điều 37 ({PHAP_DIEN_CHUNG_THUC}); {CSDL}, mã 2.000913 "
                     f"({crawl('bo-tu-phap', '2.000913')})", verified=False,
                  basis="Thời hạn chứng thực hợp đồng, giao dịch không quá 02 (hai) ngày làm việc, kể từ ngày nhận "
                        "đủ hồ sơ yêu cầu chứng thực hoặc có thể kéo dài hơn theo thỏa thuận bằng văn bản",
                  note="Điều 37 nói về chứng thực hợp đồng, giao dịch; việc sửa đổi, bổ sung, hủy bỏ (Điều 38) theo "
                       "cùng thủ tục nên giả định cùng thời hạn — cần xác nhận."),
        basis_laws=LB_CHUNG_THUC, online="none",
        comment="Chứng thực việc sửa đổi, bổ sung, hủy bỏ giao dịch: mẫu quy trình office_signs (Phòng Tư pháp "
                "ký), trong 2 ngày làm việc.",
        notes=[CLOCK_TBC]))
    return out


def trade_culture_religion() -> list[Proc]:
    out: list[Proc] = []
    trade = dict(field_=F_LTHH, office="phong_kinh_te", authority="Phòng Kinh tế thuộc UBND cấp huyện")
    out.append(office_proc(
        code="2.000620", name="Cấp Giấy phép bán lẻ rượu", result="Giấy phép bán lẻ rượu", days=8, code_verified=True,
        appraise="Thẩm định hồ sơ, kiểm tra điều kiện địa điểm kinh doanh; dự thảo Giấy phép",
        lim=limit(8, "Cổng DVC tỉnh Cao Bằng (https://dichvucong.caobang.gov.vn/dich-vu-cong/tra-cuu/chi-tiet-thu-tuc?ma-thu-tuc=23778)",
                  verified=True, note="Trang của một tỉnh; thời hạn có thể đã được địa phương rút ngắn — đối chiếu "
                                      "với danh mục của Hà Nội."),
        basis_laws=LB_RUOU, comment="Cấp Giấy phép bán lẻ rượu: mẫu quy trình office_signs (Phòng Kinh tế là cơ "
                                    "quan cấp phép và ký), trong 8 ngày.",
        notes=[CLOCK_TBC], **trade))
    out.append(office_proc(
        code="", name="Cấp lại Giấy phép bán lẻ rượu", result="Giấy phép bán lẻ rượu (cấp lại)", days=7,
        lim=limit(7, f"{CSDL}, trang chi tiết thủ tục (https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html?ma_thu_tuc=183327)",
                  verified=False, note="Nguồn: 07 ngày làm việc khi giấy phép bị mất, hỏng; 10 ngày khi hết hạn. "
                                       "Quy trình theo mức 07 — cần xác nhận; mã TTHC chưa xác định."),
        basis_laws=LB_RUOU, comment=f"Cấp lại Giấy phép bán lẻ rượu: {OFFICE_SIGNS}, trong 7 ngày; chưa rõ mã "
                                    "thủ tục quốc gia.",
        notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."], **trade))
    out.append(office_proc(
        code="", name="Cấp Giấy phép bán lẻ sản phẩm thuốc lá", result="Giấy phép bán lẻ sản phẩm thuốc lá", days=15,
        appraise="Thẩm định hồ sơ, kiểm tra điều kiện địa điểm kinh doanh; dự thảo Giấy phép",
        lim=limit(15, f"{CSDL}, trang chi tiết thủ tục (https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html?ma_thu_tuc=161785)",
                  verified=False, note="Nguồn ghi 15 (đơn vị chưa đối chiếu); mã TTHC chưa xác định."),
        basis_laws=LB_THUOC_LA, comment=f"Cấp Giấy phép bán lẻ sản phẩm thuốc lá: {OFFICE_SIGNS}, trong 15 ngày; "
                                        "chưa rõ mã thủ tục quốc gia.",
        notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."], **trade))
    out.append(office_proc(
        code="2.000162", name="Cấp sửa đổi, bổ sung Giấy phép bán lẻ sản phẩm thuốc lá",
        result="Giấy phép bán lẻ sản phẩm thuốc lá (sửa đổi, bổ sung)", days=15, code_verified=True,
        lim=limit(15, f"{CSDL}, mã 2.000162 (https://dichvucong.gov.vn/p/home/dvc-chi-tiet-thu-tuc-hanh-chinh.html?ma_thu_tuc=2.000162)",
                  verified=True),
        basis_laws=LB_THUOC_LA, comment=f"Sửa đổi, bổ sung Giấy phép bán lẻ sản phẩm thuốc lá: {OFFICE_SIGNS}, "
                                        "trong 15 ngày làm việc.",
        notes=[CLOCK_TBC], **trade))

    # culture
    out.append(standard_proc(
        code="1.000963", name="Thủ tục cấp Giấy phép điều chỉnh Giấy phép đủ điều kiện kinh doanh dịch vụ karaoke",
        field_="Văn hóa", office="phong_vhtt", authority="Ủy ban nhân dân cấp huyện (được phân cấp cấp giấy phép)",
        result="Giấy phép điều chỉnh Giấy phép đủ điều kiện kinh doanh dịch vụ karaoke", days=4, code_verified=True,
        lim=limit(4, "https://ls1.hethongphapluat.com/thu-tuc-cap-giay-php-dieu-chinh-giay-php-du-dieu-kien-kinh-doanh-dich-vu-karaoke.html",
                  verified=True),
        basis_laws=LB_KARAOKE, comment=f"Điều chỉnh Giấy phép đủ điều kiện kinh doanh dịch vụ karaoke: {STANDARD}, "
                                       "trong 4 ngày làm việc.",
        notes=[CLOCK_TBC, "Hà Nội giao cấp phép karaoke cho cấp huyện theo phân cấp; quyết định phân cấp cần xác nhận."]))
    out.append(lien_thong_proc(
        code="", name="Thủ tục đăng ký tổ chức lễ hội cấp huyện", field_="Văn hóa", office="phong_vhtt",
        partner="cong_an_huyen", authority="Ủy ban nhân dân cấp huyện", result="văn bản chấp thuận tổ chức lễ hội",
        days=10,
        lim=limit(10, "Trang TTHC Cẩm Phả (https://tthcc.campha.gov.vn/tthcc/chi-tiet-thu-tuc-hanh-chinh/%C4%91ang-ky-to-chuc-le-hoi-23817); "
                      "đối chiếu: CSDL quốc gia (https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html?ma_thu_tuc=141894)",
                  verified=False,
                  basis="Trong thời hạn 10 ngày, kể từ ngày nhận được hồ sơ đăng ký hợp lệ, Phòng Văn hóa và Thông tin "
                        "cấp huyện có trách nhiệm thẩm định...",
                  note="Các nguồn khác nhau: 10 ngày (Cẩm Phả), 16 ngày (Bình Xuyên), 19 ngày (bản ghi địa phương "
                       "trên CSDL quốc gia); đơn vị ngày chưa rõ. Quy trình theo mức chặt nhất (10) — cần xác nhận; "
                       "mã TTHC chưa xác định."),
        basis_laws=LB_LE_HOI,
        appraise="Thẩm định hồ sơ, chương trình lễ hội; gửi Công an huyện phương án bảo đảm an ninh trật tự",
        consult="Công an huyện cho ý kiến về phương án bảo đảm an ninh trật tự, phòng chống cháy nổ",
        site_check="Làm việc với Ban tổ chức, kiểm tra địa điểm tổ chức lễ hội",
        comment=f"Đăng ký tổ chức lễ hội cấp huyện: {LIEN_THONG}: lấy ý kiến Công an huyện về phương án bảo đảm "
                "an ninh trong khi Phòng Văn hóa và Thông tin kiểm tra địa điểm; UBND huyện chấp thuận bằng văn "
                "bản.",
        notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."]))

    # religion (Phòng Nội vụ)
    out.append(office_proc(
        code="1.000316",
        name="Thủ tục thông báo danh mục hoạt động tôn giáo bổ sung đối với tổ chức có địa bàn hoạt động tôn giáo ở nhiều xã thuộc một huyện",
        field_="Tôn giáo", office="phong_noi_vu", authority="Ủy ban nhân dân cấp huyện (Phòng Nội vụ tham mưu)",
        result="văn bản phản hồi thông báo", days=None, design_days=2, code_verified=True,
        appraise="Kiểm tra văn bản thông báo, vào sổ theo dõi; dự thảo văn bản phản hồi (nếu có ý kiến)",
        lim=limit(None, f"{CSDL}, mã 1.000316 (https://dichvucong.gov.vn/p/home/dvc-chi-tiet-thu-tuc-hanh-chinh.html?ma_thu_tuc=1.000316)",
                  verified=False,
                  basis="Ngay sau khi Ủy ban nhân dân cấp huyện nhận được văn bản thông báo hợp lệ",
                  note="Thời hạn gắn với sự kiện (thông báo có hiệu lực khi được nhận), không phải số ngày; "
                       "luật không quy định văn bản trả lời. Các bước được thiết kế trong 02 ngày làm việc — cần "
                       "xác nhận có cần văn bản phản hồi và ai ký."),
        basis_laws=LB_TON_GIAO,
        comment="Thông báo danh mục hoạt động tôn giáo bổ sung: là thủ tục thông báo (luật không quy định văn bản "
                "kết quả); quy trình dự thảo này tiếp nhận, lưu hồ sơ và xác nhận đã nhận thông báo, Lãnh đạo Phòng "
                "ký văn bản xác nhận.",
        notes=[CLOCK_TBC]))

    # awards (Phòng Nội vụ is the standing body of the district's emulation council)
    out.append(standard_proc(
        code="1.000804", name="Thủ tục tặng Giấy khen của Chủ tịch UBND cấp huyện về thành tích đột xuất",
        field_="Thi đua - Khen thưởng", office="phong_noi_vu", authority="Chủ tịch Ủy ban nhân dân cấp huyện",
        result="Quyết định và Giấy khen của Chủ tịch UBND huyện", days=8, signer=UBND_CHAIR, code_verified=True,
        lim=limit(8, "Cổng DVC tỉnh Hà Nam (http://motcua.hanam.gov.vn/trang-chu/tra-cuu/chi-tiet-thu-tuc?ma-thu-tuc=20283)",
                  verified=True, note="Trang của một tỉnh; đối chiếu với danh mục của Hà Nội."),
        basis_laws=LB_TDKT, comment=f"Tặng Giấy khen của Chủ tịch UBND huyện về thành tích đột xuất: {STANDARD}, "
                                    "trong 8 ngày.",
        notes=[CLOCK_TBC]))
    out.append(standard_proc(
        code="", name="Thủ tục tặng Giấy khen của Chủ tịch UBND cấp huyện về thành tích thực hiện nhiệm vụ chính trị",
        field_="Thi đua - Khen thưởng", office="phong_noi_vu", authority="Chủ tịch Ủy ban nhân dân cấp huyện",
        result="Quyết định và Giấy khen của Chủ tịch UBND huyện", days=None, design_days=10, signer=UBND_CHAIR,
        appraise="Thẩm định hồ sơ, tổng hợp ý kiến Hội đồng Thi đua – Khen thưởng huyện; dự thảo Quyết định",
        lim=limit(None, "Cổng DVC tỉnh Lai Châu (https://dichvucong.laichau.gov.vn/dichvucong/bothutuc/chiTietThuTuc?maThuTuc=29367)",
                  verified=False, note="Nguồn không cho thời hạn dùng được; các bước được thiết kế trong 10 ngày làm "
                                       "việc — cần xác định thời hạn và mã TTHC."),
        basis_laws=LB_TDKT, comment=f"Tặng Giấy khen của Chủ tịch UBND huyện về thành tích thực hiện nhiệm vụ "
                                    f"chính trị: {STANDARD}; chưa rõ thời hạn và mã thủ tục {FLAGGED}.",
        notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."]))

    # dissemination of law (Phòng Tư pháp)
    for name, result in [("Thủ tục công nhận báo cáo viên pháp luật huyện", "Quyết định công nhận báo cáo viên pháp luật"),
                         ("Thủ tục miễn nhiệm báo cáo viên pháp luật huyện", "Quyết định miễn nhiệm báo cáo viên pháp luật")]:
        out.append(standard_proc(
            code="", name=name, field_="Phổ biến giáo dục pháp luật", office="phong_tu_phap",
            authority="Chủ tịch Ủy ban nhân dân cấp huyện", result=result, days=5, signer=UBND_CHAIR,
            lim=limit(5, TT_HUE, verified=True,
                      basis="Trong thời hạn 05 ngày làm việc kể từ ngày nhận đủ văn bản đề nghị"),
            basis_laws=LB_PBGDPL, comment=f"{name}: {STANDARD}, trong 5 ngày làm việc; chưa rõ mã thủ tục "
                                          f"{FLAGGED}.",
            notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."]))
    return out


def land() -> list[Proc]:
    out: list[Proc] = []
    tnmt = dict(field_=F_DAT, office="phong_tnmt", authority="Ủy ban nhân dân cấp huyện")
    # decisions followed by the tax notice, the payment (clock paused) and the certificate
    after_decision = [
        {"id": "tax_notice", "after": "issue",
         "name": "Chi cục Thuế xác định và ban hành thông báo nộp tiền sử dụng đất, tiền thuê đất (liên thông)",
         "unit": "chi_cuc_thue", "role": "staff", "duration": 3 * D,
         "routes": {"notify": {"to": "pay", "label": "Phải nộp tiền sử dụng đất, tiền thuê đất"},
                    "exempt": {"to": "certificate", "label": "Không phải nộp hoặc được miễn"}}},
        {"id": "pay", "after": "tax_notice",
         "name": "Người sử dụng đất thực hiện nghĩa vụ tài chính theo thông báo (tạm dừng tính thời gian)",
         "kind": "citizen", "routes": {"paid": {"to": "certificate", "label": "Đã hoàn thành nghĩa vụ tài chính"}}},
        {"id": "certificate", "after": "pay",
         "name": "Chi nhánh Văn phòng Đăng ký đất đai cập nhật hồ sơ địa chính, cấp hoặc xác nhận thay đổi trên Giấy chứng nhận",
         "unit": "chi_nhanh_vpdkdd", "role": "staff", "duration": 3 * D, "routes": {"done": "deliver"}},
    ]
    for code, name, days, src_days, result in [
        ("1.013950", "Chuyển hình thức giao đất, cho thuê đất", 25, "Trực tiếp 25 Ngày; trực tuyến 15 Ngày",
         "Quyết định chuyển hình thức giao đất, cho thuê đất"),
        ("1.013949", "Giao đất, cho thuê đất, chuyển mục đích sử dụng đất đối với trường hợp giao đất, cho thuê đất không đấu giá quyền sử dụng đất, không đấu thầu lựa chọn nhà đầu tư thực hiện dự án có sử dụng đất; trường hợp giao đất, cho thuê đất thông qua đấu thầu lựa chọn nhà đầu tư thực hiện dự án có sử dụng đất; giao đất và giao rừng; cho thuê đất và cho thuê rừng, gia hạn sử dụng đất khi hết thời hạn sử dụng đất",
         15, "15 Ngày", "Quyết định giao đất, cho thuê đất, cho phép chuyển mục đích sử dụng đất"),
        ("1.013953", "Điều chỉnh quyết định giao đất, cho thuê đất, cho phép chuyển mục đích sử dụng đất do sai sót về ranh giới, vị trí, diện tích, mục đích sử dụng giữa bản đồ quy hoạch, bản đồ địa chính, quyết định giao đất, cho thuê đất, cho phép chuyển mục đích sử dụng đất và số liệu bàn giao đất trên thực địa",
         17, "Trực tiếp 17 Ngày; trực tuyến 7 Ngày", "Quyết định điều chỉnh quyết định giao đất, cho thuê đất"),
        ("1.013952", "Điều chỉnh quyết định giao đất, cho thuê đất, cho phép chuyển mục đích sử dụng đất do thay đổi căn cứ quyết định giao đất, cho thuê đất, cho phép chuyển mục đích sử dụng đất; điều chỉnh thời hạn sử dụng đất của dự án đầu tư",
         15, "Trực tiếp 15 Ngày; trực tuyến 5 Ngày", "Quyết định điều chỉnh quyết định giao đất, cho thuê đất"),
    ]:
        rest = days - 6  # tax 3d + certificate 3d after the decision
        d = alloc_lien_thong(rest)
        out.append(lien_thong_proc(
            code=code, name=name, result=result, days=rest, partner="chi_nhanh_vpdkdd", code_verified=True,
            lim=limit(days, f"{CSDL}, mã {code} ({crawl('bo-nong-nghiep-mt', code)}); bản ghi ghi '{src_days}'",
                      verified=False,
                      note="Bản ghi là phiên bản sau 01/7/2025 (cấp xã thực hiện), ghi 'Ngày' không nói ngày làm "
                           "việc; lấy mức nộp trực tiếp. Không kể thời gian người sử dụng đất thực hiện nghĩa vụ tài "
                           "chính — cần xác nhận mức áp dụng cho cấp huyện 2024–2025."),
            basis_laws=LB_DAT_2024,
            appraise="Rà soát, kiểm tra hồ sơ; đề nghị Chi nhánh Văn phòng Đăng ký đất đai cung cấp thông tin, trích lục bản đồ địa chính",
            consult="Chi nhánh Văn phòng Đăng ký đất đai cung cấp thông tin cơ sở dữ liệu đất đai, lập trích lục bản đồ địa chính thửa đất",
            site_check="Kiểm tra thực địa khu đất, lập biên bản",
            names_over={"issue": "Vào sổ, đóng dấu, phát hành Quyết định; chuyển thông tin để xác định nghĩa vụ tài chính"},
            step_over={"issue": {"routes": {"done": "tax_notice"}}},
            extra=after_decision, alloc_over=d,
            comment=f"Quyết định giao đất, cho thuê đất (Luật Đất đai 2024): {LIEN_THONG}: lấy ý kiến Chi nhánh "
                    "Văn phòng Đăng ký đất đai song song với kiểm tra thực địa; tiếp đến thông báo của cơ quan thuế, "
                    "việc nộp tiền (tạm dừng tính thời gian) và cấp Giấy chứng nhận trước khi trả kết quả.",
            notes=[CLOCK_TBC, "Nghĩa vụ tài chính: bước 'pay' của người sử dụng đất tạm dừng tính thời gian."],
            **tnmt))
    out.append(lien_thong_proc(
        code="1.012818", name="Thu hồi Giấy chứng nhận đã cấp lần đầu không đúng quy định của pháp luật đất đai do người sử dụng đất, chủ sở hữu tài sản gắn liền với đất phát hiện và cấp lại Giấy chứng nhận sau khi thu hồi",
        partner="chi_nhanh_vpdkdd", result="Quyết định thu hồi Giấy chứng nhận", days=32, code_verified=True,
        lim=limit(35, f"{CSDL}, mã 1.012818 ({crawl('bo-nong-nghiep-mt', '1.012818')})", verified=True),
        basis_laws=LB_GCN_2024,
        appraise="Kiểm tra hồ sơ, xác minh nội dung cấp Giấy chứng nhận không đúng quy định",
        consult="Chi nhánh Văn phòng Đăng ký đất đai kiểm tra hồ sơ địa chính, lưu trữ của Giấy chứng nhận đã cấp",
        site_check="Kiểm tra hiện trạng sử dụng đất, lập biên bản",
        names_over={"issue": "Vào sổ, đóng dấu, phát hành Quyết định thu hồi"},
        step_over={"issue": {"routes": {"done": "certificate"}}},
        extra=[{"id": "certificate", "after": "issue",
                "name": "Chi nhánh Văn phòng Đăng ký đất đai lập hồ sơ cấp lại Giấy chứng nhận, cập nhật hồ sơ địa chính",
                "unit": "chi_nhanh_vpdkdd", "role": "staff", "duration": 3 * D, "routes": {"done": "deliver"}}],
        comment=f"Thu hồi Giấy chứng nhận đã cấp không đúng quy định và cấp Giấy chứng nhận mới: {LIEN_THONG}, "
                "sau đó Chi nhánh Văn phòng Đăng ký đất đai lập Giấy chứng nhận mới.", notes=[CLOCK_TBC], **tnmt))
    out.append(lien_thong_proc(
        code="1.012817", name="Xác định lại diện tích đất ở của hộ gia đình, cá nhân đã được cấp Giấy chứng nhận trước ngày 01 tháng 7 năm 2004",
        partner="chi_nhanh_vpdkdd", result="văn bản xác định lại diện tích đất ở", days=27, code_verified=True,
        lim=limit(30, f"{CSDL}, mã 1.012817 ({crawl('bo-nong-nghiep-mt', '1.012817')})", verified=True,
                  note="Nộp trực tuyến: 20 ngày làm việc; quy trình theo mức nộp trực tiếp (30)."),
        basis_laws=LB_GCN_2024,
        appraise="Kiểm tra hồ sơ, nguồn gốc và quá trình sử dụng đất",
        consult="Chi nhánh Văn phòng Đăng ký đất đai cung cấp hồ sơ địa chính, trích lục thửa đất",
        site_check="Kiểm tra hiện trạng thửa đất, lập biên bản",
        step_over={"issue": {"routes": {"done": "certificate"}}},
        extra=[{"id": "certificate", "after": "issue",
                "name": "Chi nhánh Văn phòng Đăng ký đất đai chỉnh lý hồ sơ địa chính, xác nhận thay đổi trên Giấy chứng nhận",
                "unit": "chi_nhanh_vpdkdd", "role": "staff", "duration": 3 * D, "routes": {"done": "deliver"}}],
        comment=f"Xác định lại diện tích đất ở: {LIEN_THONG}, sau đó cập nhật Giấy chứng nhận.",
        notes=[CLOCK_TBC], **tnmt))
    out.append(standard_proc(
        code="1.012796", name="Đính chính Giấy chứng nhận đã cấp lần đầu có sai sót", result="Giấy chứng nhận đã đính chính",
        days=8, code_verified=True,
        appraise="Kiểm tra hồ sơ, lập biên bản kết luận về nội dung và nguyên nhân sai sót; dự thảo nội dung đính chính",
        lim=limit(8, f"{CSDL}, mã 1.012796 ({crawl('bo-nong-nghiep-mt', '1.012796')})", verified=True),
        basis_laws=LB_GCN_2024, comment=f"Đính chính Giấy chứng nhận: {STANDARD}, trong 8 ngày làm việc.",
        notes=[CLOCK_TBC], **tnmt))
    out.append(lien_thong_proc(
        code="", name="Thủ tục thẩm định nhu cầu sử dụng đất để xem xét giao đất, cho thuê đất không thông qua hình thức đấu giá quyền sử dụng đất đối với hộ gia đình, cá nhân, cộng đồng dân cư",
        partner="ubnd_xa_noi_co_dat", result="văn bản thẩm định nhu cầu sử dụng đất", days=30,
        signer=("phong_tnmt", "head"), authority="Phòng Tài nguyên và Môi trường thuộc UBND cấp huyện",
        field_=F_DAT, office="phong_tnmt",
        lim=limit(30, TT_HUE, verified=True, basis="Không quá 30 ngày làm việc kể từ ngày nhận đủ hồ sơ hợp lệ",
                  note="Thủ tục theo Luật Đất đai 2013 (đến 31/7/2024)."),
        basis_laws=LB_DAT_2013,
        consult="UBND xã nơi có đất xác nhận hiện trạng, nhu cầu sử dụng đất",
        site_check="Kiểm tra thực địa khu đất, lập biên bản",
        names_over={"sign": "Lãnh đạo Phòng Tài nguyên và Môi trường ký văn bản thẩm định nhu cầu sử dụng đất",
                    "issue": "Vào sổ, đóng dấu của Phòng, chuyển kết quả về Bộ phận Một cửa"},
        step_over={"report": {"routes": {"ok": "sign"}}, "issue": {"unit": "phong_tnmt", "role": "staff"}},
        alloc_over={"sign": 3 * D},
        comment=f"Thẩm định nhu cầu sử dụng đất (Luật Đất đai 2013): {LIEN_THONG}, bỏ bước kiểm tra (check) vì "
                f"Lãnh đạo Phòng TN&MT tự ký văn bản thẩm định; chưa rõ mã thủ tục {FLAGGED}.",
        notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."]))
    out[-1].remove_steps = ["check"]
    out[-1].steps = [s for s in out[-1].steps if s["id"] != "check"]
    out.append(standard_proc(
        code="", name="Thủ tục giải quyết tranh chấp đất đai thuộc thẩm quyền của Chủ tịch UBND cấp huyện",
        result="Quyết định giải quyết tranh chấp đất đai", days=45, signer=UBND_CHAIR,
        authority="Chủ tịch Ủy ban nhân dân cấp huyện", field_=F_DAT, office="phong_tnmt",
        appraise="Thẩm tra, xác minh vụ việc; thu thập giấy tờ, tài liệu; đề nghị UBND xã nơi có đất cung cấp hồ sơ",
        lim=limit(45, TT_HUE, verified=False, basis="Không quá 45 ngày",
                  note="Nguồn ghi 'không quá 45 ngày', không nói ngày làm việc; nếu là ngày theo lịch (khoảng 31 "
                       "ngày làm việc) thì phải rút ngắn các bước. Thủ tục theo Luật Đất đai 2013 — cần xác nhận; mã "
                       "TTHC chưa xác định."),
        basis_laws=LB_DAT_2013,
        alloc_over={"receive": 4 * H, "assign": 4 * H, "appraise": 20 * D, "check": 2 * D, "sign": 4 * D,
                    "issue": 4 * H, "deliver": 4 * H},
        step_over={"appraise": {"routes": {"ok": "dialogue"}}},
        extra=[{"id": "dialogue", "after": "appraise",
                "name": "Tổ chức đối thoại với các bên tranh chấp (sau hòa giải ở cấp xã); lập biên bản",
                "unit": "phong_tnmt", "role": "head", "duration": 14 * D, "routes": {"done": "draft_decision"}},
               {"id": "draft_decision", "after": "dialogue",
                "name": "Lập báo cáo đề xuất, dự thảo Quyết định giải quyết tranh chấp",
                "unit": "phong_tnmt", "role": "staff", "duration": 3 * D, "routes": {"done": "check"}}],
        comment=f"Giải quyết tranh chấp đất đai (Luật Đất đai 2013): {STANDARD}, thêm bước đối thoại và bước dự "
                "thảo quyết định sau bước xác minh; Chủ tịch UBND huyện quyết định. Các bước được thiết kế trong 45 "
                "ngày làm việc: nếu 45 ngày là ngày theo lịch thì phải rút ngắn các bước.",
        notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."]))

    # environment: the district environmental permit
    out.append(lien_thong_proc(
        code="", name="Cấp giấy phép môi trường (cấp huyện)", field_="Môi trường", office="phong_tnmt",
        partner="ubnd_xa_noi_co_dat", authority="Ủy ban nhân dân cấp huyện", result="giấy phép môi trường",
        days=30,
        lim=limit(30, "Luật Bảo vệ môi trường số 72/2020/QH14, Điều 43 khoản 4 điểm b (trích tại "
                      "https://sotay365.com/thoi-han-cap-giay-phep-moi-truong-la-bao-nhieu-ngay.html)",
                  verified=False,
                  basis="Không quá 30 ngày đối với giấy phép môi trường thuộc thẩm quyền cấp giấy phép môi trường "
                        "của Ủy ban nhân dân cấp tỉnh, Ủy ban nhân dân cấp huyện",
                  note="Luật ghi '30 ngày', không nói ngày làm việc; nếu là ngày theo lịch (khoảng 21 ngày làm "
                       "việc) thì phải rút ngắn các bước. Luật cho phép cơ quan cấp phép quy định thời hạn ngắn hơn. "
                       "Mã TTHC chưa xác định."),
        basis_laws=LB_BVMT,
        appraise="Thẩm định hồ sơ đề nghị cấp giấy phép môi trường; thành lập đoàn kiểm tra; gửi lấy ý kiến UBND xã",
        consult="UBND xã nơi thực hiện dự án, cơ sở cho ý kiến về hồ sơ đề nghị cấp giấy phép",
        site_check="Đoàn kiểm tra kiểm tra thực tế dự án, cơ sở; lập biên bản",
        comment=f"Giấy phép môi trường cấp huyện (Luật BVMT 2020): {LIEN_THONG}, thiết kế trong 30 ngày làm việc; "
                f"nếu 30 ngày của luật là ngày theo lịch thì phải rút ngắn các bước {FLAGGED}.",
        notes=[CLOCK_TBC + " Luật: thời gian tổ chức, cá nhân chỉnh sửa, bổ sung hồ sơ không tính vào thời gian cấp "
               "giấy phép (như thủ tục 1.010719 cấp tỉnh).", "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."]))
    out[-1].clock = "pause"
    return out


def education_health_social() -> list[Proc]:
    out: list[Proc] = []
    gd = dict(office="phong_gddt", basis_laws=LB_GD)
    cho_phep_note = ("Chưa tìm được thời hạn của chính thủ tục này. Thủ tục cùng nhóm 'Cho phép trường mẫu giáo, "
                     "trường mầm non, nhà trẻ hoạt động giáo dục trở lại' (Cổng DVC Bắc Giang): 05 ngày làm việc "
                     "kiểm tra hồ sơ, 15 ngày làm việc thẩm định thực tế, 05 ngày làm việc ra quyết định; các bước "
                     "được thiết kế trong 25 ngày làm việc — cần xác định thời hạn và mã TTHC.")
    for name, field_, src in [
        ("Cho phép trường mẫu giáo, trường mầm non, nhà trẻ hoạt động giáo dục", "Giáo dục mầm non",
         "http://quan10.hochiminhcity.gov.vn/Thu-tuc-hanh-chinh/SearchTerm/g03-gd06"),
        ("Cho phép trường tiểu học hoạt động giáo dục", "Giáo dục và Đào tạo", "http://thuanan.binhduong.gov.vn/web/chitiet/pageH19.html"),
        ("Cho phép trường trung học cơ sở hoạt động giáo dục", "Giáo dục và Đào tạo", "http://thuanan.binhduong.gov.vn/web/chitiet/pageH19.html"),
    ]:
        p = office_proc(
            code="", name=name, field_=field_, authority="Trưởng Phòng Giáo dục và Đào tạo",
            result="Quyết định cho phép hoạt động giáo dục", days=None, design_days=25,
            appraise="Kiểm tra hồ sơ; thông báo kế hoạch thẩm định thực tế (hoặc nội dung cần bổ sung)",
            lim=limit(None, f"{src} (danh mục, không có thời hạn); đối chiếu thủ tục cùng nhóm: "
                            "https://sgd.bacgiang.gov.vn/en_GB/thu-tuc-hanh-chinh (Cho phép ... hoạt động giáo dục trở lại)",
                      verified=False, note=cho_phep_note),
            comment=f"{name}: mẫu quy trình office_signs (Trưởng phòng GD&ĐT quyết định), thêm bước đoàn thẩm định "
                    f"kiểm tra thực tế; chưa rõ thời hạn và mã thủ tục {FLAGGED}.",
            notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."], **gd)
        for s in p.steps:
            if s["id"] == "appraise":
                s["duration"] = 5 * D
                s["routes"] = {"ok": "site_appraisal"}
        p.steps.append({"id": "site_appraisal", "after": "appraise",
                        "name": "Đoàn thẩm định (Phòng GD&ĐT chủ trì, các phòng liên quan) thẩm định thực tế tại trường; lập biên bản",
                        "unit": "phong_gddt", "role": "staff", "duration": 15 * D - 0, "routes": {"done": "sign"}})
        # 25d = receive .5 + assign .5 + check 5 + site 15 + sign (within the 5-day decision window) ...
        for s in p.steps:
            if s["id"] == "site_appraisal":
                s["duration"] = 15 * D
            if s["id"] == "sign":
                s["duration"] = 2 * D
            if s["id"] == "issue":
                s["duration"] = D
        out.append(p)

    out.append(lien_thong_proc(
        code="", name="Thành lập trường trung học cơ sở công lập hoặc cho phép thành lập trường trung học cơ sở tư thục",
        field_="Giáo dục và Đào tạo", partner="phong_noi_vu", authority="Chủ tịch Ủy ban nhân dân cấp huyện",
        result="Quyết định thành lập (cho phép thành lập) trường", days=25,
        lim=limit(25, "Cổng thông tin huyện Khoái Châu, Hưng Yên (https://khoaichau.hungyen.gov.vn/portal/pages/print.aspx?p=10314), "
                      "theo QĐ 2906/QĐ-UBND ngày 14/12/2020 của UBND tỉnh Hưng Yên", verified=True,
                  note="Trang của một tỉnh; đối chiếu với danh mục của Hà Nội. Mã TTHC chưa xác định."),
        consult="Phòng Nội vụ (và các phòng liên quan) cho ý kiến về tổ chức bộ máy, biên chế, điều kiện thành lập",
        site_check="Kiểm tra thực tế địa điểm, cơ sở vật chất dự kiến",
        comment=f"Thành lập trường trung học cơ sở: {LIEN_THONG}: lấy ý kiến các phòng liên quan trong khi kiểm "
                "tra thực tế địa điểm; Chủ tịch UBND huyện quyết định.",
        signer=UBND_CHAIR, notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."], **gd))
    for name, field_, src, design, result, partner in [
        ("Thành lập trường mẫu giáo, trường mầm non, nhà trẻ công lập hoặc cho phép thành lập trường mẫu giáo, trường mầm non, nhà trẻ dân lập, tư thục",
         "Giáo dục mầm non", "http://quan10.hochiminhcity.gov.vn/Thu-tuc-hanh-chinh/SearchTerm/g03-gd06", 25,
         "Quyết định thành lập (cho phép thành lập) trường", "phong_noi_vu"),
        ("Thành lập trường tiểu học công lập, cho phép thành lập trường tiểu học tư thục", "Giáo dục và Đào tạo",
         "http://thuanan.binhduong.gov.vn/web/chitiet/pageH19.html", 25,
         "Quyết định thành lập (cho phép thành lập) trường", "phong_noi_vu"),
    ]:
        out.append(lien_thong_proc(
            code="", name=name, field_=field_, partner=partner, authority="Chủ tịch Ủy ban nhân dân cấp huyện",
            result=result, days=None, design_days=design,
            lim=limit(None, f"{src} (danh mục, không có thời hạn)", verified=False,
                      note="Chưa tìm được thời hạn; thủ tục cùng nhóm cho trường THCS là 25 ngày làm việc (Hưng Yên). "
                           "Các bước được thiết kế trong 25 ngày làm việc — cần xác định thời hạn và mã TTHC."),
            consult="Phòng Nội vụ (và các phòng liên quan) cho ý kiến về tổ chức bộ máy, biên chế, điều kiện thành lập",
            site_check="Kiểm tra thực tế địa điểm, cơ sở vật chất dự kiến",
            comment=f"{name}: {LIEN_THONG}, như thủ tục thành lập trường trung học cơ sở; chưa rõ thời hạn và mã "
                    f"thủ tục {FLAGGED}.",
            signer=UBND_CHAIR, notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."], **gd))
    for name, field_, src, result in [
        ("Giải thể trường mẫu giáo, trường mầm non, nhà trẻ (theo yêu cầu của tổ chức, cá nhân đề nghị thành lập)",
         "Giáo dục mầm non", "http://quan10.hochiminhcity.gov.vn/Thu-tuc-hanh-chinh/SearchTerm/g03-gd06",
         "Quyết định giải thể"),
        ("Giải thể trường tiểu học (theo đề nghị của tổ chức, cá nhân đề nghị thành lập trường tiểu học)",
         "Giáo dục và Đào tạo", "http://thuanan.binhduong.gov.vn/web/chitiet/pageH19.html", "Quyết định giải thể"),
        ("Sáp nhập, chia, tách trường trung học cơ sở", "Giáo dục và Đào tạo",
         "http://thuanan.binhduong.gov.vn/web/chitiet/pageH19.html", "Quyết định sáp nhập, chia, tách trường"),
    ]:
        out.append(standard_proc(
            code="", name=name, field_=field_, authority="Chủ tịch Ủy ban nhân dân cấp huyện", result=result,
            days=None, design_days=20, signer=UBND_CHAIR,
            lim=limit(None, f"{src} (danh mục, không có thời hạn)", verified=False,
                      note="Chưa tìm được thời hạn; các bước được thiết kế trong 20 ngày làm việc — cần xác định "
                           "thời hạn và mã TTHC."),
            comment=f"{name}: {STANDARD}; chưa rõ thời hạn và mã thủ tục {FLAGGED}.",
            notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."], **gd))

    # health: food safety certificate for catering businesses
    p = standard_proc(
        code="", name="Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm đối với cơ sở kinh doanh dịch vụ ăn uống thuộc thẩm quyền của Ủy ban nhân dân cấp huyện",
        field_="An toàn thực phẩm (Y tế)", office="phong_y_te", authority="Ủy ban nhân dân cấp huyện",
        result="Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", days=20,
        appraise="Thẩm định hồ sơ; thành lập đoàn thẩm định, thông báo lịch thẩm định thực tế",
        lim=limit(20, "Trang TTHC huyện Krông Nô, Đắk Nông (http://krongno.daknong.gov.vn/niem-yet-bo-tthc/linh-vuc-y-te/1.-cap-giay-chung-nhan-co-so-du-dieu-kien-an-toan-thuc-pham-doi-voi-co-so-kinh-doanh-dich-vu-an-uong-thuoc-tham-quyen-cu.html)",
                  verified=True, note="Trang của một tỉnh; đối chiếu với danh mục của Hà Nội. Mã TTHC chưa xác định."),
        basis_laws=LB_ATTP,
        alloc_over={"appraise": 5 * D},
        extra=[{"id": "site_appraisal", "after": "appraise",
                "name": "Đoàn thẩm định kiểm tra thực tế điều kiện an toàn thực phẩm tại cơ sở; lập biên bản",
                "unit": "phong_y_te", "role": "staff", "duration": 10 * D, "routes": {"done": "check"}}],
        comment=f"Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm cho cơ sở kinh doanh dịch vụ ăn uống: "
                f"{STANDARD}, thêm bước thẩm định thực tế tại cơ sở; chưa rõ mã thủ tục {FLAGGED}.",
        notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."])
    p.steps = [s if s["id"] != "appraise" else {**s, "routes": {"ok": "site_appraisal"}} for s in p.steps]
    out.append(p)

    # social protection (Phòng LĐ-TB&XH appraises, the committee decides)
    btxh = dict(field_="Bảo trợ xã hội", office="phong_ldtbxh", basis_laws=LB_BTXH,
                authority="Chủ tịch Ủy ban nhân dân cấp huyện", signer=UBND_CHAIR)
    q10 = "http://phuong1.quan10.gov.vn/Thu-tuc-hanh-chinh/SearchTerm/bao-tro-xa-hoi"
    out.append(standard_proc(
        code="", name="Chi trả trợ cấp xã hội hàng tháng, hỗ trợ kinh phí chăm sóc, nuôi dưỡng hàng tháng khi đối tượng thay đổi nơi cư trú trong cùng địa bàn quận, huyện, thị xã, thành phố thuộc tỉnh",
        result="Quyết định điều chỉnh chi trả trợ cấp", days=6,
        lim=limit(6, f"{CSDL}, trang chi tiết thủ tục (https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html?ma_thu_tuc=2557)",
                  verified=False, note="Nguồn ghi 6 (đơn vị chưa đối chiếu); mã TTHC chưa xác định."),
        comment=f"Chi trả trợ cấp xã hội hàng tháng khi đối tượng chuyển nơi ở trong huyện: {STANDARD}, trong 6 "
                "ngày.",
        notes=[CLOCK_TBC, "Mã TTHC quốc gia chưa xác định (không tự đặt mã)."], **btxh))
    for code, name, result, design, extra_note in [
        ("", "Hỗ trợ chi phí mai táng cho đối tượng bảo trợ xã hội (được trợ giúp xã hội thường xuyên tại cộng đồng)",
         "Quyết định hỗ trợ chi phí mai táng", 5, ""),
        ("1.000145", "Thủ tục quyết định trợ cấp xã hội hàng tháng khi đối tượng thay đổi nơi cư trú giữa các quận, huyện",
         "Quyết định trợ cấp xã hội hàng tháng", 10,
         " Mã 1.000145 lấy từ dữ liệu mẫu của một kho mã công khai (tên đầy đủ theo Nghị định 20/2021: 'Quyết định "
         "trợ cấp xã hội hàng tháng, hỗ trợ kinh phí chăm sóc, nuôi dưỡng hàng tháng khi đối tượng thay đổi nơi cư "
         "trú giữa các quận, huyện, thị xã, thành phố thuộc tỉnh, trong và ngoài tỉnh, thành phố trực thuộc trung "
         "ương'); cần đối chiếu CSDL quốc gia."),
        ("", "Thủ tục thực hiện, điều chỉnh, thôi hưởng trợ cấp xã hội hàng tháng, hỗ trợ kinh phí chăm sóc, nuôi dưỡng hàng tháng",
         "Quyết định thực hiện, điều chỉnh, thôi hưởng trợ cấp xã hội", 10,
         " Hồ sơ nộp tại UBND cấp xã (Hội đồng xét duyệt, niêm yết) rồi chuyển lên huyện; quy trình này bắt đầu khi "
         "Bộ phận Một cửa huyện nhận hồ sơ từ xã."),
    ]:
        out.append(standard_proc(
            code=code, name=name, result=result, days=None, design_days=design,
            lim=limit(None, f"Trang TTHC phường 1, quận 10, TP.HCM ({q10}) (danh mục, không có thời hạn)", verified=False,
                      note=f"Chưa tìm được thời hạn theo Nghị định 20/2021/NĐ-CP; các bước được thiết kế trong "
                           f"{design} ngày làm việc — cần xác định thời hạn.{extra_note}"),
            comment=f"{name}: mẫu quy trình standard (Phòng LĐ-TB&XH thẩm định, Chủ tịch UBND huyện quyết định); "
                    "chưa rõ thời hạn giải quyết.",
            notes=[CLOCK_TBC] + ([] if code else ["Mã TTHC quốc gia chưa xác định (không tự đặt mã)."]), **btxh))
    return out


# --------------------------------------------------------------------------- the commune catalogue


def commune() -> list[Proc]:
    out: list[Proc] = []
    xa = dict(reception="xa_mot_cua", officer="xa_tu_phap", clerk=("xa_van_thu", "clerk"))

    def rec(code: str) -> str:
        return f"{CSDL}, mã {code} ({crawl('bo-tu-phap', code)})"

    out.append(same_day_proc(
        level="commune", code="1.000894", name="Thủ tục đăng ký kết hôn", field_=F_HO_TICH,
        authority="Ủy ban nhân dân cấp xã", signer=("xa_lanh_dao", "chairman"), code_verified=True,
        lim=same_day_limit(f"Luật Hộ tịch số 60/2014/QH13, Điều 18 khoản 2 ({PHAP_DIEN_HO_TICH}); {rec('1.000894')}",
                           basis="Ngay sau khi nhận đủ giấy tờ..., nếu thấy đủ điều kiện kết hôn..., công chức tư "
                                 "pháp - hộ tịch ghi việc kết hôn vào Sổ hộ tịch... Trường hợp cần xác minh điều kiện "
                                 "kết hôn của hai bên nam, nữ thì thời hạn giải quyết không quá 05 ngày làm việc",
                           note="Trường hợp cần xác minh: không quá 05 ngày làm việc (chưa mô hình hóa nhánh này). "
                                "Mốc 15 giờ theo thực tiễn — cần xác nhận."),
        basis_laws=LB_HO_TICH,
        names={"process": "Kiểm tra điều kiện kết hôn, ghi Sổ đăng ký kết hôn; hai bên ký Sổ và Giấy chứng nhận kết hôn",
               "sign": "Chủ tịch UBND xã ký Giấy chứng nhận kết hôn",
               "deliver": "Tổ chức trao Giấy chứng nhận kết hôn cho hai bên nam, nữ"},
        comment=f"Đăng ký kết hôn tại cấp xã: {SAME_DAY}.", online="mot_phan", clock="restart",
        notes=[CLOCK_HO_TICH], **xa))
    out.append(same_day_proc(
        level="commune", code="1.000656", name="Thủ tục đăng ký khai tử", field_=F_HO_TICH,
        authority="Ủy ban nhân dân cấp xã", signer=("xa_lanh_dao", "chairman"), code_verified=True,
        lim=same_day_limit(f"Luật Hộ tịch số 60/2014/QH13, Điều 34 khoản 2 ({PHAP_DIEN_HO_TICH}); {rec('1.000656')}",
                           basis="Ngay sau khi nhận giấy tờ..., nếu thấy việc khai tử đúng thì công chức tư pháp - hộ "
                                 "tịch ghi nội dung khai tử vào Sổ hộ tịch... và báo cáo Chủ tịch Ủy ban nhân dân cấp "
                                 "xã cấp trích lục",
                           note="Mốc 15 giờ theo thực tiễn trả kết quả trong ngày — cần xác nhận."),
        basis_laws=LB_HO_TICH,
        names={"process": "Kiểm tra Giấy báo tử, ghi Sổ đăng ký khai tử; người đi khai tử ký Sổ; khóa thông tin hộ tịch",
               "sign": "Chủ tịch UBND xã ký Trích lục khai tử", "deliver": "Trả Trích lục khai tử"},
        comment=f"Đăng ký khai tử tại cấp xã: {SAME_DAY}.", online="toan_trinh", clock="restart",
        notes=[CLOCK_HO_TICH], **xa))
    out.append(commune_proc(
        code="1.004873", name="Thủ tục cấp Giấy xác nhận tình trạng hôn nhân", field_=F_HO_TICH, officer="xa_tu_phap",
        authority="Ủy ban nhân dân cấp xã", result="Giấy xác nhận tình trạng hôn nhân", days=3, code_verified=True,
        appraise="Kiểm tra, xác minh tình trạng hôn nhân (tra cứu Cơ sở dữ liệu hộ tịch điện tử); dự thảo Giấy xác nhận",
        lim=limit(3, rec("1.004873") + "; bản ghi ghi '3' không đơn vị", verified=False,
                  note="Bản ghi CSDL (bản 2025) ghi '3' không đơn vị; Nghị định 123/2015/NĐ-CP được nhớ là 03 ngày "
                       "làm việc (chưa đối chiếu). Xác minh ở xã khác: 03 ngày làm việc — cần xác nhận."),
        basis_laws=LB_HO_TICH, comment=f"Cấp Giấy xác nhận tình trạng hôn nhân: {COMMUNE}, trong 3 ngày.",
        online="toan_trinh", clock="restart", notes=[CLOCK_HO_TICH]))
    for code, name, days, article, basis, result in [
        ("1.004837", "Thủ tục đăng ký giám hộ", 3, "Điều 20 khoản 2",
         "Trong thời hạn 03 ngày làm việc kể từ ngày nhận đủ giấy tờ..., công chức tư pháp - hộ tịch ghi vào Sổ hộ "
         "tịch..., báo cáo Chủ tịch Ủy ban nhân dân cấp xã cấp trích lục", "Trích lục đăng ký giám hộ"),
        ("1.004845", "Thủ tục đăng ký chấm dứt giám hộ", 2, "Điều 22 khoản 2",
         "Trong thời hạn 02 ngày làm việc kể từ ngày nhận đủ giấy tờ..., công chức tư pháp - hộ tịch ghi việc chấm "
         "dứt giám hộ vào Sổ hộ tịch... và báo cáo Chủ tịch Ủy ban nhân dân cấp xã cấp trích lục",
         "Trích lục đăng ký chấm dứt giám hộ"),
    ]:
        out.append(commune_proc(
            code=code, name=name, field_=F_HO_TICH, officer="xa_tu_phap", authority="Ủy ban nhân dân cấp xã",
            result=result, days=days, code_verified=True,
            lim=limit(days, f"Luật Hộ tịch số 60/2014/QH13, {article} ({PHAP_DIEN_HO_TICH}); {rec(code)}",
                      verified=True, basis=basis),
            basis_laws=LB_HO_TICH, comment=f"{name}: {COMMUNE}, trong {days} ngày làm việc.",
            online="mot_phan", clock="restart", notes=[CLOCK_HO_TICH]))

    art7 = ("Thời hạn thực hiện yêu cầu chứng thực là ngay trong ngày cơ quan, tổ chức tiếp nhận yêu cầu hoặc "
            "trong ngày làm việc tiếp theo nếu tiếp nhận yêu cầu sau 15 giờ")
    out.append(same_day_proc(
        level="commune", code="2.000884",
        name="Chứng thực chữ ký trong các giấy tờ, văn bản (áp dụng cho cả trường hợp chứng thực điểm chỉ và trường hợp người yêu cầu chứng thực không thể ký, không thể điểm chỉ được)",
        field_=F_CT, authority="Ủy ban nhân dân cấp xã (Chủ tịch, Phó Chủ tịch ký chứng thực)",
        signer=("xa_lanh_dao", "vice_chairman"), code_verified=True,
        lim=same_day_limit(f"Nghị định số 23/2015/NĐ-CP, Điều 7 ({PHAP_DIEN_CHUNG_THUC}); {CSDL}, mã 2.000884 "
                           f"({crawl('bo-tu-phap', '2.000884')})", basis=art7,
                           note="Lời văn theo CSDL quốc gia (trích trong dữ liệu mẫu của một kho mã công khai); Điều 7 "
                                "chưa đọc trực tiếp — cần xác nhận."),
        basis_laws=LB_CHUNG_THUC,
        names={"receive": "Tiếp nhận, kiểm tra giấy tờ; người yêu cầu ký (điểm chỉ) trước mặt người tiếp nhận",
               "process": "Ghi lời chứng, ghi sổ chứng thực; trình ký",
               "sign": "Chủ tịch hoặc Phó Chủ tịch UBND xã ký chứng thực", "issue": "Ghi số chứng thực, đóng dấu"},
        comment=f"Chứng thực chữ ký tại cấp xã: {SAME_DAY}; Phó Chủ tịch UBND xã có thể ký.",
        online="none", notes=[CLOCK_TBC], **xa))
    out.append(commune_proc(
        code="2.001035", name="Chứng thực giao dịch liên quan đến tài sản là động sản, quyền sử dụng đất, nhà ở",
        field_=F_CT, officer="xa_tu_phap", authority="Ủy ban nhân dân cấp xã (Chủ tịch, Phó Chủ tịch ký chứng thực)",
        result="giao dịch được chứng thực", days=2, signer=("xa_lanh_dao", "vice_chairman"), code_verified=True,
        appraise="Kiểm tra hồ sơ; các bên ký trước mặt người thực hiện chứng thực; ghi lời chứng, trình ký",
        lim=limit(2, f"Nghị định số 23/2015/NĐ-CP, Điều 37 ({PHAP_DIEN_CHUNG_THUC}); {CSDL}, mã 2.001035 "
                     f"({crawl('bo-tu-phap', '2.001035')})", verified=True,
                  basis="Thời hạn chứng thực hợp đồng, giao dịch không quá 02 (hai) ngày làm việc, kể từ ngày nhận "
                        "đủ hồ sơ yêu cầu chứng thực hoặc có thể kéo dài hơn theo thỏa thuận bằng văn bản"),
        basis_laws=LB_CHUNG_THUC, names_over={"issue": "Ghi sổ chứng thực, đóng dấu, đóng dấu giáp lai"},
        comment=f"Chứng thực giao dịch liên quan đến tài sản tại cấp xã: {COMMUNE}, trong 2 ngày làm việc.",
        online="none", notes=[CLOCK_TBC]))
    out.append(commune_proc(
        code="2.000908", name="Thủ tục cấp bản sao từ sổ gốc", field_=F_CT, officer="xa_tu_phap",
        authority="Ủy ban nhân dân cấp xã (cơ quan đang quản lý sổ gốc)", result="bản sao từ sổ gốc", days=1,
        code_verified=True, appraise="Tra cứu sổ gốc, đối chiếu; lập bản sao, trình ký",
        lim=limit(1, f"{CSDL}, mã 2.000908 ({crawl('bo-tu-phap', '2.000908')})", verified=True,
                  note="Nghị định 23/2015/NĐ-CP, Điều 17 khoản 4 dẫn chiếu Điều 7 (trong ngày; sau 15 giờ thì ngày "
                       "làm việc tiếp theo): 01 ngày làm việc là mức trần."),
        basis_laws=LB_CHUNG_THUC, comment=f"Cấp bản sao từ sổ gốc: {COMMUNE}, trong 1 ngày làm việc.",
        online="mot_phan", notes=[CLOCK_TBC]))

    p = commune_proc(
        code="1.001699", name="Xác định, xác định lại mức độ khuyết tật và cấp Giấy xác nhận khuyết tật",
        field_="Bảo trợ xã hội", officer="xa_van_hoa_xa_hoi", authority="Chủ tịch Ủy ban nhân dân cấp xã",
        result="Giấy xác nhận khuyết tật", days=25, code_verified=True,
        appraise="Kiểm tra hồ sơ; trình Chủ tịch UBND xã triệu tập Hội đồng, thông báo thời gian, địa điểm xác định mức độ khuyết tật",
        lim=limit(25, "Cổng DVC Đà Nẵng, mã 1.001699.000.00.00.H17 (https://dichvucong.danang.gov.vn/...maThuTuc=1.001699.000.00.00.H17); "
                      "Cổng DVC quốc gia: 'Trực tiếp 25 Ngày làm việc' (https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html?ma_thu_tuc=2476)",
                  verified=True, basis="25 ngày làm việc"),
        basis_laws=LB_NKT,
        alloc_over={"receive": 4 * H, "appraise": 2 * D, "sign": 4 * H, "issue": 4 * H, "deliver": 4 * H},
        step_over={"appraise": {"routes": {"ok": "council"}}},
        extra=[{"id": "council", "after": "appraise",
                "name": "Hội đồng xác định mức độ khuyết tật đánh giá dạng tật, mức độ khuyết tật; lập biên bản kết luận",
                "unit": "xa_hoi_dong_khuyet_tat", "role": "council", "duration": m("17.5d"), "routes": {"done": "posting"}},
               {"id": "posting", "after": "council",
                "name": "Niêm yết, thông báo công khai kết luận của Hội đồng tại trụ sở UBND xã; dự thảo Giấy xác nhận khuyết tật",
                "unit": "xa_van_hoa_xa_hoi", "role": "staff", "duration": m("3.5d"), "routes": {"done": "sign"}}],
        comment=f"Xác định mức độ khuyết tật: {COMMUNE}, thêm bước Hội đồng xác định mức độ khuyết tật và bước "
                "niêm yết công khai trước khi Chủ tịch UBND xã ký Giấy xác nhận.",
        notes=[CLOCK_TBC, "Trong 05 ngày làm việc kể từ khi có kết luận của Hội đồng: niêm yết, thông báo công khai "
               "và cấp Giấy xác nhận khuyết tật (Thông tư 01/2019/TT-BLĐTBXH, Điều 6)."])
    out.append(p)
    return out


# --------------------------------------------------------------------------- writing

STEP_ORDER = ("id", "after", "before", "name", "kind", "unit", "role", "duration", "produces", "join", "notes",
              "routes", "ends")


def q(text: str) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def flow(value: Any) -> str:
    if isinstance(value, str):
        return value if re.fullmatch(r"[a-z][a-z0-9_]*", value) else q(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def wrap_comment(text: str, width: int = 78) -> list[str]:
    import textwrap
    return ["# " + line for line in textwrap.wrap(text, width - 2, break_on_hyphens=False)]


def render(p: Proc, template_defaults: dict[str, dict[str, Any]]) -> str:
    lines = wrap_comment(p.comment)
    lines.append(f"code: {q(p.code)}")
    lines.append(f"code_verified: {flow(p.code_verified)}")
    lines.append(f"name: {q(p.name)}")
    lines.append(f"field: {q(p.field)}")
    lines.append(f"level: {p.level}")
    lines.append(f"authority: {q(p.authority)}")
    lines.append(f"signer: {{unit: {p.signer[0]}, role: {p.signer[1]}}}")
    lines.append("legal_basis:")
    lines += [f"  - {q(b)}" for b in p.legal_basis]
    lines.append("time_limit:")
    for k, v in p.limit.items():
        lines.append(f"  {k}: {q(v) if isinstance(v, str) and k != 'unit' else flow(v)}")
    lines.append(f"online_level: {p.online}")
    lines.append(f"supplement_clock: {p.clock}")
    lines.append("status: draft")
    lines.append("version: 1")
    lines.append(f"extends: {p.template}")
    lines.append(f"with: {flow(p.with_)}")
    if p.remove_steps:
        lines.append(f"remove_steps: {flow(p.remove_steps)}")
    lines.append("steps:")
    defaults = template_defaults[p.template]
    order = list(defaults)
    steps = sorted(p.steps, key=lambda st: (st["id"] not in defaults,
                                            order.index(st["id"]) if st["id"] in defaults else 0))
    for s in steps:
        base = defaults.get(s["id"], {})
        keys = [k for k in STEP_ORDER if k in s]
        body = {}
        for k in keys:
            v = s[k]
            if k == "duration":
                if base and base.get("duration") == v:
                    continue
                v = duration_text(v)
            body[k] = v
        if base and set(body) == {"id"}:
            continue
        first = True
        for k, v in body.items():
            prefix = "  - " if first else "    "
            first = False
            if k == "routes":
                lines.append(f"{prefix}routes: {flow(v)}")
            elif k in ("name", "notes"):
                lines.append(f"{prefix}{k}: {q(v)}")
            elif k == "produces":
                lines.append(f"{prefix}produces: {flow(v)}")
            else:
                lines.append(f"{prefix}{k}: {flow(v) if not isinstance(v, str) else v}")
    if p.notes:
        lines.append(f"notes: {q(' '.join(p.notes))}")
    return "\n".join(lines) + "\n"


def slugify(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Mn").lower()
    text = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return re.sub(r"^thu-tuc-", "", text)


#: The file names (the procedures' keys, part of their dossiers' codes) of the shipped procedures without a
#: national code whose name is too long for its slug: shortened by hand to at most 48 characters (lint rule
#: key-too-long) when the catalogue was published, so --force rewrites them under these names instead of
#: writing a second file for the same procedure next to them.
SHIPPED_KEYS: dict[str, str] = {
    "Thủ tục tặng Giấy khen của Chủ tịch UBND cấp huyện về thành tích thực hiện nhiệm vụ chính trị":
        "tang-giay-khen-chu-tich-ubnd-cap-huyen",
    "Thủ tục thẩm định nhu cầu sử dụng đất để xem xét giao đất, cho thuê đất không thông qua hình thức đấu giá "
    "quyền sử dụng đất đối với hộ gia đình, cá nhân, cộng đồng dân cư": "tham-dinh-nhu-cau-su-dung-dat",
    "Thủ tục giải quyết tranh chấp đất đai thuộc thẩm quyền của Chủ tịch UBND cấp huyện":
        "giai-quyet-tranh-chap-dat-dai-cap-huyen",
    "Cho phép trường mẫu giáo, trường mầm non, nhà trẻ hoạt động giáo dục": "cho-phep-truong-mam-non-hoat-dong-giao-duc",
    "Cho phép trường trung học cơ sở hoạt động giáo dục": "cho-phep-truong-thcs-hoat-dong-giao-duc",
    "Thành lập trường trung học cơ sở công lập hoặc cho phép thành lập trường trung học cơ sở tư thục":
        "thanh-lap-truong-thcs",
    "Thành lập trường mẫu giáo, trường mầm non, nhà trẻ công lập hoặc cho phép thành lập trường mẫu giáo, "
    "trường mầm non, nhà trẻ dân lập, tư thục": "thanh-lap-truong-mam-non",
    "Thành lập trường tiểu học công lập, cho phép thành lập trường tiểu học tư thục": "thanh-lap-truong-tieu-hoc",
    "Giải thể trường mẫu giáo, trường mầm non, nhà trẻ (theo yêu cầu của tổ chức, cá nhân đề nghị thành lập)":
        "giai-the-truong-mam-non-theo-yeu-cau",
    "Giải thể trường tiểu học (theo đề nghị của tổ chức, cá nhân đề nghị thành lập trường tiểu học)":
        "giai-the-truong-tieu-hoc-theo-de-nghi",
    "Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm đối với cơ sở kinh doanh dịch vụ ăn uống thuộc thẩm "
    "quyền của Ủy ban nhân dân cấp huyện": "cap-gcn-co-so-du-dieu-kien-an-toan-thuc-pham",
    "Chi trả trợ cấp xã hội hàng tháng, hỗ trợ kinh phí chăm sóc, nuôi dưỡng hàng tháng khi đối tượng thay đổi nơi "
    "cư trú trong cùng địa bàn quận, huyện, thị xã, thành phố thuộc tỉnh": "chi-tra-tro-cap-xa-hoi-hang-thang",
    "Hỗ trợ chi phí mai táng cho đối tượng bảo trợ xã hội (được trợ giúp xã hội thường xuyên tại cộng đồng)":
        "ho-tro-chi-phi-mai-tang-doi-tuong-bao-tro-xa-hoi",
    "Thủ tục thực hiện, điều chỉnh, thôi hưởng trợ cấp xã hội hàng tháng, hỗ trợ kinh phí chăm sóc, nuôi dưỡng "
    "hàng tháng": "dieu-chinh-thoi-huong-tro-cap-xa-hoi-hang-thang",
}


def file_name(p: Proc, limit_chars: int = 80) -> str:
    if not p.code and p.name in SHIPPED_KEYS:
        return f"{SHIPPED_KEYS[p.name]}.yaml"
    slug = p.slug or slugify(p.name)
    prefix = f"{p.code}-" if p.code else ""
    # without a code the file name is the procedure's key, part of its dossiers' codes (lint: key-too-long)
    room = limit_chars - len(prefix) - len(".yaml") if p.code else 48
    if len(slug) > room:
        slug = slug[:room].rsplit("-", 1)[0]
    return f"{prefix}{slug}.yaml"


def template_defaults() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, t in load_templates(ROOT / "procedures_yaml" / "templates").items():
        out[name] = {str(s["id"]): {"duration": parse_duration(s["duration"]) if s.get("duration") else None}
                     for s in t.steps}
    return out


def open_questions_markdown() -> str:
    """The table of docs/catalogue.md listing every unverified limit or code of the catalogue."""
    cat = load_catalogue([ROOT / "procedures_yaml"])
    lines = ["| key (code or file) | level | procedure | legal limit | code | what to check (time_limit.note) |",
             "|---|---|---|---|---|---|"]
    for d in sorted(cat.definitions, key=lambda d: (d.level != "district", d.field, d.code == "", d.code, d.name)):
        tl = d.time_limit
        if not (tl.minutes is None or not tl.verified or not d.code or not d.code_verified):
            continue
        name = d.name if len(d.name) <= 90 else d.name[:89].rstrip() + "…"
        lim = "none found" if tl.minutes is None else tl.describe() + ("" if tl.verified else " — unverified")
        code = "missing" if not d.code else "unverified" if not d.code_verified else "ok"
        note = (tl.note or "").replace("|", "/")
        lines.append(f"| `{d.key}` | {d.level} | {name} | {lim} | {code} | {note} |")
    return "\n".join(lines) + "\n"


def file_clashes(procs: list[Proc]) -> list[str]:
    """Procedures that already have a file in the catalogue under another name than :func:`file_name` gives.

    A procedure is its national code, or its name when it has none (its file name is then its key). Writing
    such a procedure would leave two files for it (two definitions with the same code, or the same procedure
    under two keys), so :func:`main` writes nothing when there is one.
    """
    existing: dict[tuple[str, str], Path] = {}
    for level in ("district", "commune"):
        for path in sorted((ROOT / "procedures_yaml" / level).glob("*.yaml")):
            ident = _identity(path)
            if ident is not None:
                existing.setdefault((level, ident), path)
    out = []
    for p in procs:
        path = ROOT / "procedures_yaml" / p.level / file_name(p)
        there = existing.get((p.level, p.code or p.name))
        if there is not None and there != path:
            out.append(f"{there.relative_to(ROOT)}: already holds '{p.code or p.name}'; "
                       f"this script would write it to {path.relative_to(ROOT)}")
    return out


def _identity(path: Path) -> str | None:
    """The national code written in a definition file, else its name (None when the file has neither)."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    code = str(data.get("code") or "").strip()
    name = str(data.get("name") or "").strip()
    return code or name or None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="overwrite existing files (hand edits are lost)")
    ap.add_argument("--check", action="store_true", help="write nothing; report what would change")
    ap.add_argument("--open-questions", action="store_true",
                    help="print the open-questions table of docs/catalogue.md and exit")
    args = ap.parse_args(argv)
    if args.open_questions:
        print(open_questions_markdown(), end="")
        return 0
    defaults = template_defaults()
    procs = district() + commune()
    clashes = file_clashes(procs)
    if clashes:
        for line in clashes:
            print(line, file=sys.stderr)
        print(f"nothing written: {len(clashes)} procedure(s) would get a second file; give each the name of its "
              f"existing file (SHIPPED_KEYS, or Proc.slug), or rename that file", file=sys.stderr)
        return 2
    written, kept = 0, 0
    for p in procs:
        path = ROOT / "procedures_yaml" / p.level / file_name(p)
        text = render(p, defaults)
        if path.exists() and not args.force:
            kept += 1
            continue
        if args.check:
            print(f"would write {path.relative_to(ROOT)}")
            continue
        path.write_text(text, encoding="utf-8")
        written += 1
    print(f"{written} written, {kept} kept (exist; --force overwrites)")
    cat = load_catalogue([ROOT / "procedures_yaml"])
    for problem in cat.problems:
        print(problem)
    for d in cat.definitions:
        cp = critical_path(d)
        lim = d.time_limit.minutes
        if cp is None or (lim is not None and cp.minutes > lim):
            print(f"{d.source}: allocated {cp.minutes if cp else '?'} > limit {lim}")
    return 1 if cat.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
