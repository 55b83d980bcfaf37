"""An approval's verification (``signing.approvals.ApprovalReport``) in plain Vietnamese:
who signed, what was approved, when, and each check with its reason.

The report's checks and reasons are worded in English by ``signing``; each known wording
is put into Vietnamese here. A reason of an unknown shape is shown as it is, after a
Vietnamese sentence saying the check failed, so that nothing the check found is hidden.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.web import labels
from api.web.record_view import WITHHELD, entry_text, field_value, is_withheld, vn_date, vn_time
from domain.resume import GROUPS, field_label
from signing.approvals import ApprovalReport

ROLE_NAMES = labels.ROLES

EVENT_NAMES = {
    "Opened": "Lập hồ sơ mới",
    "ChangeProposed": "Thay đổi thông tin hồ sơ",
    "MovedWithinUnit": "Điều chuyển trong đơn vị",
    "TransferReleased": "Điều động sang đơn vị khác (đơn vị cũ chuyển đi)",
    "TransferReceived": "Tiếp nhận điều động (đơn vị mới nhận)",
    "TransferredOutOfSystem": "Chuyển công tác ra ngoài hệ thống",
    "SecondmentStarted": "Biệt phái",
    "SecondmentEnded": "Kết thúc biệt phái",
    "Retired": "Nghỉ hưu",
    "Resigned": "Thôi việc",
    "Dismissed": "Buộc thôi việc",
    "Died": "Từ trần",
    "Rehired": "Tuyển dụng lại",
    "ApprovalRequested": "Trình ký phê duyệt",
    "ApprovalSigned": "Ký số phê duyệt một cấp",
    "ChangeApproved": "Phê duyệt thay đổi",
    "ChangeRejected": "Trả lại đề nghị thay đổi",
    "RecordApproved": "Phê duyệt",
    "RecordRejected": "Từ chối phê duyệt",
}

STATUS_NAMES = {"approved": "đã phê duyệt", "pending": "đang chờ ký", "rejected": "bị từ chối"}

CHECK_NAMES = {
    "signature valid": "Chữ ký số đúng với nội dung được phê duyệt",
    "approvals chain": "Nối tiếp đúng lần phê duyệt trước",
    "certificate chain valid": "Chứng thư số do tổ chức tin cậy cấp, còn hiệu lực khi ký",
    "not revoked": "Chứng thư số chưa bị thu hồi khi ký",
    "authority": "Người ký có thẩm quyền với đơn vị vào ngày ký",
    "inside the signing window": "Ký trong thời gian được phép ký",
    "within the deadline": "Ký trong thời hạn xử lý",
}

_DATE = r"(\d{4}-\d{2}-\d{2})"
# Known English reasons and their Vietnamese wording.
_REASONS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (
        re.compile(r"^covers the approved record as it stood before$"),
        lambda m: "Chữ ký bao trùm hồ sơ đã phê duyệt ngay trước đó.",
    ),
    (
        re.compile(r"^the approved record before this signature is not what was signed$"),
        lambda m: "Hồ sơ đã phê duyệt trước chữ ký này không phải là nội dung đã được ký.",
    ),
    (
        re.compile(r"^the signature matches what was approved$"),
        lambda m: "Chữ ký khớp với nội dung được phê duyệt.",
    ),
    (
        re.compile(r"^the signature does not match what was approved"),
        lambda m: "Chữ ký không khớp với nội dung được phê duyệt (bị giả mạo hoặc bị sửa).",
    ),
    (
        re.compile(r"^the certificate belongs to (.+)$"),
        lambda m: f"Chứng thư số thuộc về tài khoản {m[1]}, không phải người ký.",
    ),
    (
        re.compile(r"^the certificate chained to a trust anchor then$"),
        lambda m: "Chứng thư số được tổ chức tin cậy cấp và còn hiệu lực vào thời điểm ký.",
    ),
    (
        re.compile(r"^the certificate was not revoked then$"),
        lambda m: "Chứng thư số chưa bị thu hồi vào thời điểm ký.",
    ),
    (
        re.compile(rf"^the certificate was revoked on {_DATE}"),
        lambda m: f"Chứng thư số đã bị thu hồi từ ngày {vn_date(m[1])}.",
    ),
    (
        re.compile(rf"^(.+) expired on {_DATE} at (\S+) UTC$"),
        lambda m: f"Chứng thư số đã hết hạn ngày {vn_date(m[2])} lúc {m[3]} UTC.",
    ),
    (
        re.compile(rf"^(.+) not yet valid: valid from {_DATE}"),
        lambda m: f"Chứng thư số chưa có hiệu lực: hiệu lực từ ngày {vn_date(m[2])}.",
    ),
    (
        re.compile(r"^not issued by a trusted authority"),
        lambda m: "Chứng thư số không do tổ chức cung cấp dịch vụ chứng thực tin cậy cấp.",
    ),
    (
        re.compile(r"^the certificate is not for signing"),
        lambda m: "Chứng thư số không dùng để ký số.",
    ),
    (
        re.compile(r"^the signer held that role for that unit then$"),
        lambda m: "Người ký giữ đúng vai trò đó tại đơn vị vào ngày ký.",
    ),
    (
        re.compile(rf"^(\S+) held no (\w+) role for (\S+) on {_DATE}$"),
        lambda m: (
            f"Tài khoản {m[1]} không giữ vai trò {ROLE_NAMES.get(m[2], m[2])} "
            f"tại đơn vị {m[3]} vào ngày {vn_date(m[4])}."
        ),
    ),
    (
        re.compile(rf"^(\S+) was not on staff on {_DATE}$"),
        lambda m: f"Tài khoản {m[1]} không còn công tác vào ngày {vn_date(m[2])}.",
    ),
    (
        re.compile(rf"^(\S+) worked in (\S+) on {_DATE}, not in (.+)$"),
        lambda m: f"Ngày {vn_date(m[3])}, {m[1]} công tác tại {m[2]}, không phải tại {m[4]}.",
    ),
    (re.compile(r"^no signing window applies$"), lambda m: "Quy định không giới hạn thời gian ký."),
    (
        re.compile(rf"^signed on {_DATE}, outside the last (\d+) days$"),
        lambda m: f"Ký ngày {vn_date(m[1])}, ngoài {m[2]} ngày cuối tháng được phép ký.",
    ),
    (re.compile(rf"^signed on {_DATE}$"), lambda m: f"Ký ngày {vn_date(m[1])}."),
    (
        re.compile(r"^no deadline in working days for this level$"),
        lambda m: "Cấp này không có thời hạn tính theo ngày làm việc.",
    ),
    (
        re.compile(r"^(\d+) working days of the (\d+) allowed$"),
        lambda m: f"Đã dùng {m[1]} trên {m[2]} ngày làm việc được phép.",
    ),
    (
        re.compile(r"^no certificate (.+)$"),
        lambda m: "Chứng thư số của chữ ký không có trong sổ đăng ký chứng thư.",
    ),
]


def reason_in_vietnamese(reason: str, passed: bool) -> str:
    for pattern, words in _REASONS:
        found = pattern.match(reason)
        if found:
            return words(found)
    return reason if passed else f"Không đạt: {reason}"


@dataclass
class CheckWords:
    name: str
    passed: bool
    reason: str


@dataclass
class SignatureWords:
    level: int
    who: str  # the certificate's subject
    account: str
    role: str
    unit_code: str
    signed_at: str
    passed: bool
    checks: list[CheckWords] = field(default_factory=list)


@dataclass
class ApprovalWords:
    item_id: str
    profile_id: str
    passed: bool
    status: str
    what: str
    effective_date: str
    values: list[tuple[str, str]]
    signatures: list[SignatureWords]
    levels: int

    @property
    def summary(self) -> str:
        verdict = "XÁC MINH ĐẠT" if self.passed else "KHÔNG XÁC MINH ĐƯỢC"
        return (
            f"{self.what}: {self.status}, {len(self.signatures)}/{self.levels} chữ ký — {verdict}"
        )


def approved_values(approves: dict[str, Any]) -> list[tuple[str, str]]:
    """What was approved, field by field, with Vietnamese labels."""
    if approves.get("event") == "ChangeProposed":
        values = []
        for change in approves.get("changes", []):
            path = str(change.get("path", ""))
            group, _, name = path.partition(".")
            value = change.get("value")
            if is_withheld(value):
                shown = WITHHELD
            elif group in GROUPS and GROUPS[group].many:
                shown = entry_text(group, value)
            else:
                shown = field_value(name, value)
            values.append((field_label(path), shown))
        if approves.get("reason"):
            values.append(("Lý do", str(approves["reason"])))
        for document in approves.get("documents", []):
            values.append(
                (
                    "Tài liệu kèm theo",
                    f"{document.get('filename', '')} (SHA-256 {document.get('sha256')})",
                )
            )
        return values
    values = []
    decision = approves.get("decision")
    if isinstance(decision, dict):
        values.append(
            (
                "Quyết định",
                f"số {decision.get('number', '')} ngày {vn_date(decision.get('signed_on'))}"
                + (f" của {decision['issuer']}" if decision.get("issuer") else ""),
            )
        )
        document = decision.get("document")
        if isinstance(document, dict):
            values.append(
                (
                    "Bản quét quyết định",
                    f"{document.get('filename', '')} (SHA-256 {document.get('sha256')})",
                )
            )
    labels = {
        "department": "Phòng, ban",
        "position": "Chức vụ, chức danh",
        "to_unit_code": "Đơn vị chuyển đến",
        "unit_code": "Đơn vị",
        "destination": "Nơi chuyển đến",
        "host": "Cơ quan nhận biệt phái",
        "until": "Biệt phái đến ngày",
        "reason": "Lý do",
        "origin": "Hình thức",
    }
    for key, label in labels.items():
        if approves.get(key) not in (None, ""):
            values.append((label, field_value(key, approves[key])))
    return values


def approval_in_words(report: ApprovalReport) -> ApprovalWords:
    approves = report.approves
    signatures = []
    for s in report.signatures:
        signed_at = s.signed_at if isinstance(s.signed_at, datetime) else None
        signatures.append(
            SignatureWords(
                level=s.level,
                who=s.certificate_subject,
                account=s.signer,
                role=ROLE_NAMES.get(s.role, s.role),
                unit_code=s.unit_code,
                signed_at=vn_time(signed_at) if signed_at else str(s.signed_at),
                passed=s.passed,
                checks=[
                    CheckWords(
                        CHECK_NAMES.get(c.name, c.name),
                        c.passed,
                        reason_in_vietnamese(c.reason, c.passed),
                    )
                    for c in s.checks
                ],
            )
        )
    return ApprovalWords(
        item_id=report.item_id,
        profile_id=report.profile_id,
        passed=report.passed,
        status=STATUS_NAMES.get(report.status, report.status),
        what=EVENT_NAMES.get(str(approves.get("event", "")), str(approves.get("event", ""))),
        effective_date=vn_date(approves.get("effective_date")),
        values=approved_values(approves),
        signatures=signatures,
        levels=report.levels,
    )
