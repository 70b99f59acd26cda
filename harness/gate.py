"""Which results make a run fail: the ``--fail-on`` severity threshold."""

from __future__ import annotations

from typing import Any

from .model import Severity

FAIL_ON_CHOICES = [s.value for s in reversed(list(Severity))] + ["none"]


def failing(card: dict[str, Any], fail_on: str) -> list[dict[str, Any]]:
    """Results with a failing finding whose severity is at or above ``fail_on``."""
    if fail_on == "none":
        return []
    threshold = Severity(fail_on).rank
    out = []
    for result in card["results"]:
        for finding in result["findings"]:
            if finding["status"] == "fail" and Severity(finding.get("severity", "medium")).rank >= threshold:
                out.append(result)
                break
    return out
