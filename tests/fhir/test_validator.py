"""The shared FHIR validator: official examples, seeded defects, primitives, bindings, FR Core."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

from harness_plugins.fhir.defects import (BAD_KEY_NIR, DEFECT_KINDS, SYSTEM_INS_NIR, SYSTEM_RPPS, VALID_NIR,
                                          VALID_RPPS, BAD_RPPS, generate, load_examples, seed_defect)
from harness_plugins.fhir.packs import dev_pack_path
from harness_plugins.fhir.validator import Issue, default_validator

PACK = dev_pack_path()
pytestmark = pytest.mark.skipif(PACK is None, reason="../shared/fhir is not available")

FR = "http://hl7.fr/ig/fhir/core/StructureDefinition/"

# Official examples known to fail, with the reason (none at present).
KNOWN_EXCEPTIONS: dict[str, str] = {}


@pytest.fixture(scope="module")
def v():
    return default_validator()


@pytest.fixture(scope="module")
def examples():
    return load_examples(PACK / "r4-examples")


def errors(issues):
    return [i for i in issues if i.severity == "error"]


def codes(issues):
    return {i.code for i in errors(issues)}


def test_interface(v):
    assert v is default_validator()
    issues = v.validate({"resourceType": "Patient", "gender": "male"})
    assert issues == []
    records = v.rule_packs()
    assert records and {"name", "version", "sha256"} <= set(records[0])
    issue = Issue("error", "value", "Patient.x", "m")
    with pytest.raises(Exception):
        issue.severity = "warning"  # frozen


@pytest.mark.parametrize("path", sorted((dev_pack_path() or Path(".")).glob("r4-examples/*.json")),
                         ids=lambda p: p.name)
def test_official_examples_have_no_errors(v, path):
    issues = v.validate_json(path.read_bytes())
    if path.name in KNOWN_EXCEPTIONS:
        pytest.skip(KNOWN_EXCEPTIONS[path.name])
    assert errors(issues) == []
    assert [i for i in issues if i.severity == "warning"] == []


def test_invalid_json(v):
    for line in (b'{"resourceType": "Patient"', "not json", b"\xff\xfe", b""):
        issues = v.validate_json(line)
        assert len(issues) == 1 and issues[0].code == "invalid-json"
    assert v.validate_json('{"resourceType":"Patient","id":"a"}') == []


def test_not_an_object_and_unknown_type(v):
    assert codes(v.validate([])) == {"structure"}
    assert codes(v.validate({"id": "x"})) == {"structure"}
    issues = v.validate({"resourceType": "Patientt"})
    assert issues[0].code == "structure" and "unknown resourceType" in issues[0].message


@pytest.mark.parametrize("kind", sorted(DEFECT_KINDS))
def test_each_seeded_defect_kind_is_detected(v, examples, kind):
    rng = random.Random(7)
    seeded = 0
    for example in examples:
        bad = seed_defect(example, kind, v, rng)
        if bad is None:
            continue
        seeded += 1
        issues = v.validate(bad)
        assert any(i.code in DEFECT_KINDS[kind] for i in errors(issues)), (kind, example["id"], issues)
    assert seeded > 0


def test_generated_stream_detection_and_no_false_positive(v, examples):
    detected = seeded = false_pos = 0
    for kind, res in generate(examples, 1500, v, defect_rate=0.3, seed=3):
        errs = errors(v.validate(res))
        if kind is None:
            false_pos += bool(errs)
        else:
            seeded += 1
            detected += bool(errs)
    assert seeded > 300
    assert detected == seeded
    assert false_pos == 0


def test_structure_paths(v):
    p = {"resourceType": "Patient", "identifier": [{"system": "http://x", "valu": "1"}],
         "name": [{"family": "Durand", "given": ["Jean", 5]}], "foo": 1}
    issues = errors(v.validate(p))
    paths = {(i.code, i.path) for i in issues}
    assert ("structure", "Patient.identifier[0].valu") in paths
    assert ("value", "Patient.name[0].given[1]") in paths
    assert ("structure", "Patient.foo") in paths


def test_choice_types_and_primitive_extensions(v):
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "valueString": "a", "_valueString": {"extension": [{"url": "http://e", "valueCode": "c"}]}}
    assert errors(v.validate(obs)) == []
    two = dict(obs, valueBoolean=True)
    assert any("choice" in i.message for i in errors(v.validate(two)))
    wrong = dict(obs, valueStrin="a")
    assert codes(v.validate(wrong)) == {"structure"}
    # status carried only by its extension satisfies the minimum cardinality
    only_ext = {"resourceType": "Observation", "_status": {"extension": [{"url": "http://e", "valueCode": "x"}]},
                "code": {"text": "x"}}
    assert errors(v.validate(only_ext)) == []
    # primitive arrays with null + _given alignment
    pat = {"resourceType": "Patient", "name": [{"given": ["A", None], "_given": [None, {"id": "g2"}]}]}
    assert errors(v.validate(pat)) == []
    pat["name"][0]["_given"] = [None]
    assert codes(v.validate(pat)) == {"structure"}


def test_cardinality(v):
    obs = {"resourceType": "Observation", "code": {"text": "x"}}
    issues = errors(v.validate(obs))
    assert [(i.code, i.path) for i in issues] == [("required", "Observation.status")]
    obs = {"resourceType": "Observation", "status": ["final"], "code": {"text": "x"}}
    assert codes(v.validate(obs)) == {"structure"}
    pat = {"resourceType": "Patient", "name": {"family": "x"}}
    assert codes(v.validate(pat)) == {"structure"}
    pat = {"resourceType": "Patient", "name": []}
    assert codes(v.validate(pat)) == {"structure"}
    pat = {"resourceType": "Patient", "link": [{"type": "seealso"}]}
    assert [(i.code, i.path) for i in errors(v.validate(pat))] == [("required", "Patient.link[0].other")]


@pytest.mark.parametrize("ptype,good,bad", [
    ("date", ["2020", "2020-02", "2020-02-29", "2021-12-31"], ["2021-02-29", "2020-13", "20-01-01", "2020-1-1", 2020]),
    ("dateTime", ["2020-01-01T10:00:00Z", "2020-01-01T10:00:00.123+01:00", "2020"],
     ["2020-01-01T10:00:00", "2020-01-01T25:00:00Z", "2020-01-01 10:00:00Z"]),
    ("instant", ["2020-01-01T10:00:00Z"], ["2020-01-01", "2020-01-01T10:00Z"]),
    ("id", ["a-b.c", "A" * 64], ["a_b", "A" * 65, ""]),
    ("code", ["final", "a b"], ["a  b", " a", ""]),
    ("uri", ["http://x/y", "urn:oid:1.2"], ["http://x y", 5]),
    ("boolean", [True, False], ["true", 1]),
    ("integer", [0, -5, 2147483647], [1.5, "1", 2147483648, True]),
    ("positiveInt", [1], [0, -1]),
    ("unsignedInt", [0, 3], [-1]),
    ("decimal", [1, 1.5, -0.001], ["1.5", True]),
    ("string", ["ok", "caf\u00e9\u00a0!", "a\nb"], ["", "a\u0001b", 5]),
    ("time", ["10:00:00", "23:59:59.5"], ["24:00:00", "10:00"]),
    ("uuid", ["urn:uuid:c757873d-ec9a-4326-a141-556f43239520"], ["c757873d-ec9a-4326-a141-556f43239520"]),
    ("oid", ["urn:oid:1.2.250.1"], ["1.2.250.1", "urn:oid:1.02"]),
    ("base64Binary", ["aGVsbG8="], ["not base64!"]),
])
def test_primitives(v, ptype, good, bad):
    check = v._checkers[ptype]
    for value in good:
        assert check(value) is None, (ptype, value)
    for value in bad:
        assert check(value) is not None, (ptype, value)


def test_required_bindings(v):
    pat = {"resourceType": "Patient", "gender": "man"}
    issues = errors(v.validate(pat))
    assert [(i.code, i.path) for i in issues] == [("code-invalid", "Patient.gender")]
    cond = {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "active"}]}}
    assert errors(v.validate(cond)) == []
    bad = copy.deepcopy(cond)
    bad["clinicalStatus"]["coding"][0]["code"] = "ongoing"
    assert [(i.code, i.path) for i in errors(v.validate(bad))] == [("code-invalid", "Condition.clinicalStatus")]
    # a coding from another system plus the right one is fine
    multi = copy.deepcopy(cond)
    multi["clinicalStatus"]["coding"].insert(0, {"system": "http://snomed.info/sct", "code": "55561003"})
    assert errors(v.validate(multi)) == []


@pytest.mark.parametrize("rtype", ["CarePlan", "Coverage", "Immunization", "MedicationRequest",
                                   "MedicationStatement", "Procedure", "Observation", "Encounter"])
def test_status_required_binding_from_snapshots(v, examples, rtype):
    """Some required code bindings are not enums in the JSON schema; the snapshots supply them."""
    example = next(e for e in examples if e["resourceType"] == rtype and "status" in e)
    bad = dict(example, status="finished-ish")
    assert [(i.code, i.path) for i in errors(v.validate(bad))] == [("code-invalid", f"{rtype}.status")]


def test_code_system_not_in_pack_is_never_an_error(v):
    # Binary.contentType / Attachment.contentType are bound to BCP-13 mime types (external)
    binary = {"resourceType": "Binary", "contentType": "application/x-whatever"}
    assert errors(v.validate(binary)) == []
    # a required binding whose value set includes a system absent from the pack -> information
    vs = next(vs for vs in v._valuesets.values() if any(c is None for c in vs.systems.values()))
    from harness_plugins.fhir.validator import _binding
    out = []
    system = next(s for s, c in vs.systems.items() if c is None)
    _binding({"coding": [{"system": system, "code": "anything"}]}, (vs, True), "X.code", out)
    assert [(i.severity, i.code) for i in out] == [("warning", "not-supported")]


def test_invariants(v):
    ext_both = {"resourceType": "Patient", "extension": [{"url": "http://e", "valueString": "a",
                                                         "extension": [{"url": "x", "valueString": "b"}]}]}
    assert codes(v.validate(ext_both)) == {"invariant"}
    ext_none = {"resourceType": "Patient", "extension": [{"url": "http://e"}]}
    assert codes(v.validate(ext_none)) == {"invariant"}
    period = {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
              "period": {"start": "2020-02-01", "end": "2020-01-01"}}
    assert codes(v.validate(period)) == {"invariant"}
    contact = {"resourceType": "Patient", "contact": [{"gender": "male"}]}
    assert codes(v.validate(contact)) == {"invariant"}
    nested = {"resourceType": "Patient", "contained": [{"resourceType": "Patient", "contained": [
        {"resourceType": "Patient"}]}]}
    assert "invariant" in codes(v.validate(nested))
    bundle = {"resourceType": "Bundle", "type": "collection", "total": 3}
    assert codes(v.validate(bundle)) == {"invariant"}


def test_nested_resources_are_validated(v):
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"fullUrl": "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
                         "resource": {"resourceType": "Patient", "birthDate": "1990-02-30"}}]}
    issues = errors(v.validate(bundle))
    assert [(i.code, i.path) for i in issues] == [("value", "Bundle.entry[0].resource.birthDate")]


# ---- French identifiers and FR Core -------------------------------------------------------

def fr_patient(**extra):
    patient = {
        "resourceType": "Patient",
        "meta": {"profile": [FR + "fr-core-patient"]},
        "extension": [{"url": FR + "fr-core-ident-reliability",
                       "extension": [{"url": "identityStatus", "valueCoding": {"code": "VALI"}}]}],
        "identifier": [{"use": "official",
                        "type": {"coding": [{"system": "http://interopsante.org/CodeSystem/fr-core-v2-0203",
                                             "code": "INS-NIR"}]},
                        "system": SYSTEM_INS_NIR, "value": VALID_NIR}],
        "name": [{"use": "official", "family": "Durand", "given": ["Jean"]}],
        "gender": "male",
        "birthDate": "1955-08-14",
    }
    patient.update(extra)
    return patient


def test_fr_core_patient_valid(v):
    assert errors(v.validate(fr_patient())) == []


def test_ins_nir_key(v):
    bad = fr_patient()
    bad["identifier"][0]["value"] = BAD_KEY_NIR
    issues = errors(v.validate(bad))
    assert [(i.code, i.path) for i in issues] == [("value", "Patient.identifier[0].value")]
    assert "key" in issues[0].message
    # the NIR system is checked even without an FR Core claim
    plain = {"resourceType": "Patient", "identifier": [{"system": SYSTEM_INS_NIR, "value": "12345"}]}
    assert codes(v.validate(plain)) == {"value"}
    corsica = {"resourceType": "Patient", "identifier": [{"system": SYSTEM_INS_NIR, "value": "155082A00000111"}]}
    assert codes(v.validate(corsica)) == {"value"}


def test_fr_core_patient_profile_constraints(v):
    missing = fr_patient()
    del missing["birthDate"]
    del missing["extension"]
    issues = errors(v.validate(missing))
    assert {(i.code, i.path) for i in issues} == {("required", "Patient.birthDate"), ("required", "Patient.extension")}
    # the same resource without the FR Core claim is plain valid R4
    plain = copy.deepcopy(missing)
    del plain["meta"]
    assert errors(v.validate(plain)) == []
    wrong_type = fr_patient(meta={"profile": [FR + "fr-core-practitioner"]})
    assert codes(v.validate(wrong_type)) == {"invariant"}
    unknown = fr_patient(meta={"profile": [FR + "fr-core-nothing"]})
    assert [i.severity for i in v.validate(unknown)] == ["warning"]


def test_rpps(v):
    good = {"resourceType": "Practitioner", "meta": {"profile": [FR + "fr-core-practitioner"]},
            "identifier": [{"system": SYSTEM_RPPS, "value": "8" + VALID_RPPS}]}
    assert errors(v.validate(good)) == []
    bad = copy.deepcopy(good)
    bad["identifier"][0]["value"] = "8" + BAD_RPPS
    issues = errors(v.validate(bad))
    assert [(i.code, i.path) for i in issues] == [("value", "Practitioner.identifier[0].value")]
    assert "Luhn" in issues[0].message
    adeli = copy.deepcopy(good)
    adeli["identifier"][0]["value"] = "0123456789"
    assert errors(v.validate(adeli)) == []


def test_never_crashes_on_odd_input(v, examples):
    rng = random.Random(11)
    weird = [None, [], {}, "", 0, 1.5, True, [None], [[]], {"a": []}, "\u0000", 10 ** 30, {"system": []}]

    def mutate(node, depth=0):
        if isinstance(node, dict) and node:
            k = rng.choice(list(node))
            if rng.random() < 0.4 or depth > 6:
                node[k] = copy.deepcopy(rng.choice(weird))
            else:
                mutate(node[k], depth + 1)
        elif isinstance(node, list) and node:
            i = rng.randrange(len(node))
            if rng.random() < 0.4 or depth > 6:
                node[i] = copy.deepcopy(rng.choice(weird))
            else:
                mutate(node[i], depth + 1)

    for n in range(600):
        res = copy.deepcopy(examples[n % len(examples)])
        for _ in range(3):
            mutate(res)
        issues = v.validate(res)
        assert all(isinstance(i, Issue) for i in issues)
        assert not [i for i in issues if i.code == "exception"], issues


def test_compiled_cache_roundtrip(v, tmp_path, monkeypatch):
    from harness_plugins.fhir.validator import FhirValidator, load_compiled
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    data = load_compiled(v.pack)
    assert list((tmp_path / "derived").rglob("compiled-*.pickle"))
    again = load_compiled(v.pack)
    assert again["types"].keys() == data["types"].keys()
    fresh = FhirValidator(v.pack, again)
    assert fresh.validate({"resourceType": "Patient", "gender": "x"})[0].code == "code-invalid"


def test_pack_location(monkeypatch, tmp_path):
    from harness.rulepacks import RulePackError
    from harness_plugins.fhir.packs import locate_pack
    monkeypatch.setenv("HARNESS_FHIR_PACK", str(PACK))
    assert locate_pack().path == PACK.resolve()
    monkeypatch.setenv("HARNESS_FHIR_PACK", str(tmp_path / "nope"))
    with pytest.raises(RulePackError):
        locate_pack()


def test_fast_walker_matches_reference(v, examples):
    """The fast walker and the plain reference walker report exactly the same issues."""
    rng = random.Random(5)
    weird = [None, [], {}, "", 0, -1, 1.5, True, "x y", "2020-02-30", "urn:oid:1.2", [None], [[]], {"a": []},
             "\u0000", {"system": []}, ["a", None], [{"url": "u"}], "final"]

    def mutate(node, depth=0):
        if isinstance(node, dict) and node:
            k = rng.choice(list(node))
            r = rng.random()
            if r < 0.1:
                node["_" + k] = copy.deepcopy(rng.choice(weird))
            elif r < 0.45 or depth > 6:
                node[k] = copy.deepcopy(rng.choice(weird))
            else:
                mutate(node[k], depth + 1)
        elif isinstance(node, list) and node:
            i = rng.randrange(len(node))
            if rng.random() < 0.4 or depth > 6:
                node[i] = copy.deepcopy(rng.choice(weird))
            else:
                mutate(node[i], depth + 1)

    cases = [copy.deepcopy(e) for e in examples]
    for kind in DEFECT_KINDS:
        cases += [b for b in (seed_defect(e, kind, v, rng) for e in examples[:40]) if b is not None]
    for n in range(800):
        res = copy.deepcopy(examples[n % len(examples)])
        for _ in range(rng.randint(1, 4)):
            mutate(res)
        cases.append(res)
    differing = 0
    for res in cases:
        fast, ref = v.validate(res), v._validate_reference(res)
        assert fast == ref, (res.get("resourceType"), res.get("id"), fast, ref)
        differing += fast != []
    assert differing > 500


def test_fr_core_profile_from_snapshot_inherited_constraints(v):
    """fr-core-observation-bp inherits the HL7 vital-signs constraints (snapshot, not differential)."""
    bp = json.loads((PACK / "r4-examples" / "Observation-blood-pressure.json").read_bytes())
    bp["meta"] = {"profile": [FR + "fr-core-observation-bp"]}
    assert errors(v.validate(bp)) == []
    no_loinc = copy.deepcopy(bp)
    no_loinc["code"]["coding"] = [{"system": "http://snomed.info/sct", "code": "75367002"}]
    issues = errors(v.validate(no_loinc))
    assert [(i.code, i.path) for i in issues] == [("required", "Observation.code.coding")]
    assert "BPCode" in issues[0].message
    with_value = copy.deepcopy(bp)
    with_value["valueString"] = "120/80"
    assert [(i.code, i.path) for i in errors(v.validate(with_value))] == [("structure", "Observation.value")]
    one_component = copy.deepcopy(bp)
    one_component["component"] = one_component["component"][:1]
    paths = {(i.code, i.path) for i in errors(v.validate(one_component))}
    assert paths == {("required", "Observation.component")}
    no_category = copy.deepcopy(bp)
    del no_category["category"]
    assert {i.code for i in errors(v.validate(no_category))} == {"required"}
    # the same resource without the claim: plain R4, valid
    del no_loinc["meta"]
    assert errors(v.validate(no_loinc)) == []


def test_fr_core_nested_rules(v):
    patient = fr_patient(contact=[{"name": {"family": "Martin"}}])
    issues = errors(v.validate(patient))
    paths = {(i.code, i.path) for i in issues}
    assert ("required", "Patient.contact[0].relationship") in paths
    assert ("required", "Patient.contact[0].extension") in paths
    practitioner = {"resourceType": "Practitioner", "meta": {"profile": [FR + "fr-core-practitioner"]},
                    "identifier": [{"system": SYSTEM_RPPS}]}
    assert [(i.code, i.path) for i in errors(v.validate(practitioner))] == [
        ("required", "Practitioner.identifier[0].value")]


def test_inlined_walkers_match_reference(v, examples, monkeypatch):
    """Walkers generated with child types inlined (off by default) report the same issues too."""
    from harness_plugins.fhir import codegen
    from harness_plugins.fhir.validator import FhirValidator
    monkeypatch.setattr(codegen, "INLINE_DEPTH", 2)
    inlined = FhirValidator(v.pack, v._compiled)
    rng = random.Random(9)
    cases = [copy.deepcopy(e) for e in examples[::3]]
    for kind in DEFECT_KINDS:
        cases += [b for b in (seed_defect(e, kind, v, rng) for e in examples[::7]) if b is not None]
    for res in cases:
        assert inlined.validate(res) == v._validate_reference(res)


def test_not_a_pack(tmp_path):
    from harness.rulepacks import RulePackError, open_pack
    from harness_plugins.fhir.validator import FhirValidator
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(RulePackError, match="not a FHIR definitions pack"):
        FhirValidator(open_pack(tmp_path))


def test_installed_pack_is_found_and_recorded_with_its_version_and_hash(monkeypatch, tmp_path):
    """What users do: `harness rules install ../shared/fhir --name fhir-r4 --version …`, then audit."""
    from click.testing import CliRunner

    from harness.cli import cli
    from harness.rulepacks import tree_sha256
    from harness_plugins.fhir.packs import locate_pack

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HARNESS_FHIR_PACK", raising=False)
    done = CliRunner().invoke(cli, ["rules", "install", str(PACK), "--name", "fhir-r4",
                                    "--version", "4.0.1+fr-core-2.0.0"])
    assert done.exit_code == 0, done.output
    pack = locate_pack()
    assert pack.path.is_relative_to(tmp_path / "cache")
    record = pack.record()
    assert record["name"] == "fhir-r4" and record["version"] == "4.0.1+fr-core-2.0.0"
    assert record["sha256"] == tree_sha256(PACK)
