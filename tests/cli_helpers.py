"""Driving the ``hoso`` command line in tests, as a user would."""

from __future__ import annotations

from click.testing import Result
from typer.testing import CliRunner

from scripts import cli

HOSO_VARIABLES = (
    "HOSO_DATA_DIR",
    "HOSO_DATABASE_URL",
    "HOSO_DATABASE_SCHEMA",
    "HOSO_CIPHER_KEY",
    "HOSO_CIPHER_KEY_FILE",
    "HOSO_JURISDICTION",
    "HOSO_EXTRA_DAYS_OFF",
    "HOSO_EXTRA_WORKING_DAYS",
)


def hoso(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args))


def ok(*args: str) -> Result:
    result = hoso(*args)
    assert result.exit_code == 0, result.output
    return result


def refused(*args: str) -> Result:
    """A command that fails with a message, not a traceback."""
    result = hoso(*args)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert "error:" in result.output
    return result


def one_line(output: str) -> str:
    return " ".join(output.split())
