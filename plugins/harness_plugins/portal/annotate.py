"""Annotations: a vendor dispute or an auditor note attached to a finding.

An annotation names a check (``check_id``), optionally one of its items
(``item_id``) and one finding (``message_id``); the target must exist in the
scorecard. Annotations live in the scorecard's ``annotations`` list, so they
travel with it and show wherever it is rendered. A signed envelope is never
edited: annotate the scorecard, then sign it again (the new envelope has a new
digest; the portal keeps both versions).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

KINDS = ("vendor_dispute", "auditor_note")
MAX_TEXT = 20_000


class AnnotationError(Exception):
    """The annotation does not fit the scorecard."""


def add_annotation(card: dict[str, Any], *, check_id: str, kind: str, text: str, author: str,
                   item_id: str | None = None, message_id: str | None = None,
                   date: str | None = None) -> dict[str, Any]:
    """Append an annotation to ``card`` (in place) after checking its target exists; returns it."""
    if kind not in KINDS:
        raise AnnotationError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    text, author = (text or "").strip(), (author or "").strip()
    if not text:
        raise AnnotationError("the annotation text is empty")
    if len(text) > MAX_TEXT:
        raise AnnotationError(f"the annotation text is {len(text)} characters long (at most {MAX_TEXT})")
    if not author:
        raise AnnotationError("the author is empty")
    known_checks = {c["id"] for c in card.get("checks", [])} | {r["check_id"] for r in card.get("results", [])}
    if check_id not in known_checks:
        raise AnnotationError(f"check {check_id!r} is not in this scorecard "
                              f"(it has: {', '.join(sorted(known_checks)) or 'no check'})")
    results = [r for r in card.get("results", []) if r["check_id"] == check_id]
    if item_id is not None:
        items = [r["item_id"] for r in results]
        if item_id not in items:
            shown = ", ".join(items[:20]) + (" …" if len(items) > 20 else "")
            raise AnnotationError(f"check {check_id!r} has no item {item_id!r} in this scorecard "
                                  f"(items: {shown or 'none'})")
        results = [r for r in results if r["item_id"] == item_id]
    if message_id is not None:
        ids = {f.get("message_id") for r in results for f in r.get("findings", [])} - {None}
        if message_id not in ids:
            raise AnnotationError(f"no finding with message id {message_id!r} under check {check_id!r}"
                                  + (f" item {item_id!r}" if item_id is not None else "")
                                  + f" (message ids: {', '.join(sorted(ids)) or 'none'})")
    entry: dict[str, Any] = {"check_id": check_id, "kind": kind, "text": text, "author": author,
                             "date": date or dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()}
    if item_id is not None:
        entry["item_id"] = item_id
    if message_id is not None:
        entry["message_id"] = message_id
    card.setdefault("annotations", []).append(entry)
    return entry


def annotations_for(card: dict[str, Any], check_id: str, item_id: str | None = None) -> list[dict[str, Any]]:
    """The annotations of one check (and item): for renderers."""
    return [a for a in card.get("annotations", []) if a.get("check_id") == check_id
            and (item_id is None or a.get("item_id") in (None, item_id))]
