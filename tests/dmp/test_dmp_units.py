"""Unit tests of the dmp building blocks that need no Saxon: identifiers, volet choice, XDM fields, PDFs."""

from __future__ import annotations

import pytest

from dmp_support import PACK_DIR
from harness_plugins._common.identifiers import check_nir, check_rpps, nir_key
from harness_plugins.dmp import cda, checks, engine, fixtures, xdm
from harness_plugins.dmp.pack import DEFAULT_MAPPING, Mapping


@pytest.mark.parametrize("nir, ok", [
    (fixtures.make_nir("2850575056042"), True),
    ("285057505604299", False),                         # wrong key
    (fixtures.make_nir("1690299123456"), True),
    ("1 69 02 2A 123 456 " + f"{nir_key('169022A123456'):02d}", True),   # Corsica 2A, spaces
    ("16902" + "2B" + "123456" + f"{nir_key('169022B123456'):02d}", True),
    ("16902" + "2A" + "123456" + f"{nir_key('169022B123456'):02d}", False),  # 2B key on a 2A NIR
    ("28505750560", False),                             # too short
    ("985057505604272", False),                         # sex digit 9
])
def test_nir(nir, ok):
    assert (check_nir(nir) is None) == ok, check_nir(nir)


def test_corsica_keys_follow_the_insee_rule():
    assert nir_key("169022A123456") == 97 - int("1690219123456") % 97
    assert nir_key("169022B123456") == 97 - int("1690218123456") % 97


@pytest.mark.parametrize("value, kind, ok", [
    (fixtures.make_rpps("9990000001"), "RPPS", True),
    ("899800000010", "RPPS", False),
    ("801234567897", "RPPS", True),
    ("578435954900010/1.2.250.1.176.1", "structure-local", True),
    ("3751234567/12345", "structure-local", True),
    ("0751234567", "ADELI", None),
    ("X12", "unknown", False),
])
def test_national_ps_identifiers(value, kind, ok):
    got_kind, problem = checks._national_ps_id(value)
    assert got_kind == kind
    if ok is not None:
        assert (problem is None) == ok, problem


def test_luhn_digit_builds_valid_rpps():
    for body in ("1000000000", "9990000001", "0123456789"):
        assert check_rpps(fixtures.make_rpps(body)) is None


def _mapping() -> Mapping:
    return Mapping.load(DEFAULT_MAPPING)


ALL = {v.entry for v in _mapping().volets}


@pytest.mark.parametrize("templates, code, volet", [
    ([("1.2.250.1.213.1.1.1.1", None), ("1.2.250.1.213.1.1.1.55", "2024.01")], "11502-2", "CR-BIO 2024.01"),
    ([("1.2.250.1.213.1.1.1.13", "201310")], "SYNTH", "VSM 1.4"),
    ([("1.2.250.1.213.1.1.1.13", "2023.01")], "SYNTH", "VSM 2023.01"),
    ([("1.2.250.1.213.1.1.1.1", None), ("1.3.6.1.4.1.19376.1.2.20", None)], "18748-4", "CR-IMG 2024.01"),
    ([("1.2.250.1.213.1.1.1.1", None), ("1.2.250.1.213.1.1.1.54", "2024.01")], "60593-1", None),
    ([("1.2.250.1.213.1.1.1.1", None)], "11488-4", None),
])
def test_volet_choice_is_data_driven(templates, code, volet):
    chosen, why = _mapping().choose_volet(templates, code, ALL)
    assert (chosen.name if chosen else None) == volet, why


def test_a_volet_whose_schematron_is_absent_is_not_applicable():
    chosen, why = _mapping().choose_volet([("1.2.250.1.213.1.1.1.55", None)], "11502-2", ALL - {
        "schematrons/CI-SIS_BIO-CR-BIO_2024.01.sch"})
    assert chosen is None and "not in the pack" in why


@pytest.mark.parametrize("ts, utc", [
    ("20240315103000+0100", "20240315093000"),
    ("20240101003000+0200", "20231231223000"),
    ("20240315", "20240315"),
    ("202403151030-0500", "202403151530"),
    ("garbage", None),
])
def test_to_utc(ts, utc):
    assert xdm.to_utc(ts) == utc


def test_hl7_v2_identifier_fields():
    assert xdm.cx_id("279035121518989^^^&1.2.250.1.213.1.4.10&ISO") == ("279035121518989", "1.2.250.1.213.1.4.10")
    assert xdm.xcn_id("801234567897^DOC^Jean^^^^^^&1.2.250.1.71.4.2.1&ISO") == ("801234567897", "1.2.250.1.71.4.2.1")
    assert xdm.cx_id(None) == (None, None)


def test_pdf_facts():
    a = cda.pdf_facts(fixtures.pdf_bytes("x", pdfa=True))
    assert a["is_pdf"] and a["eof"] and a["pdfa_part"] == "1" and a["pdfa_conformance"] == "B" and not a["encrypted"]
    b = cda.pdf_facts(fixtures.pdf_bytes("x", pdfa=False))
    assert b["pdfa_part"] is None
    assert not cda.pdf_facts(fixtures.pdf_bytes("x")[:200])["eof"]


def test_pdf_bytes_open_with_pypdf():
    import io

    import pypdf

    reader = pypdf.PdfReader(io.BytesIO(fixtures.pdf_bytes("Bonjour", pdfa=True)))
    assert len(reader.pages) == 1 and "Bonjour" in reader.pages[0].extract_text()


@pytest.mark.parametrize("head, problem", [
    (b'<?xml version="1.0" encoding="UTF-8"?><a>\xc3\xa9</a>', None),
    (b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xc3\xa9</a>', "lying_encoding"),
    (b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>', None),
    (b'<?xml version="1.0" encoding="US-ASCII"?><a>\xc3\xa9</a>', "lying_encoding"),
])
def test_encoding_facts(head, problem):
    facts = engine.encoding_facts(head)
    assert [c for c, _ in facts["problems"]][:1] == ([problem] if problem else [])


def test_path_index_matches_the_skeleton_locations():
    from lxml import etree

    root = etree.fromstring(b'<r xmlns="urn:hl7-org:v3"><a/><b/><a><c/></a></r>')
    paths = cda.PathIndex(root)
    assert [paths.path(e) for e in root.iter()] == ["/r", "/r/a", "/r/b", "/r/a[2]", "/r/a[2]/c"]
    assert paths.element("/r/a[2]/c/@code") is root[2][0]
    assert paths.element("/*:r[namespace-uri()='urn:hl7-org:v3'][1]/*:a[namespace-uri()='urn:hl7-org:v3'][2]") is root[2]
    assert cda.readable_path(root[2][0]) == "/r/a[2]/c"


def test_the_shipped_mapping_names_files_of_the_pack():
    mapping = _mapping()
    for rel in [mapping.xsd, *mapping.generic.values(), *(v.entry for v in mapping.volets)]:
        if PACK_DIR.is_dir():
            assert (PACK_DIR / rel).is_file(), rel


def test_oid_scan_lists_only_invalid_values_and_counts_the_rest():
    """Only invalid OIDs cross the process boundary (a report is kept per document until its checks ran)."""
    from lxml import etree

    codes = "".join(f'<code codeSystem="1.2.{i}"/><code codeSystem="1.02.{i}"/>' for i in range(203))
    root = etree.fromstring(f'<r xmlns="urn:hl7-org:v3"><id root="{"a" * 8}-1111-2222-3333-{"b" * 12}"/>'
                            f'<id extension="x" root="not an oid"/>{codes}</r>'.encode())
    scan = cda.scan_oids(root, cda.PathIndex(root), keep=200)
    assert (scan.checked, scan.invalid, len(scan.listed)) == (2 + 2 * 203, 1 + 203, 200)
    assert scan.listed[0] == ("root", "not an oid", 1, "/r/id[2]/@root")
    assert scan.listed[1][:2] == ("codeSystem", "1.02.0")

    class Target:
        def report(self, source):
            return engine.DocumentReport("doc.xml", "doc.xml", header={"is_cda": True}, oids=scan)

    findings = list(checks.oids.func(Target(), None))
    assert [f.message_id for f in findings].count("dmp.oids.invalid") == 200
    assert findings[-1].message_id == "dmp.oids.truncated" and findings[-1].message.startswith("4 more")
