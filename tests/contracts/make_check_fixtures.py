"""Write tests/fixtures/checks/contracts.<rule>/{pass,fail}/ from the demo contract texts.

    python tests/contracts/make_check_fixtures.py

Each folder is a tiny vendor profile (``vendor.toml``) with one contract file and an
``expected.json`` giving the status the check must report on it. The pass fixture is
the demo-good contract as plain text; the fail fixture is a short contract holding
the abusive clause(s) of demo-poor for that rule. Any test (or a generic registry
test) can audit a folder with ``--check <id>`` and compare.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins"))

from harness_plugins.contracts import demo_docs  # noqa: E402

# rule id -> the demo-poor articles that break it
FAIL_ARTICLES = {
    "renewal.tacit": ["2"],
    "term.long_commitment": ["2"],
    "termination.customer_notice": ["2", "3"],
    "termination.early_fees": ["3"],
    "change.unilateral_terms": ["5"],
    "change.unilateral_price": ["4"],
    "reversibility.return": ["10", "11"],
    "reversibility.format": ["11"],
    "reversibility.cost": ["11"],
    "reversibility.deletion": ["11"],
    "data.ownership": ["7"],
    "data.vendor_use": ["8"],
    "gdpr.art28": ["9"],
    "hds.host": ["6"],
    "liability.limit": ["12"],
    "suspension.unilateral": ["13"],
    "jurisdiction.clause": ["15"],
    "audit.rights": ["14"],
}


def as_text(title: str, articles) -> str:
    lines = [title, ""]
    for number, name, paragraphs in articles:
        lines.append(f"Article {number} - {name}" if number else name)
        lines.extend(paragraphs)
        lines.append("")
    return "\n".join(lines)


def profile(rule_id: str, variant: str) -> str:
    return (f'# Fixture of the check contracts.{rule_id}: it must report "{variant}" here.\n'
            f'[subject]\nvendor = "Fixture"\nproduct = "contracts.{rule_id} ({variant})"\nversion = "1"\n\n'
            f'[targets.contracts]\nfiles = ["contrat.txt"]\nas_of = "2026-06-01"\n')


def main() -> None:
    base = ROOT / "tests" / "fixtures" / "checks"
    good = as_text(demo_docs.GOOD_TITLE, demo_docs.GOOD)
    poor = {number: (number, name, paragraphs) for number, name, paragraphs in demo_docs.POOR}
    for rule_id, numbers in FAIL_ARTICLES.items():
        for variant, text in (("pass", good),
                              ("fail", as_text(demo_docs.POOR_TITLE, [poor[""]] + [poor[n] for n in numbers]))):
            folder = base / f"contracts.{rule_id}" / variant
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "contrat.txt").write_text(text, encoding="utf-8")
            (folder / "vendor.toml").write_text(profile(rule_id, variant), encoding="utf-8")
            (folder / "expected.json").write_text(json.dumps(
                {"check": f"contracts.{rule_id}", "results": {"contrat.txt": variant}}, indent=2) + "\n",
                encoding="utf-8")
    print(f"wrote {2 * len(FAIL_ARTICLES)} fixtures under {base}")


if __name__ == "__main__":
    main()
