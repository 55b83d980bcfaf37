"""A projector killed in the middle of catching up loses nothing and applies nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from domain.application import Ledger
from projections import catalogue
from projections.database import read_model_engine
from scripts.demo import generate
from tests.readside import dump, fresh_store


def _environment(settings: object, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSO_")}
    env["HOSO_DATA_DIR"] = str(settings.data_dir)  # type: ignore[attr-defined]
    env["HOSO_JURISDICTION"] = settings.jurisdiction  # type: ignore[attr-defined]
    if settings.database_url:  # type: ignore[attr-defined]
        env["HOSO_DATABASE_URL"] = settings.database_url  # type: ignore[attr-defined]
        env["HOSO_DATABASE_SCHEMA"] = settings.database_schema  # type: ignore[attr-defined]
    return env


@pytest.mark.parametrize("backend_name", ["sqlite", "postgres"])
def test_sigkill_in_the_middle_of_catching_up(backend_name: str, tmp_path: Path) -> None:
    with fresh_store(backend_name, tmp_path) as store:
        ledger = Ledger(store)
        generate(ledger, people=250, seed=7)
        head = ledger.recorder.max_notification_id() or 0
        engine = read_model_engine(store, writer=True)
        projector = catalogue.projector(ledger, engine)
        projector.prepare()
        try:
            runner = subprocess.Popen(
                [sys.executable, "-m", "scripts.cli", "project", "--once", "--page-size", "7"],
                env=_environment(store, tmp_path),
                cwd=Path(__file__).parent.parent,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                positions = projector.positions().values()
                if min(positions) > head // 4:
                    break
                assert runner.poll() is None, runner.stderr.read().decode() if runner.stderr else ""
                time.sleep(0.02)
            runner.send_signal(signal.SIGKILL)
            runner.wait(timeout=10)
            killed_at = projector.positions()
            assert runner.returncode == -signal.SIGKILL
            assert 0 < min(killed_at.values()) < head, "killed in the middle of catching up"

            projector.catch_up()  # the restart resumes where each read model stopped
            resumed = dump(projector)
            assert all(s.position == head for s in projector.status())

            projector.rebuild()
            assert dump(projector) == resumed
        finally:
            engine.dispose()
            ledger.close()
