"""The HTTP application."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query

from domain.application import Ledger
from domain.settings import Settings
from projections import catalogue
from projections.database import read_model_engine
from projections.roster import RosterFilter, roster
from projections.units import headcount, unit, unit_list


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    ledger = Ledger(settings)
    projector = catalogue.projector(ledger, read_model_engine(settings, writer=True))
    reader = read_model_engine(settings)
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        projector.prepare()
        follower = threading.Thread(
            target=projector.follow, args=(stop,), daemon=True, name="projector"
        )
        follower.start()
        yield
        stop.set()
        follower.join(timeout=10)
        ledger.close()

    app = FastAPI(title="hoso", version="0.1.0", lifespan=lifespan)

    def current() -> None:
        """Read your writes: bring the read models to the head of the log first."""
        projector.catch_up()

    @app.get("/")
    def units() -> dict[str, Any]:
        """Units with their current headcount (the unit and every unit below it)."""
        current()
        with reader.connect() as conn:
            return {
                "jurisdiction": ledger.jurisdiction.code,
                "projections": [
                    {"name": s.name, "position": s.position, "lag": s.lag}
                    for s in projector.status()
                ],
                "units": [
                    {
                        **row,
                        "headcount": sum(
                            headcount(conn, row["code"])["including_subunits"]["headcount"].values()
                        ),
                        "roster": f"/units/{row['code']}/roster",
                    }
                    for row in unit_list(conn)
                ],
            }

    @app.get("/units/{code}/roster")
    def unit_roster(
        code: str,
        q: Annotated[str | None, Query(description="name, with or without diacritics")] = None,
        category: str | None = None,
        page: Annotated[int, Query(ge=1)] = 1,
        per_page: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """Current staff of a unit and the units below it, in Vietnamese order."""
        current()
        with reader.connect() as conn:
            found = unit(conn, code.upper())
            if found is None:
                raise HTTPException(status_code=404, detail=f"no unit {code}")
            result = roster(
                conn,
                RosterFilter(unit_code=found["code"], q=q, category=category),
                page=page,
                per_page=per_page,
            )
        return {"unit": found, "total": result.total, "page": page, "staff": result.rows}

    return app
