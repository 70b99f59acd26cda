"""Public API of the dmp family for other families (portability hands the CDA documents of an export here).

    from harness_plugins.dmp.api import validate_cda_bytes
    results = validate_cda_bytes(data, "export/docs/cr.xml")

Each result is a dict ``{status, message, message_id, requirement_ids, check, line, xpath}``
with ``status`` in pass / fail / warn / error / skipped, one per problem found by the
same stages the dmp checks use (well-formedness, CDA XSD, structuration minimale, the
two generic schematrons and the volet). The first call in a process loads the compiled
CI-SIS stylesheets (seconds; nothing is recompiled when the pack is already in the cache).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from harness.rulepacks import RulePack, RulePackError, open_pack, resolve

from .engine import STAGES, Options, Source, shared_validator

_PACK: RulePack | None = None
_LOCK = threading.Lock()
STAGE_CHECKS = {"well_formed": "dmp.cda.well_formed", "xsd": "dmp.cda.xsd",
                "structuration_minimale": "dmp.cda.structuration_minimale",
                "modeles_contenus": "dmp.cda.modeles_contenus", "modeles_ans": "dmp.cda.modeles_ans",
                "volet": "dmp.cda.volet"}


def default_pack() -> RulePack | None:
    """The CI-SIS pack: installed as ``ci-sis``, else ``$HARNESS_SHARED/rules/ci-sis``, else ``../shared`` of the repo."""
    global _PACK
    with _LOCK:
        if _PACK is not None:
            return _PACK
        candidates = []
        if os.environ.get("HARNESS_SHARED"):
            candidates.append(Path(os.environ["HARNESS_SHARED"]) / "rules" / "ci-sis")
        candidates.append(Path(__file__).resolve().parents[3].parent / "shared" / "rules" / "ci-sis")
        try:
            _PACK = resolve("ci-sis")
        except RulePackError:
            for path in candidates:
                if (path / "infrastructure").is_dir():
                    _PACK = open_pack(path)
                    break
        return _PACK


def validate_cda_bytes(data: bytes, name: str, *, pack: RulePack | None = None,
                       options: Options | None = None) -> list[dict[str, Any]]:
    """Validate one CDA document given as bytes; see the module docstring for the result shape."""
    pack = pack or default_pack()
    if pack is None:
        return [{"status": "skipped", "message": "no CI-SIS rule pack installed (harness rules install PATH)",
                 "message_id": "dmp.no_pack"}]
    report = shared_validator(pack, options or Options()).validate(Source(name, name), data)
    results: list[dict[str, Any]] = []
    for stage_name in STAGES:
        stage = report.stage(stage_name)
        check_id = STAGE_CHECKS[stage_name]
        if stage.status in ("error", "skipped", "not_applicable") and not stage.issues:
            results.append({"status": stage.status, "message": f"{stage_name}: {stage.reason}", "check": check_id,
                            "message_id": "dmp.rule_pack_defect" if (stage.reason or "").startswith("rule pack defect")
                            else f"dmp.{stage_name}.{stage.status}"})
            continue
        for issue in stage.issues:
            status = {"fail": "fail", "warn": "warn", "info": "pass"}.get(issue.status, "fail")
            results.append({"status": status, "message": f"{stage_name}: {issue.message}", "check": check_id,
                            "message_id": issue.requirement or f"dmp.{stage_name}",
                            "requirement_ids": [issue.requirement] if issue.requirement else [],
                            "line": issue.line, "xpath": issue.xpath})
        if stage.status == "pass" and not stage.issues:
            results.append({"status": "pass", "message": f"{stage_name}: no error", "check": check_id,
                            "message_id": f"dmp.{stage_name}.ok"})
    return results


__all__ = ["validate_cda_bytes", "default_pack"]
