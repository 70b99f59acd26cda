"""What the R4 search parameters of the audited resources mean, so results can be checked.

Each known parameter has its type and the element paths it searches (from the
R4 search parameter registry). With it the harness can pick a value from a
resource the server returned, predict which resources should match, and check
that what the server returns does match — the only way to see a parameter
that is declared but silently ignored.

Matching follows R4 search semantics, leniently: strings match when a value
*starts with* the search text, case- and accent-insensitively; tokens match on
code or ``system|code``; dates (``eq`` at day precision) when the resource's date
falls on that day (a time zone near midnight makes it ambiguous, not a
mismatch); references on ``Type/id``. ``None`` means "cannot tell" and never
counts against the server.
"""

from __future__ import annotations

import datetime as _dt
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

# Values no real resource can match, per declared parameter type (the "negative probe").
NO_MATCH = {
    "string": "zzqxharnessnomatch",
    "token": "harness-no-match-7f3a",
    "date": "1801-01-01",
    "uri": "urn:harness:no-match",
    "number": "-987654321",
}


@dataclass(frozen=True)
class ParamDef:
    name: str
    type: str  # string | token | date | reference
    paths: tuple[str, ...]
    target: str | None = None  # reference: the resource type the value names

    def values(self, resource: dict[str, Any]) -> list[Any]:
        out: list[Any] = []
        for path in self.paths:
            out.extend(walk(resource, path))
        return out


COMMON = {
    "_id": ParamDef("_id", "token", ("id",)),
    "_lastUpdated": ParamDef("_lastUpdated", "date", ("meta.lastUpdated",)),
}

_NAME = ("name.family", "name.given", "name.text", "name.prefix", "name.suffix")

PARAMS: dict[str, dict[str, ParamDef]] = {
    "Patient": {
        "identifier": ParamDef("identifier", "token", ("identifier",)),
        "family": ParamDef("family", "string", ("name.family",)),
        "given": ParamDef("given", "string", ("name.given",)),
        "name": ParamDef("name", "string", _NAME),
        "birthdate": ParamDef("birthdate", "date", ("birthDate",)),
        "gender": ParamDef("gender", "token", ("gender",)),
        "active": ParamDef("active", "token", ("active",)),
        "address-city": ParamDef("address-city", "string", ("address.city",)),
        "address-postalcode": ParamDef("address-postalcode", "string", ("address.postalCode",)),
        "general-practitioner": ParamDef("general-practitioner", "reference", ("generalPractitioner",)),
        "organization": ParamDef("organization", "reference", ("managingOrganization",), "Organization"),
    },
    "Practitioner": {
        "identifier": ParamDef("identifier", "token", ("identifier",)),
        "family": ParamDef("family", "string", ("name.family",)),
        "given": ParamDef("given", "string", ("name.given",)),
        "name": ParamDef("name", "string", _NAME),
        "gender": ParamDef("gender", "token", ("gender",)),
        "active": ParamDef("active", "token", ("active",)),
        "address-city": ParamDef("address-city", "string", ("address.city",)),
    },
    "PractitionerRole": {
        "identifier": ParamDef("identifier", "token", ("identifier",)),
        "practitioner": ParamDef("practitioner", "reference", ("practitioner",), "Practitioner"),
        "organization": ParamDef("organization", "reference", ("organization",), "Organization"),
        "role": ParamDef("role", "token", ("code",)),
        "specialty": ParamDef("specialty", "token", ("specialty",)),
        "active": ParamDef("active", "token", ("active",)),
    },
    "Organization": {
        "identifier": ParamDef("identifier", "token", ("identifier",)),
        "name": ParamDef("name", "string", ("name", "alias")),
        "type": ParamDef("type", "token", ("type",)),
        "active": ParamDef("active", "token", ("active",)),
        "address-city": ParamDef("address-city", "string", ("address.city",)),
        "address-postalcode": ParamDef("address-postalcode", "string", ("address.postalCode",)),
        "partof": ParamDef("partof", "reference", ("partOf",), "Organization"),
    },
    "Observation": {
        "identifier": ParamDef("identifier", "token", ("identifier",)),
        "subject": ParamDef("subject", "reference", ("subject",)),
        "patient": ParamDef("patient", "reference", ("subject",), "Patient"),
        "code": ParamDef("code", "token", ("code",)),
        "category": ParamDef("category", "token", ("category",)),
        "status": ParamDef("status", "token", ("status",)),
        "date": ParamDef("date", "date", ("effective[x]",)),
        "performer": ParamDef("performer", "reference", ("performer",)),
    },
    "Encounter": {
        "identifier": ParamDef("identifier", "token", ("identifier",)),
        "subject": ParamDef("subject", "reference", ("subject",)),
        "patient": ParamDef("patient", "reference", ("subject",), "Patient"),
        "status": ParamDef("status", "token", ("status",)),
        "date": ParamDef("date", "date", ("period",)),
        "class": ParamDef("class", "token", ("class",)),
    },
    "Condition": {
        "identifier": ParamDef("identifier", "token", ("identifier",)),
        "subject": ParamDef("subject", "reference", ("subject",)),
        "patient": ParamDef("patient", "reference", ("subject",), "Patient"),
        "code": ParamDef("code", "token", ("code",)),
        "clinical-status": ParamDef("clinical-status", "token", ("clinicalStatus",)),
        "category": ParamDef("category", "token", ("category",)),
    },
    "AllergyIntolerance": {
        "patient": ParamDef("patient", "reference", ("patient",), "Patient"),
        "code": ParamDef("code", "token", ("code",)),
        "clinical-status": ParamDef("clinical-status", "token", ("clinicalStatus",)),
    },
    "MedicationRequest": {
        "subject": ParamDef("subject", "reference", ("subject",)),
        "patient": ParamDef("patient", "reference", ("subject",), "Patient"),
        "status": ParamDef("status", "token", ("status",)),
        "intent": ParamDef("intent", "token", ("intent",)),
        "authoredon": ParamDef("authoredon", "date", ("authoredOn",)),
    },
    "Immunization": {
        "patient": ParamDef("patient", "reference", ("patient",), "Patient"),
        "status": ParamDef("status", "token", ("status",)),
        "vaccine-code": ParamDef("vaccine-code", "token", ("vaccineCode",)),
        "date": ParamDef("date", "date", ("occurrence[x]",)),
    },
    "DocumentReference": {
        "subject": ParamDef("subject", "reference", ("subject",)),
        "patient": ParamDef("patient", "reference", ("subject",), "Patient"),
        "status": ParamDef("status", "token", ("status",)),
        "type": ParamDef("type", "token", ("type",)),
        "date": ParamDef("date", "date", ("date",)),
    },
}


def param_def(resource_type: str, name: str) -> ParamDef | None:
    return PARAMS.get(resource_type, {}).get(name) or COMMON.get(name)


# ----------------------------------------------------------------------------- paths

def walk(node: Any, path: str) -> list[Any]:
    """Values at a dotted path; lists are flattened; ``x[x]`` matches every ``x<Type>`` key."""
    current = [node]
    for part in path.split("."):
        nxt: list[Any] = []
        for item in current:
            if not isinstance(item, dict):
                continue
            if part.endswith("[x]"):
                stem = part[:-3]
                values = [v for k, v in item.items() if k.startswith(stem) and k[len(stem):][:1].isupper()]
            else:
                values = [item[part]] if part in item else []
            for value in values:
                nxt.extend(value if isinstance(value, list) else [value])
        current = nxt
    return current


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a string."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def ref_key(reference: str) -> str:
    """``Type/id`` of a relative or absolute reference (``_history`` dropped)."""
    parts = [p for p in reference.split("?")[0].split("/") if p]
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 else reference


# ----------------------------------------------------------------------------- values

def search_value(param: ParamDef, value: Any) -> str | None:
    """The search string that selects ``value`` (an element value of a returned resource)."""
    if param.type == "string":
        return value.strip() if isinstance(value, str) and value.strip() else None
    if param.type == "token":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return value or None
        if isinstance(value, dict):
            if "value" in value and "system" in value:  # Identifier
                return f"{value['system']}|{value['value']}"
            codings = value.get("coding") if "coding" in value else [value]
            for coding in codings or []:
                if isinstance(coding, dict) and coding.get("code"):
                    return f"{coding['system']}|{coding['code']}" if coding.get("system") else coding["code"]
        return None
    if param.type == "date":
        text = value.get("start") if isinstance(value, dict) else value
        if isinstance(text, str) and len(text) >= 10:
            return text[:10]
        return None
    if param.type == "reference":
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            key = ref_key(value["reference"])
            if param.target and not key.startswith(param.target + "/"):
                return None
            return key
        return None
    return None


def _token_matches(value: Any, query: str) -> bool:
    system, _, code = query.rpartition("|") if "|" in query else (None, None, query)
    if isinstance(value, bool):
        return code == ("true" if value else "false")
    if isinstance(value, str):
        return value == code
    if isinstance(value, dict):
        if "value" in value and ("system" in value or "type" in value or "use" in value):  # Identifier
            return value.get("value") == code and (system is None or value.get("system") == system)
        codings = value.get("coding") if "coding" in value else [value]
        for coding in codings or []:
            if isinstance(coding, dict) and coding.get("code") == code and (
                    system is None or (coding.get("system") or "") == system):
                return True
    return False


def _parse_instant(text: str) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _date_matches(value: Any, query: str) -> bool | None:
    day = _dt.date.fromisoformat(query)
    texts = []
    if isinstance(value, dict):  # Period
        start, end = value.get("start"), value.get("end")
        if isinstance(start, str) and start[:10] <= query and (not isinstance(end, str) or end[:10] >= query):
            return True
        texts = [t for t in (start, end) if isinstance(t, str)]
    elif isinstance(value, str):
        texts = [value]
    for text in texts:
        if len(text) < 10:
            return None  # partial date: precision too coarse to judge
        if text[:10] == query:
            return True
        other = _dt.date.fromisoformat(text[:10]) if _parse_instant(text[:10]) else None
        if len(text) > 10 and other is not None and abs((other - day).days) <= 1:
            return None  # a time zone could move it to the queried day
    return False


def matches(param: ParamDef, resource: dict[str, Any], query: str) -> bool | None:
    """Does ``resource`` satisfy ``param=query``? None when that cannot be told."""
    values = param.values(resource)
    if param.type == "string":
        needle = fold(query)
        return any(isinstance(v, str) and fold(v).startswith(needle) for v in values)
    if param.type == "token":
        return any(_token_matches(v, query) for v in values)
    if param.type == "date":
        verdicts = [_date_matches(v, query) for v in values]
        if any(v is True for v in verdicts):
            return True
        return None if any(v is None for v in verdicts) else False
    if param.type == "reference":
        wanted = ref_key(query)
        keys = [ref_key(v["reference"]) for v in values if isinstance(v, dict) and isinstance(v.get("reference"), str)]
        if "/" not in wanted:
            return any(k.split("/")[-1] == wanted for k in keys)
        return wanted in keys
    return None


def negative_value(param_type: str, target: str | None = None) -> str | None:
    """A value of ``param_type`` that no resource can match."""
    if param_type == "reference":
        return f"{target or 'Patient'}/harness-no-such-id-7f3a"
    return NO_MATCH.get(param_type)


def pick_value(param: ParamDef, resources: Iterable[dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """The most selective value found in ``resources``: (search value, a resource it selects)."""
    pool = list(resources)
    best: tuple[int, str, dict[str, Any]] | None = None
    for resource in pool[:50]:
        for value in param.values(resource):
            query = search_value(param, value)
            if query is None or matches(param, resource, query) is not True:
                continue
            hits = sum(1 for r in pool if matches(param, r, query) is not False)
            if best is None or hits < best[0]:
                best = (hits, query, resource)
        if best is not None and best[0] == 1:
            break
    return (best[1], best[2]) if best else None
