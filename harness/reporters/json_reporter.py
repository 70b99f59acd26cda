"""The scorecard itself, as canonical JSON (``scorecard.json``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import scorecard
from ..hookspecs import hookimpl
from ..registry import Reporter


def write_json(card: dict[str, Any], out_dir: Path) -> Path:
    return scorecard.write(card, out_dir / "scorecard.json")


@hookimpl
def harness_register_reporters() -> list[Reporter]:
    return [Reporter("json", "scorecard.json: the scorecard (JSON Schema 2020-12, `harness schema`)", write_json,
                     default=True)]
