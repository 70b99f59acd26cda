"""Check selection: ``--family``, ``--check`` and pytest-style ``-k`` expressions."""

from __future__ import annotations

import fnmatch
import re
from typing import Iterable

from .checks import Check

_TOKEN_RE = re.compile(r"\s*(\(|\)|[^\s()]+)")


class SelectionError(ValueError):
    """A ``-k`` expression that cannot be parsed."""


def keyword_matcher(expr: str):
    """Compile ``-k EXPR`` (words joined by and/or/not, parentheses) into a predicate.

    A word matches when it is a case-insensitive substring of the check's id,
    title, family or tags, as in pytest. Written by hand (a dozen lines): the
    expression is turned into Python with only our tokens, then compiled.
    """
    parts: list[str] = []
    words: list[str] = []
    for token in _TOKEN_RE.findall(expr):
        low = token.lower()
        if low in ("and", "or", "not", "(", ")"):
            parts.append(low)
        else:
            parts.append(f"_w[{len(words)}] in _h")
            words.append(low)
    if not words:
        raise SelectionError(f"-k {expr!r}: no word to match")
    source = " ".join(parts)
    try:
        code = compile(source, "<-k>", "eval")
    except SyntaxError:
        raise SelectionError(f"-k {expr!r} is not a valid expression") from None

    def match(chk: Check) -> bool:
        haystack = " ".join((chk.id, chk.title, chk.family, *chk.tags)).lower()
        return bool(eval(code, {"__builtins__": {}}, {"_w": words, "_h": haystack}))  # noqa: S307 - tokens are ours

    return match


def select(
    checks: Iterable[Check],
    *,
    families: Iterable[str] = (),
    check_ids: Iterable[str] = (),
    keyword: str | None = None,
) -> list[Check]:
    """Filter checks; ``check_ids`` accept globs (``dmp.cda.*``)."""
    families = set(families)
    patterns = list(check_ids)
    matcher = keyword_matcher(keyword) if keyword else None
    out = []
    for chk in checks:
        if families and chk.family not in families:
            continue
        if patterns and not any(fnmatch.fnmatchcase(chk.id, p) for p in patterns):
            continue
        if matcher and not matcher(chk):
            continue
        out.append(chk)
    return out
