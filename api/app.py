"""The HTTP application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException

from domain.application import Ledger
from domain.settings import Settings
from projections.overview import Overview


def create_app(settings: Settings | None = None) -> FastAPI:
    ledger = Ledger(settings or Settings())
    overview = Overview()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        overview.refresh(ledger)
        yield
        ledger.close()

    app = FastAPI(title="hoso", version="0.1.0", lifespan=lifespan)

    @app.get("/")
    def units() -> dict[str, Any]:
        """Units with their current headcount."""
        overview.refresh(ledger)
        return {
            "jurisdiction": ledger.jurisdiction.code,
            "log_position": overview.position,
            "units": [
                {
                    **unit,
                    "headcount": len(overview.roster(unit["code"])),
                    "roster": f"/units/{unit['code']}/roster",
                }
                for unit in sorted(overview.units.values(), key=lambda u: u["code"])
            ],
        }

    @app.get("/units/{code}/roster")
    def roster(code: str) -> dict[str, Any]:
        """Current staff of one unit, in Vietnamese order (given name first)."""
        overview.refresh(ledger)
        unit = overview.unit(code.upper())
        if unit is None:
            raise HTTPException(status_code=404, detail=f"no unit {code}")
        return {"unit": unit, "staff": overview.roster(unit["code"])}

    return app
