"""The benchmark entry point runs as a plain script; each benchmark with tiny sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from tests.conftest import TEST_DATABASE_URL, require_postgres

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench.py"


def run_bench(*args: str, database_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSO_")}
    if database_url is not None:
        env["HOSO_DATABASE_URL"] = database_url
    return subprocess.run(
        [sys.executable, str(BENCH), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_the_benchmarks() -> None:
    result = run_bench("--help", database_url=None)
    assert result.returncode == 0, result.stderr
    assert "append" in result.stdout
    assert "projections" in result.stdout


def test_append_needs_a_database_url() -> None:
    result = run_bench("append", "--json", database_url=None)
    assert result.returncode == 2
    assert "HOSO_DATABASE_URL" in result.stderr


def test_append_reports_its_figures_as_the_last_line() -> None:
    require_postgres()
    result = run_bench(
        "append",
        "--commands",
        "12",
        "--batch",
        "10",
        "--profiles",
        "3",
        "--warmup",
        "3",
        "--rounds",
        "2",
        "--floor",
        "0",
        "--json",
        database_url=TEST_DATABASE_URL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "append"
    assert figures["events"] == 120
    assert figures["ledger_events_per_s"] > 0
    assert figures["raw_rows_per_s"] > 0
    ratio = figures["ledger_events_per_s"] / figures["raw_rows_per_s"]
    assert abs(figures["ratio"] - ratio) < 1e-3
    assert figures["state_bytes_mean"] > 0
    assert figures["cipher"] is False
    assert figures["failures"] == []
    # The run's schema is gone.
    with psycopg.connect(TEST_DATABASE_URL) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (figures["schema"],)
        ).fetchone()
    assert row == (0,)


def test_append_fails_under_its_floor() -> None:
    require_postgres()
    result = run_bench(
        "append",
        "--commands",
        "4",
        "--profiles",
        "2",
        "--warmup",
        "0",
        "--floor",
        "1000",
        "--json",
        database_url=TEST_DATABASE_URL,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["failures"]


def test_projections_reports_its_figures_as_the_last_line() -> None:
    require_postgres()
    result = run_bench(
        "projections",
        "--people",
        "40",
        "--page-size",
        "200",
        "--rounds",
        "2",
        "--repeat",
        "3",
        "--warmup",
        "1",
        "--min-events",
        "0",
        "--floor",
        "0",
        "--max-median-ms",
        "10000",
        "--json",
        database_url=TEST_DATABASE_URL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "projections"
    assert figures["events"] > 0
    # The catch-up read the whole log, and the raw turns inserted one row per position.
    assert figures["catch_up_events"] == figures["raw_rows"] == figures["events"]
    assert figures["rounds"] == 2
    ratio = figures["catch_up_events_per_s"] / figures["raw_rows_per_s"]
    assert abs(figures["ratio"] - ratio) < 1e-3
    assert "apply roster" in figures["catch_up_parts_seconds"]
    assert "decode events" in figures["catch_up_parts_seconds"]
    assert figures["read_model_rows"]["rm_audit_trail"] == figures["events"]
    assert figures["roster_total"] > 0
    assert figures["roster_page_rows"] == min(50, figures["roster_total"])
    assert sum(figures["headcount_on"].values()) == figures["staff_on_rows"]
    for name in ("roster", "staff_on", "headcount_on"):
        assert 0 < figures[f"{name}_median_ms"] <= figures[f"{name}_p95_ms"]
    assert figures["failures"] == []
    with psycopg.connect(TEST_DATABASE_URL) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (figures["schema"],)
        ).fetchone()
    assert row == (0,)


def test_projections_fails_on_a_log_too_short_to_time() -> None:
    require_postgres()
    result = run_bench(
        "projections",
        "--people",
        "10",
        "--repeat",
        "2",
        "--warmup",
        "0",
        "--json",
        database_url=TEST_DATABASE_URL,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert any("under the 100,000" in failure for failure in figures["failures"])


def test_api_drives_the_server_and_reports_its_figures_as_the_last_line() -> None:
    require_postgres()
    result = run_bench(
        "api",
        "--people",
        "30",
        "--clients",
        "4",
        "--seconds",
        "2",
        "--warmup",
        "0.5",
        "--workers",
        "1",
        "--max-p99-ms",
        "100000",
        "--json",
        database_url=TEST_DATABASE_URL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "api"
    assert (figures["roster_clients"], figures["profile_clients"]) == (2, 2)
    assert figures["errors"] == 0
    assert figures["server_tracebacks"] == 0
    for name in ("roster", "profile"):
        measured = figures["endpoints"][name]
        assert measured["requests"] > 0
        assert 0 < measured["median_ms"] <= measured["p99_ms"] <= measured["max_ms"]
    assert figures["requests"] == sum(e["requests"] for e in figures["endpoints"].values())
    # One worker: its counters see every roster request; a small province has few pages,
    # so most were answered from the pages kept.
    looked = figures["kept_page_hits"] + figures["kept_page_misses"]
    assert looked >= figures["endpoints"]["roster"]["requests"]
    assert figures["kept_page_hits"] > figures["kept_page_misses"]
    assert figures["failures"] == []
    with psycopg.connect(TEST_DATABASE_URL) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (figures["schema"],)
        ).fetchone()
    assert row == (0,)
