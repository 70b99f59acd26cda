"""JUnit XML (``junit.xml``): one testcase per check × item, readable by CI systems.

fail -> <failure>, error -> <error>, skipped / not_applicable -> <skipped>;
warn and review pass in JUnit terms but their messages go to <system-out>.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from lxml import etree

from ..hookspecs import hookimpl
from ..registry import Reporter


def _summary(result: dict[str, Any]) -> str:
    lines = []
    for finding in result["findings"]:
        where = ""
        for ev in finding.get("evidence", [])[:1]:
            where = f" [{ev['artefact']}" + (f":{ev['line']}" if ev.get("line") else "") + "]"
        reqs = ", ".join(finding.get("requirement_ids", []))
        lines.append(f"{finding['status']}: {finding['message']}{where}" + (f" ({reqs})" if reqs else ""))
    return "\n".join(lines)


def to_junit(card: dict[str, Any]) -> bytes:
    families: dict[str, list[dict[str, Any]]] = defaultdict(list)
    meta = {c["id"]: c for c in card["checks"]}
    for result in card["results"]:
        families[meta.get(result["check_id"], {}).get("family", "unknown")].append(result)
    subject = card["subject"]
    root = etree.Element("testsuites", name=f"{subject['vendor']} {subject['product']} {subject.get('version', '')}".strip())
    totals = defaultdict(int)
    for family in sorted(families):
        results = families[family]
        suite = etree.SubElement(root, "testsuite", name=family)
        counts = defaultdict(int)
        for result in results:
            status = result["status"]
            case = etree.SubElement(suite, "testcase", classname=result["check_id"], name=result["item_id"])
            text = _summary(result)
            first = result["findings"][0]["message"] if result["findings"] else status
            if status == "fail":
                etree.SubElement(case, "failure", message=first, type="fail").text = text
                counts["failures"] += 1
            elif status == "error":
                etree.SubElement(case, "error", message=first, type="error").text = result.get("error") or text
                counts["errors"] += 1
            elif status in ("skipped", "not_applicable"):
                etree.SubElement(case, "skipped", message=f"{status}: {first}")
                counts["skipped"] += 1
            elif text:
                etree.SubElement(case, "system-out").text = text
            counts["tests"] += 1
        for key in ("tests", "failures", "errors", "skipped"):
            suite.set(key, str(counts[key]))
            totals[key] += counts[key]
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(totals[key]))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def write_junit(card: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "junit.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_junit(card))
    return path


@hookimpl
def harness_register_reporters() -> list[Reporter]:
    return [Reporter("junit", "junit.xml: one testcase per check × item", write_junit, default=True)]
