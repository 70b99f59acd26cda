"""Fast FHIR R4 + FR Core resource validator, shared by the interop and portability families.

    from harness_plugins.fhir.validator import default_validator
    v = default_validator()
    issues = v.validate(resource_dict)        # list[Issue]
    issues = v.validate_json(ndjson_line)     # parse + validate

What is checked (see docs/fhir-validator.md):

- ``resourceType`` known (145 R4 resources);
- structure: unknown elements (incl. choice types ``value[x]`` and primitive extensions
  ``_field``), JSON kinds (object/array/primitive), empty objects/arrays/strings (ele-1);
- cardinality: max 1 vs array (schema), min from the StructureDefinition snapshots
  (25 resources), the schema's required complex elements (all resources) and the datatypes'
  required primitives; at most one type of a choice element;
- primitive types: the R4 regexes (id, date, dateTime, instant, time, uri, code, oid, uuid,
  decimal, integer, positiveInt, unsignedInt, boolean, base64Binary …), real calendar dates,
  32-bit integer ranges, no control characters in strings;
- required bindings: ``code`` elements (schema enums, and the snapshots' value sets where the
  schema has no enum), and ``CodeableConcept``/``Coding`` against the pack's ValueSets; a code
  system that is not in the pack never yields an error (a ``warning``, code ``not-supported``);
- a few core invariants that are cheap and certain (ext-1, dom-2/4/5, txt div, per-1,
  qty-3, cpt-2, att-1, pat-1, obs-6, bdl-1/2/3/4/5/7/9/10/11/12);
- FR Core: profile constraints when ``meta.profile`` claims an FR Core profile (from the
  profile snapshots: cardinality, required extensions, required slices by discriminator
  value, fixed/pattern values, identifier slices), and French identifiers wherever their
  system is used (INS-NIR key, RPPS/IDNPS and FINESS Luhn keys).

The definitions are compiled once per pack (``compile.py``) and cached as a pickle under
the pack's ``derived_dir("fhir-validator")``; loading the cache takes a few milliseconds.
Walking is done by per-type generated functions (``codegen.py``) that accept what is
certainly valid inline and hand everything else to the reference handler ``_key``.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import pickle
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:  # orjson is a declared dependency; keep a stdlib fallback all the same
    import orjson as _orjson
    _loads = _orjson.loads
except ImportError:  # pragma: no cover
    _orjson = None
    _loads = json.loads

from harness.rulepacks import RulePack, RulePackError
from harness_plugins._common.identifiers import check_nir, check_rpps, luhn_ok

from . import compile as _compile
from .codegen import WalkerFactory
from .packs import check_pack_layout, locate_pack

__all__ = ["FhirValidator", "Issue", "default_validator", "ERROR", "WARNING", "INFORMATION"]

ERROR, WARNING, INFORMATION = "error", "warning", "information"


@dataclass(frozen=True, slots=True)
class Issue:
    severity: str   # "error" | "warning" | "information"
    code: str       # FHIR IssueType: structure, required, value, code-invalid, invariant, invalid-json …
    path: str       # FHIRPath-like location, e.g. "Patient.identifier[0].system"
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"severity": self.severity, "code": self.code, "path": self.path, "message": self.message}


# --------------------------------------------------------------------------------------------
# Primitive checkers: each returns None when valid, else a message. Hot path: keep them small.
# --------------------------------------------------------------------------------------------

_CTRL_BYTES = bytes(c for c in range(32) if c not in (9, 10, 13))
_B64_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/= \t\r\n\x0b\x0c"


def _CTRL(v: str) -> bool:
    """True when ``v`` has a control character other than tab, CR, LF (bytes.translate: C speed)."""
    b = v.encode("utf-8", "surrogatepass")
    return len(b.translate(None, _CTRL_BYTES)) != len(b)


def _B64_BAD(v: str) -> bool:
    """True when ``v`` has a character outside the base64 alphabet and whitespace."""
    if not v.isascii():
        return True
    return bool(v.encode("ascii").translate(None, _B64_BYTES))
_INT32_MIN, _INT32_MAX = -2147483648, 2147483647
_CACHE_LIMIT = 16384  # valid values remembered per primitive type (ids, dates, oids…)


def _days_ok(v: str) -> bool:
    """Real calendar day for YYYY-MM-DD… (regexes accept 31 for every month)."""
    if len(v) < 10 or v[8:10] <= "28":
        return True
    year, month, day = int(v[0:4]), int(v[5:7]), int(v[8:10])
    return day <= calendar.monthrange(year, month)[1]


def _make_checkers(primitives: dict[str, dict]) -> dict[str, Any]:
    rx = {name: re.compile(spec["pattern"]).match for name, spec in primitives.items() if spec.get("pattern")}
    # The schema's string/markdown pattern ^[ \r\n\t\S]+$ would reject U+00A0 (common in French
    # text); FHIR itself only forbids control characters other than tab/CR/LF.
    del rx["string"], rx["markdown"]
    # Python's "\S" / "\s" are Unicode-aware like the JSON schema's ECMAScript ones.

    def c_string(v):
        if type(v) is not str:
            return f"expected a JSON string, got {_jtype(v)}"
        if not v:
            return "empty string (a value must have content, ele-1)"
        if not v.isprintable() and _CTRL(v):
            return "string contains control characters"
        if len(v) > 1048576:
            return "string longer than 1 MB"
        return None

    def c_boolean(v):
        if type(v) is not bool:
            return f"expected a JSON boolean, got {_jtype(v)}"
        return None

    def c_integer(v):
        if type(v) is not int:
            return f"expected an integer, got {_jtype(v)}"
        if v < _INT32_MIN or v > _INT32_MAX:
            return f"integer {v} out of the 32-bit range"
        return None

    def c_positive(v):
        if type(v) is not int:
            return f"expected a positive integer, got {_jtype(v)}"
        if v < 1 or v > _INT32_MAX:
            return f"positiveInt {v} out of range (1..2^31-1)"
        return None

    def c_unsigned(v):
        if type(v) is not int:
            return f"expected a non-negative integer, got {_jtype(v)}"
        if v < 0 or v > _INT32_MAX:
            return f"unsignedInt {v} out of range (0..2^31-1)"
        return None

    def c_decimal(v):
        t = type(v)
        if t is float:
            if v != v or v in (float("inf"), float("-inf")):
                return "decimal is not a finite number"
            return None
        if t is not int:
            return f"expected a JSON number, got {_jtype(v)}"
        return None

    def regex_checker(name, match, dated=False):
        label = name

        def check(v):
            if type(v) is not str:
                return f"expected a JSON string ({label}), got {_jtype(v)}"
            if not v:
                return f"empty {label} (a value must have content, ele-1)"
            if match(v) is None:
                return f"{v[:80]!r} is not a valid {label}"
            if dated and not _days_ok(v):
                return f"{v[:80]!r} is not a valid {label} (no such day)"
            return None
        return check

    def c_xhtml(v):
        if type(v) is not str:
            return f"expected a JSON string (xhtml), got {_jtype(v)}"
        if not v.lstrip().startswith("<div"):
            return "narrative div must be an XHTML <div> element (txt-1)"
        return None

    def c_base64(v):
        if type(v) is not str:
            return f"expected a JSON string (base64Binary), got {_jtype(v)}"
        if not v:
            return "empty base64Binary"
        if _B64_BAD(v):
            return "base64Binary contains characters outside the base64 alphabet"
        return None

    checkers = {
        "string": c_string, "markdown": c_string, "boolean": c_boolean, "integer": c_integer,
        "positiveInt": c_positive, "unsignedInt": c_unsigned, "decimal": c_decimal, "xhtml": c_xhtml,
        "base64Binary": c_base64,
    }
    for name in ("id", "code", "uri", "url", "canonical", "oid", "uuid", "time"):
        checkers[name] = regex_checker(name, rx[name])
    for name in ("date", "dateTime", "instant"):
        checkers[name] = regex_checker(name, rx[name], dated=True)
    return checkers




def _jtype(v: Any) -> str:
    if v is None:
        return "null"
    if type(v) is bool:
        return "boolean"
    if type(v) in (int, float):
        return "number"
    if type(v) is str:
        return "string"
    if type(v) is list:
        return "array"
    if type(v) is dict:
        return "object"
    return type(v).__name__


# --------------------------------------------------------------------------------------------
# Runtime type table
# --------------------------------------------------------------------------------------------

K_PRIM, K_COMPLEX, K_RESOURCE, K_PRIMEXT, K_IGNORE = 0, 1, 2, 3, 4

# Fast-walker codes: single elements < 10, arrays = single + 10.
F_IGNORE, F_CPLX, F_STR, F_RX, F_ENUM, F_URI, F_BOUND, F_BOOL, F_PEXT, F_RES, F_CALL, F_CODE = range(12)
A_CPLX, A_STR, A_RX, A_ENUM, A_URI, A_BOUND, A_BOOL, A_PEXT, A_RES, A_CALL, A_CODE = (
    F_CPLX + 20, F_STR + 20, F_RX + 20, F_ENUM + 20, F_URI + 20, F_BOUND + 20, F_BOOL + 20, F_PEXT + 20,
    F_RES + 20, F_CALL + 20, F_CODE + 20)


class _ValueSet:
    __slots__ = ("url", "name", "systems")

    def __init__(self, url: str, name: str, systems: dict[str, frozenset | None]):
        self.url, self.name, self.systems = url, name, systems


class _Type:
    __slots__ = ("name", "props", "required", "choices", "invariants", "is_resource", "post", "fast", "wname")

    def __init__(self, name: str, is_resource: bool):
        self.name = name
        self.is_resource = is_resource
        self.props: dict[str, tuple] = {}     # json name -> (K_*, checker|_Type|None, is_array, codes|binding)
        self.required: tuple = ()             # ((label, json names that satisfy it), ...)
        self.choices: tuple = ()              # ((stem, json names), ...)
        self.invariants: tuple = ()
        self.post = None                      # required + choices + invariants, or None
        self.fast: dict[str, tuple] = {}      # json name -> (F_* code, arg, extra) for the fast walker


def _fmt(path: Any) -> str:
    """Render a lazy path: a string, or (parent, key) / (parent, key, index) tuples."""
    if type(path) is str:
        return path
    parts = []
    while type(path) is tuple:
        if len(path) == 3:
            parts.append(f".{path[1]}[{path[2]}]")
        else:
            parts.append("." + path[1])
        path = path[0]
    parts.append(path)
    return "".join(reversed(parts))


def _required_issue(path: Any, owner: str, label: str, out: list) -> None:
    out.append(Issue(ERROR, "required", f"{_fmt(path)}.{label}",
                     f"{owner}.{label}: minimum cardinality 1, element missing"))


def _choice_issue(o: dict, path: Any, stem: str, names: tuple, out: list) -> None:
    present = [n for n in names if n in o]
    out.append(Issue(ERROR, "structure", f"{_fmt(path)}.{stem}[x]",
                     f"choice element {stem}[x] has more than one type: {', '.join(present)}"))


def _make_post(t: _Type):
    """Required elements, choice exclusivity, invariants (the generated walkers inline the same)."""
    required, choices, invariants = t.required, t.choices, t.invariants
    if not (required or choices or invariants):
        return None
    owner = t.name.replace("_", ".")

    def post(o, path, out):
        for label, names in required:
            for n in names:
                if n in o:
                    break
            else:
                _required_issue(path, owner, label, out)
        for stem, names in choices:
            found = 0
            for n in names:
                if n in o:
                    found += 1
            if found > 1:
                _choice_issue(o, path, stem, names, out)
        for inv in invariants:
            inv(o, path, out)
    return post


class FhirValidator:
    """Validator bound to one definitions pack. Thread-safe (no mutable state while validating)."""

    def __init__(self, pack: RulePack | None = None, compiled: dict | None = None):
        self.pack = pack if pack is not None else locate_pack()
        self._compiled = compiled if compiled is not None else load_compiled(self.pack)
        self._build(self._compiled)

    # ---- public API ------------------------------------------------------------------------

    def rule_packs(self) -> list[dict]:
        return [self.pack.record()]

    @property
    def resource_types(self) -> frozenset[str]:
        return self._resource_names

    @property
    def profiles(self) -> dict[str, dict]:
        """FR Core profiles known to the validator (url -> {name, type, rules})."""
        return self._profiles

    def validate_json(self, line: bytes | str) -> list[Issue]:
        try:
            data = _loads(line)
        except (ValueError, TypeError) as exc:
            try:  # orjson refuses a few valid documents (integers beyond 64 bits…)
                data = json.loads(line)
            except (ValueError, TypeError, RecursionError):
                return [Issue(ERROR, "invalid-json", "", f"invalid JSON: {exc}")]
        except RecursionError:
            return [Issue(ERROR, "invalid-json", "", "invalid JSON: nesting too deep")]
        return self.validate(data)

    def validate(self, resource: Any) -> list[Issue]:
        out: list[Issue] = []
        if type(resource) is not dict:
            out.append(Issue(ERROR, "structure", "", f"a resource must be a JSON object, got {_jtype(resource)}"))
            return out
        try:
            self._resource(resource, None, out, 0)
        except RecursionError:
            out.append(Issue(ERROR, "structure", "", "resource nesting too deep"))
        except Exception as exc:  # never let one odd resource stop a run; report it instead
            out.append(Issue(ERROR, "exception", "", f"validator internal error: {type(exc).__name__}: {exc}"))
        return out

    def is_valid(self, resource: Any) -> bool:
        return not any(i.severity == ERROR for i in self.validate(resource))

    # ---- build -----------------------------------------------------------------------------

    def _build(self, c: dict) -> None:
        self._checkers = _make_checkers(c["primitives"])
        self._valuesets = {url: _ValueSet(url, vs.get("name", ""), vs["systems"])
                           for url, vs in c["valuesets"].items()}
        self._resource_names = frozenset(c["resources"])
        types: dict[str, _Type] = {name: _Type(name, spec["resource"]) for name, spec in c["types"].items()}
        for name, spec in c["types"].items():
            t = types[name]
            props = {}
            for prop, (kind, target, is_array) in spec["props"].items():
                if kind == _compile.PRIM:
                    codes = spec["codes"].get(prop)
                    props[prop] = (K_PRIM, self._checkers[target], is_array, codes)
                elif kind == _compile.COMPLEX:
                    vs_url = spec["bindings"].get(prop)
                    vs = self._valuesets.get(vs_url) if vs_url else None
                    if vs_url and vs is None:
                        vs = _ValueSet(vs_url, "", {})
                    props[prop] = (K_COMPLEX, types[target], is_array,
                                   (vs, target == "CodeableConcept") if vs is not None else None)
                elif kind == _compile.RESOURCE:
                    props[prop] = (K_RESOURCE, None, is_array, None)
                else:
                    props[prop] = (K_PRIMEXT, types["Element"], is_array, None)
            if t.is_resource:
                props["resourceType"] = (K_IGNORE, None, False, None)
            t.props = props
            t.required = tuple(spec["required"].items())
            t.choices = tuple(spec["choices"].items())
            invs = list(_INVARIANTS.get(name, ()))
            if t.is_resource and name not in _NOT_DOMAIN:
                invs.insert(0, _inv_domain_resource)
            t.invariants = tuple(invs)
            t.post = _make_post(t)
        self._types = types
        self._profiles = c["profiles"]
        self._build_fast()

    # ---- walking ---------------------------------------------------------------------------

    def _resource(self, o: dict, path: Any, out: list, depth: int, fast: bool = True) -> None:
        rt = o.get("resourceType")
        if type(rt) is not str:
            out.append(Issue(ERROR, "structure", _fmt(path) if path is not None else "",
                             "missing or non-string resourceType"))
            return
        t = self._types.get(rt) if rt in self._resource_names else None
        if t is None:
            out.append(Issue(ERROR, "structure", _fmt(path) if path is not None else rt,
                             f"unknown resourceType {rt[:80]!r}"))
            return
        if path is None:
            path = rt
        if depth > 8:
            out.append(Issue(ERROR, "structure", _fmt(path), "resources nested more than 8 deep"))
            return
        if fast:
            self._walk(o, t, path, out, depth)
        else:
            self._obj(o, t, _fmt(path), out, depth)
        meta = o.get("meta")
        if type(meta) is dict:
            profiles = meta.get("profile")
            if type(profiles) is list and profiles:
                self._profiles_check(o, rt, profiles, _fmt(path), out)
        if rt in _FR_IDENTIFIER_TYPES:
            ident = o.get("identifier")
            if ident is not None:
                _french_identifiers(ident, path, out)

    def _validate_reference(self, resource: Any) -> list[Issue]:
        """The same validation with the plain (reference) walker; tests compare both."""
        out: list[Issue] = []
        if type(resource) is not dict:
            return self.validate(resource)
        self._resource(resource, None, out, 0, fast=False)
        return out

    # The reference walker: one generic loop, string paths. The fast walker (below, built in
    # _build_fast) handles the common valid cases inline and hands any key it does not accept
    # outright to _key, so both report exactly the same issues.

    def _obj(self, o: dict, t: _Type, path: str, out: list, depth: int) -> None:
        for k, v in o.items():
            self._key(o, t, k, v, path, out, depth, False)
        post = t.post
        if post is not None:
            post(o, path, out)

    def _key(self, o: dict, t: _Type, k: str, v: Any, path: str, out: list, depth: int, fast: bool) -> None:
        p = t.props.get(k)
        if p is None:
            out.append(_unknown(t, k, path))
            return
        obj = self._walk if fast else self._obj
        kind, arg, arr, extra = p
        if arr:
            if type(v) is not list:
                out.append(Issue(ERROR, "structure", f"{path}.{k}",
                                 f"{k} must be a JSON array (max cardinality *), got {_jtype(v)}"))
                v = [v]
            elif not v:
                out.append(Issue(ERROR, "structure", f"{path}.{k}", "empty array (ele-1)"))
                return
            if kind == K_PRIM:
                i = 0
                for x in v:
                    if x is None:
                        pe = o.get("_" + k)
                        if type(pe) is not list or len(pe) <= i or pe[i] is None:
                            out.append(Issue(ERROR, "structure", f"{path}.{k}[{i}]",
                                             "null in a primitive array without a matching extension in _" + k))
                    else:
                        msg = arg(x)
                        if msg is not None:
                            out.append(Issue(ERROR, "value", f"{path}.{k}[{i}]", msg))
                        elif extra is not None and x not in extra:
                            out.append(_bad_code(x, extra, f"{path}.{k}[{i}]"))
                    i += 1
                pe = o.get("_" + k)
                if type(pe) is list and len(pe) != len(v):
                    out.append(Issue(ERROR, "structure", f"{path}._{k}",
                                     f"_{k} has {len(pe)} items but {k} has {len(v)}"))
            elif kind == K_COMPLEX:
                i = 0
                for x in v:
                    if type(x) is dict and x:
                        obj(x, arg, f"{path}.{k}[{i}]", out, depth)
                        if extra is not None:
                            _binding(x, extra, f"{path}.{k}[{i}]", out)
                    else:
                        out.append(_not_object(x, f"{path}.{k}[{i}]"))
                    i += 1
            elif kind == K_RESOURCE:
                i = 0
                for x in v:
                    if type(x) is dict:
                        self._resource(x, f"{path}.{k}[{i}]", out, depth + 1, fast)
                    else:
                        out.append(_not_object(x, f"{path}.{k}[{i}]"))
                    i += 1
            elif kind == K_PRIMEXT:
                i = 0
                for x in v:
                    if x is not None:
                        if type(x) is dict and x:
                            obj(x, arg, f"{path}.{k}[{i}]", out, depth)
                        else:
                            out.append(_not_object(x, f"{path}.{k}[{i}]"))
                    i += 1
        else:
            if kind == K_PRIM:
                msg = arg(v)
                if msg is not None:
                    if type(v) is list:
                        out.append(Issue(ERROR, "structure", f"{path}.{k}",
                                         f"{k} has max cardinality 1 but is a JSON array"))
                    else:
                        out.append(Issue(ERROR, "value", f"{path}.{k}", msg))
                elif extra is not None and v not in extra:
                    out.append(_bad_code(v, extra, f"{path}.{k}"))
            elif kind == K_COMPLEX:
                if type(v) is dict and v:
                    obj(v, arg, f"{path}.{k}", out, depth)
                    if extra is not None:
                        _binding(v, extra, f"{path}.{k}", out)
                elif type(v) is list:
                    out.append(Issue(ERROR, "structure", f"{path}.{k}",
                                     f"{k} has max cardinality 1 but is a JSON array"))
                else:
                    out.append(_not_object(v, f"{path}.{k}"))
            elif kind == K_RESOURCE:
                if type(v) is dict:
                    self._resource(v, f"{path}.{k}", out, depth + 1, fast)
                elif type(v) is list:
                    out.append(Issue(ERROR, "structure", f"{path}.{k}",
                                     f"{k} has max cardinality 1 but is a JSON array"))
                else:
                    out.append(_not_object(v, f"{path}.{k}"))
            elif kind == K_PRIMEXT:
                if type(v) is dict and v:
                    obj(v, arg, f"{path}.{k}", out, depth)
                else:
                    out.append(_not_object(v, f"{path}.{k}"))

    def _build_fast(self) -> None:
        """Per-type fast tables and the fast walker (a closure: no attribute look-ups inside).

        The fast walker accepts a value inline only when a cheap test proves it valid; anything
        else goes to the reference handler ``_key``, which decides and words the issue. Regex
        checks are the costly part, so values already found valid are remembered per primitive
        type (bounded sets: codes, systems, dates repeat a lot in real exports).
        """
        names_by_checker = {id(c): n for n, c in self._checkers.items()}
        caches: dict[str, set] = {}

        def cached_ok(pname: str):
            cache = caches.setdefault(pname, set())
            checker = self._checkers[pname]
            add = cache.add

            def ok(x):
                if checker(x) is None:
                    if len(cache) < _CACHE_LIMIT:  # bounded: the first values seen are the frequent ones
                        add(x)
                    return True
                return False
            return cache, ok

        for t in self._types.values():
            fast = {}
            for k, (kind, arg, arr, extra) in t.props.items():
                base = 20 if arr else 0
                if kind == K_IGNORE:
                    fast[k] = (F_IGNORE, None, None)
                elif kind == K_COMPLEX:
                    fast[k] = ((F_BOUND if extra is not None else F_CPLX) + base, arg, extra)
                elif kind == K_RESOURCE:
                    fast[k] = (F_RES + base, None, None)
                elif kind == K_PRIMEXT:
                    fast[k] = (F_PEXT + base, arg, None)
                else:
                    pname = names_by_checker[id(arg)]
                    if extra is not None:
                        fast[k] = (F_ENUM + base, extra, "_" + k)
                    elif pname in ("string", "markdown"):
                        fast[k] = (F_STR + base, None, "_" + k)
                    elif pname in ("uri", "url", "canonical"):
                        fast[k] = (F_URI + base, None, "_" + k)
                    elif pname == "code":
                        fast[k] = (F_CODE + base, None, "_" + k)
                    elif pname in ("id", "oid", "uuid", "time", "date", "dateTime", "instant"):
                        cache, ok = cached_ok(pname)
                        fast[k] = (F_RX + base, cache, "_" + k, ok)
                    elif pname == "boolean":
                        fast[k] = (F_BOOL + base, None, "_" + k)
                    else:
                        fast[k] = (F_CALL + base, arg, "_" + k)
            t.fast = fast

        codes = {n: v for n, v in globals().items() if n.startswith(("F_", "A_")) and type(v) is int}
        factory = WalkerFactory(codes, self._key, self._resource, _binding, _not_object, _fmt,
                                _required_issue, _choice_issue, 1048576,
                                self._compiled.get("key_frequencies"))
        ns = factory.ns
        for t in self._types.values():
            t.wname = factory.name_of(t)
        self._factory = factory

        def walk(o, t, path, out, depth):
            ns[t.wname](o, path, out, depth)

        self._walk = walk

    # ---- FR Core profiles --------------------------------------------------------------------

    def _profiles_check(self, o: dict, rt: str, claimed: list, path: str, out: list) -> None:
        for url in claimed:
            if type(url) is not str:
                continue
            base = url.split("|", 1)[0]
            prof = self._profiles.get(base)
            if prof is None:
                if base.startswith(_FR_CORE_BASE):
                    out.append(Issue(WARNING, "not-supported", f"{path}.meta.profile",
                                     f"unknown FR Core profile {base} (not in the definitions pack)"))
                continue
            if prof["type"] != rt:
                out.append(Issue(ERROR, "invariant", f"{path}.meta.profile",
                                 f"profile {prof['name']} is for {prof['type']}, not {rt}"))
                continue
            _apply_profile(prof, o, path, out)


# --------------------------------------------------------------------------------------------
# Helpers for issues
# --------------------------------------------------------------------------------------------

def _unknown(t: _Type, k: str, path: str) -> Issue:
    owner = t.name.replace("_", ".")
    if k == "resourceType":
        return Issue(ERROR, "structure", f"{path}.{k}", f"resourceType is not allowed inside {owner}")
    return Issue(ERROR, "structure", f"{path}.{k}", f"unknown element {k[:80]!r} in {owner}")


def _not_object(v: Any, path: str) -> Issue:
    if type(v) is dict:
        return Issue(ERROR, "structure", path, "empty object (an element must have a value or children, ele-1)")
    return Issue(ERROR, "structure", path, f"expected a JSON object, got {_jtype(v)}")


def _bad_code(v: str, codes: frozenset, path: str) -> Issue:
    allowed = ", ".join(sorted(codes)[:12]) + (" …" if len(codes) > 12 else "")
    return Issue(ERROR, "code-invalid", path,
                 f"code {v[:80]!r} is not in the required value set (allowed: {allowed})")


def _binding(x: dict, binding: tuple, path: str, out: list) -> None:
    """Required binding on a CodeableConcept or Coding."""
    vs, is_cc = binding
    if is_cc:
        codings = x.get("coding")
        if type(codings) is not list or not codings:
            out.append(Issue(ERROR, "code-invalid", _fmt(path),
                             f"no coding, but a code from the required value set {vs.url} is needed"))
            return
    else:
        codings = (x,)
    unknown_system = None
    bad = None
    foreign = None
    for c in codings:
        if type(c) is not dict:
            continue
        system, code = c.get("system"), c.get("code")
        if type(system) is not str or type(code) is not str:
            if system is None:
                foreign = (None, code)
            continue
        if system in vs.systems:
            codes = vs.systems[system]
            if codes is None:
                unknown_system = system
            elif code in codes:
                return
            else:
                bad = (system, code)
        else:
            foreign = (system, code)
    if bad is not None:
        out.append(Issue(ERROR, "code-invalid", _fmt(path),
                         f"code {str(bad[1])[:80]!r} is not in code system {bad[0]} "
                         f"(required value set {vs.name or vs.url})"))
    elif unknown_system is not None:
        out.append(Issue(WARNING, "not-supported", _fmt(path),
                         f"code system {unknown_system} is not in the definitions pack: cannot check "
                         f"the required binding to {vs.url} (review)"))
    elif not vs.systems:
        out.append(Issue(WARNING, "not-supported", _fmt(path),
                         f"value set {vs.url} is not in the definitions pack: cannot check the binding (review)"))
    elif foreign is not None and foreign[0] is None:
        out.append(Issue(WARNING, "code-invalid", _fmt(path),
                         f"coding without a system; cannot check the required value set {vs.url}"))
    else:
        systems = ", ".join(sorted(vs.systems))
        out.append(Issue(ERROR, "code-invalid", _fmt(path),
                         f"no coding from the required value set {vs.name or vs.url} (systems: {systems})"))


# --------------------------------------------------------------------------------------------
# Invariants (hand-coded: cheap and unambiguous ones only)
# --------------------------------------------------------------------------------------------

def _inv_extension(o, path, out):  # ext-1
    has_value = False
    for k in o:
        if k.startswith("value"):
            has_value = True
            break
    if ("extension" in o) == has_value:
        out.append(Issue(ERROR, "invariant", _fmt(path),
                         "ext-1: an extension must have either extensions or a value[x], not both"
                         if has_value else "ext-1: an extension must have either extensions or a value[x]"))


def _same_precision(a: str, b: str) -> bool:
    return len(a) == len(b) and ("T" not in a or a[19:].lstrip("0123456789.") == b[19:].lstrip("0123456789."))


def _inv_period(o, path, out):  # per-1
    start, end = o.get("start"), o.get("end")
    if type(start) is str and type(end) is str and _same_precision(start, end) and start > end:
        out.append(Issue(ERROR, "invariant", _fmt(path), f"per-1: period start {start} is after end {end}"))


def _inv_quantity(o, path, out):  # qty-3
    if "code" in o and "system" not in o:
        out.append(Issue(ERROR, "invariant", _fmt(path),
                         "qty-3: if a code for the unit is present, the system SHALL also be present"))


def _inv_contactpoint(o, path, out):  # cpt-2
    if "value" in o and "system" not in o:
        out.append(Issue(ERROR, "invariant", _fmt(path), "cpt-2: a system is required if a value is provided"))


def _inv_attachment(o, path, out):  # att-1
    if "data" in o and "contentType" not in o:
        out.append(Issue(ERROR, "invariant", _fmt(path),
                         "att-1: if the Attachment has data, it SHALL have a contentType"))


def _inv_patient_contact(o, path, out):  # pat-1
    if not ("name" in o or "telecom" in o or "address" in o or "organization" in o):
        out.append(Issue(ERROR, "invariant", _fmt(path),
                         "pat-1: SHALL at least contain a contact's details or a reference to an organization"))


def _inv_observation(o, path, out):  # obs-6
    if "dataAbsentReason" in o:
        for k in o:
            if k.startswith("value"):
                out.append(Issue(ERROR, "invariant", _fmt(path),
                                 "obs-6: dataAbsentReason SHALL only be present if Observation.value[x] "
                                 "is not present"))
                break


def _inv_observation_component(o, path, out):  # obs-6 on components
    _inv_observation(o, path, out)


def _inv_domain_resource(o, path, out):  # dom-2, dom-4, dom-5 (on contained resources)
    contained = o.get("contained")
    if type(contained) is not list:
        return
    for i, c in enumerate(contained):
        if type(c) is not dict:
            continue
        if "contained" in c:
            out.append(Issue(ERROR, "invariant", f"{_fmt(path)}.contained[{i}]",
                             "dom-2: a contained resource SHALL NOT contain nested resources"))
        meta = c.get("meta")
        if type(meta) is dict:
            if "versionId" in meta or "lastUpdated" in meta:
                out.append(Issue(ERROR, "invariant", f"{_fmt(path)}.contained[{i}].meta",
                                 "dom-4: a contained resource SHALL NOT have a meta.versionId or meta.lastUpdated"))
            if "security" in meta:
                out.append(Issue(ERROR, "invariant", f"{_fmt(path)}.contained[{i}].meta",
                                 "dom-5: a contained resource SHALL NOT have a security label"))


def _inv_bundle(o, path, out):
    btype = o.get("type")
    if "total" in o and btype not in ("searchset", "history"):
        out.append(Issue(ERROR, "invariant", f"{_fmt(path)}.total", "bdl-1: total only when a search or history"))
    entries = o.get("entry")
    if type(entries) is not list:
        entries = []
    seen = set()
    for i, e in enumerate(entries):
        if type(e) is not dict:
            continue
        epath = f"{_fmt(path)}.entry[{i}]"
        if "search" in e and btype != "searchset":
            out.append(Issue(ERROR, "invariant", f"{epath}.search", "bdl-2: entry.search only when a search"))
        if btype in ("batch", "transaction", "history"):
            if "request" not in e:
                out.append(Issue(ERROR, "invariant", epath,
                                 "bdl-3: entry.request mandatory for batch/transaction/history"))
        elif "request" in e:
            out.append(Issue(ERROR, "invariant", f"{epath}.request",
                             "bdl-3: entry.request allowed only for batch/transaction/history"))
        if btype in ("batch-response", "transaction-response", "history"):
            if "response" not in e:
                out.append(Issue(ERROR, "invariant", epath,
                                 "bdl-4: entry.response mandatory for batch-response/transaction-response/history"))
        elif "response" in e:
            out.append(Issue(ERROR, "invariant", f"{epath}.response",
                             "bdl-4: entry.response allowed only for batch-response/transaction-response/history"))
        if not ("resource" in e or "request" in e or "response" in e):
            out.append(Issue(ERROR, "invariant", epath,
                             "bdl-5: must be a resource unless there's a request or response"))
        full_url = e.get("fullUrl")
        resource = e.get("resource")
        if type(full_url) is str and type(resource) is dict and btype != "history":
            meta = resource.get("meta")
            version = meta.get("versionId") if type(meta) is dict else None
            key = (full_url, version)
            if key in seen:
                out.append(Issue(ERROR, "invariant", f"{epath}.fullUrl",
                                 f"bdl-7: fullUrl {full_url[:80]} SHALL be unique unless versionIds differ"))
            seen.add(key)
    if btype == "document":
        if "identifier" not in o:
            out.append(Issue(ERROR, "invariant", _fmt(path), "bdl-9: a document must have an identifier"))
        if "timestamp" not in o:
            out.append(Issue(ERROR, "invariant", _fmt(path), "bdl-10: a document must have a timestamp"))
        first = entries[0].get("resource") if entries and type(entries[0]) is dict else None
        if type(first) is not dict or first.get("resourceType") != "Composition":
            out.append(Issue(ERROR, "invariant", _fmt(path),
                             "bdl-11: a document must have a Composition as the first resource"))
    elif btype == "message":
        first = entries[0].get("resource") if entries and type(entries[0]) is dict else None
        if type(first) is not dict or first.get("resourceType") != "MessageHeader":
            out.append(Issue(ERROR, "invariant", _fmt(path),
                             "bdl-12: a message must have a MessageHeader as the first resource"))


_INVARIANTS: dict[str, list] = {
    "Extension": [_inv_extension],
    "Period": [_inv_period],
    "Quantity": [_inv_quantity],
    "Age": [_inv_quantity],
    "Duration": [_inv_quantity],
    "Distance": [_inv_quantity],
    "Count": [_inv_quantity],
    "SimpleQuantity": [_inv_quantity],
    "ContactPoint": [_inv_contactpoint],
    "Attachment": [_inv_attachment],
    "Patient_Contact": [_inv_patient_contact],
    "Observation": [_inv_observation],
    "Observation_Component": [_inv_observation_component],
    "Bundle": [_inv_bundle],
}


_NOT_DOMAIN = frozenset({"Bundle", "Binary", "Parameters"})


# --------------------------------------------------------------------------------------------
# French identifiers and FR Core profiles
# --------------------------------------------------------------------------------------------

_FR_CORE_BASE = "http://hl7.fr/ig/fhir/core/"
SYSTEM_INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
SYSTEMS_INS_NIR_TEST = ("urn:oid:1.2.250.1.213.1.4.10", "urn:oid:1.2.250.1.213.1.4.11")
SYSTEM_RPPS = "urn:oid:1.2.250.1.71.4.2.1"
SYSTEM_FINESS = "urn:oid:1.2.250.1.71.4.2.2"
_FR_IDENTIFIER_TYPES = frozenset({"Patient", "Practitioner", "PractitionerRole", "Organization", "RelatedPerson",
                                  "Person", "Location", "HealthcareService"})


def _french_identifiers(identifiers: Any, path: str, out: list) -> None:
    """INS-NIR key, IDNPS/RPPS Luhn key, FINESS key — wherever those systems are used."""
    if type(identifiers) is not list:
        return
    for i, ident in enumerate(identifiers):
        if type(ident) is not dict:
            continue
        system = ident.get("system")
        value = ident.get("value")
        if type(system) is not str or type(value) is not str:
            continue
        if system == SYSTEM_INS_NIR or system in SYSTEMS_INS_NIR_TEST:
            reason = check_nir(value)
            if reason:
                out.append(Issue(ERROR, "value", f"{_fmt(path)}.identifier[{i}].value",
                                 f"INS-NIR ({system}): {reason}"))
        elif system == SYSTEM_RPPS:
            # IDNPS: "8" + RPPS (11 digits), or an RPPS alone; "0" + ADELI and "3" + FINESS/… are
            # other national PS identifiers that have no RPPS key to check.
            digits = value
            if len(value) == 10 and value.startswith("0") and value.isdigit():
                continue
            if value.startswith("3") and not (len(value) == 11 and value.isdigit()):
                continue
            reason = check_rpps(digits)
            if reason:
                out.append(Issue(ERROR, "value", f"{_fmt(path)}.identifier[{i}].value",
                                 f"RPPS/IDNPS ({system}): {reason}"))
        elif system == SYSTEM_FINESS:
            if len(value) == 9 and value.isdigit() and not luhn_ok(value):
                out.append(Issue(ERROR, "value", f"{_fmt(path)}.identifier[{i}].value",
                                 f"FINESS ({system}): {value} fails its Luhn key"))


def _parents(o: dict, path: str, segs: list) -> list[tuple[dict, str]]:
    """The objects at ``segs`` below ``o`` (through arrays), with their paths."""
    current = [(o, path)]
    for seg in segs:
        nxt = []
        for obj, p in current:
            v = obj.get(seg)
            if type(v) is list:
                nxt.extend((x, f"{p}.{seg}[{i}]") for i, x in enumerate(v) if type(x) is dict)
            elif type(v) is dict:
                nxt.append((v, f"{p}.{seg}"))
        current = nxt
        if not current:
            break
    return current


def _values_at(item: Any, segs: list) -> list:
    values = [item]
    for seg in segs:
        nxt = []
        for v in values:
            if type(v) is dict:
                x = v.get(seg)
                if type(x) is list:
                    nxt.extend(x)
                elif x is not None:
                    nxt.append(x)
        values = nxt
    return values


def _matches_pattern(value: Any, pattern: Any) -> bool:
    """FHIR pattern[x] semantics: every element of the pattern is in the value (arrays: each
    pattern item matches some value item)."""
    if type(pattern) is dict:
        if type(value) is not dict:
            return False
        for k, pv in pattern.items():
            v = value.get(k)
            if v is None:
                return False
            if type(pv) is list:
                items = v if type(v) is list else [v]
                for pi in pv:
                    if not any(_matches_pattern(x, pi) for x in items):
                        return False
            elif not _matches_pattern(v, pv):
                return False
        return True
    if type(pattern) is list:
        items = value if type(value) is list else [value]
        return all(any(_matches_pattern(x, pi) for x in items) for pi in pattern)
    if type(pattern) is float or type(value) is float:
        return type(value) in (int, float) and type(pattern) in (int, float) and value == pattern
    return value == pattern and type(value) is type(pattern)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 160 else text[:157] + "..."


def _apply_profile(prof: dict, o: dict, path: str, out: list) -> None:
    name = prof["name"]
    rules = prof["rules"]
    for parents, label, json_names, min_, max_ in rules["cardinality"]:
        for obj, p in _parents(o, path, parents):
            count = 0
            for n in json_names:
                v = obj.get(n)
                if v is not None:
                    count = max(count, len(v) if type(v) is list else 1)
            if count < min_:
                out.append(Issue(ERROR, "required", f"{p}.{label}",
                                 f"{name}: {label} minimum cardinality {min_}, found {count}"))
            if max_ not in ("*", None) and count > int(max_):
                out.append(Issue(ERROR, "structure", f"{p}.{label}",
                                 f"{name}: {label} maximum cardinality {max_}, found {count}"))
    for parents, elem, slice_name, url, min_ in rules["extensions"]:
        for obj, p in _parents(o, path, parents):
            exts = obj.get(elem)
            count = 0
            if type(exts) is list:
                for e in exts:
                    if type(e) is dict and e.get("url") == url:
                        count += 1
            if count < min_:
                out.append(Issue(ERROR, "required", f"{p}.{elem}",
                                 f"{name}: required extension {slice_name} ({url}) is missing"))
    for parents, elem, slice_name, conditions, min_ in rules["slices"]:
        for obj, p in _parents(o, path, parents):
            v = obj.get(elem)
            items = v if type(v) is list else ([] if v is None else [v])
            count = 0
            for item in items:
                for segs, value in conditions:
                    if not any(_matches_pattern(x, value) for x in _values_at(item, segs)):
                        break
                else:
                    count += 1
            if count < min_:
                wanted = ", ".join(f"{'.'.join(segs) or elem} = {_short(value)}" for segs, value in conditions)
                out.append(Issue(ERROR, "required", f"{p}.{elem}",
                                 f"{name}: slice {elem}:{slice_name} requires at least {min_} item(s) with "
                                 f"{wanted}; found {count}"))
    for parents, label, elem, kind, value in rules["patterns"]:
        for obj, p in _parents(o, path, parents):
            v = obj.get(elem)
            if v is None:
                continue
            items = v if type(v) is list else [v]
            for i, item in enumerate(items):
                if not _matches_pattern(item, value):
                    ipath = f"{p}.{elem}[{i}]" if type(v) is list else f"{p}.{elem}"
                    out.append(Issue(ERROR, "value", ipath,
                                     f"{name}: {label} does not match the profile's {kind} value {_short(value)}"))
    slices = rules["identifier_slices"]
    if slices:
        idents = o.get("identifier")
        if type(idents) is list:
            counts: dict[str, int] = {}
            for i, ident in enumerate(idents):
                if type(ident) is not dict:
                    continue
                system = ident.get("system")
                for s in slices:
                    if s["system"] != system:
                        continue
                    counts[s["slice"]] = counts.get(s["slice"], 0) + 1
                    for child in s["required"]:
                        if child not in ident:
                            out.append(Issue(WARNING, "required", f"{path}.identifier[{i}].{child}",
                                             f"{name}: an identifier with system {system} ({s['slice']}) "
                                             f"should have {child} (slice {s['slice']})"))
                    use = ident.get("use")
                    if s["use"] and use is not None and use != s["use"]:
                        out.append(Issue(WARNING, "value", f"{path}.identifier[{i}].use",
                                         f"{name}: {s['slice']} identifiers have use {s['use']!r}, not {use!r}"))
            for s in slices:
                if s["max"] not in ("*", None) and counts.get(s["slice"], 0) > int(s["max"]):
                    out.append(Issue(WARNING, "structure", f"{path}.identifier",
                                     f"{name}: at most {s['max']} {s['slice']} identifier(s)"))


# --------------------------------------------------------------------------------------------
# Compiled-definitions cache and the process-wide default validator
# --------------------------------------------------------------------------------------------

def _compiler_key() -> str:
    digest = hashlib.sha256()
    for mod in (_compile,):
        digest.update(Path(mod.__file__).read_bytes())
    digest.update(str(_compile.FORMAT).encode())
    return digest.hexdigest()[:16]


def load_compiled(pack: RulePack) -> dict:
    """The compiled definitions for ``pack``, from the on-disk cache or compiled now (then cached)."""
    missing = check_pack_layout(pack)
    if missing:
        raise RulePackError(f"{pack.path}: not a FHIR definitions pack (missing {', '.join(missing)})")
    key = _compiler_key()
    cache_file = None
    try:
        cache_file = pack.derived_dir("fhir-validator") / f"compiled-{key}.pickle"
    except OSError:
        cache_file = None
    if cache_file is not None and cache_file.is_file():
        try:
            with open(cache_file, "rb") as handle:
                data = pickle.load(handle)
            if data.get("format") == _compile.FORMAT:
                return data
        except Exception:  # corrupt or foreign cache: recompile
            pass
    data = _compile.compile_pack(pack.path)
    if cache_file is not None:
        try:
            tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
            with open(tmp, "wb") as handle:
                pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, cache_file)
        except OSError:
            pass
    return data


_DEFAULT: FhirValidator | None = None
_DEFAULT_LOCK = threading.Lock()
_BY_PACK: dict[str, FhirValidator] = {}


def default_validator(pack_ref: str | Path | None = None) -> FhirValidator:
    """The validator for the default pack (or ``pack_ref``), built once per process."""
    global _DEFAULT
    if pack_ref is None and _DEFAULT is not None:
        return _DEFAULT
    with _DEFAULT_LOCK:
        if pack_ref is None:
            if _DEFAULT is None:
                _DEFAULT = FhirValidator(locate_pack())
            return _DEFAULT
        pack = locate_pack(pack_ref)
        if pack.sha256 not in _BY_PACK:
            _BY_PACK[pack.sha256] = FhirValidator(pack)
        return _BY_PACK[pack.sha256]
