"""The Vietnamese names the pages (and the Excel exports) show for the codes the records
hold; a code without a name here is shown as it is."""

from __future__ import annotations

from typing import Any

CATEGORIES = {
    "cadre": "Cán bộ",
    "civil_servant": "Công chức",
    "public_employee": "Viên chức",
    "contract_worker": "Người lao động",
}
GENDERS = {"male": "Nam", "female": "Nữ"}
STATUSES = {
    "active": "Đang công tác",
    "seconded": "Biệt phái",
    "released": "Đang chuyển công tác",
    "retired": "Nghỉ hưu",
    "resigned": "Thôi việc",
    "dismissed": "Buộc thôi việc",
    "deceased": "Từ trần",
    "transferred_out": "Đã chuyển ra ngoài",
}
ROLES = {
    "employee": "Cá nhân",
    "hr_officer": "Cán bộ tổ chức",
    "hr_head": "Trưởng phòng tổ chức cán bộ",
    "unit_head": "Thủ trưởng đơn vị",
    "home_affairs": "Sở Nội vụ",
    "information_centre": "Trung tâm Thông tin",
    "administrator": "Quản trị hệ thống",
    "inspector": "Thanh tra",
    "system": "Hệ thống",
}
UNIT_KINDS = {
    "authority": "Cơ quan chủ quản",
    "department": "Sở, ban, ngành",
    "sub_department": "Chi cục, đơn vị thuộc sở",
    "district_committee": "UBND cấp huyện",
    "public_service_unit": "Đơn vị sự nghiệp công lập",
    "special_association": "Hội đặc thù",
    "commune": "UBND cấp xã",
}
DEADLINE_ACTIONS = {
    "new_record": "Lập hồ sơ mới",
    "state_decision": "Cập nhật theo quyết định",
    "in_unit_move": "Điều động trong đơn vị",
    "transfer_out": "Chuyển hồ sơ đi",
    "transfer_in": "Tiếp nhận hồ sơ",
    "transfer_max": "Hoàn tất chuyển công tác",
    "status_change": "Thay đổi trạng thái",
    "access_revocation": "Thu hồi quyền truy cập",
    "account_creation": "Tạo tài khoản",
    "first_declaration": "Kê khai lần đầu",
    "change_approval": "Phê duyệt thay đổi",
}

EVENT_TYPES = {
    "Opened": "Lập hồ sơ",
    "ChangeProposed": "Đề nghị thay đổi",
    "ChangeApproved": "Phê duyệt thay đổi",
    "ChangeRejected": "Từ chối thay đổi",
    "ApprovalRequested": "Trình phê duyệt",
    "ApprovalSigned": "Ký phê duyệt",
    "RecordApproved": "Phê duyệt hồ sơ",
    "RecordRejected": "Từ chối hồ sơ",
    "MovedWithinUnit": "Điều động trong đơn vị",
    "TransferReleased": "Chuyển công tác đi",
    "TransferReceived": "Tiếp nhận chuyển công tác",
    "TransferredOutOfSystem": "Chuyển ra ngoài hệ thống",
    "SecondmentStarted": "Bắt đầu biệt phái",
    "SecondmentEnded": "Kết thúc biệt phái",
    "Retired": "Nghỉ hưu",
    "Resigned": "Thôi việc",
    "Dismissed": "Buộc thôi việc",
    "Died": "Từ trần",
    "Rehired": "Tuyển dụng lại",
}


def label(names: dict[str, str], value: Any) -> str:
    if value is None or value == "":
        return ""
    key = getattr(value, "value", value)
    return names.get(str(key), str(key))
