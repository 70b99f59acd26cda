"""Vendor profile: a TOML file naming the subject and its targets.

Paths are relative to the profile file, ``${VAR}`` / ``${VAR:-default}`` are
expanded from the environment (and from ``harness demo``'s own variables), and
every error names the key and the line it is on.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

import jsonschema

from .registry import TargetKind


class ProfileError(Exception):
    """The profile cannot be used as written; the message names the key and line."""


SUBJECT_SCHEMA = {
    "type": "object",
    "required": ["vendor", "product"],
    "additionalProperties": False,
    "properties": {
        "vendor": {"type": "string", "minLength": 1},
        "product": {"type": "string", "minLength": 1},
        "version": {"type": "string"},
    },
}

HARNESS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "disable_plugins": {"type": "array", "items": {"type": "string"}},
        "plugins": {"type": "array", "items": {"type": "string"}},
        "policy": {"type": "string"},
        "timeout": {"type": "number", "exclusiveMinimum": 0},
        "target_timeout": {"type": "number", "exclusiveMinimum": 0},
        "jobs": {"type": "integer", "minimum": 1},
    },
}

TOP_LEVEL = {"subject", "targets", "harness"}
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

_format_checker = jsonschema.FormatChecker()


@_format_checker.checks("uri", raises=ValueError)
def _is_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host")
    return True


def find_line(text: str, table: tuple[str, ...], key: str | None = None) -> int | None:
    """Line (1-based) of ``[table]`` or of ``key = …`` inside it, by scanning the text.

    tomllib keeps no positions, so this small scanner is hand-written; it knows
    table headers, dotted headers and ``key =`` lines, which is all a profile uses.
    """
    want = ".".join(table)
    current = ""
    header_line = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        match = re.match(r"^\[\s*([^\[\]]+?)\s*\]$", line)
        if match:
            current = ".".join(p.strip().strip('"') for p in match.group(1).split("."))
            if current == want:
                header_line = number
                if key is None:
                    return number
            elif header_line is None and want and current.startswith(want + "."):
                header_line = number  # an implicit table, e.g. [target] opened by [target.fhir]
            continue
        if key is not None and current == want:
            if re.match(rf'^"?{re.escape(key)}"?\s*=', line):
                return number
        if key is not None and not want and current == "" and re.match(rf"^{re.escape(key)}\s*=", line):
            return number
    return header_line


@dataclass
class Profile:
    """A loaded, validated vendor profile."""

    path: Path
    text: str
    subject: dict[str, str]
    targets: dict[str, dict[str, Any]]
    harness: dict[str, Any] = field(default_factory=dict)
    target_kinds: Mapping[str, TargetKind] = field(default_factory=dict, repr=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def where(self, table: tuple[str, ...], key: str | None = None) -> str:
        line = find_line(self.text, table, key)
        name = ".".join(table + ((key,) if key else ()))
        return f"{self.path.name}:{line} [{name}]" if line else f"{self.path.name} [{name}]"


def _expand(value: Any, variables: Mapping[str, str], where: str) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in variables:
                return variables[name]
            if default is not None:
                return default
            raise ProfileError(f"{where}: variable ${{{name}}} is not set and has no default")

        return _VAR_RE.sub(sub, value)
    if isinstance(value, list):
        return [_expand(v, variables, where) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, variables, f"{where}.{k}") for k, v in value.items()}
    return value


def _check_schema(data: Any, schema: dict[str, Any], profile: Profile, table: tuple[str, ...]) -> None:
    validator = jsonschema.Draft202012Validator(schema, format_checker=_format_checker)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    err = errors[0]
    path = [str(p) for p in err.absolute_path]
    key = path[0] if path else None
    if err.validator == "additionalProperties" and not path:
        extra = sorted(set(data) - set(schema.get("properties", {})))
        key = extra[0] if extra else None
        allowed = ", ".join(sorted(schema.get("properties", {})))
        raise ProfileError(f"{profile.where(table, key)}: unknown key {key!r} (allowed: {allowed})")
    raise ProfileError(f"{profile.where(table, key)}: {err.message}")


def _resolve_paths(config: dict[str, Any], keys: tuple[str, ...], profile: Profile, table: tuple[str, ...]) -> None:
    for key in keys:
        if key not in config:
            continue
        value = config[key]
        values = value if isinstance(value, list) else [value]
        resolved: list[str] = []
        for pattern in values:
            full = Path(pattern) if os.path.isabs(pattern) else profile.base_dir / pattern
            if glob.has_magic(str(full)):
                if not glob.glob(str(full)):
                    raise ProfileError(f"{profile.where(table, key)}: no file matches {pattern!r}")
            elif not full.exists():
                raise ProfileError(f"{profile.where(table, key)}: {pattern!r} does not exist ({full})")
            resolved.append(str(full))
        config[key] = resolved if isinstance(value, list) else resolved[0]


def load_profile(
    path: str | Path,
    target_kinds: Mapping[str, TargetKind],
    variables: Mapping[str, str] | None = None,
) -> Profile:
    """Read, expand and validate a profile; raise :class:`ProfileError` on any problem."""
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(f"profile {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise ProfileError(f"profile {path} is not UTF-8: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path.name}: broken TOML: {exc}") from None
    profile = Profile(path=path, text=text, subject={}, targets={}, target_kinds=target_kinds)
    unknown = sorted(set(data) - TOP_LEVEL)
    if unknown:
        raise ProfileError(
            f"{profile.where((unknown[0],))}: unknown section {unknown[0]!r} (allowed: harness, subject, targets)"
        )
    env = dict(os.environ)
    env.update(variables or {})
    if "subject" not in data:
        raise ProfileError(f"{path.name}: missing [subject] section (vendor, product, version)")
    _check_schema(data["subject"], SUBJECT_SCHEMA, profile, ("subject",))
    profile.subject = dict(data["subject"])
    harness_conf = data.get("harness", {})
    _check_schema(harness_conf, HARNESS_SCHEMA, profile, ("harness",))
    profile.harness = dict(harness_conf)
    targets = data.get("targets", {})
    if not isinstance(targets, dict):
        raise ProfileError(f"{profile.where(('targets',))}: [targets] must be a table of sections")
    for name, section in targets.items():
        table = ("targets", name)
        if name not in target_kinds:
            known = ", ".join(sorted(target_kinds)) or "none"
            raise ProfileError(
                f"{profile.where(table)}: no loaded plugin understands [targets.{name}] (known: {known})"
            )
        if not isinstance(section, dict):
            raise ProfileError(f"{profile.where(table)}: must be a table")
        kind = target_kinds[name]
        config = _expand(section, env, f"{path.name} [targets.{name}]")
        _check_schema(config, kind.schema, profile, table)
        _resolve_paths(config, kind.path_keys, profile, table)
        profile.targets[name] = config
    return profile
