"""The demo vendors' FHIR data: a few dozen synthetic resources, byte-identical on every run.

``python -m harness_plugins.interop.demo_data`` (re)writes, for demo-good and demo-poor,
``fixtures/vendors/demo-<variant>/fhir/``:

- ``metadata.json``: the CapabilityStatement the server publishes;
- ``<Type>.ndjson``: Organizations (FINESS), Practitioners (RPPS), Patients (INS-NIR,
  FR Core Patient) and Observations (vital signs), one resource per line;
- demo-good only: ``smart/clients.json`` (the registered backend client and its
  public JWKS) and ``smart/demo-client-es384.pem``, the client's private key — a demo
  key derived from a fixed seed, not a secret.

demo-poor is the same data with realistic *data* defects (see :data:`POOR_DATA_DEFECTS`);
its *behaviour* defects are in ``behaviour.toml`` (hand-written, not generated).
``tests/interop/test_demo_data.py`` fails when the committed files differ from this output.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

from harness_plugins._common.identifiers import luhn_ok, nir_key

SEED = 20260115
LAST_UPDATED = "2026-01-15T09:30:00+01:00"
FR_CORE = "http://hl7.fr/ig/fhir/core/StructureDefinition/"
V2_0203 = "http://interopsante.org/CodeSystem/fr-core-v2-0203"
SYSTEM_INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
SYSTEM_RPPS = "urn:oid:1.2.250.1.71.4.2.1"
SYSTEM_FINESS = "urn:oid:1.2.250.1.71.4.2.2"
SYSTEM_IPP = "urn:oid:1.2.250.1.999.42.1"  # the demo software's own patient numbers
LOINC, UCUM = "http://loinc.org", "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
RELIABILITY_CS = "http://interopsante.org/fhir/CodeSystem/fr-v2-0445"
DEMO_CLIENT_ID = "lgc-harness-demo"
DEMO_KID = "demo-es384"

POOR_DATA_DEFECTS = {
    "nir_keys": "4 Patients carry an INS-NIR whose key is wrong",
    "rpps_luhn": "Practitioner/pract-3 carries an RPPS failing its Luhn key",
    "finess_luhn": "Organization/org-2 carries a FINESS failing its Luhn key",
    "gender_code": "Patient/pat-05 has gender 'M' (not in the required administrative-gender value set)",
    "birthdate": "Patient/pat-07 has birthDate '12/03/1980' (not a FHIR date)",
    "fr_core": "Patients claim fr-core-patient without the required identity-reliability extension",
    "observation_status": "Observation/obs-04 has no status (1..1)",
    "versioning": "no meta.versionId / lastUpdated anywhere",
}

FAMILIES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
            "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Roux"]
GIVEN_F = ["Camille", "Léa", "Manon", "Chloé", "Inès", "Jeanne", "Louise", "Hélène"]
GIVEN_M = ["Lucas", "Hugo", "Louis", "Jules", "Gabriel", "Étienne", "Arthur", "Noé"]
CITIES = [("Paris", "75011", "75"), ("Lyon", "69003", "69"), ("Marseille", "13005", "13"), ("Lille", "59000", "59"),
          ("Nantes", "44000", "44"), ("Bordeaux", "33000", "33")]
VITALS = [("29463-7", "Body weight", "kg", "kg", (50, 95)), ("8867-4", "Heart rate", "/min", "beats/minute", (55, 95)),
          ("8302-2", "Body height", "cm", "cm", (150, 190))]


def luhn_complete(digits: str) -> str:
    """``digits`` followed by the check digit that makes it Luhn-valid."""
    for check in "0123456789":
        if luhn_ok(digits + check):
            return digits + check
    raise AssertionError("unreachable")


def meta(profile: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"versionId": "1", "lastUpdated": LAST_UPDATED}
    if profile:
        data["profile"] = [FR_CORE + profile]
    return data


def organizations(rng: random.Random) -> list[dict[str, Any]]:
    rows = [("org-1", "Centre de santé des Lilas", "Paris", "75020", True),
            ("org-2", "Laboratoire de biologie Bio Sud", "Marseille", "13008", True),
            ("org-3", "Cabinet médical du Parc", "Lyon", "69006", False)]
    out = []
    for rid, name, city, postal, finess in rows:
        org: dict[str, Any] = {"resourceType": "Organization", "id": rid, "meta": meta("fr-core-organization"),
                               "active": True, "name": name,
                               "address": [{"use": "work", "line": [f"{rng.randint(1, 120)} rue de la République"],
                                            "city": city, "postalCode": postal, "country": "FRA"}]}
        if finess:
            value = luhn_complete(postal[:2] + "".join(rng.choice("0123456789") for _ in range(6)))
            org["identifier"] = [{"use": "official",
                                  "type": {"coding": [{"system": V2_0203, "code": "FINEG"}]},
                                  "system": SYSTEM_FINESS, "value": value}]
        out.append(org)
    return out


def practitioners(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for n in range(1, 6):
        female = n % 2 == 0
        rpps = luhn_complete("10" + "".join(rng.choice("0123456789") for _ in range(8)))
        out.append({
            "resourceType": "Practitioner", "id": f"pract-{n}", "meta": meta("fr-core-practitioner"),
            "identifier": [{"use": "official", "type": {"coding": [{"system": V2_0203, "code": "IDNPS"}]},
                            "system": SYSTEM_RPPS, "value": "8" + rpps}],
            "active": True,
            "name": [{"use": "official", "family": FAMILIES[-n], "given": [rng.choice(GIVEN_F if female else GIVEN_M)],
                      "prefix": ["Dr"]}],
            "gender": "female" if female else "male",
        })
    return out


def nir_for(female: bool, birth: str, dept: str, rng: random.Random) -> str:
    body = f"{2 if female else 1}{birth[2:4]}{birth[5:7]}{dept}{rng.randint(1, 999):03d}{rng.randint(1, 999):03d}"
    return body + f"{nir_key(body):02d}"


def patients(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for n in range(1, 13):
        female = n % 3 != 0
        birth = f"{rng.randint(1938, 2012)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        city, postal, dept = CITIES[n % len(CITIES)]
        family = FAMILIES[n - 1]
        given = rng.choice(GIVEN_F if female else GIVEN_M)
        out.append({
            "resourceType": "Patient", "id": f"pat-{n:02d}", "meta": meta("fr-core-patient"),
            "extension": [{"url": FR_CORE + "fr-core-ident-reliability",
                           "extension": [{"url": "identityReliability",
                                          "valueCoding": {"system": RELIABILITY_CS, "code": "VALI",
                                                          "display": "Identité validée"}}]}],
            "identifier": [
                {"use": "official", "type": {"coding": [{"system": V2_0203, "code": "INS-NIR", "display": "NIR"}]},
                 "system": SYSTEM_INS_NIR, "value": nir_for(female, birth, dept, rng)},
                {"use": "usual", "type": {"coding": [{"system": V2_0203, "code": "PI"}]},
                 "system": SYSTEM_IPP, "value": f"IPP{1000 + n}"},
            ],
            "active": True,
            "name": [{"use": "official", "family": family, "given": [given]}],
            "gender": "female" if female else "male",
            "birthDate": birth,
            "address": [{"use": "home", "line": [f"{rng.randint(1, 80)} avenue Jean Jaurès"], "city": city,
                         "postalCode": postal, "country": "FRA"}],
            "generalPractitioner": [{"reference": f"Practitioner/pract-{1 + n % 5}"}],
            "managingOrganization": {"reference": f"Organization/org-{1 + n % 3}"},
        })
    return out


def observations(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for n in range(1, 16):
        code, display, unit, _label, (low, high) = VITALS[n % len(VITALS)]
        patient = f"pat-{1 + (n * 5) % 12:02d}"
        day = f"2025-{1 + n % 12:02d}-{1 + (n * 7) % 27:02d}"
        out.append({
            "resourceType": "Observation", "id": f"obs-{n:02d}", "meta": meta(),
            "status": "final",
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
            "subject": {"reference": f"Patient/{patient}"},
            "effectiveDateTime": f"{day}T{rng.randint(8, 18):02d}:{rng.choice(['00', '15', '30', '45'])}:00+01:00",
            "performer": [{"reference": f"Practitioner/pract-{1 + n % 5}"}],
            "valueQuantity": {"value": rng.randint(low, high), "unit": unit, "system": UCUM, "code": unit},
        })
    return out


def dataset() -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(SEED)
    return {"Organization": organizations(rng), "Practitioner": practitioners(rng), "Patient": patients(rng),
            "Observation": observations(rng)}


def poor_dataset(good: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    data = copy.deepcopy(good)
    for resources in data.values():
        for resource in resources:
            resource["meta"].pop("versionId", None)
            resource["meta"].pop("lastUpdated", None)
            if not resource["meta"]:
                resource.pop("meta")
    for index in (1, 4, 8, 10):  # wrong INS-NIR keys
        ident = data["Patient"][index]["identifier"][0]
        ident["value"] = ident["value"][:13] + f"{(int(ident['value'][13:]) % 97) + 1:02d}"
    for patient in data["Patient"]:
        patient.pop("extension", None)  # FR Core Patient requires identity reliability
    data["Patient"][4]["gender"] = "M"
    data["Patient"][6]["birthDate"] = "12/03/1980"
    rpps = data["Practitioner"][2]["identifier"][0]
    rpps["value"] = rpps["value"][:-1] + str((int(rpps["value"][-1]) + 1) % 10)
    finess = data["Organization"][1]["identifier"][0]
    finess["value"] = finess["value"][:-1] + str((int(finess["value"][-1]) + 3) % 10)
    data["Observation"][3].pop("status")
    return data


def capability(variant: str) -> dict[str, Any]:
    def res(rtype: str, interactions: list[str], params: list[tuple[str, str]], includes: list[str] = (),
            profile: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"type": rtype}
        if profile:
            data["supportedProfile"] = [FR_CORE + profile]
        data["interaction"] = [{"code": c} for c in interactions]
        if "vread" in interactions:
            data["versioning"] = "versioned"
        if params:
            data["searchParam"] = [{"name": n, "type": t} for n, t in params]
        if includes:
            data["searchInclude"] = list(includes)
        return data

    if variant == "good":
        resources = [
            res("Observation", ["read", "vread", "history-instance", "search-type"],
                [("_id", "token"), ("patient", "reference"), ("subject", "reference"), ("code", "token"),
                 ("category", "token"), ("date", "date"), ("status", "token")], ["Observation:patient"]),
            res("Organization", ["read", "search-type"],
                [("_id", "token"), ("identifier", "token"), ("name", "string"), ("address-city", "string")],
                profile="fr-core-organization"),
            res("Patient", ["read", "vread", "history-instance", "search-type"],
                [("_id", "token"), ("identifier", "token"), ("family", "string"), ("given", "string"),
                 ("name", "string"), ("birthdate", "date"), ("gender", "token"), ("address-city", "string"),
                 ("general-practitioner", "reference"), ("organization", "reference")],
                ["Patient:general-practitioner", "Patient:organization"], "fr-core-patient"),
            res("Practitioner", ["read", "search-type"],
                [("_id", "token"), ("identifier", "token"), ("family", "string"), ("name", "string"),
                 ("gender", "token")], profile="fr-core-practitioner"),
        ]
        return {"resourceType": "CapabilityStatement", "id": "demo-good", "status": "active", "date": "2026-01-15",
                "publisher": "Demo Santé", "kind": "instance",
                "software": {"name": "DemoCabinet", "version": "4.2.0"},
                "implementation": {"description": "DemoCabinet FHIR API (demo vendor)"},
                "fhirVersion": "4.0.1", "format": ["application/fhir+json", "json"],
                "rest": [{"mode": "server",
                          "security": {"service": [{"coding": [{
                              "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                              "code": "SMART-on-FHIR"}]}]},
                          "resource": resources}]}
    resources = [
        res("Encounter", [], []),
        res("Observation", ["read", "search-type"],
            [("patient", "reference"), ("code", "token"), ("date", "date")], ["Observation:patient"]),
        res("Organization", ["read", "search-type"], [("name", "string"), ("identifier", "token")],
            profile="fr-core-organization"),
        res("Patient", ["read", "vread", "history-instance", "search-type"],
            [("identifier", "token"), ("family", "string"), ("birthdate", "date"), ("gender", "token")],
            ["Patient:general-practitioner"], "fr-core-patient"),
        res("Practitioner", ["read", "search-type"], [("identifier", "token"), ("family", "string")],
            profile="fr-core-practitioner"),
    ]
    return {"resourceType": "CapabilityStatement", "id": "demo-poor", "status": "active", "kind": "instance",
            "software": {"name": "VieuxCabinet", "version": "1.0.3"}, "fhirVersion": "4.0.1",
            "format": ["json", "xml"], "rest": [{"mode": "server", "resource": resources}]}


# ----------------------------------------------------------------------------- SMART demo client

def demo_client_key():
    """The demo client's ES384 key, derived from a fixed seed (a demo fixture, not a secret)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    order = int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
                16)
    scalar = int.from_bytes(hashlib.sha384(b"lgc-harness demo-good SMART backend client").digest(), "big") % order
    return ec.derive_private_key(scalar, ec.SECP384R1())


def _b64(number: int, size: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(size, "big")).rstrip(b"=").decode()


def public_jwk(key, kid: str) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    if hasattr(numbers, "curve"):
        return {"kty": "EC", "crv": "P-384", "x": _b64(numbers.x, 48), "y": _b64(numbers.y, 48), "kid": kid,
                "alg": "ES384", "use": "sig"}
    size = (numbers.n.bit_length() + 7) // 8
    return {"kty": "RSA", "n": _b64(numbers.n, size), "e": _b64(numbers.e, 3), "kid": kid, "alg": "RS384",
            "use": "sig"}


def private_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


# ----------------------------------------------------------------------------- output

def ndjson(resources: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in resources).encode("utf-8")


def files() -> dict[str, dict[str, bytes]]:
    """variant -> {relative path under fhir/: bytes}."""
    good = dataset()
    poor = poor_dataset(good)
    out: dict[str, dict[str, bytes]] = {}
    for variant, data in (("good", good), ("poor", poor)):
        content = {f"{rtype}.ndjson": ndjson(items) for rtype, items in data.items()}
        content["metadata.json"] = (json.dumps(capability(variant), ensure_ascii=False, indent=1) + "\n").encode()
        out[variant] = content
    key = demo_client_key()
    clients = {"clients": [{"client_id": DEMO_CLIENT_ID, "scope": "system/*.read",
                            "jwks": {"keys": [public_jwk(key, DEMO_KID)]}}]}
    out["good"]["smart/clients.json"] = (json.dumps(clients, indent=1) + "\n").encode()
    out["good"]["smart/demo-client-es384.pem"] = private_pem(key)
    return out


def write(root: Path) -> list[Path]:
    written = []
    for variant, content in files().items():
        for rel, data in content.items():
            path = root / f"demo-{variant}" / "fhir" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    from harness.demo import fixtures_dir

    args = argv if argv is not None else sys.argv[1:]
    root = Path(args[0]) if args else fixtures_dir()
    for path in write(root):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
