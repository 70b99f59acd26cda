"""Value sets of the CI-SIS rule pack (IHE SVS files under ``jeuxDeValeurs/``), read once per target."""

from __future__ import annotations

import threading
from pathlib import Path

from lxml import etree


class ValueSets:
    """Value sets of the rule pack (IHE SVS files), read once per target."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, set[tuple[str, str]] | Exception] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> set[tuple[str, str]]:
        with self._lock:
            if name not in self._cache:
                path = self.root / "jeuxDeValeurs" / f"{name}.xml"
                try:
                    tree = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True))
                    self._cache[name] = {(c.get("code"), c.get("codeSystem"))
                                         for c in tree.iter("{urn:ihe:iti:svs:2008}Concept")}
                except (OSError, etree.XMLSyntaxError) as exc:
                    self._cache[name] = exc
            value = self._cache[name]
        if isinstance(value, Exception):
            raise FileNotFoundError(f"rule pack defect: value set jeuxDeValeurs/{name}.xml unreadable: {value}")
        return value
