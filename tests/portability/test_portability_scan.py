"""The streaming scanner: every bad line reported with its line number, bounded memory, chunks and pools agree."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from portability_support import OBSERVATION, PATIENT, line, small_export, write_export
from harness_plugins.portability.analysis import AnalysisSettings, FileEntry, SourceAnalysis, analyze
from harness_plugins.portability.scan import ScanOptions, Task, classify_reference, fhir_base, scan_task, split_ranges


def scan_file(tmp_path: Path, data: bytes, name: str = "Observation.ndjson", **options) -> object:
    path = tmp_path / name
    path.write_bytes(data)
    spill = tmp_path / "spill"
    spill.mkdir(exist_ok=True)
    return scan_task(Task(index=0, path=str(path), name=name, spill_dir=str(spill), partitions=1,
                          options=ScanOptions(**options), expected_type="Observation"))


def analyze_folder(tmp_path: Path, folder: Path, **kw) -> SourceAnalysis:
    files = [FileEntry(p.relative_to(folder).as_posix(), p, p.stat().st_size)
             for p in sorted(folder.rglob("*")) if p.is_file()]
    source = SourceAnalysis("archive", folder.name, files=files)
    work = tmp_path / "work"
    work.mkdir(parents=True, exist_ok=True)
    return analyze(source, work, AnalysisSettings(**kw))


def codes(report) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for p in report.problems:
        out.setdefault(p.code, []).append(p.line)
    return out


def test_every_bad_line_is_reported_and_scanning_goes_on(tmp_path):
    good = line(OBSERVATION)
    data = (good + b'{"resourceType":"Observation","id":"o2","status":"fin\n'          # 2 truncated
            + good.replace(b"normale", b"normal\xe9") +                                  # 3 invalid UTF-8
            b'{"resourceType":"Observation","id":"o4",\x00"status":"final"}\n'           # 4 NUL byte
            + b"\n"                                                                     # 5 blank
            + b'{"resourceType":"Observation" "id":"o6"}\n'                              # 6 syntax
            + b'[1,2,3]\n'                                                              # 7 not a resource
            + line(PATIENT)                                                             # 8 wrong type
            + good)                                                                     # 9 fine
    report = scan_file(tmp_path, data)
    found = codes(report)
    assert found["truncated"] == [2]
    assert found["invalid_utf8"] == [3]
    assert found["nul_byte"] == [4]
    assert found["blank_line"] == [5]
    assert found["json_syntax"] == [6]
    assert found["not_a_resource"] == [7]
    assert found["type_mismatch"] == [8]
    assert report.lines == 9
    assert report.types["Observation"] == 2 and report.types["Patient"] == 1
    utf8 = next(p for p in report.problems if p.code == "invalid_utf8")
    assert utf8.column and "0xe9" in utf8.message
    nul = next(p for p in report.problems if p.code == "nul_byte")
    assert nul.column == data.splitlines()[3].index(b"\x00") + 1


def test_last_line_truncated_without_newline(tmp_path):
    data = line(OBSERVATION) + line(OBSERVATION)[:80]
    report = scan_file(tmp_path, data)
    assert codes(report) == {"truncated": [2]}


def test_line_cap_skips_a_huge_line_without_reading_it(tmp_path):
    big = b'{"resourceType":"Observation","id":"big","note":[{"text":"' + b"x" * (3 * 1024 * 1024) + b'"}]}\n'
    data = line(OBSERVATION) + big + line(OBSERVATION).replace(b'"o1"', b'"o3"')
    report = scan_file(tmp_path, data, max_line_bytes=64 * 1024)
    assert codes(report)["line_too_long"] == [2]
    assert report.lines == 3 and report.resources == 2
    assert report.sha256 == __import__("hashlib").sha256(data).hexdigest()


@pytest.mark.slow
def test_two_gigabyte_single_line_in_bounded_memory(tmp_path):
    """A sparse 2 GiB file with no newline: reported as one over-long line, RSS stays small.

    The peak is read from ``VmHWM`` (this process's own address space): ``ru_maxrss`` survives ``exec``
    on Linux, so a child of a large pytest process would report the parent's peak.
    """
    path = tmp_path / "Huge.ndjson"
    with open(path, "wb") as handle:
        handle.write(b'{"resourceType":"Binary","id":"x","data":"')
        handle.truncate(2 * 1024**3 + 5)
    code = f"""
import json
from harness_plugins.portability.scan import scan_task, Task, ScanOptions
r = scan_task(Task(index=0, path={str(path)!r}, name="Huge.ndjson", spill_dir={str(tmp_path)!r}, partitions=1,
                   options=ScanOptions(validate=False)))
print(json.dumps({{"codes": sorted(r.problem_counts), "lines": r.lines,
                   "rss_mb": next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    result = json.loads(out.stdout)
    assert result["codes"] == ["line_too_long"] and result["lines"] == 1
    assert result["rss_mb"] < 200, result


def test_references_resolve_and_dangling_ones_have_file_and_line(tmp_path):
    folder = write_export(tmp_path / "export", {
        **small_export(),
        "fhir/Condition.ndjson": [{"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}},
                                  {"resourceType": "Condition", "id": "c2", "subject": {"reference": "Patient/ghost"},
                                   "asserter": {"reference": "#missing"}},
                                  {"resourceType": "Condition", "id": "c3",
                                   "subject": {"reference": "https://other.example/fhir/Patient/p1"}}],
    })
    source = analyze_folder(tmp_path, folder, options=ScanOptions(validate=False))
    assert source.dangling_total == 1
    (dangling,) = source.dangling
    assert (dangling.file, dangling.line, dangling.ref, dangling.owner) == ("fhir/Condition.ndjson", 2, "Patient/ghost",
                                                                            "Condition/c2")
    assert source.ref_kinds["external"] == 1
    scan = source.scans["fhir/Condition.ndjson"]
    assert scan.problem_counts["dangling_contained"] == 1


def test_partitioned_resolution_equals_single_partition(tmp_path):
    """Large exports spill keys and references into several partitions: the verdict must not change."""
    rng = random.Random(3)
    observations = [dict(OBSERVATION, id=f"o{i}", subject={"reference": f"Patient/p{rng.randrange(1, 60)}"},
                         encounter={"reference": "Encounter/e1/_history/2"}) for i in range(400)]
    patients = [dict(PATIENT, id=f"p{i}") for i in range(1, 41)]
    folder = write_export(tmp_path / "export", {**small_export(), "fhir/Observation.ndjson": observations,
                                                "fhir/Patient.ndjson": patients})
    one = analyze_folder(tmp_path / "one", folder, options=ScanOptions(validate=False))
    many = analyze_folder(tmp_path / "many", folder, options=ScanOptions(validate=False), partition_bytes=4096)
    spilled = {p.stem.rsplit("-", 1)[1] for p in (tmp_path / "many" / "work" / "spill-archive").glob("refs-*.tsv")}
    assert len(spilled) > 1, spilled
    assert one.dangling_total == many.dangling_total > 0
    key = lambda d: (d.file, d.line, d.ref)  # noqa: E731
    assert sorted(map(key, one.dangling)) == sorted(map(key, many.dangling))
    assert one.refs_total == many.refs_total == 400 * 2 + 2  # + the Encounter's subject and participant


def test_chunked_scan_equals_whole_file_scan_and_pool_equals_inline(tmp_path):
    rng = random.Random(7)
    rows = []
    for i in range(6000):
        obs = dict(OBSERVATION, id=f"o{i}", subject={"reference": f"Patient/p{rng.randrange(50)}"})
        rows.append(line(obs))
    rows[1234] = rows[1234][:40] + b"\n"
    rows[4321] = b"\x00" + rows[4321]
    folder = tmp_path / "export"
    (folder / "fhir").mkdir(parents=True)
    (folder / "fhir" / "Observation.ndjson").write_bytes(b"".join(rows))
    whole = analyze_folder(tmp_path / "a", folder, options=ScanOptions(validate=False), workers=1)
    chunked = analyze_folder(tmp_path / "b", folder, options=ScanOptions(validate=False), workers=2,
                             chunk_bytes=200_000, inline_bytes=0)
    a, b = whole.scans["fhir/Observation.ndjson"], chunked.scans["fhir/Observation.ndjson"]
    assert (a.lines, a.resources, a.bad_lines, dict(a.types)) == (b.lines, b.resources, b.bad_lines, dict(b.types))
    assert [(p.line, p.code) for p in a.problems] == [(p.line, p.code) for p in b.problems] == [(1235, "truncated"),
                                                                                                  (4322, "nul_byte")]
    assert whole.dangling_total == chunked.dangling_total == 2 * 5998  # subject and encounter
    assert whole.file("fhir/Observation.ndjson").sha256 == chunked.file("fhir/Observation.ndjson").sha256


def test_split_ranges_across_read_blocks(tmp_path):
    rng = random.Random(3)
    data = b"".join(b"y" * rng.randrange(0, 5000) + b"\n" for _ in range(3000))
    path = tmp_path / "f.ndjson"
    path.write_bytes(data)
    ranges, digest = split_ranges(path, 700_000)
    assert len(ranges) > 5 and ranges[0][0] == 0 and ranges[-1][1] == len(data)
    for (s1, e1, _), (s2, _, line2) in zip(ranges, ranges[1:]):
        assert e1 == s2 and data[s2 - 1:s2] == b"\n" and data[:s2].count(b"\n") + 1 == line2


def test_validator_findings_are_reported(tmp_path):
    bad = dict(OBSERVATION, status="finished-ish", unknownElement=1)
    report = scan_file(tmp_path, line(OBSERVATION) + line(bad))
    if report.validator != "ok":
        pytest.skip(report.validator)
    assert codes(report).get("invalid") == [2]
    assert report.bad_lines == 1
    assert any(sev == "error" for sev, _ in report.issue_counts)


def test_json_nested_beyond_the_recursion_limit_is_reported_and_scanning_goes_on(tmp_path):
    """orjson parses 1,024 levels, Python walks recurse about 1,000: such a line is a problem, not a crash."""
    deep = (b'{"resourceType":"Observation","id":"deep","status":"final","code":{"text":"x"},'
            b'"valueAttachment":{"contentType":"text/plain","url":"u"},"note":' + b"[" * 1020 + b"]" * 1020 + b"}")
    deeper = b'{"resourceType":"Observation","id":"deeper","note":' + b"[" * 1030 + b"]" * 1030 + b"}"
    report = scan_file(tmp_path, deep + b"\n" + deeper + b"\n" + line(OBSERVATION))
    assert report.fatal is None
    assert codes(report)["too_deep"] == [1] and codes(report)["json_syntax"] == [2]
    assert report.lines == 3 and report.bad_lines == 2 and report.types["Observation"] == 2


def test_fr_core_claims_and_ins_keys_are_validated(tmp_path):
    """Issue 7: R4 + FR Core where claimed: a resource is held to the FR Core profile its meta.profile names,
    and an INS-NIR's key is checked; each problem is reported on its own line."""
    fr = "http://hl7.fr/ig/fhir/core/StructureDefinition/"
    wrong_claim = dict(PATIENT, id="p2", meta={"profile": [fr + "fr-core-organization"]})
    bad_key = dict(PATIENT, id="p3", identifier=[dict(PATIENT["identifier"][0], value="270037512345600")])
    path = tmp_path / "Patient.ndjson"
    path.write_bytes(line(PATIENT) + line(wrong_claim) + line(bad_key))
    (tmp_path / "spill").mkdir()
    report = scan_task(Task(index=0, path=str(path), name="Patient.ndjson", spill_dir=str(tmp_path / "spill"),
                            partitions=1, options=ScanOptions(), expected_type="Patient"))
    if report.validator != "ok":
        pytest.skip(report.validator)
    assert codes(report).get("invalid") == [2, 3], [(p.line, p.message) for p in report.problems]
    messages = {p.line: p.message for p in report.problems if p.code == "invalid"}
    assert "Organization" in messages[2] and "identifier" in messages[3]
    assert report.resources == 3 and report.bad_lines == 2


def test_cda_documents_go_to_the_dmp_validator_once_each_and_up_to_the_cap(tmp_path):
    """Identical documents are validated once (archive and $export share them); past max_dmp_documents the
    rest are not handed over, and the source says so."""
    from harness_plugins.portability.demo_data import Dataset

    cdas = [d for d in Dataset().documents.values() if d.startswith(b"<?xml")][:2]
    folder = write_export(tmp_path / "export", {"docs/a.xml": cdas[0], "docs/a-copy.xml": cdas[0],
                                                "docs/b.xml": cdas[1]})
    calls = []

    def fake(data: bytes, name: str):
        calls.append(name)
        return [{"status": "fail", "message": "xsd: boom", "message_id": "dmp.xsd"}]

    source = analyze_folder(tmp_path, folder, cda_validator=fake, cda_validator_state="ok", max_dmp_documents=1)
    handed = {d.name: d.dmp for d in source.documents}
    assert calls == ["docs/a-copy.xml"]
    verdict = [{"status": "fail", "message": "xsd: boom", "message_id": "dmp.xsd"}]
    assert handed["docs/a.xml"] == handed["docs/a-copy.xml"] == verdict
    assert handed["docs/b.xml"] is None
    assert source.dmp_state == "1 CDA documents not handed to the DMP validators: more than max_dmp_documents = 1"


def test_binary_documents_are_extracted_to_the_spill_folder(tmp_path):
    import base64

    pdf = b"%PDF-1.4\n%%EOF\n"
    binary = {"resourceType": "Binary", "id": "b1", "contentType": "application/pdf",
              "data": base64.b64encode(pdf).decode()}
    report = scan_file(tmp_path, line(binary), name="Binary.ndjson")
    (info,) = report.binaries
    assert info.size == len(pdf) and info.doc_path and Path(info.doc_path).read_bytes() == pdf
    assert Path(info.doc_path).is_relative_to(tmp_path / "spill")


@pytest.mark.parametrize("ref, kind, key", [
    ("Patient/123", "relative", "Patient/123"),
    ("Patient/123/_history/2", "relative", "Patient/123"),
    ("#c1", "contained", "c1"),
    ("urn:uuid:0b4b2a0e-4d3d-4b7b-8d8c-0f0f0f0f0f0f", "urn", "urn:uuid:0b4b2a0e-4d3d-4b7b-8d8c-0f0f0f0f0f0f"),
    ("https://srv.example/fhir/Patient/9", "relative", "Patient/9"),
    ("https://other.example/fhir/Patient/9", "external", "https://other.example/fhir/Patient/9"),
    ("patient 12", "invalid", "patient 12"),
])
def test_classify_reference(ref, kind, key):
    assert classify_reference(ref, ("https://srv.example/fhir",)) == (kind, key)


@pytest.mark.parametrize("url, base", [
    ("http://h/fhir/$export", "http://h/fhir"),
    ("http://h/fhir/Patient/$export?_type=Patient", "http://h/fhir"),
    ("http://h/fhir/Group/abc/$export", "http://h/fhir"),
])
def test_fhir_base(url, base):
    assert fhir_base(url) == base


def test_gzipped_ndjson_is_read_and_a_gzip_bomb_stopped(tmp_path):
    import gzip

    folder = tmp_path / "export"
    (folder / "fhir").mkdir(parents=True)
    (folder / "fhir" / "Observation.ndjson.gz").write_bytes(gzip.compress(line(OBSERVATION) * 3))
    bomb_line = b'{"resourceType":"Observation","id":"x","note":[{"text":"' + b"a" * 1000 + b'"}]}\n'
    (folder / "fhir" / "Patient.ndjson.gz").write_bytes(gzip.compress(bomb_line * 40_000))
    source = analyze_folder(tmp_path, folder, options=ScanOptions(validate=False, max_gzip_ratio=5))
    assert source.scans["fhir/Observation.ndjson.gz"].resources == 3
    stored = (folder / "fhir" / "Observation.ndjson.gz").read_bytes()
    assert source.sha("fhir/Observation.ndjson.gz") == __import__("hashlib").sha256(stored).hexdigest()
    bomb = source.scans["fhir/Patient.ndjson.gz"]
    assert bomb.problem_counts["gzip_bomb"] == 1 and bomb.lines < 40_000
