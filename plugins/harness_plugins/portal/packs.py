"""Which rule-pack hashes a verifier accepts.

The accepted set is the union of

- the rule packs installed on the verifying machine (``harness.rulepacks.installed()``,
  i.e. ``harness rules install``), and
- every ``--known-packs FILE``: a JSON list of ``{name, version, sha256}`` records
  (what ``harness rules list --json`` prints, or a scorecard's ``rule_packs``),
  a JSON object with such a list under ``packs`` or ``rule_packs``, or a text
  file with one sha256 per line (anything after the hash, or before it
  separated by spaces, is ignored; ``#`` starts a comment).

A scorecard recording a pack whose sha256 is outside that set fails
verification: its results were produced with rules the verifier cannot vouch for.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

from harness import rulepacks

SHA_RE = re.compile(r"\b[0-9a-f]{64}\b")


class PacksError(Exception):
    """A known-packs file that cannot be read."""


def read_known_packs(path: Path) -> set[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PacksError(f"cannot read known-packs file {path}: {exc}") from None
    stripped = text.lstrip()
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PacksError(f"{path}: not valid JSON ({exc})") from None
        if isinstance(data, dict):
            data = data.get("packs", data.get("rule_packs"))
        if not isinstance(data, list):
            raise PacksError(f"{path}: expected a list of {{name, version, sha256}} records")
        hashes = set()
        for i, entry in enumerate(data):
            sha = entry.get("sha256") if isinstance(entry, dict) else entry
            if not isinstance(sha, str) or not SHA_RE.fullmatch(sha):
                raise PacksError(f"{path}: entry {i} has no valid sha256")
            hashes.add(sha)
        return hashes
    hashes = set()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = SHA_RE.search(line.lower())
        if not match:
            raise PacksError(f"{path}:{number}: no sha256 on this line")
        hashes.add(match.group(0))
    return hashes


def known_packs(files: Iterable[Path] = (), include_installed: bool = True) -> set[str]:
    known: set[str] = set()
    for path in files:
        known |= read_known_packs(path)
    if include_installed:
        known |= {p.sha256 for p in rulepacks.installed()}
    return known
