"""Jobs for the scheduler's own tests: each run appends a line to a file, so a test counts
the runs that really happened."""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

COUNT_FILE = "HOSO_TEST_COUNT_FILE"  # where the runs are counted
BLOCK = "HOSO_TEST_BLOCK"  # set: a run blocks until its process is killed


def _count(scheduled_for: datetime) -> int:
    path = Path(os.environ[COUNT_FILE])
    with path.open("a") as file:
        file.write(f"{scheduled_for.isoformat()}\n")
    return len(path.read_text().splitlines())


def count_and_block(ctx: Any, scheduled_for: datetime) -> str:
    runs = _count(scheduled_for)
    print("started", flush=True)
    if os.environ.get(BLOCK):
        sys.stdout.close()
        threading.Event().wait()  # until SIGKILL
    return f"run {runs}"


def fail_first(ctx: Any, scheduled_for: datetime) -> str:
    runs = _count(scheduled_for)
    if runs == 1:
        raise RuntimeError("the disk is full")
    return f"run {runs}"
