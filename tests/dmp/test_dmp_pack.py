"""The rule pack: compiled once per content with its own engine, cached, value sets resolved, defects reported.

A copy of the pack with a small ``harness-dmp.toml`` (a few volet schematrons in the
generic roles) keeps these tests fast; the mapping is data, so the code paths are the
ones the full pack uses.
"""

from __future__ import annotations

import shutil
import stat

import pytest

from dmp_support import PACK_DIR, SAMPLES, needs_shared
from harness.rulepacks import open_pack

pytestmark = needs_shared

SMALL_MAPPING = """
xsd = "infrastructure/cda/CDA_extended.xsd"
[generic]
structuration_minimale = "schematrons/CI-SIS_VSM_1.4_2022.01.sch"
modeles_contenus = "schematrons/CI-SIS_VSM_2023.01.sch"
modeles_ans = "schematrons/CI-SIS_IPS-FR_2024.01.sch"
[generic_templates]
roots = ["2.16.840.1.113883.2.8.2.1", "1.2.250.1.213.1.1.1.1"]
[[volet]]
name = "LDL-SES 2022.01"
entry = "schematrons/CI-SIS_LDL-SES_2022.01.sch"
template_ids = ["1.2.250.1.213.1.1.1.29"]
[[volet]]
name = "DLU-EHPAD 2022.01"
entry = "schematrons/CI-SIS_DLU-EHPAD-DLU_2022.01.sch"
template_ids = ["1.2.250.1.213.1.1.1.22"]
"""


def copy_pack(dest, mapping: str = SMALL_MAPPING):
    shutil.copytree(PACK_DIR, dest)
    for path in [dest, *dest.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    (dest / "harness-dmp.toml").write_text(mapping, encoding="utf-8")
    return dest


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_second_run_compiles_nothing(tmp_path, cache):
    from harness_plugins.dmp.pack import SchematronPack

    pack = open_pack(copy_pack(tmp_path / "pack"))
    first = SchematronPack(pack)
    manifest = first.ensure_compiled()
    assert first.compiled_now == 5
    assert first.cache_dir.is_relative_to(cache / "derived" / pack.sha256)
    assert {e["status"] for e in manifest["entries"].values()} == {"ok", "absent"} or \
        {e["status"] for e in manifest["entries"].values()} == {"ok"}
    stamps = {p.name: p.stat().st_mtime_ns for p in first.cache_dir.iterdir()}
    again = SchematronPack(open_pack(tmp_path / "pack"))
    assert again.ensure_compiled() == manifest
    assert again.compiled_now == 0
    assert {p.name: p.stat().st_mtime_ns for p in again.cache_dir.iterdir()} == stamps


def test_compiled_stylesheets_resolve_value_sets_against_the_sch(tmp_path, cache):
    """The XSLT lives in the cache, but document('../jeuxDeValeurs/…') resolves inside the pack."""
    from saxonche import PySaxonProcessor

    from harness_plugins.dmp.engine import Options, Source, Validator

    pack = open_pack(copy_pack(tmp_path / "pack"))
    validator = Validator(pack, Options())
    report = validator.validate(Source("ldl", str(SAMPLES / "LDL-SES_2022.01.xml")))
    assert report.stage("volet").status == "pass", report.stage("volet").reason
    entry = validator.schematrons.entry_for_sch("schematrons/CI-SIS_LDL-SES_2022.01.sch")
    xsl = entry.files(validator.cache)["xsl"]
    assert not xsl.is_relative_to(pack.path)
    # The same stylesheet compiled with its cache location as base URI cannot find the value set:
    proc = PySaxonProcessor(license=False)
    executable = proc.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(xsl))
    with pytest.raises(Exception, match="FODC0002|I/O error|No such file"):
        executable.transform_to_string(xdm_node=proc.parse_xml(xml_file_name=str(SAMPLES / "LDL-SES_2022.01.xml")))


def test_missing_value_set_is_a_rule_pack_defect(tmp_path, cache):
    from harness_plugins.dmp.engine import Options, Source, Validator

    root = copy_pack(tmp_path / "pack")
    (root / "jeuxDeValeurs" / "JDV_ModaliteEntree_CISIS.xml").unlink()
    validator = Validator(open_pack(root), Options())
    report = validator.validate(Source("ldl", str(SAMPLES / "LDL-SES_2022.01.xml")))
    volet = report.stage("volet")
    assert volet.status == "error"
    assert volet.reason.startswith("rule pack defect") and "JDV_ModaliteEntree_CISIS.xml" in volet.reason
    assert report.stage("xsd").status == "pass"


def test_unresolved_include_is_a_rule_pack_defect_of_that_entry_only(tmp_path, cache):
    from harness_plugins.dmp.engine import Options, Source, Validator

    root = copy_pack(tmp_path / "pack")
    sch = root / "schematrons" / "CI-SIS_LDL-SES_2022.01.sch"
    sch.write_text(sch.read_text(encoding="utf-8").replace("Entete/Entete_LDL-SES.sch", "Entete/Absent.sch"),
                   encoding="utf-8")
    validator = Validator(open_pack(root), Options())
    record = validator.manifest["entries"]["CI-SIS_LDL-SES_2022.01"]
    assert record["status"] == "defect" and "Absent.sch" in record["error"]
    report = validator.validate(Source("ldl", str(SAMPLES / "LDL-SES_2022.01.xml")))
    assert report.stage("volet").status == "error" and "rule pack defect" in report.stage("volet").reason
    assert report.stage("structuration_minimale").status in ("pass", "fail")   # the other entries still run
    dlu = validator.validate(Source("dlu", str(SAMPLES / "DLU-EHPAD-DLU_2022.01.xml")))
    assert dlu.stage("volet").status == "pass"


def test_rule_pack_defects_become_error_results_not_failures(tmp_path, cache):
    from harness.testing import run_check
    from harness_plugins.dmp import checks
    from harness_plugins.dmp.target import DmpTarget

    root = copy_pack(tmp_path / "pack")
    (root / "jeuxDeValeurs" / "JDV_ModaliteEntree_CISIS.xml").unlink()
    target = DmpTarget({"documents": [str(SAMPLES / "LDL-SES_2022.01.xml")], "rules": str(root), "workers": 0},
                       tmp_path).start()
    [result] = run_check(checks.volet, target)
    assert result.status.value == "error"
    assert result.findings[0].message_id == "dmp.rule_pack_defect"
    assert "rule pack defect" in result.findings[0].message


def test_installed_pack_is_found_by_name_and_recorded(tmp_path, cache):
    from harness.rulepacks import install
    from harness_plugins.dmp.target import DmpTarget

    installed = install(PACK_DIR, name="ci-sis", version="7cd489b3",
                        source="github.com/ansforge/TestContenuCDA-3-0@7cd489b3")
    target = DmpTarget({"documents": [str(SAMPLES / "LDL-SES_2022.01.xml")]}, tmp_path)   # rules defaults to ci-sis
    record = target.rule_packs()[0]
    assert record == installed.record()
    assert record["name"] == "ci-sis" and record["version"] == "7cd489b3" and len(record["sha256"]) == 64
    assert target.pack.sha256 == open_pack(PACK_DIR).sha256


def test_unknown_pack_is_a_target_error(tmp_path, cache):
    from harness import TargetError
    from harness_plugins.dmp.target import DmpTarget

    with pytest.raises(TargetError, match="rule pack"):
        DmpTarget({"documents": [], "rules": "no-such-pack"}, tmp_path)
