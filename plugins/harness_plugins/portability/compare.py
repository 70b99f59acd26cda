"""Did a known record come back unchanged? A diff that names *how* it changed.

Additions by the vendor (extensions, narrative, meta) are not losses and are
ignored; ``meta.versionId``/``lastUpdated``/``source`` may legitimately change on
export. Everything the doctor entered must come back: identity (identifiers
incl. INS, names, birth date, gender), dates with their precision and time
zone, and text without truncation.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

IDENTITY_KEYS = {"identifier", "name", "birthDate", "gender"}
DATETIME_RE = re.compile(r"^(\d{4})(-\d{2}(-\d{2}(T(\d{2}):(\d{2})(:(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$")
INS_SYSTEMS = ("urn:oid:1.2.250.1.213.1.4.8", "urn:oid:1.2.250.1.213.1.4.10", "urn:oid:1.2.250.1.213.1.4.11")


@dataclass(frozen=True)
class Diff:
    kind: str        # identity, missing, timezone, date_precision, date_changed, truncated, changed
    path: str
    expected: Any
    actual: Any
    message: str


def _short(value: Any, width: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _instant(value: str) -> tuple[str, dt.datetime | None]:
    """('date'|'datetime'|'local', parsed instant or None)."""
    match = DATETIME_RE.match(value)
    if not match or not match.group(4):
        return "date", None
    if not match.group(10):
        return "local", None
    try:
        return "datetime", dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "datetime", None


def _compare_strings(path: str, exp: str, act: str, identity: bool) -> Diff | None:
    if exp == act:
        return None
    if DATETIME_RE.match(exp) and DATETIME_RE.match(act):
        exp_kind, exp_when = _instant(exp)
        act_kind, act_when = _instant(act)
        if exp_kind == "datetime" and act_kind != "datetime":
            return Diff("date_precision", path, exp, act, f"{path}: {exp!r} came back as {act!r}: the time and/or "
                                                           "time zone were lost")
        if len(act) < len(exp) and exp.startswith(act):
            return Diff("date_precision", path, exp, act, f"{path}: {exp!r} came back as {act!r}: precision lost")
        if exp_when is not None and act_when is not None and exp_when == act_when:
            return Diff("timezone", path, exp, act, f"{path}: {exp!r} came back as {act!r}: same instant, but the "
                                                     "time zone changed, so the local time shown to the doctor changes")
        return Diff("date_changed", path, exp, act, f"{path}: {exp!r} came back as {act!r}")
    if identity:
        return Diff("identity", path, exp, act, f"{path}: identity data changed from {exp!r} to {act!r}")
    if act and len(act) < len(exp) and exp.startswith(act):
        return Diff("truncated", path, len(exp), len(act), f"{path}: text cut from {len(exp)} to {len(act)} "
                                                          f"characters (ends {act[-30:]!r})")
    return Diff("changed", path, exp, act, f"{path}: {_short(exp)} came back as {_short(act)}")


def _identifiers(path: str, exp: list[Any], act: Any) -> list[Diff]:
    diffs = []
    actual = [a for a in act if isinstance(a, dict)] if isinstance(act, list) else []
    for item in exp:
        if not isinstance(item, dict):
            continue
        system = item.get("system")
        same = [a for a in actual if a.get("system") == system]
        label = "INS" if system in INS_SYSTEMS else f"identifier {system}"
        if not same:
            diffs.append(Diff("identity", f"{path}[system={system}]", item.get("value"), None,
                              f"{path}: the {label} ({item.get('value')}) is missing from the export"))
        elif not any(a.get("value") == item.get("value") for a in same):
            diffs.append(Diff("identity", f"{path}[system={system}]", item.get("value"), same[0].get("value"),
                              f"{path}: the {label} changed from {item.get('value')} to {same[0].get('value')}"))
    return diffs


def diff(expected: Any, actual: Any, path: str = "", identity: bool = False) -> list[Diff]:
    """Differences that lose or alter what ``expected`` holds (additions in ``actual`` are ignored)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [Diff("changed", path or "(root)", _short(expected), _short(actual),
                         f"{path or 'resource'}: an object came back as {_short(actual)}")]
        diffs: list[Diff] = []
        for key, value in expected.items():
            sub = f"{path}.{key}" if path else key
            if key == "meta" and not path:
                continue
            if key not in actual:
                kind = "identity" if (identity or key in IDENTITY_KEYS and not path) else "missing"
                diffs.append(Diff(kind, sub, _short(value), None, f"{sub} is missing from the export "
                                                                  f"(was {_short(value, 60)})"))
                continue
            if key == "identifier" and isinstance(value, list):
                diffs.extend(_identifiers(sub, value, actual[key]))
                continue
            diffs.extend(diff(value, actual[key], sub, identity or (not path and key in IDENTITY_KEYS)))
        return diffs
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [Diff("changed", path, _short(expected), _short(actual), f"{path}: a list came back as "
                                                                            f"{_short(actual)}")]
        diffs = []
        for i, value in enumerate(expected):
            sub = f"{path}[{i}]"
            if i >= len(actual):
                diffs.append(Diff("identity" if identity else "missing", sub, _short(value), None,
                                  f"{sub} is missing from the export (was {_short(value, 60)})"))
            else:
                diffs.extend(diff(value, actual[i], sub, identity))
        return diffs
    if isinstance(expected, str) and isinstance(actual, str):
        found = _compare_strings(path, expected, actual, identity)
        return [found] if found else []
    same = expected is actual if isinstance(expected, bool) or isinstance(actual, bool) else expected == actual
    if same:
        return []
    return [Diff("identity" if identity else "changed", path, expected, actual,
                 f"{path}: {_short(expected)} came back as {_short(actual)}")]
