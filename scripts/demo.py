"""A realistic synthetic province (or ministry) for demos and benchmarks.

A three-level unit tree, people with Vietnamese names written with their diacritics, ranks
and salary steps from the catalogue, and years of history: regular step raises and
promotions (approved change sets), moves, transfers between units, secondments,
retirements at the statutory age, resignations, dismissals and deaths. Everything goes
through the domain's own methods, so every invariant holds; the same seed gives the same
data.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from eventsourcing.domain import Aggregate

from domain import catalogues, rules
from domain.application import Ledger
from domain.profile import Profile
from domain.resume import clean_change, clean_record
from domain.unit import Unit
from domain.values import Actor, Decision, EmployeeCategory, ProfileStatus, Role, UnitKind

FAMILY_NAMES = (  # with rough shares of the population
    ("Nguyễn", 38),
    ("Trần", 11),
    ("Lê", 9),
    ("Phạm", 7),
    ("Hoàng", 4),
    ("Huỳnh", 2),
    ("Phan", 4),
    ("Vũ", 3),
    ("Võ", 2),
    ("Đặng", 2),
    ("Bùi", 2),
    ("Đỗ", 1),
    ("Hồ", 1),
    ("Ngô", 1),
    ("Dương", 1),
    ("Lý", 1),
    ("Đinh", 1),
    ("Trịnh", 1),
    ("Mai", 1),
    ("Lương", 1),
)
MIDDLE_NAMES = {
    "male": ("Văn", "Hữu", "Đức", "Minh", "Quang", "Thanh", "Công", "Xuân", "Ngọc", "Trọng"),
    "female": ("Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Minh", "Hồng", "Phương", "Kim"),
}
GIVEN_NAMES = {
    "male": (
        "An",
        "Bình",
        "Cường",
        "Dũng",
        "Đạt",
        "Hải",
        "Hùng",
        "Huy",
        "Khánh",
        "Long",
        "Minh",
        "Nam",
        "Phong",
        "Phúc",
        "Quân",
        "Sơn",
        "Thắng",
        "Thành",
        "Trung",
        "Tuấn",
        "Việt",
        "Vinh",
        "Hoàng",
        "Kiên",
        "Lâm",
    ),
    "female": (
        "An",
        "Anh",
        "Bích",
        "Chi",
        "Dung",
        "Giang",
        "Hà",
        "Hạnh",
        "Hằng",
        "Hoa",
        "Hương",
        "Lan",
        "Liên",
        "Linh",
        "Loan",
        "Mai",
        "Nga",
        "Ngọc",
        "Nhung",
        "Oanh",
        "Phương",
        "Quỳnh",
        "Thảo",
        "Trang",
        "Yến",
    ),
}
PLACES = (
    "Hà Nội",
    "Hải Phòng",
    "Nam Định",
    "Thái Bình",
    "Nghệ An",
    "Thanh Hóa",
    "Hà Tĩnh",
    "Quảng Ninh",
    "Hưng Yên",
    "Bắc Ninh",
    "Cần Thơ",
    "Trà Vinh",
    "Tuyên Quang",
    "Huế",
    "Đà Nẵng",
    "Vĩnh Long",
    "An Giang",
    "Phú Thọ",
)
ETHNICITY_SHARES = (
    ("01", 86),
    ("02", 2),
    ("03", 2),
    ("06", 2),
    ("05", 2),
    ("07", 1),
    ("08", 1),
    ("04", 1),
    ("09", 1),
)
RELIGION_SHARES = (("khong", 85), ("phat_giao", 8), ("cong_giao", 6), ("cao_dai", 1))

AUTHORITY_NAMES = {
    "haiphong": ("031", "Ủy ban nhân dân thành phố Hải Phòng"),
    "cantho": ("092", "Ủy ban nhân dân thành phố Cần Thơ"),
    "travinh": ("084", "Ủy ban nhân dân tỉnh Trà Vinh"),
    "tuyenquang": ("008", "Ủy ban nhân dân tỉnh Tuyên Quang"),
    "bnv": ("001", "Bộ Nội vụ"),
}
DEPARTMENTS = (
    (
        "Sở Nội vụ",
        ("Chi cục Văn thư - Lưu trữ", "Ban Thi đua - Khen thưởng"),
        ("Trung tâm Lưu trữ lịch sử",),
    ),
    ("Sở Tài chính", ("Chi cục Thống kê",), ("Trung tâm Xúc tiến đầu tư",)),
    ("Sở Y tế", ("Chi cục Dân số",), ("Bệnh viện Đa khoa tỉnh", "Trung tâm Kiểm soát bệnh tật")),
    (
        "Sở Giáo dục và Đào tạo",
        (),
        ("Trường THPT Chuyên", "Trường THPT Lê Quý Đôn", "Trường THPT Nguyễn Trãi"),
    ),
    (
        "Sở Nông nghiệp và Môi trường",
        ("Chi cục Kiểm lâm", "Chi cục Thủy lợi"),
        ("Trung tâm Khuyến nông",),
    ),
    ("Sở Xây dựng", ("Chi cục Giám định xây dựng",), ()),
    ("Sở Công Thương", ("Chi cục Quản lý thị trường",), ()),
    ("Sở Tư pháp", (), ("Trung tâm Trợ giúp pháp lý",)),
    ("Sở Văn hóa, Thể thao và Du lịch", (), ("Thư viện tỉnh", "Bảo tàng tỉnh")),
    ("Sở Khoa học và Công nghệ", (), ("Trung tâm Chuyển đổi số",)),
    ("Thanh tra tỉnh", (), ()),
    ("Văn phòng Ủy ban nhân dân tỉnh", (), ("Trung tâm Phục vụ hành chính công",)),
)
DISTRICTS = ("Đông Sơn", "Tây Hòa", "Bắc Bình", "Nam Trực", "Yên Lạc")
ASSOCIATIONS = ("Hội Chữ thập đỏ tỉnh", "Hội Nhà báo tỉnh", "Liên hiệp các Hội Văn học nghệ thuật")
DEPARTMENT_SECTIONS = (
    "Văn phòng",
    "Phòng Tổ chức cán bộ",
    "Phòng Kế hoạch - Tài chính",
    "Phòng Nghiệp vụ 1",
    "Phòng Nghiệp vụ 2",
    "Thanh tra",
)
POSITIONS = ("Chuyên viên", "Chuyên viên", "Chuyên viên", "Phó Trưởng phòng", "Trưởng phòng")
REWARDS = (
    "Giấy khen của Giám đốc Sở",
    "Bằng khen của Chủ tịch UBND tỉnh",
    "Chiến sĩ thi đua cơ sở",
)


@dataclass
class DemoUnit:
    code: str
    name: str
    kind: UnitKind
    weight: int  # relative size of its staff
    ranks: tuple[str, ...]
    category: EmployeeCategory


@dataclass
class DemoResult:
    units: int = 0
    profiles: int = 0
    events: int = 0
    statuses: dict[str, int] = field(default_factory=dict)


def _pick(rng: random.Random, shares: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([s[0] for s in shares], weights=[s[1] for s in shares])[0]


def _unit_ranks(name: str, kind: UnitKind) -> tuple[tuple[str, ...], EmployeeCategory]:
    if kind is not UnitKind.PUBLIC_SERVICE_UNIT:
        if name.startswith("Thanh tra"):
            return ("04.025", "04.025", "04.024", "01.003"), EmployeeCategory.CIVIL_SERVANT
        return ("01.003",) * 6 + ("01.002", "01.002", "01.004", "06.031"), (
            EmployeeCategory.CIVIL_SERVANT
        )
    if name.startswith("Trường"):
        return ("V.07.05.15",) * 5 + ("V.07.04.31",), EmployeeCategory.PUBLIC_EMPLOYEE
    if name.startswith(("Bệnh viện", "Trung tâm Kiểm soát")):
        return (
            "V.08.01.03",
            "V.08.01.03",
            "V.08.01.02",
            "V.08.05.12",
            "V.08.05.12",
            "V.08.03.07",
        ), EmployeeCategory.PUBLIC_EMPLOYEE
    return ("V.01.02.02",), EmployeeCategory.PUBLIC_EMPLOYEE


def build_unit_tree(ledger: Ledger, actor: Actor, started: date) -> tuple[int, list[DemoUnit]]:
    """Create the three-level tree; returns how many units, and those that employ staff."""
    province_code, authority_name = AUTHORITY_NAMES[ledger.settings.jurisdiction]
    suffix = f"H{province_code[-2:]}"
    root = f"000.00.00.{suffix}"
    units: list[Aggregate] = []
    staffed: list[DemoUnit] = []
    by_code: dict[str, Unit] = {}

    def add(code: str, name: str, kind: UnitKind, parent: str | None, weight: int) -> None:
        unit = Unit.create(
            code,
            name,
            kind,
            by_code.get(parent) if parent else None,
            effective_date=started,
            actor=actor,
        )
        by_code[code] = unit
        units.append(unit)
        if weight:
            ranks, category = _unit_ranks(name, kind)
            staffed.append(DemoUnit(code, name, kind, weight, ranks, category))

    add(root, authority_name, UnitKind.AUTHORITY, None, 0)
    for i, (name, subs, services) in enumerate(DEPARTMENTS, start=1):
        code = f"000.00.{i:02d}.{suffix}"
        add(code, name, UnitKind.DEPARTMENT, root, 6)
        for j, sub in enumerate(subs, start=1):
            add(f"000.{j:02d}.{i:02d}.{suffix}", sub, UnitKind.SUB_DEPARTMENT, code, 3)
        for j, service in enumerate(services, start=len(subs) + 1):
            big = service.startswith(("Trường", "Bệnh viện"))
            add(
                f"000.{j:02d}.{i:02d}.{suffix}",
                service,
                UnitKind.PUBLIC_SERVICE_UNIT,
                code,
                12 if big else 4,
            )
    for i, district in enumerate(DISTRICTS, start=len(DEPARTMENTS) + 1):
        code = f"000.00.{i:02d}.{suffix}"
        add(code, f"Ủy ban nhân dân huyện {district}", UnitKind.DISTRICT_COMMITTEE, root, 5)
        for j, commune in enumerate(("Đông", "Tây", "Nam"), start=1):
            add(
                f"000.{j:02d}.{i:02d}.{suffix}",
                f"Ủy ban nhân dân xã {district} {commune}",
                UnitKind.COMMUNE,
                code,
                2,
            )
        add(
            f"000.04.{i:02d}.{suffix}",
            f"Trường THCS {district}",
            UnitKind.PUBLIC_SERVICE_UNIT,
            code,
            6,
        )
    for i, association in enumerate(ASSOCIATIONS, start=len(DEPARTMENTS) + len(DISTRICTS) + 1):
        add(f"000.00.{i:02d}.{suffix}", association, UnitKind.SPECIAL_ASSOCIATION, root, 1)
    ledger.save(*units)
    return len(units), staffed


class PersonStory:
    """One person's career, told through the Profile aggregate's own methods."""

    def __init__(
        self,
        ledger: Ledger,
        rng: random.Random,
        units: list[DemoUnit],
        aggregates: dict[str, Unit],
        index: int,
        seed: int,
        province_code: str,
    ) -> None:
        self.ledger, self.rng, self.units, self.aggregates = ledger, rng, units, aggregates
        self.today = ledger.today()
        self.unit = rng.choices(units, weights=[u.weight for u in units])[0]
        self.hr = Actor(f"tccb.{self.unit.code}", Role.HR_OFFICER, self.unit.code)
        self.head = Actor(f"lanhdao.{self.unit.code}", Role.UNIT_HEAD, self.unit.code)
        self.gender = "female" if rng.random() < 0.55 else "male"
        self.birth = date(rng.randint(1960, 2002), rng.randint(1, 12), rng.randint(1, 28))
        self.index, self.seed, self.province_code = index, seed, province_code
        self.decisions = 0

    def decision(self, signed_on: date) -> Decision:
        self.decisions += 1
        return Decision(
            number=f"{self.index % 900 + 1}/QĐ-{self.decisions}",
            signed_on=signed_on,
            issuer=self.unit.name,
        )

    def citizen_id(self) -> str:
        century_gender = (0 if self.birth.year < 2000 else 2) + (self.gender == "female")
        serial = (self.index * 7919 + self.seed) % 1_000_000  # 7919 is prime: no repeats
        return f"{self.province_code}{century_gender}{self.birth.year % 100:02d}{serial:06d}"

    def name(self) -> str:
        family = _pick(self.rng, tuple(FAMILY_NAMES))
        middle = self.rng.choice(MIDDLE_NAMES[self.gender])
        given = self.rng.choice(GIVEN_NAMES[self.gender])
        return f"{family} {middle} {given}"

    def record(self, start: date, rank_code: str | None, category: EmployeeCategory) -> dict:
        rng = self.rng
        employment: dict[str, Any] = {
            "category": category.value,
            "unit_code": self.unit.code,
            "department": rng.choice(DEPARTMENT_SECTIONS)
            if self.unit.kind is not UnitKind.PUBLIC_SERVICE_UNIT
            else "Tổ chuyên môn",
            "position": rng.choice(POSITIONS)
            if category is not EmployeeCategory.CONTRACT_WORKER
            else "Nhân viên hợp đồng",
            "start_date": start,
        }
        if rank_code:
            employment.update(rank_code=rank_code, salary_step=1)
        place = rng.choice(PLACES)
        return {
            "identity": {
                "full_name": self.name(),
                "gender": self.gender,
                "birth_date": self.birth,
                "birth_place": place,
                "hometown": rng.choice(PLACES),
                "ethnicity": _pick(rng, ETHNICITY_SHARES),
                "religion": _pick(rng, RELIGION_SHARES),
                "current_address": f"Số {rng.randint(1, 300)}, phường Trung tâm, {place}",
            },
            "citizen": {"citizen_id": self.citizen_id()},
            "education": {
                "general_education": "12/12",
                "professional_level": rng.choice(("dai_hoc", "dai_hoc", "thac_si", "cao_dang")),
                "foreign_languages": rng.choice(("Tiếng Anh B1", "Tiếng Anh B2", "Tiếng Pháp A2")),
            },
            "employment": employment,
        }

    def tell(self) -> Profile:
        rng, today = self.rng, self.today
        start = self.birth + timedelta(days=365 * rng.randint(22, 30) + rng.randint(0, 300))
        start = min(start, today - timedelta(days=30))
        contract = rng.random() < 0.05
        category = EmployeeCategory.CONTRACT_WORKER if contract else self.unit.category
        if (
            category is EmployeeCategory.CIVIL_SERVANT
            and self.unit.kind in (UnitKind.COMMUNE, UnitKind.DISTRICT_COMMITTEE)
            and rng.random() < 0.1
        ):
            category = EmployeeCategory.CADRE
        rank_code = (
            rng.choice(("01.010", "01.011", "01.009"))
            if contract
            else (rng.choice(self.unit.ranks))
        )
        if category is EmployeeCategory.CADRE:
            rank_code = "01.003"
        profile = Profile.open(
            clean_record(self.record(start, rank_code, category)),
            self.aggregates[self.unit.code],
            decision=self.decision(start),
            actor=self.hr,
            today=today,
            origin="contract" if contract else "recruitment",
            profile_id=uuid.UUID(int=rng.getrandbits(128), version=4),
        )
        leaves_on = self.departure(start)
        self.career(profile, start, rank_code, leaves_on[0] if leaves_on else today)
        if leaves_on:
            self.depart(profile, *leaves_on)
        return profile

    def departure(self, start: date) -> tuple[date, str] | None:
        """How and when the person leaves, if they have left by today: an early departure
        drawn at random, or else retirement at the statutory age."""
        rng, today = self.rng, self.today
        retirement = rules.retirement_date(self.birth, self.gender)
        served = max(1, (today - start).days)
        roll = rng.random()
        early: tuple[date, str] | None = None
        for share, how, earliest in (
            (0.004, "death", 365),
            (0.025, "resign", 200),
            (0.027, "dismiss", 400),
        ):
            if roll < share:
                early = (start + timedelta(days=rng.randint(earliest, max(earliest, served))), how)
                break
        if early is not None and early[0] < min(retirement, today):
            return early
        if retirement <= today:
            return retirement, "retire"
        return None

    def career(self, profile: Profile, start: date, rank_code: str | None, until: date) -> None:
        """Regular step raises, a promotion now and then, a move, a transfer, a secondment."""
        rng = self.rng
        events: list[tuple[date, str]] = []
        if rank_code:
            rank = catalogues.rank(rank_code)
            day = _months_later(start, rank.raise_months)
            for _step in range(2, rank.steps + 1):
                if day >= until:
                    break
                events.append((day, "raise"))
                day = _months_later(day, rank.raise_months)
        span = (until - start).days
        if span > 800:
            if rng.random() < 0.15:
                events.append((start + timedelta(days=rng.randint(300, span - 100)), "move"))
            if rng.random() < 0.08:
                events.append((start + timedelta(days=rng.randint(300, span - 100)), "transfer"))
            if rng.random() < 0.03:
                events.append((start + timedelta(days=rng.randint(300, span - 400)), "second"))
        for day, what in sorted(events):
            if profile.status is not ProfileStatus.ACTIVE:
                continue
            if what == "raise":
                self.raise_step(profile, day)
            elif what == "move":
                profile.move_within_unit(
                    department=rng.choice(DEPARTMENT_SECTIONS),
                    position=rng.choice(POSITIONS),
                    effective_date=day,
                    decision=self.decision(day),
                    actor=self.hr,
                )
            elif what == "transfer":
                self.transfer(profile, day)
            elif what == "second" and day + timedelta(days=365) < until:
                profile.start_secondment(
                    host="Ban Quản lý dự án đầu tư xây dựng tỉnh",
                    until=day + timedelta(days=365),
                    effective_date=day,
                    decision=self.decision(day),
                    actor=self.hr,
                )
                end = day + timedelta(days=365)
                profile.end_secondment(
                    effective_date=end, decision=self.decision(end), actor=self.hr
                )

    def raise_step(self, profile: Profile, day: date) -> None:
        employment = profile.record["employment"]
        rank = catalogues.rank(employment["rank_code"])
        step = employment["salary_step"] + 1
        if step > rank.steps:
            return
        changes = [
            ("employment.salary_step", step),
            ("employment.coefficient", rank.coefficient(step)),
            (
                "salary_history",
                {
                    "from_date": day,
                    "rank_code": rank.code,
                    "salary_step": step,
                    "coefficient": rank.coefficient(step),
                },
            ),
        ]
        if self.rng.random() < 0.2:
            changes.append(("rewards", {"awarded_on": day, "form": self.rng.choice(REWARDS)}))
        change_set = profile.propose_change(
            [clean_change(p, v) for p, v in changes],
            reason="Nâng bậc lương thường xuyên",
            effective_date=day,
            documents=[],
            actor=self.hr,
            today=self.today,
            document_required_for_self_service=False,
        )
        profile.approve_change(
            change_set, actor=self.head, today=self.today, decision=self.decision(day)
        )

    def transfer(self, profile: Profile, day: date) -> None:
        options = [
            u for u in self.units if u.category is self.unit.category and u.code != self.unit.code
        ]
        if not options:
            return
        target = self.rng.choice(options)
        decision = self.decision(day)
        profile.release_transfer(
            self.aggregates[target.code], effective_date=day, decision=decision, actor=self.hr
        )
        self.unit = target
        self.hr = Actor(f"tccb.{target.code}", Role.HR_OFFICER, target.code)
        self.head = Actor(f"lanhdao.{target.code}", Role.UNIT_HEAD, target.code)
        arrival = day + timedelta(days=self.rng.randint(1, 10))
        profile.receive_transfer(
            self.aggregates[target.code],
            department=DEPARTMENT_SECTIONS[0],
            position="Chuyên viên",
            effective_date=arrival,
            decision=decision,
            actor=self.hr,
        )

    def depart(self, profile: Profile, day: date, how: str) -> None:
        if profile.status is ProfileStatus.SECONDED:
            return
        if day < profile.periods[-1]["start_date"]:
            return
        decision = self.decision(day)
        if how == "retire":
            profile.retire(effective_date=day, decision=decision, actor=self.hr)
        elif how == "resign":
            profile.resign(effective_date=day, decision=decision, actor=self.hr)
        elif how == "dismiss":
            profile.dismiss(
                reason="Vi phạm kỷ luật", effective_date=day, decision=decision, actor=self.hr
            )
        elif how == "death":
            profile.record_death(
                date_of_death=day, decision=decision, actor=self.hr, today=self.today
            )


def _months_later(day: date, months: int) -> date:
    total = day.month - 1 + months
    return date(day.year + total // 12, total % 12 + 1, min(day.day, 28))


def generate(
    ledger: Ledger,
    people: int,
    seed: int,
    progress: Callable[[int], None] = lambda n: None,
    batch: int = 200,
) -> DemoResult:
    """Write a demo province with ``people`` profiles into an empty ledger."""
    rng = random.Random(seed)
    province_code, _ = AUTHORITY_NAMES[ledger.settings.jurisdiction]
    admin = Actor("admin.snv", Role.HOME_AFFAIRS, f"000.00.01.H{province_code[-2:]}")
    head_before = ledger.recorder.max_notification_id() or 0
    unit_count, units = build_unit_tree(ledger, admin, date(1995, 1, 1))
    aggregates = {u.code: ledger.unit(u.code) for u in units}
    result = DemoResult(units=unit_count, profiles=people)
    pending: list[Aggregate] = []
    for index in range(people):
        profile = PersonStory(ledger, rng, units, aggregates, index, seed, province_code).tell()
        claim = ledger.citizen_id_claim(profile.citizen_id, profile.id)
        pending.extend((profile, claim))
        status = profile.status.value
        result.statuses[status] = result.statuses.get(status, 0) + 1
        if len(pending) >= batch * 2:
            ledger.save(*pending)
            progress(len(pending) // 2)
            pending.clear()
    if pending:
        ledger.save(*pending)
        progress(len(pending) // 2)
    year = ledger.today().year
    total_weight = sum(u.weight for u in units)
    quotas: list[Aggregate] = []
    for demo_unit in units:
        unit = ledger.unit(demo_unit.code)
        unit.set_staffing_quota(
            year,
            demo_unit.category,
            demo_unit.weight * people // total_weight * 11 // 10 + 2,  # ~10% headroom
            decision=None,
            actor=admin,
        )
        quotas.append(unit)
    ledger.save(*quotas)
    result.events = (ledger.recorder.max_notification_id() or 0) - head_before
    return result


# Demo accounts, listed in the README: everyone signs in with DEMO_PASSWORD; those who need
# a second factor use an authenticator app with DEMO_TOTP_SECRET (or `pyotp`).
DEMO_PASSWORD = "hoso-demo-2026"
DEMO_TOTP_SECRET = "HOSODEMOSECRETKEYFORTOTPXX"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    kind: str
    role: Role | None
    unit: str  # "root", or the department of Home Affairs ("snv")
    what: str
    display_name: str  # shown in the application, which speaks Vietnamese


DEMO_ACCOUNTS = (
    DemoAccount(
        "sonoivu",
        "administrator",
        Role.HOME_AFFAIRS,
        "root",
        "Sở Nội vụ: the whole province",
        "Quản trị Sở Nội vụ",
    ),
    DemoAccount(
        "thanhtra",
        "inspector",
        Role.INSPECTOR,
        "root",
        "inspector: reads everything, verifies, changes nothing",
        "Thanh tra tỉnh",
    ),
    DemoAccount(
        "tccb.snv",
        "approver",
        Role.HR_OFFICER,
        "snv",
        "HR officer of the Department of Home Affairs",
        "Cán bộ tổ chức Sở Nội vụ",
    ),
    DemoAccount(
        "truongphong.snv",
        "approver",
        Role.HR_HEAD,
        "snv",
        "head of its HR section",
        "Trưởng phòng Tổ chức cán bộ Sở Nội vụ",
    ),
    DemoAccount(
        "giamdoc.snv",
        "approver",
        Role.UNIT_HEAD,
        "snv",
        "its director (unit head)",
        "Giám đốc Sở Nội vụ",
    ),
    DemoAccount(
        "nhanvien",
        "personal",
        None,
        "snv",
        "an employee of that department: their own record",
        "Nhân viên Sở Nội vụ",
    ),
)


def create_demo_accounts(ledger: Ledger) -> list[DemoAccount]:
    """The accounts of DEMO_ACCOUNTS, with the demo password and second factor."""
    from argon2 import PasswordHasher

    from domain.account import SECOND_FACTOR_KINDS

    province_code, _ = AUTHORITY_NAMES[ledger.settings.jurisdiction]
    suffix = f"H{province_code[-2:]}"
    codes = {"root": f"000.00.00.{suffix}", "snv": f"000.00.01.{suffix}"}
    admin = Actor("demo", Role.SYSTEM, codes["root"])
    password_hash = PasswordHasher().hash(DEMO_PASSWORD)
    for account in DEMO_ACCOUNTS:
        unit = codes[account.unit]
        profile_id = _someone_in(ledger, unit) if account.kind == "personal" else None
        ledger.create_account(
            account.username,
            account.display_name,
            account.kind,
            unit,
            actor=admin,
            profile_id=profile_id,
        )
        ledger.set_password(account.username, password_hash, actor=admin)
        if account.kind in SECOND_FACTOR_KINDS:
            ledger.enroll_totp(account.username, DEMO_TOTP_SECRET, actor=admin)
        if account.role is not None:
            ledger.grant_role(
                account.username, account.role, unit, valid_from=date(2020, 1, 1), actor=admin
            )
    return list(DEMO_ACCOUNTS)


def _someone_in(ledger: Ledger, unit_code: str) -> str:
    """An active person of the unit, found in the log (the demo writes no read models)."""
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, 1000)
        for n in page:
            event = ledger.mapper.to_domain_event(n)
            if type(event).__name__ == "Opened":
                profile = ledger.profile(event.originator_id)
                if profile.unit_code == unit_code and profile.status is ProfileStatus.ACTIVE:
                    return str(profile.id)
        if len(page) < 1000:
            raise ValueError(f"nobody works in {unit_code}")
        start = page[-1].id + 1
