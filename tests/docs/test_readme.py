"""The README is the user's contract: its commands and settings must match the code."""

from __future__ import annotations

from pathlib import Path

from app.core.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
CI = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    missing = [f"KOE_{name.upper()}" for name in Settings.model_fields if f"`KOE_{name.upper()}`" not in README]
    assert missing == []


def test_two_commands_first_and_ci_runs_the_test_command() -> None:
    first_block = README.split("```")[1]
    assert "make run" in first_block and "make test" in first_block
    assert "\nmake test\n" in CI
