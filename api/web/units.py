"""The unit tree with headcount against quota, and the roster of a unit subtree: search
without diacritics, filters, Vietnamese name order, pages, the roster as it stood on a
past date, updates in place (HTMX), and the view exported to Excel (recorded in the audit
trail, as the API's exports are)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import Services, services
from api.policy import Action, Principal, decide
from api.routers import actor_of, allowed_on_unit
from api.routers.units import readable_unit
from api.web import labels
from api.web.dashboard import percent, scope_roots
from api.web.excel import roster_workbook
from api.web.page import HANOI, NavItem, SignedIn, may, render, vn_date
from domain.values import ProfileStatus
from domain.vietnamese import fold
from projections.history import staff_on
from projections.roster import RosterFilter, roster
from projections.statistics import (
    AGE_BAND_NAMES,
    AGE_BANDS,
    UnitFigures,
    age_on,
    figures_by_unit,
    rolled_up,
    roster_choices,
)
from projections.units import unit_list

router = APIRouter(include_in_schema=False)
NAV = (
    NavItem("Đơn vị", "/units", 20, may(Action.READ_UNIT)),
    NavItem("Danh sách", "/roster", 30, may(Action.READ_UNIT)),
)

PER_PAGE = 50
MAX_QUERY = 100
AGE_CHOICES = {str(i): band for i, band in enumerate(AGE_BAND_NAMES)}


# -- the unit tree ------------------------------------------------------------------------------


@dataclass
class TreeNode:
    unit: dict[str, Any]
    figures: UnitFigures
    children: list[TreeNode] = field(default_factory=list)

    @property
    def percent(self) -> int | None:
        return percent(self.figures.staff, self.figures.places)


def readable_tree(svc: Services, principal: Principal) -> list[TreeNode]:
    """The active units the principal may read, as a tree (a unit whose parent the
    principal may not read is a root), each with its staff and quota, units below added."""
    svc.current()
    with svc.reader.connect() as conn:
        units = unit_list(conn)
        totals = rolled_up(units, figures_by_unit(conn, svc.ledger.today().year))
    shown = [
        u
        for u in units
        if u["status"] == "active" and decide(principal, Action.READ_UNIT, unit_code=u["code"])
    ]
    nodes = {u["code"]: TreeNode(u, totals.get(u["code"], UnitFigures({}, {}))) for u in shown}
    roots: list[TreeNode] = []
    for u in shown:
        parent = nodes.get(u["parent_code"] or "")
        (parent.children if parent else roots).append(nodes[u["code"]])
    return roots


@router.get("/units")
async def unit_tree(request: Request, caller: SignedIn) -> Response:
    svc = services(request)
    if not decide(caller.principal, Action.READ_UNIT):
        allowed_on_unit(svc, caller.principal, Action.READ_UNIT, None)
    roots = await run_in_threadpool(readable_tree, svc, caller.principal)
    return render(request, "units.html", caller, {"roots": roots})


# -- the roster -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterView:
    """What the roster page shows: the filters as given, and the errors found in them."""

    unit: str = ""
    q: str = ""
    category: str = ""
    rank: str = ""
    status: str = ""
    age: str = ""
    gender: str = ""
    as_of: date | None = None
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, params: Any) -> RosterView:
        errors: dict[str, str] = {}

        def text(name: str) -> str:
            return str(params.get(name) or "").strip()[:MAX_QUERY]

        def choice(name: str, allowed: Any, message: str) -> str:
            value = text(name)
            if value and value not in allowed:
                errors[name] = message
                return ""
            return value

        as_of = None
        if text("as_of"):
            try:
                as_of = date.fromisoformat(text("as_of"))
            except ValueError:
                errors["as_of"] = "Ngày không hợp lệ; chọn ngày theo dạng ngày/tháng/năm."
        try:
            page = max(1, min(int(text("page") or 1), 100_000))
        except ValueError:
            page = 1
        return cls(
            unit=text("unit").upper(),
            q=text("q"),
            category=choice("category", labels.CATEGORIES, "Loại cán bộ không hợp lệ."),
            rank=text("rank"),
            status=choice("status", labels.STATUSES, "Trạng thái không hợp lệ."),
            age=choice("age", AGE_CHOICES, "Nhóm tuổi không hợp lệ."),
            gender=choice("gender", labels.GENDERS, "Giới tính không hợp lệ."),
            as_of=as_of,
            page=page,
            errors=errors,
        )

    def query(self, **changes: Any) -> str:
        """The view's query string (with ``changes``), for links and the export."""
        view = replace(self, **changes)
        values = {
            "unit": view.unit,
            "q": view.q,
            "category": view.category,
            "rank": view.rank,
            "status": view.status,
            "age": view.age,
            "gender": view.gender,
            "as_of": view.as_of.isoformat() if view.as_of else "",
            "page": str(view.page) if view.page > 1 else "",
        }
        return urlencode({k: v for k, v in values.items() if v})

    def ages(self) -> tuple[int | None, int | None]:
        if not self.age:
            return None, None
        return AGE_BANDS[int(self.age)]


def _matches(view: RosterView, row: dict[str, Any], on: date) -> bool:
    """The filters, on a row of the roster as it stood on a past date."""
    words = fold(view.q).split()
    if not all(w in fold(row.get("full_name") or "") for w in words):
        return False
    for name, column in (
        ("category", "category"),
        ("rank", "rank_code"),
        ("status", "status"),
        ("gender", "gender"),
    ):
        wanted = getattr(view, name)
        if wanted and row.get(column) != wanted:
            return False
    low, high = view.ages()
    born = row.get("birth_date")
    if (low is not None or high is not None) and born is None:
        return False
    if born is not None:
        age = age_on(born, on)
        if (low is not None and age < low) or (high is not None and age > high):
            return False
    return True


def staff(
    svc: Services, code: str, view: RosterView, *, everyone: bool = False
) -> tuple[int, list[dict[str, Any]]]:
    """The staff of the unit subtree the view shows, in Vietnamese name order: the total,
    and the view's page (every row, with ``everyone``)."""
    per_page = 10**9 if everyone else PER_PAGE
    page = 1 if everyone else view.page
    today = svc.ledger.today()
    with svc.reader.connect() as conn:
        if view.as_of is None:
            low, high = view.ages()
            found = roster(
                conn,
                RosterFilter(
                    unit_code=code,
                    q=view.q or None,
                    category=view.category or None,
                    rank_code=view.rank or None,
                    status=view.status or None,
                    gender=view.gender or None,
                    age_from=low,
                    age_to=high,
                    on=today,
                ),
                page=page,
                per_page=per_page,
            )
            return found.total, found.rows
        rows = [r for r in staff_on(conn, code, view.as_of) if _matches(view, r, view.as_of)]
    return len(rows), rows[(page - 1) * per_page : page * per_page]


def _unit_options(svc: Services, principal: Principal) -> list[tuple[str, str]]:
    """The units the principal may read, in tree order, indented by depth."""
    options: list[tuple[str, str]] = []

    def walk(nodes: list[TreeNode], depth: int) -> None:
        for node in nodes:
            options.append((node.unit["code"], "\u00a0\u00a0" * depth + node.unit["name"]))
            walk(node.children, depth + 1)

    walk(readable_tree(svc, principal), 0)
    return options


def _roster_context(svc: Services, principal: Principal, view: RosterView) -> dict[str, Any]:
    roots = scope_roots(principal)
    code = view.unit or (roots[0] if roots else "")
    found = readable_unit(svc, principal, code)
    view = replace(view, unit=found["code"])
    total, rows = (0, []) if view.errors else staff(svc, found["code"], view)
    pages = max(1, -(-total // PER_PAGE))
    with svc.reader.connect() as conn:
        choices = roster_choices(conn, found["code"])
    options = _unit_options(svc, principal)
    return {
        "view": view,
        "unit": found,
        "total": total,
        "rows": rows,
        "pages": pages,
        "first": (view.page - 1) * PER_PAGE + 1,
        "unit_options": options,
        "unit_names": {code: label.strip("\u00a0") for code, label in options},
        "category_options": list(labels.CATEGORIES.items()),
        "rank_options": [(r, r) for r in choices["ranks"]],
        "status_options": [(s.value, labels.STATUSES[s.value]) for s in ProfileStatus],
        "age_options": list(AGE_CHOICES.items()),
        "gender_options": list(labels.GENDERS.items()),
        "may_export": bool(decide(principal, Action.EXPORT, unit_code=found["code"])),
        # The profile page of each person the account may open (asked per row: a grant may
        # cover some units of the subtree and not others).
        "may_open": lambda row: bool(
            decide(
                principal,
                Action.READ_PROFILE,
                unit_code=row["unit_code"],
                profile_id=row["profile_id"],
            )
        ),
    }


@router.get("/roster")
async def roster_page(request: Request, caller: SignedIn) -> Response:
    svc = services(request)
    view = RosterView.parse(request.query_params)
    context = await run_in_threadpool(_roster_context, svc, caller.principal, view)
    partial = request.headers.get("HX-Request") and request.headers.get("HX-Target") == "results"
    # htmx swaps no 4xx answer: a partial with errors says so in a 200
    status = 422 if view.errors and not partial else 200
    name = "_roster_results.html" if partial else "roster.html"
    response = render(request, name, caller, context, errors=view.errors, status_code=status)
    if partial:  # the address bar shows the view without the empty filters
        response.headers["HX-Push-Url"] = f"/roster?{context['view'].query()}"
    return response


@router.get("/roster.xlsx")
async def roster_export(request: Request, caller: SignedIn) -> Response:
    """The view (every page of it) as an Excel workbook; the export is recorded."""
    svc = services(request)
    principal = caller.principal
    view = RosterView.parse(request.query_params)
    if view.errors:
        context = await run_in_threadpool(_roster_context, svc, principal, view)
        return render(request, "roster.html", caller, context, errors=view.errors, status_code=422)

    def export() -> tuple[str, bytes]:
        roots = scope_roots(principal)
        found = readable_unit(svc, principal, view.unit or (roots[0] if roots else ""))
        verdict = allowed_on_unit(svc, principal, Action.EXPORT, found["code"])
        _, rows = staff(svc, found["code"], view, everyone=True)
        day = view.as_of or svc.ledger.today()
        described = [
            ("Đơn vị", f"{found['name']} ({found['code']}) và các đơn vị trực thuộc"),
            ("Tính đến ngày", vn_date(day)),
            ("Bộ lọc", _filters_described(view) or "không"),
            ("Người xuất", principal.account),
            ("Thời điểm xuất", vn_date(datetime.now(HANOI))),
        ]
        content = roster_workbook(
            rows,
            title=f"Danh sách cán bộ, công chức, viên chức — {found['name']}",
            described=described,
        )
        svc.record_access(
            "export",
            f"unit:{found['code']}/roster.xlsx",
            actor=actor_of(principal, verdict),
            basis=verdict.reason,
        )
        return f"danh-sach-{found['code']}-{day.isoformat()}.xlsx", content

    filename, content = await run_in_threadpool(export)
    return Response(
        content,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _filters_described(view: RosterView) -> str:
    parts = []
    if view.q:
        parts.append(f"tên: {view.q}")
    if view.category:
        parts.append(f"loại: {labels.CATEGORIES[view.category]}")
    if view.rank:
        parts.append(f"mã ngạch: {view.rank}")
    if view.status:
        parts.append(f"trạng thái: {labels.STATUSES[view.status]}")
    if view.age:
        parts.append(f"tuổi: {AGE_CHOICES[view.age]}")
    if view.gender:
        parts.append(f"giới tính: {labels.GENDERS[view.gender]}")
    return "; ".join(parts)
