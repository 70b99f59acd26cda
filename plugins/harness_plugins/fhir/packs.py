"""Locate the FHIR definitions pack (R4 core + schema + examples + FR Core).

Order: an explicit reference (folder or installed pack name), else ``$HARNESS_FHIR_PACK``,
else the installed pack ``fhir-r4`` (``harness rules install ../shared/fhir --name fhir-r4``),
else ``<repo>/../shared/fhir`` when it exists (development and tests).
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.rulepacks import RulePack, RulePackError, open_pack, resolve

ENV_VAR = "HARNESS_FHIR_PACK"
INSTALLED_NAME = "fhir-r4"
REPO_ROOT = Path(__file__).resolve().parents[3]
DEV_PACK = REPO_ROOT.parent / "shared" / "fhir"


def dev_pack_path() -> Path | None:
    """``<repo>/../shared/fhir`` when present (tests use it)."""
    return DEV_PACK if (DEV_PACK / "schema" / "fhir.schema.json").is_file() else None


def locate_pack(ref: str | Path | None = None) -> RulePack:
    """The FHIR definitions pack for ``ref`` (path or installed name), or the default one."""
    if ref is not None and str(ref) != "":
        return resolve(ref, base=Path.cwd())
    env = os.environ.get(ENV_VAR)
    if env:
        return resolve(env, base=Path.cwd())
    try:
        return resolve(INSTALLED_NAME)
    except RulePackError:
        pass
    dev = dev_pack_path()
    if dev is not None:
        return open_pack(dev, name=INSTALLED_NAME, version="dev", source=str(dev),
                         licence="CC0-1.0 (HL7 FHIR R4, FR Core)")
    raise RulePackError(
        f"no FHIR definitions pack: set ${ENV_VAR}, or install one with "
        f"`harness rules install PATH --name {INSTALLED_NAME}` (PATH = the shared/fhir folder)")


def check_pack_layout(pack: RulePack) -> list[str]:
    """Missing parts of a pack (empty when complete)."""
    missing = []
    for rel in ("schema/fhir.schema.json", "r4-core/StructureDefinition", "r4-core/ValueSet",
                "r4-core/CodeSystem"):
        if not (pack.path / rel).exists():
            missing.append(rel)
    return missing
