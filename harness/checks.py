"""Checks: a function plus the metadata that makes its result traceable.

A check is declared with :func:`check`, registered by a plugin through the
``harness_register_checks`` hook, and parametrized over the items of its target
the way pytest parametrizes a test: ``items(target)`` yields ``(item_id, item)``
pairs and the function runs once per pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .model import Finding, Severity

ID_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_\-]+)+$")

Item = tuple[str, Any]
ItemsFn = Callable[[Any], Iterable[Item]]
CheckFn = Callable[..., "Iterable[Finding] | Finding | None"]


@dataclass(frozen=True)
class Check:
    """Metadata and implementation of one check.

    ``target`` names the profile target kind it needs (``fhir``, ``dmp``, …).
    ``items`` splits the target into items; ``None`` means one item, the target
    itself, with id ``"-"``. ``func(target, item)`` returns or yields findings.
    """

    id: str
    title: str
    family: str
    severity: Severity
    requirements: tuple[str, ...]
    target: str
    func: CheckFn
    items: ItemsFn | None = None
    description: str = ""
    remediation: str | None = None
    optional: bool = False
    tags: tuple[str, ...] = ()
    plugin: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not ID_RE.match(self.id):
            raise ValueError(f"check id {self.id!r} is not a dotted lower-case id like 'dmp.cda.xsd'")
        if not self.id.startswith(self.family + "."):
            raise ValueError(f"check id {self.id!r} must start with its family {self.family!r}")
        if not self.title.strip():
            raise ValueError(f"check {self.id!r} has no title")
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "requirements", tuple(self.requirements))
        object.__setattr__(self, "tags", tuple(self.tags))

    def collect(self, target: Any) -> list[Item]:
        """The (item_id, item) pairs this check runs on, in a stable order."""
        if self.items is None:
            return [("-", target)]
        pairs = [(str(item_id), item) for item_id, item in self.items(target)]
        ids = [i for i, _ in pairs]
        if len(set(ids)) != len(ids):
            raise ValueError(f"check {self.id!r} produced duplicate item ids")
        return pairs

    def metadata(self) -> dict[str, Any]:
        """The JSON description of the check carried in every scorecard."""
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "family": self.family,
            "severity": self.severity.value,
            "requirements": list(self.requirements),
            "target": self.target,
            "documentation": {"short": self.title, "description": self.description.strip()},
        }
        if self.optional:
            data["optional"] = True
        if self.remediation:
            data["remediation"] = self.remediation
        if self.plugin:
            data["plugin"] = self.plugin
        return data


def check(
    id: str,
    *,
    title: str,
    severity: Severity | str,
    requirements: Iterable[str],
    target: str,
    items: ItemsFn | None = None,
    family: str | None = None,
    remediation: str | None = None,
    optional: bool = False,
    tags: Iterable[str] = (),
) -> Callable[[CheckFn], Check]:
    """Decorator turning ``func(target, item)`` into a :class:`Check`.

    The family defaults to the first segment of the id; the description is the
    function's docstring.
    """

    def wrap(func: CheckFn) -> Check:
        return Check(
            id=id,
            title=title,
            family=family or id.split(".", 1)[0],
            severity=Severity(severity),
            requirements=tuple(requirements),
            target=target,
            func=func,
            items=items,
            description=(func.__doc__ or "").strip(),
            remediation=remediation,
            optional=optional,
            tags=tuple(tags),
        )

    return wrap
