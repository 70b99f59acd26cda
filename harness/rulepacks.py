"""Rule packs: official material (XSD, schematrons, FHIR definitions) as versioned, hashed data.

A pack is a folder. ``harness rules install PATH`` copies it into the cache
(``$HARNESS_CACHE`` or ``~/.cache/lgc-harness``) under ``packs/<name>/<version>-<sha12>/``
with a ``pack.json`` record (name, version, source, licence, sha256). Families
resolve a pack by installed name or by path, and every scorecard records the
packs used. Derived artefacts (compiled stylesheets, indexes) are cached per
pack hash under ``derived/<sha256>/`` so later runs compile nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACK_RECORD = "pack.json"


class RulePackError(Exception):
    """A pack that cannot be found, read or installed."""


def cache_root() -> Path:
    root = os.environ.get("HARNESS_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "lgc-harness"


def tree_sha256(root: Path) -> str:
    """Hash of a folder: relative paths and contents, in sorted order (the record file excluded)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != PACK_RECORD):
        rel = path.relative_to(root).as_posix().encode()
        digest.update(len(rel).to_bytes(4, "big") + rel)
        file_digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                file_digest.update(block)
        digest.update(file_digest.digest())
    return digest.hexdigest()


@dataclass(frozen=True)
class RulePack:
    name: str
    version: str
    path: Path
    sha256: str
    source: str = ""
    licence: str = ""

    def record(self) -> dict[str, Any]:
        """The entry the scorecard carries."""
        data = {"name": self.name, "version": self.version, "sha256": self.sha256}
        if self.source:
            data["source"] = self.source
        if self.licence:
            data["licence"] = self.licence
        return data

    def derived_dir(self, purpose: str) -> Path:
        """A cache folder for artefacts derived from this exact pack content."""
        path = cache_root() / "derived" / self.sha256 / purpose
        path.mkdir(parents=True, exist_ok=True)
        return path


def _read_record(path: Path) -> dict[str, Any] | None:
    record = path / PACK_RECORD
    if record.is_file():
        try:
            return json.loads(record.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RulePackError(f"{record}: unreadable pack record: {exc}") from None
    return None


def open_pack(path: str | Path, name: str | None = None, version: str | None = None, source: str = "",
              licence: str = "") -> RulePack:
    """Describe a pack folder in place (installed or not), hashing it unless its record has the hash."""
    path = Path(path).resolve()
    if not path.is_dir():
        raise RulePackError(f"rule pack {path} is not a folder")
    record = _read_record(path)
    if record:
        return RulePack(record["name"], record["version"], path, record["sha256"], record.get("source", ""),
                        record.get("licence", ""))
    sha = tree_sha256(path)
    return RulePack(name or path.name, version or f"sha-{sha[:12]}", path, sha, source or str(path), licence)


def install(path: str | Path, name: str | None = None, version: str | None = None, source: str = "",
            licence: str = "") -> RulePack:
    """Copy a pack into the cache (idempotent for the same content) and return it."""
    pack = open_pack(path, name, version, source, licence)
    dest = cache_root() / "packs" / pack.name / f"{pack.version}-{pack.sha256[:12]}"
    if not (dest / PACK_RECORD).is_file():
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(pack.path, tmp, ignore=shutil.ignore_patterns(PACK_RECORD))
        installed = RulePack(pack.name, pack.version, dest, pack.sha256, pack.source, pack.licence)
        (tmp / PACK_RECORD).write_text(json.dumps(installed.record() | {"installed_from": str(pack.path)},
                                                  indent=2, sort_keys=True), encoding="utf-8")
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    return open_pack(dest)


def installed() -> list[RulePack]:
    root = cache_root() / "packs"
    if not root.is_dir():
        return []
    return sorted((open_pack(p) for p in root.glob("*/*") if (p / PACK_RECORD).is_file()),
                  key=lambda p: (p.name, p.version))


def resolve(ref: str | Path, base: Path | None = None) -> RulePack:
    """A pack by path (absolute or relative to ``base``) or by installed name (newest version)."""
    candidate = Path(ref)
    if not candidate.is_absolute() and base is not None:
        candidate = base / candidate
    if candidate.is_dir():
        return open_pack(candidate)
    matches = [p for p in installed() if p.name == str(ref)]
    if not matches:
        raise RulePackError(f"rule pack {ref!r} is neither a folder nor an installed pack "
                            f"(install it with `harness rules install PATH`)")
    return matches[-1]
