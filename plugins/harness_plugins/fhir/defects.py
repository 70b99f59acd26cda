"""Seeded defects for tests and benchmarks: mutate a valid resource so that it has exactly
one known defect of a given kind.

    from harness_plugins.fhir.defects import DEFECT_KINDS, seed_defect, load_examples
    bad = seed_defect(resource, "bad-date", validator, rng)   # None when not applicable

Each mutator uses the validator's compiled type table to find a place where the defect makes
sense (a date field for ``bad-date``, a required element for ``missing-required`` …).
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any, Callable, Iterator

from .validator import K_COMPLEX, K_PRIM, FhirValidator

SYSTEM_INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
SYSTEM_RPPS = "urn:oid:1.2.250.1.71.4.2.1"
VALID_NIR = "255081416802538"      # 2 55 08 14 168 025 key 38 (INSEE documentation example)
BAD_KEY_NIR = "255081416802539"
VALID_RPPS = "10000000009"          # 11 digits with a valid Luhn key
BAD_RPPS = "10000000008"            # same, wrong key

# Kinds, with the Issue codes that detect them.
DEFECT_KINDS: dict[str, tuple[str, ...]] = {
    "wrong-type": ("value", "structure"),
    "bad-date": ("value",),
    "unknown-element": ("structure",),
    "missing-required": ("required",),
    "bad-code": ("code-invalid",),
    "bad-binding": ("code-invalid",),
    "array-for-single": ("structure",),
    "bad-nir": ("value",),
    "bad-rpps": ("value",),
}


def load_examples(folder: Path) -> list[dict]:
    """The official examples (sorted by file name)."""
    return [json.loads(p.read_bytes()) for p in sorted(Path(folder).glob("*.json"))]


def _walk(v: FhirValidator, obj: dict, tname: str, depth: int = 0) -> Iterator[tuple[dict, str, tuple, Any]]:
    """(parent object, key, prop spec, type) for every element with type information (no nested resources)."""
    t = v._types.get(tname)
    if t is None or depth > 12:
        return
    for k, val in list(obj.items()):
        spec = t.props.get(k)
        if spec is None:
            continue
        yield obj, k, spec, t
        if spec[0] == K_COMPLEX:
            items = val if isinstance(val, list) else [val]
            for item in items:
                if isinstance(item, dict):
                    yield from _walk(v, item, spec[1].name, depth + 1)


def _candidates(v: FhirValidator, res: dict, pred: Callable) -> list[tuple[dict, str, tuple, Any]]:
    return [c for c in _walk(v, res, res["resourceType"]) if pred(*c)]


def _m_wrong_type(v, res, rng):
    def ok(parent, k, spec, t):
        return spec[0] == K_PRIM and not spec[2] and isinstance(parent[k], (str, bool))
    cands = _candidates(v, res, ok)
    if not cands:
        return False
    parent, k, spec, t = rng.choice(cands)
    parent[k] = 12345 if isinstance(parent[k], str) else "yes"
    return True


_DATE_KINDS = ("date", "dateTime", "instant")


def _m_bad_date(v, res, rng):
    checker_names = {id(v._checkers[n]): n for n in _DATE_KINDS}

    def ok(parent, k, spec, t):
        return spec[0] == K_PRIM and not spec[2] and id(spec[1]) in checker_names and isinstance(parent[k], str)
    cands = _candidates(v, res, ok)
    if cands:
        parent, k, spec, t = rng.choice(cands)
        kind = checker_names[id(spec[1])]
        parent[k] = {"date": "2021-02-30", "dateTime": "2021-13-01T10:00:00+01:00",
                     "instant": "2021-06-31T10:00:00Z"}[kind]
        if rng.random() < 0.3:
            parent[k] = "31/12/2020"
        return True
    meta = res.setdefault("meta", {})
    meta["lastUpdated"] = "2021-02-30T10:00:00Z"
    return True


def _m_unknown_element(v, res, rng):
    objs = [(res, v._types[res["resourceType"]])] + [
        (p[k], spec[1]) for p, k, spec, t in _walk(v, res, res["resourceType"])
        if spec[0] == K_COMPLEX and isinstance(p[k], dict)]
    target, ttype = rng.choice(objs)
    names = [n for n in ("colour", "comment", "valueFoo", "_unknownThing", "patientName") if n not in ttype.props]
    target[rng.choice(names)] = "x"
    return True


def _m_missing_required(v, res, rng):
    cands = []
    for parent, k, spec, t in [(None, None, None, v._types[res["resourceType"]])] + list(
            _walk(v, res, res["resourceType"])):
        if parent is None:
            objs = [(res, t)]
        elif spec[0] == K_COMPLEX:
            items = parent[k] if isinstance(parent[k], list) else [parent[k]]
            objs = [(i, spec[1]) for i in items if isinstance(i, dict)]
        else:
            continue
        for obj, ot in objs:
            for label, names in ot.required:
                present = [n for n in names if n in obj]
                if present and len(obj) > len(present):  # keep the object non-empty
                    cands.append((obj, present))
    if not cands:
        return False
    obj, names = rng.choice(cands)
    for n in names:
        del obj[n]
    return True


def _m_bad_code(v, res, rng):
    def ok(parent, k, spec, t):
        return spec[0] == K_PRIM and spec[3] is not None and not spec[2] and isinstance(parent[k], str)
    cands = _candidates(v, res, ok)
    if not cands:
        return False
    parent, k, spec, t = rng.choice(cands)
    parent[k] = "not-a-code"
    return True


def _m_bad_binding(v, res, rng):
    def ok(parent, k, spec, t):
        return (spec[0] == K_COMPLEX and spec[3] is not None and not spec[2] and isinstance(parent[k], dict)
                and spec[3][1] and isinstance(parent[k].get("coding"), list)
                and any(vs is not None for vs in spec[3][0].systems.values()))
    cands = _candidates(v, res, ok)
    if not cands:
        return False
    parent, k, spec, t = rng.choice(cands)
    system = next(s for s, codes in spec[3][0].systems.items() if codes is not None)
    parent[k] = {"coding": [{"system": system, "code": "bogus-code"}]}
    return True


def _m_array_for_single(v, res, rng):
    def ok(parent, k, spec, t):
        return not spec[2] and spec[0] in (K_PRIM, K_COMPLEX) and not isinstance(parent[k], list)
    cands = _candidates(v, res, ok)
    if not cands:
        return False
    parent, k, spec, t = rng.choice(cands)
    parent[k] = [parent[k]]
    return True


def _m_bad_nir(v, res, rng):
    if res.get("resourceType") != "Patient":
        return False
    res.setdefault("identifier", []).append({"use": "official", "system": SYSTEM_INS_NIR, "value": BAD_KEY_NIR})
    return True


def _m_bad_rpps(v, res, rng):
    if res.get("resourceType") not in ("Practitioner", "PractitionerRole"):
        return False
    res.setdefault("identifier", []).append({"system": SYSTEM_RPPS, "value": "8" + BAD_RPPS})
    return True


MUTATORS = {
    "wrong-type": _m_wrong_type,
    "bad-date": _m_bad_date,
    "unknown-element": _m_unknown_element,
    "missing-required": _m_missing_required,
    "bad-code": _m_bad_code,
    "bad-binding": _m_bad_binding,
    "array-for-single": _m_array_for_single,
    "bad-nir": _m_bad_nir,
    "bad-rpps": _m_bad_rpps,
}


def seed_defect(resource: dict, kind: str, validator: FhirValidator, rng: random.Random | None = None) -> dict | None:
    """A deep copy of ``resource`` with one defect of ``kind``, or None when it does not apply."""
    rng = rng or random.Random(0)
    res = copy.deepcopy(resource)
    return res if MUTATORS[kind](validator, res, rng) else None


def generate(examples: list[dict], n: int, validator: FhirValidator, defect_rate: float = 0.2,
             seed: int = 42) -> Iterator[tuple[str | None, dict]]:
    """``n`` resources cycling over ``examples``; about ``defect_rate`` of them with one seeded defect.

    Yields (defect kind or None, resource).
    """
    rng = random.Random(seed)
    kinds = list(MUTATORS)
    by_type: dict[str, list[dict]] = {}
    for ex in examples:
        by_type.setdefault(ex["resourceType"], []).append(ex)
    for i in range(n):
        base = examples[i % len(examples)]
        if rng.random() >= defect_rate:
            yield None, base
            continue
        kind = kinds[rng.randrange(len(kinds))]
        if kind == "bad-nir":
            pool = by_type.get("Patient", [])
        elif kind == "bad-rpps":
            pool = by_type.get("Practitioner", [])
        else:
            pool = [base] + [examples[rng.randrange(len(examples))] for _ in range(10)]
        mutated = None
        for candidate in pool[:11]:
            if kind in ("bad-nir", "bad-rpps"):
                candidate = rng.choice(pool)
            mutated = seed_defect(candidate, kind, validator, rng)
            if mutated is not None:
                break
        if mutated is not None:
            yield kind, mutated
        else:
            yield None, base
