"""Write ``tests/fixtures/checks/portability.<check>/{pass,fail}/``: one profile per check on which it passes, one
on which it fails (``python tests/portability/make_check_fixtures.py``; deterministic).

Each case folder holds ``vendor.toml`` (a profile with a ``[targets.export]`` section), ``expected.json``
(``{"check": id, "status": "pass"|"fail", "demo": null|"good"|"poor"}``) and its small export. Cases with a
``demo`` are audited while that demo vendor is served (its ``$export`` endpoint), with ``HARNESS_DEMO_URL`` set.
"""

from __future__ import annotations

import base64
import codecs
import io
import json
import shutil
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "plugins"), str(ROOT)]

from portability_support import ENCOUNTER, OBSERVATION, PATIENT, PRACTITIONER, line  # noqa: E402
from harness_plugins.portability.demo_data import Dataset, csv_patients, make_pdf, sha1_b64  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "checks"
SUBJECT = '[subject]\nvendor = "Fixture"\nproduct = "{check} {case}"\n\n'
BASE = [PATIENT, PRACTITIONER, ENCOUNTER, OBSERVATION]


def nd(*resources) -> bytes:
    return b"".join(line(r) for r in resources)


def fhir_files(resources=BASE) -> dict[str, bytes]:
    by_type: dict[str, list] = {}
    for r in resources:
        by_type.setdefault(r["resourceType"], []).append(r)
    return {f"export/fhir/{t}.ndjson": nd(*rs) for t, rs in by_type.items()}


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 6, 11, 12, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def archive_case(files: dict[str, bytes], extra: str = "", path: str = "export") -> dict:
    return {"files": files, "profile": f'[targets.export]\npath = "{path}"\n{extra}'}


def bulk_case(extra: str = "", demo: str = "good") -> dict:
    return {"files": {}, "demo": demo,
            "profile": '[targets.export]\nbulk_url = "${HARNESS_DEMO_URL}/bulk/fhir/$export"\n'
                       'min_poll_interval = 0.05\nmax_retry_after = 1\n' + extra}


def cases() -> dict[str, dict[str, dict]]:
    ds = Dataset()
    cda_doc = next(d for d in ds.by_type["DocumentReference"] if d["content"][0]["attachment"]["contentType"] == "application/xml")
    cda = ds.documents[cda_doc["content"][0]["attachment"]["url"].split("/")[1]]
    pdf = b"%PDF-1.4 placeholder"
    binary = {"resourceType": "Binary", "id": "b1", "contentType": "text/plain", "data": base64.b64encode(b"hello").decode()}
    docref = {"resourceType": "DocumentReference", "id": "d1", "status": "current", "subject": {"reference": "Patient/p1"},
              "content": [{"attachment": {"contentType": "text/plain", "url": "Binary/b1", "size": 5,
                                          "hash": sha1_b64(b"hello")}}]}
    bad_docref = json.loads(json.dumps(docref))
    bad_docref["content"][0]["attachment"]["hash"] = sha1_b64(b"hello, world")
    no_ins = json.loads(json.dumps(PATIENT))
    no_ins["identifier"] = []
    manifest = {"transactionTime": "2024-06-11T12:00:00Z", "request": "export://full", "requiresAccessToken": False,
                "output": [{"type": t["resourceType"], "url": f"fhir/{t['resourceType']}.ndjson", "count": 1} for t in BASE],
                "error": []}
    lying = json.loads(json.dumps(manifest))
    lying["output"][3]["count"] = 12
    no_probe = "probe_cancel = false\nprobe_params = false\n"
    del pdf
    return {
        "portability.archive.safe": {
            "pass": archive_case({"export.zip": zip_bytes({"fhir/Patient.ndjson": nd(PATIENT)})}, path="export.zip"),
            "fail": archive_case({"export.zip": zip_bytes({"fhir/Patient.ndjson": nd(PATIENT), "../../evil.txt": b"x"})},
                                 path="export.zip"),
        },
        "portability.formats.open": {
            "pass": archive_case({**fhir_files(), "export/README.txt": "Export FHIR R4 NDJSON.\n".encode()}),
            "fail": archive_case({**fhir_files(), "export/data/dump.dat": bytes(range(256)) * 8}),
        },
        "portability.formats.csv": {
            "pass": archive_case({**fhir_files(), "export/patients.csv": codecs.BOM_UTF8 + csv_patients(ds)[:400].rsplit(b"\r\n", 1)[0] + b"\r\n"}),
            "fail": archive_case({**fhir_files(), "export/patients.csv": csv_patients(ds, encoding="cp1252")[:400].rsplit(b"\r\n", 1)[0] + b"\r\n"}),
        },
        "portability.formats.pdfa": {
            "pass": archive_case({**fhir_files(), "export/documents/cr.pdf": make_pdf("Compte rendu", "cr")}),
            "fail": archive_case({**fhir_files(), "export/documents/cr.pdf": make_pdf("Compte rendu", "cr", pdfa=False)}),
        },
        "portability.ndjson.valid": {
            "pass": archive_case(fhir_files()),
            "fail": archive_case({**fhir_files(), "export/fhir/Observation.ndjson": nd(OBSERVATION) + nd(OBSERVATION)[:70]}),
        },
        "portability.completeness.types": {
            "pass": archive_case(fhir_files(), "expected_counts = { Patient = 1, Observation = 1 }\n"),
            "fail": archive_case(fhir_files(), "expected_counts = { Patient = 1, Immunization = 3 }\n"),
        },
        "portability.completeness.records": {
            "pass": {**archive_case(fhir_files(), 'known_records = "known.ndjson"\n'), "known": nd(PATIENT)},
            "fail": {**archive_case(fhir_files([no_ins, PRACTITIONER, ENCOUNTER, OBSERVATION]),
                                    'known_records = "known.ndjson"\n'), "known": nd(PATIENT)},
        },
        "portability.references.resolve": {
            "pass": archive_case(fhir_files()),
            "fail": archive_case(fhir_files([PATIENT, ENCOUNTER, OBSERVATION])),  # Practitioner/dr1 left out
        },
        "portability.attachments.integrity": {
            "pass": archive_case(fhir_files(BASE + [binary, docref])),
            "fail": archive_case(fhir_files(BASE + [binary, bad_docref])),
        },
        "portability.documents.cda": {
            "pass": archive_case({**fhir_files(), "export/documents/cr.xml": cda}),
            "fail": archive_case({**fhir_files(), "export/documents/cr.xml": cda[: len(cda) * 2 // 3]}),
        },
        "portability.manifest.honest": {
            "pass": archive_case({**fhir_files(), "export/manifest.json": json.dumps(manifest, indent=1).encode()}),
            "fail": archive_case({**fhir_files(), "export/manifest.json": json.dumps(lying, indent=1).encode()}),
        },
        "portability.bulk.kickoff": {
            "pass": bulk_case(no_probe),
            "fail": bulk_case(no_probe + 'bulk_levels = ["${HARNESS_DEMO_URL}/bulk/fhir/Patient/$export"]\n', "poor"),
        },
        "portability.bulk.status": {
            "pass": bulk_case(no_probe),
            "fail": bulk_case(no_probe + "deadline = 1.5\n"
                              'bulk_levels = ["${HARNESS_DEMO_URL}/bulk/fhir/Group/cabinet/$export"]\n', "poor"),
        },
        "portability.bulk.manifest": {"pass": bulk_case(no_probe), "fail": bulk_case(no_probe, "poor")},
        "portability.bulk.download": {"pass": bulk_case(no_probe), "fail": bulk_case(no_probe, "poor")},
        "portability.bulk.cancel": {"pass": bulk_case("probe_params = false\n"),
                                    "fail": bulk_case("probe_params = false\n", "poor")},
        "portability.bulk.params": {"pass": bulk_case("probe_cancel = false\n"),
                                    "fail": bulk_case("probe_cancel = false\n", "poor")},
    }


def main() -> int:
    for check_id, variants in cases().items():
        for case, spec in variants.items():
            folder = OUT / check_id / case
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            for name, data in spec["files"].items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            if "known" in spec:
                (folder / "known.ndjson").write_bytes(spec["known"])
            (folder / "vendor.toml").write_text(SUBJECT.format(check=check_id, case=case) + spec["profile"],
                                                encoding="utf-8")
            expected = {"check": check_id, "status": case, "demo": spec.get("demo")}
            (folder / "expected.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    total = sum(f.stat().st_size for f in OUT.glob("portability.*/**/*") if f.is_file())
    print(f"wrote {len(cases()) * 2} cases under {OUT} ({total:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
