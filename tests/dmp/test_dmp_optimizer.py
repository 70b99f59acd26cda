"""The rewritten stylesheets produce exactly the SVRL of the pristine skeleton output.

Every entry point of the pack runs, pristine, shared (repeated blocks as named templates)
and optimised (shared and flattened), on the official samples, the
demo documents and mutated variants of both (documents full of errors exercise the
failure paths); the reports must be identical but for the run's timestamp.
"""

from __future__ import annotations

import re

import pytest

from dmp_support import DEMO, SAMPLES, needs_shared
from harness_plugins.dmp import fixtures, optimize

pytestmark = needs_shared
_STAMP = re.compile(r'dateHeure="[^"]*"')


def documents() -> list[tuple[str, bytes]]:
    docs = [(p.name, p.read_bytes()) for p in sorted(SAMPLES.glob("*.xml"))]
    docs += [(p.name, p.read_bytes()) for p in sorted(DEMO.glob("demo-*/dmp/cda/*.xml")) if p.name != "tronque.xml"]
    small = [d for name, d in docs if len(d) < 400_000]
    docs += [(f"variant-{i}", v) for i, v in enumerate(fixtures.variants(small, 24, seed=7))]
    return docs


def test_pristine_and_optimised_svrl_are_identical(validator):
    entries = [e for e in validator.schematrons.entries if validator.entry_status(e).get("status") == "ok"]
    assert len(entries) >= 10
    docs = documents()
    compared = failures = 0
    for name, data in docs:
        node = validator.proc.parse_xml(xml_text=data.decode("utf-8"))
        for entry in entries:
            pristine, err1 = validator._run(validator.executable(entry, "xsl"), node)
            shared, err2 = validator._run(validator.executable(entry, "shared"), node)
            fast, err3 = validator._run(validator.executable(entry, "opt"), node)
            assert err1 == err2, (name, entry.stem, err1, err2)
            assert (err1 is None) == (err3 is None), (name, entry.stem, err1, err3)
            if err1 is None:
                assert _STAMP.sub("", pristine) == _STAMP.sub("", shared), (name, entry.stem)
                assert _STAMP.sub("", pristine) == _STAMP.sub("", fast), (name, entry.stem)
                failures += fast.count("<svrl:failed-assert") + fast.count("<svrl:successful-report")
                compared += 1
    assert compared >= len(docs) * 9
    assert failures > 500, "the comparison should cover many failing asserts"


def test_optimizer_rewrites_every_mode_of_the_pack(validator):
    manifest = validator.manifest["entries"]
    for stem in ("CI-SIS_ModelesDeContenusCDA", "CI-SIS_Modeles_ANS", "ASIP-STRUCT-MIN-StrucMin"):
        stats = manifest[stem]["optimizer"]
        assert stats.get("modes_kept", 0) == 0 and stats["modes_flattened"] > 0, (stem, stats)


def test_structuration_minimale_repeats_are_compiled_once(validator):
    """Its thousands of copies of the same datatype asserts shrink to a few hundred templates."""
    stats = validator.manifest["entries"]["ASIP-STRUCT-MIN-StrucMin"]["optimizer"]
    assert stats["block_calls"] > 10_000 and stats["blocks_shared"] < stats["block_calls"] / 20, stats
    assert not stats.get("blocks_kept_local_vars"), stats


def test_blocks_reading_rule_variables_get_them_as_parameters():
    from lxml import etree

    block = """<xsl:choose><xsl:when test="@v = $limit"/><xsl:otherwise>
      <svrl:failed-assert><svrl:text>bad</svrl:text></svrl:failed-assert></xsl:otherwise></xsl:choose>"""
    rule = """<xsl:template match="{m}" priority="1000" mode="M1"><svrl:fired-rule context="{m}"/>
      <xsl:variable name="limit" select="{n}"/>""" + block + "</xsl:template>"
    late = """<xsl:template match="c" priority="1000" mode="M1">""" + block.replace("$limit", "$late") + \
        """<xsl:variable name="late" select="1"/></xsl:template>"""
    xsl = f"""<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
      xmlns:svrl="http://purl.oclc.org/dsdl/svrl"><xsl:variable name="late" select="2"/>
      {rule.format(m="a", n=1)}{rule.format(m="b", n=2)}{late}{late.replace('match="c"', 'match="d"')}
    </xsl:stylesheet>"""
    tree = etree.ElementTree(etree.fromstring(xsl))
    stats = optimize.optimize(tree, flatten=False)
    assert stats == {"blocks_shared": 1, "block_calls": 2, "blocks_kept_local_vars": 2}
    ns = {"xsl": optimize.XSL}
    calls = tree.xpath("//xsl:template[@mode]/xsl:call-template", namespaces=ns)
    assert [c.getparent().get("match") for c in calls] == ["a", "b"]
    assert [w.get("select") for c in calls for w in c] == ["$limit", "$limit"]
    named = tree.xpath("//xsl:template[@name]", namespaces=ns)
    assert len(named) == 1 and named[0][0].tag == f"{{{optimize.XSL}}}param"


@pytest.mark.parametrize("expr, parts", [
    ("a | b", ["a", "b"]),
    ("a[x = '|'] | b[(c|d)]", ["a[x = '|']", "b[(c|d)]"]),
    ('*[cda:templateId/@root="1|2"]', ['*[cda:templateId/@root="1|2"]']),
])
def test_split_top(expr, parts):
    assert optimize.split_top(expr) == parts


def test_patterns_with_current_are_left_alone():
    from lxml import etree

    xsl = """<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
      xmlns:svrl="http://purl.oclc.org/dsdl/svrl">
      <xsl:template match="/"><svrl:schematron-output><xsl:apply-templates select="/" mode="M1"/>
      </svrl:schematron-output></xsl:template>
      <xsl:template match="a[@x = current()/@y]" priority="1000" mode="M1">
        <svrl:fired-rule context="a"/><xsl:apply-templates select="*" mode="M1"/></xsl:template>
      <xsl:template match="text()" priority="-1" mode="M1"/>
      <xsl:template match="@*|node()" priority="-2" mode="M1"><xsl:apply-templates select="*" mode="M1"/></xsl:template>
    </xsl:stylesheet>"""
    tree = etree.ElementTree(etree.fromstring(xsl))
    stats = optimize.optimize(tree)
    assert stats.get("modes_kept") == 1 and not stats.get("modes_flattened")


_TOY = """<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
  xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:svrl="http://purl.oclc.org/dsdl/svrl">
  <xsl:template match="/"><svrl:schematron-output><xsl:apply-templates select="/" mode="M1"/>
  </svrl:schematron-output></xsl:template>
  <xsl:template match="a[xs:integer(@n) gt 0]" priority="1000" mode="M1">
    <svrl:fired-rule context="a"/><xsl:apply-templates select="*" mode="M1"/></xsl:template>
  <xsl:template match="b" priority="1000" mode="M1">
    <svrl:fired-rule context="b"/><xsl:value-of select="xs:integer(@n)"/>
    <xsl:apply-templates select="*" mode="M1"/></xsl:template>
  <xsl:template match="text()" priority="-1" mode="M1"/>
  <xsl:template match="@*|node()" priority="-2" mode="M1"><xsl:apply-templates select="*" mode="M1"/></xsl:template>
</xsl:stylesheet>"""


def _toy_runs(doc: str) -> tuple[tuple, tuple]:
    """(pristine, flattened) outcomes of the toy stylesheet on ``doc``: (svrl, error)."""
    from lxml import etree
    from saxonche import PySaxonProcessor

    from harness_plugins.dmp.engine import Validator

    proc = PySaxonProcessor(license=False)
    xslt = proc.new_xslt30_processor()
    node = proc.parse_xml(xml_text=doc)
    outcomes = []
    for flatten in (None, True):
        tree = etree.ElementTree(etree.fromstring(_TOY))
        if flatten:
            assert optimize.optimize(tree)["modes_flattened"] == 1
        sheet = xslt.compile_stylesheet(stylesheet_text=etree.tostring(tree, encoding="unicode"))
        outcomes.append(Validator._run(sheet, node))
    return outcomes[0], outcomes[1]


def test_a_pattern_error_is_reported_as_the_flattening_marker():
    """The original walk treats the failing pattern as a non-match; the flattened select says so
    with the one error the engine falls back on."""
    pristine, flat = _toy_runs('<r><a n="x"/><a n="2"/></r>')
    assert pristine[1] is None and pristine[0].count("fired-rule") == 1
    assert flat[0] is None and optimize.SELECT_FAILED in flat[1]


def test_a_rule_body_error_fails_both_forms_without_the_marker():
    pristine, flat = _toy_runs('<r><a n="1"/><b n="x"/></r>')
    assert pristine[0] is None and flat[0] is None
    assert "Cannot convert" in pristine[1] and pristine[1] == flat[1]
    assert optimize.SELECT_FAILED not in flat[1]
    same, same_flat = _toy_runs('<r><a n="1"/><b n="3"/></r>')
    assert same[1] is None and _STAMP.sub("", same[0]) == _STAMP.sub("", same_flat[0])


def test_a_document_the_original_rules_cannot_evaluate_is_not_run_twice(validate):
    """Two effectiveTime/low in the encounter make a structuration minimale assert fail with a type
    error in its body: the original stylesheet fails the same way, so the engine reports the
    failure without loading the unflattened stylesheet (which would double its memory)."""
    from lxml import etree

    root = etree.fromstring((SAMPLES / "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml").read_bytes())
    ns = {"h": "urn:hl7-org:v3"}
    [low] = root.xpath("/h:ClinicalDocument/h:componentOf/h:encompassingEncounter/h:effectiveTime/h:low",
                       namespaces=ns)
    low.addnext(etree.fromstring(etree.tostring(low)))
    report = validate(etree.tostring(root, xml_declaration=True, encoding="UTF-8"), "two-times.xml")
    stage = report.stages["structuration_minimale"]
    assert stage.status == "fail", (stage.status, stage.reason)
    assert [i.requirement for i in stage.issues] == ["CI-SIS:ASIP-STRUCT-MIN-StrucMin:not-evaluable"]
    assert "more than one item" in stage.issues[0].message
    assert "optimized_run_failed" not in stage.details
