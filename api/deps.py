"""What every request needs: the services, and who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import Request
from sqlalchemy import Connection, Engine, select

from api.policy import Grant, Principal
from domain.account import Account
from domain.application import Ledger
from projections.framework import Projector
from projections.units import subtree
from signing.approvals import Approvals


@dataclass
class Services:
    ledger: Ledger
    projector: Projector
    reader: Engine
    approvals: Approvals

    def current(self) -> None:
        """Read your writes: bring the read models to the head of the log first."""
        self.projector.catch_up()


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def principal_for(account: Account, conn: Connection, on: date) -> Principal:
    """The account's grants in force on a day, each with the units it covers."""
    grants = []
    for g in account.grants_on(on):
        tree = subtree(g["unit_code"])
        codes = frozenset(conn.execute(select(tree.c.code)).scalars())
        grants.append(Grant(g["role"], g["unit_code"], codes | {g["unit_code"]}))
    return Principal(
        account.username, account.display_name, account.kind, account.profile_id, tuple(grants)
    )
