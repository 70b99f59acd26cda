"""Hostile input: each gives a clear finding or error, nothing is fetched or expanded, and the run goes on.

Every case is a small file generated in a temporary folder; the last test audits a
folder mixing all of them with a good document through the whole harness.
"""

from __future__ import annotations

import http.server
import resource
import threading
import zipfile
from pathlib import Path

import pytest

from dmp_support import DEMO, PACK_DIR, make_target, needs_shared
from harness.session import AuditOptions, Session
from harness.testing import results_of, run_check
from harness_plugins.dmp import checks, fixtures

pytestmark = needs_shared

GOOD = (DEMO / "demo-good" / "dmp" / "cda" / "synthese-vsm.xml").read_bytes()
BODY = GOOD.split(b"?>", 1)[1]


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server API
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"secret")

    def log_message(self, *args):  # silence
        pass


@pytest.fixture(scope="module")
def server():
    _Recorder.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Recorder.hits
    httpd.shutdown()


def with_doctype(doctype: str, body: bytes = BODY, inject: bytes = b"") -> bytes:
    text = b'<?xml version="1.0" encoding="UTF-8"?>\n' + doctype.encode() + b"\n" + body
    if inject:
        text = text.replace(b"<title>", b"<title>" + inject, 1)
    return text


def hostile_documents(url: str) -> dict[str, bytes]:
    laughs = "".join(f'<!ENTITY l{i} "{("&l%d;" % (i - 1)) * 10}">' for i in range(1, 10))
    return {
        "xxe-file.xml": with_doctype('<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
                                     inject=b"&xxe;"),
        "xxe-http.xml": with_doctype(f'<!DOCTYPE ClinicalDocument [<!ENTITY xxe SYSTEM "{url}/xxe">]>',
                                     inject=b"&xxe;"),
        "xxe-parameter.xml": with_doctype(f'<!DOCTYPE ClinicalDocument [<!ENTITY % p SYSTEM "{url}/param"> %p;]>'),
        "billion-laughs.xml": with_doctype(f'<!DOCTYPE ClinicalDocument [<!ENTITY l0 "lol">{laughs}]>',
                                           inject=b"&l9;"),
        "quadratic.xml": with_doctype('<!DOCTYPE ClinicalDocument [<!ENTITY a "' + "a" * 50_000 + '">]>',
                                      inject=b"&a;" * 2_000),
        "external-dtd.xml": with_doctype(f'<!DOCTYPE ClinicalDocument SYSTEM "{url}/cda.dtd">'),
        "truncated.xml": GOOD[: len(GOOD) // 2],
        "lying-encoding.xml": GOOD.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"', 1),
        "base64-garbage.xml": fixtures.cda(fixtures.Doc(kind="level1", volet_template=None,
                                                        type_code=("11488-4", "2.16.840.1.113883.6.1", "CR"),
                                                        doc_id="1.2.250.1.999.7.1")).replace(
            b"JVBERi0", b"!!not base64 at all!!", 1),
        "not-cda.xml": b'<?xml version="1.0"?><invoice><total>12</total></invoice>',
        "empty.xml": b"",
        "binary.xml": bytes(range(256)) * 4,
    }


@pytest.fixture(scope="module")
def hostile_target(server, tmp_path_factory):
    url, _hits = server
    folder = tmp_path_factory.mktemp("hostile")
    for name, data in hostile_documents(url).items():
        (folder / name).write_bytes(data)
    (folder / "good.xml").write_bytes(GOOD)
    target = make_target({"documents": ["*.xml"]}, folder).start()
    yield target
    target.close()


def result_for(target, check, name):
    return next(r for r in run_check(check, target) if r.item_id.endswith(name))


@pytest.mark.parametrize("name, reason", [
    ("xxe-file.xml", "entities"),
    ("xxe-http.xml", "entities"),
    ("xxe-parameter.xml", "entities"),
    ("billion-laughs.xml", "entit"),
    ("quadratic.xml", "entit"),
    ("external-dtd.xml", "external DTD"),
    ("truncated.xml", "not well-formed"),
    ("lying-encoding.xml", "UTF-8"),
    ("empty.xml", "not well-formed"),
    ("binary.xml", "not well-formed"),
])
def test_hostile_document_fails_well_formed_with_a_clear_reason(hostile_target, name, reason):
    result = result_for(hostile_target, checks.well_formed, name)
    assert result.status.value == "fail"
    assert any(reason in f.message for f in result.findings), [f.message for f in result.findings]
    later = result_for(hostile_target, checks.structuration_minimale, name)
    assert later.status.value in ("skipped", "pass", "fail")


def test_nothing_was_fetched_and_no_secret_leaked(hostile_target, server):
    _url, hits = server
    for name in ("xxe-file.xml", "xxe-http.xml", "xxe-parameter.xml", "external-dtd.xml"):
        for check in (checks.well_formed, checks.xsd, checks.structuration_minimale):
            result = result_for(hostile_target, check, name)
            assert "secret" not in str(result.to_dict()) and "root:x:0" not in str(result.to_dict())
    assert hits == []


def test_truncated_xml_reports_its_line(hostile_target):
    result = result_for(hostile_target, checks.well_formed, "truncated.xml")
    assert result.findings[0].evidence[0].line > 10


def test_base64_garbage_is_an_embedded_failure(hostile_target):
    result = result_for(hostile_target, checks.embedded, "base64-garbage.xml")
    assert result.status.value == "fail"
    assert any("does not decode" in f.message for f in result.findings)


def test_a_non_cda_document_is_not_applicable_to_header_checks(hostile_target):
    assert result_for(hostile_target, checks.ins, "not-cda.xml").status.value == "not_applicable"
    assert result_for(hostile_target, checks.xsd, "not-cda.xml").status.value == "fail"


def test_the_good_document_beside_them_still_passes(hostile_target):
    for check in checks.ALL_CHECKS[:6]:
        assert result_for(hostile_target, check, "good.xml").status.value == "pass", check.id


def test_huge_document_is_refused_unread_unless_raised(tmp_path):
    """A 200 MB document: refused by size before being read (memory flat); with the limit raised, validated."""
    path = tmp_path / "huge.xml"
    head, tail = GOOD.split(b"<title>", 1)
    with open(path, "wb") as out:
        out.write(head + b"<!--")
        block = b"x" * (1 << 20)
        for _ in range(200):
            out.write(block)
        out.write(b"-->" + b"<title>" + tail)
    assert path.stat().st_size > 200 * 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    target = make_target({"documents": ["huge.xml"]}, tmp_path).start()
    [result] = run_check(checks.well_formed, target)
    assert result.status.value == "fail" and "exceeds the 20,971,520-byte document limit" in result.findings[0].message
    assert "max_document_bytes" in result.findings[0].message
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) < 100 * 1024   # KB: nothing was read
    raised = make_target({"documents": ["huge.xml"], "max_document_bytes": 300 * 1024 * 1024, "workers": 1},
                         tmp_path).start()
    try:
        [result] = run_check(checks.well_formed, raised)
        assert result.status.value == "pass", result.findings[0].message
        [xsd] = run_check(checks.xsd, raised)
        assert xsd.status.value == "pass"
    finally:
        raised.close()
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert children_kb < 4 * 1024 * 1024, f"worker peak {children_kb // 1024} MB"


# ----------------------------------------------------------------------------- XDM


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, "/etc/passwd")
    return path


def _bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("README.TXT", b"bomb")
        with archive.open("IHE_XDM/SUBSET01/DOC0001.XML", "w") as member:
            block = b"\0" * (1 << 20)
            for _ in range(300):
                member.write(block)
    return path


@pytest.fixture(scope="module")
def xdm_target(tmp_path_factory):
    folder = tmp_path_factory.mktemp("xdm")
    good = (DEMO / "demo-good" / "dmp" / "xdm" / "IHE_XDM.ZIP").read_bytes()
    (folder / "good.zip").write_bytes(good)
    _zip(folder / "slip.zip", {"IHE_XDM/SUBSET01/METADATA.XML": b"<x/>", "../../evil.xml": GOOD})
    _zip(folder / "absolute.zip", {"/etc/cron.d/evil": b"x"})
    _zip(folder / "symlink.zip", {"README.TXT": b"x"}, symlink="IHE_XDM/SUBSET01/DOC0001.XML")
    _bomb(folder / "bomb.zip")
    (folder / "not-a-zip.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    _zip(folder / "no-metadata.zip", {"IHE_XDM/SUBSET01/DOC0001.XML": GOOD})
    _zip(folder / "bad-metadata.zip", {"IHE_XDM/SUBSET01/METADATA.XML": b"<not-closed>",
                                       "IHE_XDM/SUBSET01/DOC0001.XML": GOOD})
    target = make_target({"xdm": ["*.zip"]}, folder)
    yield target
    target.close()


@pytest.mark.parametrize("name, reason", [
    ("slip.zip", "zip-slip"),
    ("absolute.zip", "zip-slip"),
    ("symlink.zip", "symbolic link"),
    ("bomb.zip", "zip bomb"),
    ("not-a-zip.zip", "not a readable zip"),
    ("no-metadata.zip", "no IHE_XDM/<subset>/METADATA.XML"),
    ("bad-metadata.zip", "not well-formed"),
])
def test_hostile_xdm_package_fails_with_the_reason(xdm_target, name, reason):
    [result] = [r for r in run_check(checks.xdm_package, xdm_target) if r.item_id == name]
    assert result.status.value == "fail"
    assert any(reason in f.message for f in result.findings), [f.message for f in result.findings]


def test_refused_packages_contribute_no_document_and_the_good_one_is_checked(xdm_target):
    items = [item_id for item_id, _ in xdm_target.documents()]
    assert items == ["good.zip!IHE_XDM/SUBSET01/DOC0001.XML", "no-metadata.zip!IHE_XDM/SUBSET01/DOC0001.XML",
                     "bad-metadata.zip!IHE_XDM/SUBSET01/DOC0001.XML"] or sorted(items) == sorted(
        ["good.zip!IHE_XDM/SUBSET01/DOC0001.XML", "no-metadata.zip!IHE_XDM/SUBSET01/DOC0001.XML",
         "bad-metadata.zip!IHE_XDM/SUBSET01/DOC0001.XML"])
    [good] = [r for r in run_check(checks.xdm_metadata, xdm_target) if r.item_id == "good.zip"]
    assert good.status.value == "pass", [f.message for f in good.findings]
    bomb = [r for r in run_check(checks.xdm_metadata, xdm_target) if r.item_id == "bomb.zip"]
    assert bomb[0].status.value == "skipped"


# ----------------------------------------------------------------------------- a folder of many documents


def test_a_folder_of_many_documents_runs_in_bounded_memory(tmp_path):
    """Hundreds of documents through worker processes: every one gets its result; memory does not grow."""
    count = 400
    sources = [GOOD, (DEMO / "demo-good" / "dmp" / "cda" / "compte-rendu-pdfa.xml").read_bytes()]
    for i, data in enumerate(fixtures.variants(sources, count, seed=3)):
        (tmp_path / f"doc-{i:05d}.xml").write_bytes(data)
    (tmp_path / "vendor.toml").write_text(
        '[subject]\nvendor = "Many"\nproduct = "Docs"\n\n[targets.dmp]\ndocuments = ["doc-*.xml"]\n'
        f'rules = "{PACK_DIR}"\nworkers = 2\n', encoding="utf-8")
    card = Session(tmp_path / "vendor.toml", AuditOptions(families=("dmp",), jobs=4, timeout=600,
                                                          check_ids=("dmp.cda.structuration_minimale",
                                                                     "dmp.cda.well_formed"))).run()
    results = results_of(card, "dmp.cda.structuration_minimale")
    assert len(results) == count
    assert all(r["status"] in ("pass", "fail", "warn") for r in results), \
        [(r["item_id"], r["findings"][:1]) for r in results if r["status"] not in ("pass", "fail", "warn")][:3]
    assert any(r["status"] == "fail" for r in results)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 3 * 1024 * 1024


def test_workers_are_replaced_after_worker_max_documents(tmp_path):
    """Saxon's heap cannot be capped: a worker is replaced after N documents, and no document is lost."""
    for i, data in enumerate(fixtures.variants([GOOD], 48, seed=5)):
        (tmp_path / f"doc-{i:03d}.xml").write_bytes(data)
    target = make_target({"documents": ["doc-*.xml"], "workers": 2, "worker_max_documents": 12}, tmp_path).start()
    try:
        reports = [target.report(source) for source in target.sources]
        held = [target._futures[source.item_id].result() for source in target.sources]
    finally:
        target.close()
    assert len(reports) == 48
    # the target holds each report packed until a check reads it: a few kB per document, not tens
    assert all(isinstance(h, bytes) and len(h) < 16_000 for h in held), sorted(len(h) for h in held)[-3:]
    assert [r.item_id for r in reports] == [s.item_id for s in target.sources]
    assert all(r.stage("structuration_minimale").status in ("pass", "fail", "warn") for r in reports)
    # 2 workers × 12 documents: the second 24 documents are validated by new processes
    first, second = {r.worker for r in reports[:24]}, {r.worker for r in reports[24:]}
    assert first and second and not first & second, (first, second)


def test_a_type_error_inside_a_rule_pattern_is_a_non_match_not_an_engine_stop(validate):
    """Two encompassingEncounter/effectiveTime make a StrucMin pattern raise XPTY0004 (Saxon prints it on stderr):
    as in the official engine that is a non-match, and the document gets the rules' findings, not an error."""
    once = b"<effectiveTime>\n        <low value=\"20240315103000+0100\"/>\n      </effectiveTime>\n      <location>"
    assert GOOD.count(once) == 1
    twice = once.replace(b"<location>", b"") + once
    report = validate(GOOD.replace(once, twice), name="twice.xml")
    assert report.stage("xsd").status == "fail"
    stage = report.stage("structuration_minimale")
    assert stage.status == "fail"
    assert any("(CI-SISComponentOf): element hl7:effectiveTime appears too often" in i.message for i in stage.issues)
    assert report.stage("modeles_contenus").status == "pass"


def test_an_engine_stop_is_the_documents_failure_only_when_it_is_xsd_invalid(validate, validator, monkeypatch):
    """A dynamic error that stops a stylesheet (no SVRL) fails an XSD-invalid document; on a valid one it is an error."""
    from harness_plugins.dmp.engine import Validator

    monkeypatch.setattr(Validator, "_run", staticmethod(lambda executable, node: (None, "XPTY0004 sequence of two")))
    bad = validate(GOOD.replace(b"<confidentialityCode", b"<confidentialityCode bogus=\"1\""), name="bad.xml")
    assert bad.stage("xsd").status == "fail"
    stage = bad.stage("structuration_minimale")
    assert stage.status == "fail" and stage.issues[0].requirement == "CI-SIS:ASIP-STRUCT-MIN-StrucMin:not-evaluable"
    assert "XPTY0004" in stage.issues[0].message
    good = validate(GOOD, name="good.xml").stage("structuration_minimale")
    assert good.status == "error" and "stopped on this document" in good.reason
