"""Compile the FHIR definitions pack into a compact, picklable per-type table.

Inputs (all inside the pack folder, see ``shared/fhir/MANIFEST.md``):

- ``schema/fhir.schema.json``: every R4 type (145 resources, datatypes and backbone
  elements ``<Type>_<Part>``) with its JSON property names (choice types already
  expanded to ``valueQuantity`` …, primitive extensions ``_field``), array-ness,
  primitive regexes and the enums of required ``code`` bindings;
- ``r4-core/StructureDefinition/*.json``: snapshots of 25 resources, giving minimum
  cardinalities of primitives (which the schema cannot express), the choice groups
  and the required bindings on ``CodeableConcept``/``Coding``;
- ``r4-core/ValueSet`` + ``r4-core/CodeSystem`` (+ ``required-bindings.json``);
- ``fr-core/*.tgz``: FR Core profiles (differentials) and their terminology.

The result is plain data (dicts, tuples, frozensets, strings) so it pickles fast; the
validator turns it into its runtime form. Nothing here is on the hot path.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any

# Bump when the output layout changes (the on-disk cache is also keyed by this file's hash).
FORMAT = 3

# Kinds of a property.
PRIM, COMPLEX, RESOURCE, PRIMEXT = "p", "c", "r", "e"

PRIMITIVES = {
    "base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id", "instant",
    "integer", "markdown", "oid", "positiveInt", "string", "time", "unsignedInt", "uri", "url", "uuid",
    "xhtml",
}

# Minimum cardinalities of primitive elements of datatypes (the pack has no datatype
# StructureDefinitions and the JSON schema only lists 1..1 complex elements). From the R4
# datatypes pages.
DATATYPE_REQUIRED_PRIMITIVES = {
    "Extension": ["url"],
    "Narrative": ["status", "div"],
    "Annotation": ["text"],
    "SampledData": ["period", "dimensions"],
    "Signature": ["when"],
    "RelatedArtifact": ["type"],
    "DataRequirement": ["type"],
    "ParameterDefinition": ["use", "type"],
    "TriggerDefinition": ["type"],
    "Expression": ["language"],
    "Contributor": ["type", "name"],
    "Bundle_Link": ["relation", "url"],
    "Bundle_Request": ["method", "url"],
    "Bundle_Response": ["status"],
}

_CAP = re.compile(r"[A-Z]")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _load_json(path: Path) -> Any:
    with open(path, "rb") as handle:
        return json.loads(handle.read())


def _prim_from_inline(prop: str, spec: dict, patterns: dict[str, str]) -> str:
    """A property carrying an inline pattern (choice types in a few places): find its primitive."""
    for prim in sorted(PRIMITIVES, key=len, reverse=True):
        cap = prim[0].upper() + prim[1:]
        if prop.endswith(cap):
            return prim
    pattern = spec.get("pattern")
    for prim, pat in patterns.items():
        if pat == pattern:
            return prim
    return "string" if spec.get("type") == "string" else "decimal"


def _prop_entry(prop: str, spec: dict, patterns: dict[str, str]) -> tuple[str, str, bool, Any]:
    is_array = spec.get("type") == "array" and "items" in spec
    item = spec["items"] if is_array else spec
    codes = None
    if "$ref" in item:
        target = _ref_name(item["$ref"])
        if target == "ResourceList":
            kind = RESOURCE
        elif prop.startswith("_") and target == "Element":
            kind = PRIMEXT
        elif target in PRIMITIVES:
            kind = PRIM
        else:
            kind = COMPLEX
    elif "enum" in item:
        kind, target, codes = PRIM, "code", frozenset(item["enum"])
    elif "pattern" in item or "type" in item:
        kind, target = PRIM, _prim_from_inline(prop, item, patterns)
    else:
        kind, target = PRIM, "string"
    return kind, target, is_array, codes


def _choice_groups(props: dict[str, tuple], type_names: set[str], descriptions: dict[str, str]) -> dict[str, list[str]]:
    """Group ``valueQuantity``/``valueString``… under ``value``.

    A choice group is a set of properties named stem + a type name that share the same
    description (the schema repeats the element's definition for each type); this keeps apart
    real distinct elements such as ``CarePlan.activity.outcomeCodeableConcept`` and
    ``outcomeReference``. The StructureDefinitions override this for the 25 resources they cover.
    """
    caps = {t[0].upper() + t[1:]: t for t in type_names}
    groups: dict[tuple[str, str], list[str]] = {}
    for prop, (_kind, _target, is_array) in props.items():
        if prop.startswith("_") or is_array:  # a choice element is never repeating
            continue
        for m in _CAP.finditer(prop):
            stem, suffix = prop[: m.start()], prop[m.start():]
            if stem and suffix in caps:
                groups.setdefault((stem, descriptions.get(prop, "")), []).append(prop)
                break
    result: dict[str, list[str]] = {}
    for (stem, _desc), names in groups.items():
        if len(names) >= 2 and stem not in result:
            result[stem] = names
    return result


def _codes_of_valueset(vs: dict, codesystems: dict[str, dict]) -> dict[str, frozenset | None]:
    """system -> codes (None when the system is not in the pack: cannot be checked)."""
    systems: dict[str, frozenset | None] = {}
    for inc in vs.get("compose", {}).get("include", []):
        system = inc.get("system")
        if not system or inc.get("valueSet") or inc.get("filter"):
            if system:
                systems[system] = None
            continue
        if "concept" in inc:
            codes = {c["code"] for c in inc["concept"]}
        elif system in codesystems:
            codes = set()
            stack = list(codesystems[system].get("concept", []))
            while stack:
                concept = stack.pop()
                codes.add(concept["code"])
                stack.extend(concept.get("concept", []))
        else:
            systems[system] = None
            continue
        previous = systems.get(system)
        systems[system] = frozenset(codes | set(previous or ()))
    return systems


def _schema_type_of(types: dict[str, dict], path: str) -> str | None:
    """``Observation.component`` -> ``Observation_Component`` following the schema properties."""
    parts = path.split(".")
    current = parts[0]
    for part in parts[1:]:
        spec = types.get(current)
        if spec is None:
            return None
        entry = spec["props"].get(part)
        if entry is None or entry[0] != COMPLEX:
            return None
        current = entry[1]
    return current


def compile_pack(root: Path) -> dict[str, Any]:
    root = Path(root)
    schema = _load_json(root / "schema" / "fhir.schema.json")
    definitions = schema["definitions"]
    resources = sorted(schema["discriminator"]["mapping"])
    patterns = {name: d.get("pattern") for name, d in definitions.items() if name in PRIMITIVES}
    primitives = {name: {"json": definitions[name].get("type", "string"), "pattern": patterns[name]}
                  for name in PRIMITIVES}

    type_names = set(definitions) - {"ResourceList"}
    types: dict[str, dict] = {}
    for name, definition in definitions.items():
        if "properties" not in definition:
            continue
        props: dict[str, tuple] = {}
        codes: dict[str, frozenset] = {}
        for prop, spec in definition["properties"].items():
            if prop == "resourceType":
                continue
            kind, target, is_array, enum = _prop_entry(prop, spec, patterns)
            props[prop] = (kind, target, is_array)
            if enum is not None:
                codes[prop] = enum
        descriptions = {p: s.get("description", "") for p, s in definition["properties"].items()}
        groups = _choice_groups(props, type_names, descriptions)
        required: dict[str, tuple[str, ...]] = {}
        for prop in definition.get("required", []):
            if prop != "resourceType":
                required[prop] = (prop,)
        for prop in DATATYPE_REQUIRED_PRIMITIVES.get(name, []):
            required[prop] = (prop, "_" + prop)
        types[name] = {
            "props": props,
            "codes": codes,
            "choices": {stem: tuple(names) for stem, names in groups.items()},
            "required": required,
            "bindings": {},
            "resource": name in resources,
        }

    # --- Terminology ----------------------------------------------------------------------
    codesystems: dict[str, dict] = {}
    for path in sorted((root / "r4-core" / "CodeSystem").glob("*.json")):
        cs = _load_json(path)
        codesystems[cs["url"]] = cs
    valuesets: dict[str, dict] = {}
    for path in sorted((root / "r4-core" / "ValueSet").glob("*.json")):
        vs = _load_json(path)
        valuesets[vs["url"]] = {"name": vs.get("name", ""), "systems": _codes_of_valueset(vs, codesystems)}

    # --- StructureDefinition snapshots: min cardinalities, choice groups, bindings -----------
    sds = [_load_json(p) for p in sorted((root / "r4-core" / "StructureDefinition").glob("*.json"))]
    for sd in sds:  # where a snapshot exists, its [x] elements are the only choice groups
        for element in sd.get("snapshot", {}).get("element", []):
            owner = _schema_type_of(types, element["path"].rsplit(".", 1)[0]) if "." in element["path"] else None
            if owner in types and not element.get("contentReference"):
                types[owner]["choices"] = {}
    for sd in sds:
        for element in sd.get("snapshot", {}).get("element", []):
            epath = element["path"]
            if "." not in epath:
                continue
            parent, leaf = epath.rsplit(".", 1)
            owner = _schema_type_of(types, parent)
            if owner is None or owner not in types:
                continue
            spec = types[owner]
            if leaf.endswith("[x]"):
                stem = leaf[:-3]
                names = [stem + t["code"][0].upper() + t["code"][1:] for t in element.get("type", [])]
                names = [n for n in names if n in spec["props"]]
                if names:
                    spec["choices"][stem] = tuple(names)
                json_names = tuple(names) + tuple("_" + n for n in names if "_" + n in spec["props"])
            else:
                if leaf not in spec["props"]:
                    continue
                names = [leaf]
                json_names = (leaf, "_" + leaf) if "_" + leaf in spec["props"] else (leaf,)
            if element.get("min", 0) >= 1:
                spec["required"][leaf.replace("[x]", "")] = json_names
            binding = element.get("binding") or {}
            if binding.get("strength") == "required" and binding.get("valueSet"):
                url = binding["valueSet"].split("|")[0]
                vs = valuesets.get(url)
                for n in names:
                    entry = spec["props"][n]
                    if entry[0] == COMPLEX and entry[1] in ("CodeableConcept", "Coding"):
                        spec["bindings"][n] = url
                    elif entry[0] == PRIM and entry[1] == "code" and vs and vs["systems"] and all(
                            codes is not None for codes in vs["systems"].values()):
                        # the schema inlines enums for most required code bindings, not all
                        # (CarePlan.status, Immunization.status, Procedure.status …)
                        spec["codes"][n] = frozenset().union(*vs["systems"].values())

    # --- FR Core ----------------------------------------------------------------------------
    profiles, fr_valuesets = _compile_fr_core(root, types)
    for url, vs in fr_valuesets.items():
        valuesets.setdefault(url, vs)

    return {
        "format": FORMAT,
        "key_frequencies": _key_frequencies(root / "r4-examples", types),
        "resources": resources,
        "primitives": primitives,
        "types": types,
        "valuesets": valuesets,
        "profiles": profiles,
    }


def _fr_core_files(root: Path) -> dict[str, Any]:
    found: dict[str, Any] = {}
    folder = root / "fr-core"
    if not folder.is_dir():
        return found
    for tgz in sorted(folder.glob("*.tgz")):
        with tarfile.open(tgz, "r:gz") as archive:
            for member in archive.getmembers():
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name.endswith(".json") and not name.startswith("."):
                    handle = archive.extractfile(member)
                    if handle is None:
                        continue
                    try:
                        found[name] = json.loads(handle.read())
                    except ValueError:
                        continue
    return found


def _pattern_of(element: dict) -> tuple[str, Any] | None:
    for key, value in element.items():
        if key.startswith("pattern") or key.startswith("fixed"):
            return key, value
    return None


def _compile_fr_core(root: Path, types: dict[str, dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """FR Core: per profile URL its name, resource type and rules (see ``_snapshot_rules`` and
    ``_identifier_slices``); and the FR Core value sets (with the code systems the package holds)."""
    files = _fr_core_files(root)
    extension_urls: dict[str, str] = {}
    for data in files.values():
        if data.get("resourceType") == "StructureDefinition" and data.get("type") == "Extension":
            extension_urls[data.get("id", "")] = data.get("url", "")

    codesystems = {d["url"]: d for d in files.values() if d.get("resourceType") == "CodeSystem" and "url" in d}
    fr_valuesets = {}
    for data in files.values():
        if data.get("resourceType") == "ValueSet" and "url" in data:
            fr_valuesets[data["url"]] = {"name": data.get("name", ""),
                                         "systems": _codes_of_valueset(data, codesystems)}

    profiles: dict[str, dict] = {}
    for data in files.values():
        if data.get("resourceType") != "StructureDefinition" or data.get("kind") != "resource":
            continue
        if data.get("derivation") != "constraint":
            continue
        rtype = data.get("type")
        if rtype not in types:
            continue
        rules = _snapshot_rules(data, rtype, types)
        rules["identifier_slices"] = _identifier_slices(data)
        profiles[data["url"]] = {"name": data.get("name", data.get("id", "")), "type": rtype, "rules": rules}
    return profiles, fr_valuesets


def _identifier_slices(data: dict) -> list[dict]:
    """Identifier slices whose system is fixed (INS-NIR, INS-NIA, NDP …) from the differential."""
    diff = data.get("differential", {}).get("element", [])
    by_id = {e["id"]: e for e in diff}
    slices = []
    for element in diff:
        parts = element["id"].split(".")
        if len(parts) != 2 or not parts[1].startswith("identifier:"):
            continue
        eid = element["id"]
        pat = _pattern_of(by_id.get(eid + ".system") or {})
        if not pat:
            continue
        required = [p for p in ("type", "value") if (by_id.get(eid + "." + p) or {}).get("min", 0) >= 1]
        use_el = _pattern_of(by_id.get(eid + ".use") or {})
        slices.append({"slice": parts[1].split(":", 1)[1], "system": pat[1], "required": required,
                       "use": use_el[1] if use_el else None, "max": element.get("max", "*")})
    return slices


def _snapshot_rules(data: dict, rtype: str, types: dict[str, dict]) -> dict[str, list]:
    """Rules of a profile from its snapshot (so constraints inherited from a base profile count).

    - ``cardinality``: (parents, label, json names, min, max) where the profile is stricter than
      core R4 (a min the core does not already require, a max below the core's);
    - ``extensions``: (parents, element, slice, url, min) required extension slices;
    - ``slices``: (parents, element, slice, conditions, min) required slices recognised by their
      discriminator values (e.g. a category coding vital-signs, a LOINC code coding);
    - ``patterns``: (parents, label, element, kind, value) fixed/pattern values on plain elements.

    Everything inside a slice (other than its discriminator values) is ignored: without full
    slice matching it could not be checked without risking false errors.
    """
    snapshot = data.get("snapshot", {}).get("element", [])
    ids = {e.get("id", ""): e for e in snapshot}
    rules: dict[str, list] = {"cardinality": [], "extensions": [], "slices": [], "patterns": []}
    for e in snapshot:
        eid = e.get("id", "")
        segs = eid.split(".")[1:]
        if not segs:
            continue
        parents, last = segs[:-1], segs[-1]
        if any(":" in p or p.endswith("[x]") for p in parents):
            continue
        owner = _schema_type_of(types, ".".join([rtype] + parents))
        if owner is None or owner not in types:
            continue
        spec = types[owner]
        props = spec["props"]
        min_ = e.get("min", 0) or 0
        if ":" in last:
            elem, slice_name = last.split(":", 1)
            if elem.endswith("[x]") or min_ < 1:
                continue
            if elem in ("extension", "modifierExtension"):
                url = None
                for t in e.get("type", []):
                    for p in t.get("profile", []) or []:
                        url = p
                if url:
                    rules["extensions"].append((parents, elem, slice_name, url.split("|")[0], min_))
                continue
            if elem not in props:
                continue
            base = ids.get(eid.rsplit(":", 1)[0]) or {}
            conditions = []
            own = _pattern_of(e)
            if own:
                conditions.append(([], own[1]))
            for d in (base.get("slicing") or {}).get("discriminator", []):
                if d.get("type") not in ("value", "pattern") or d.get("path") in (None, "$this"):
                    continue
                dsegs = d["path"].split(".")
                tail = "".join(r"\." + re.escape(x) + r"(:[^.]+)?" for x in dsegs)
                rx = re.compile("^" + re.escape(eid) + tail + "$")
                for cid, ce in ids.items():
                    if rx.match(cid):
                        pat = _pattern_of(ce)
                        if pat:
                            conditions.append((dsegs, pat[1]))
                            break
            if conditions:
                rules["slices"].append((parents, elem, slice_name, conditions, min_))
            continue
        max_ = e.get("max", "*")
        if last.endswith("[x]"):
            stem = last[:-3]
            names = spec["choices"].get(stem)
            if not names:
                continue
            json_names = tuple(names) + tuple("_" + n for n in names if "_" + n in props)
            label, is_array = stem, False
        else:
            if last not in props:
                continue
            json_names = (last, "_" + last) if "_" + last in props else (last,)
            label, is_array = last, props[last][2]
        core_min = 1 if label in spec["required"] else 0
        need_min = min_ > core_min
        need_max = max_ not in ("*", None) and (max_ == "0" or is_array)
        if need_min or need_max:
            rules["cardinality"].append((parents, label, json_names, min_ if need_min else 0,
                                         max_ if need_max else "*"))
        pat = _pattern_of(e)
        if pat and not last.endswith("[x]"):
            rules["patterns"].append((parents, label, last, "fixed" if pat[0].startswith("fixed") else "pattern",
                                      pat[1]))
    return rules


def _key_frequencies(folder: Path, types: dict[str, dict]) -> dict[str, dict[str, int]]:
    """How often each property occurs per type in the pack's examples (orders the generated
    walkers' ``if k == …`` chains: frequent keys first). Empty without examples."""
    freq: dict[str, dict[str, int]] = {}

    def walk(obj: Any, tname: str, depth: int) -> None:
        spec = types.get(tname)
        if spec is None or type(obj) is not dict or depth > 40:
            return
        counts = freq.setdefault(tname, {})
        for k, v in obj.items():
            counts[k] = counts.get(k, 0) + 1
            entry = spec["props"].get(k)
            if entry is None:
                continue
            kind, target = entry[0], entry[1]
            items = v if type(v) is list else [v]
            for item in items:
                if kind == COMPLEX or kind == PRIMEXT:
                    walk(item, target if kind == COMPLEX else "Element", depth + 1)
                elif kind == RESOURCE and type(item) is dict:
                    walk(item, item.get("resourceType", ""), depth + 1)

    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            try:
                data = _load_json(path)
            except (OSError, ValueError):
                continue
            if type(data) is dict:
                walk(data, data.get("resourceType", ""), 0)
    return freq
