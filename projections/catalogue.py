"""Every read model, in the order the projector applies them."""

from __future__ import annotations

from sqlalchemy import Engine

from domain.application import Ledger
from projections.archive import Archive
from projections.audit import AuditTrail
from projections.deadlines import DeadlineCompliance
from projections.framework import Projector, ReadModel
from projections.history import History
from projections.profiles import ProfileView
from projections.roster import Roster
from projections.units import UnitTree

READ_MODELS: tuple[type[ReadModel], ...] = (
    UnitTree,
    Roster,
    History,
    ProfileView,
    Archive,
    AuditTrail,
    DeadlineCompliance,
)


def projector(ledger: Ledger, engine: Engine, page_size: int = 1000) -> Projector:
    return Projector(ledger, engine, [cls(ledger) for cls in READ_MODELS], page_size=page_size)
