"""The helper process of a projector (``framework.Helper``): it projects the read models it
is given, up to the position it is given, and waits for the next job.

Run as ``python -m projections.helper`` by the projector, which writes to its standard
input, pickled, first the settings and its own process id, then one job per catch-up (the
read-model classes, the page size, the position to reach); the helper answers each job on
its standard output, and exits when its input ends. It dies with the projector: a
projector killed in the middle of a catch-up takes its helper with it, whose transaction
in progress is rolled back like the projector's own.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import pickle
import signal
import sys
import traceback
from typing import Any, BinaryIO

PR_SET_PDEATHSIG = 1


def die_with(parent: int) -> None:
    """Be killed when the process that started this one ends (Linux); exit now if it has
    ended already."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # elsewhere the helper ends when its input does, once its job is done
    if os.getppid() != parent:
        os._exit(1)


def _class(module: str, qualname: str) -> Any:
    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


def _answer(out: BinaryIO, answer: str, detail: str | None = None) -> None:
    pickle.dump((answer, detail), out)
    out.flush()


def main() -> int:
    # Answers go to the standard output as it is now; anything else written to it later
    # goes to the standard error instead, where it cannot be taken for an answer.
    with os.fdopen(os.dup(sys.stdout.fileno()), "wb") as out:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        return _serve(sys.stdin.buffer, out)


def _serve(jobs: BinaryIO, out: BinaryIO) -> int:
    hello = pickle.load(jobs)
    die_with(hello["parent"])

    from domain.application import Ledger
    from projections.database import read_model_engine
    from projections.framework import Projector

    settings = hello["settings"]
    ledger = Ledger(settings)
    engine = read_model_engine(settings, writer=True)
    projectors: dict[tuple[Any, ...], Projector] = {}
    try:
        while True:
            try:
                job = pickle.load(jobs)
            except EOFError:
                return 0
            try:
                key = (tuple(job["models"]), job["page_size"])
                projector = projectors.get(key)
                if projector is None:
                    models = [_class(*spec)(ledger) for spec in job["models"]]
                    # The projector updates the statistics of every table once both are done.
                    projector = projectors[key] = Projector(
                        ledger, engine, models, job["page_size"], statistics=False
                    )
                projector.catch_up(until=job["until"])
            except Exception:
                _answer(out, "failed", traceback.format_exc())
            else:
                _answer(out, "done")
    finally:
        engine.dispose()
        ledger.close()


if __name__ == "__main__":
    raise SystemExit(main())
