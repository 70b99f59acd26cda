"""The result model: statuses, severities, evidence, findings and check results.

Everything a check reports is built from these types, and the scorecard is their
JSON form. They are plain frozen dataclasses so results can cross threads and be
compared in tests; ``to_dict`` gives the canonical JSON shape (``None`` dropped).
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Mapping


class Status(str, enum.Enum):
    """Outcome of one check on one item.

    ``error`` means the harness or the target could not decide (crash, timeout,
    unreachable endpoint, rule-pack defect): it is never scored as ``fail``.
    """

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    REVIEW = "review"
    NOT_APPLICABLE = "not_applicable"
    SKIPPED = "skipped"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


# Roll-up precedence, worst first (Inferno's RESULT_OPTIONS, adapted).
STATUS_PRECEDENCE: tuple[Status, ...] = (
    Status.ERROR,
    Status.FAIL,
    Status.REVIEW,
    Status.WARN,
    Status.SKIPPED,
    Status.PASS,
    Status.NOT_APPLICABLE,
)
_RANK = {s: i for i, s in enumerate(STATUS_PRECEDENCE)}

#: Statuses that let the check decide; the others are inconclusive for scoring.
CONCLUSIVE: frozenset[Status] = frozenset({Status.PASS, Status.FAIL, Status.WARN})


def worst(statuses: Iterable[Status]) -> Status | None:
    """The status that wins a roll-up, or None for no statuses."""
    best: Status | None = None
    for status in statuses:
        if best is None or _RANK[status] < _RANK[best]:
            best = status
    return best


class Severity(str, enum.Enum):
    """How much a failure of the check matters to a doctor."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    def __str__(self) -> str:
        return self.value

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = [Severity.INFO, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hash a file in chunks, so evidence for a huge artefact costs no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _drop_none(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None and v != {} and v != []}


@dataclass(frozen=True)
class HttpExchange:
    """One HTTP request/response pair, as evidence. Headers are redacted on output."""

    method: str
    url: str
    status: int | None = None
    duration_ms: float | None = None
    request_headers: Mapping[str, str] = field(default_factory=dict)
    response_headers: Mapping[str, str] = field(default_factory=dict)
    body_excerpt: str | None = None
    body_sha256: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["request_headers"] = dict(self.request_headers)
        data["response_headers"] = dict(self.response_headers)
        return _drop_none(data)


@dataclass(frozen=True)
class Evidence:
    """What was looked at, and where, so anyone can re-check a finding.

    ``kind`` says which locator fields are meaningful:

    - ``file``: ``artefact`` path, ``line``/``column``/``xpath``, ``excerpt``;
    - ``http``: ``http`` exchange (``artefact`` is the URL);
    - ``quote``: ``artefact`` path, ``page``, ``clause``, ``start``/``end`` offsets, ``quote``;
    - ``data``: anything else (``excerpt`` and ``values``).

    ``sha256`` is the hash of the artefact as a whole (file bytes, response body).
    """

    kind: str
    artefact: str
    sha256: str | None = None
    line: int | None = None
    column: int | None = None
    xpath: str | None = None
    page: int | None = None
    clause: str | None = None
    start: int | None = None
    end: int | None = None
    quote: str | None = None
    excerpt: str | None = None
    http: HttpExchange | None = None
    values: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def file(cls, path: str | Path, *, sha256: str | None = None, **kw: Any) -> "Evidence":
        return cls(kind="file", artefact=str(path), sha256=sha256, **kw)

    @classmethod
    def from_http(cls, exchange: HttpExchange, **kw: Any) -> "Evidence":
        return cls(kind="http", artefact=exchange.url, sha256=exchange.body_sha256, http=exchange, **kw)

    @classmethod
    def quoted(cls, path: str | Path, quote: str, **kw: Any) -> "Evidence":
        return cls(kind="quote", artefact=str(path), quote=quote, **kw)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["http"] = self.http.to_dict() if self.http else None
        data["values"] = dict(self.values)
        return _drop_none(data)


@dataclass(frozen=True)
class Finding:
    """One observation of a check on one item.

    ``severity`` and ``requirement_ids`` default to the check's own when left
    empty; the runner fills them in. ``message_id`` is a stable key (baselines
    and translations match it, never the wording).
    """

    status: Status
    message: str
    message_id: str | None = None
    severity: Severity | None = None
    requirement_ids: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    remediation: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        if self.severity is not None:
            object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "requirement_ids", tuple(self.requirement_ids))
        object.__setattr__(self, "evidence", tuple(self.evidence))

    def to_dict(self) -> dict[str, Any]:
        return _drop_none(
            {
                "status": self.status.value,
                "severity": self.severity.value if self.severity else None,
                "message": self.message,
                "message_id": self.message_id,
                "requirement_ids": list(self.requirement_ids),
                "evidence": [e.to_dict() for e in self.evidence],
                "details": dict(self.details),
                "remediation": self.remediation,
            }
        )

    def sort_key(self) -> tuple:
        first = self.evidence[0] if self.evidence else None
        where = (first.artefact, first.line or 0, first.xpath or "", first.page or 0, first.start or 0) if first else ("", 0, "", 0, 0)
        return (_RANK[self.status], where, self.message_id or "", self.message)


# Convenience constructors: ``yield passed("…", evidence=[…])`` reads well in a check.
def passed(message: str, **kw: Any) -> Finding:
    return Finding(Status.PASS, message, **kw)


def failed(message: str, **kw: Any) -> Finding:
    return Finding(Status.FAIL, message, **kw)


def warned(message: str, **kw: Any) -> Finding:
    return Finding(Status.WARN, message, **kw)


def review(message: str, **kw: Any) -> Finding:
    return Finding(Status.REVIEW, message, **kw)


def not_applicable(message: str, **kw: Any) -> Finding:
    return Finding(Status.NOT_APPLICABLE, message, **kw)


def errored(message: str, **kw: Any) -> Finding:
    return Finding(Status.ERROR, message, **kw)


class Outcome(Exception):
    """Raised by a check to end with a given status (Inferno-style)."""

    status: Status = Status.ERROR

    def __init__(self, message: str, *, message_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.message_id = message_id


class Skip(Outcome):
    """A required input is missing: the check did not run."""

    status = Status.SKIPPED


class NotApplicable(Outcome):
    """The check does not apply to this item (e.g. a volet the pack lacks)."""

    status = Status.NOT_APPLICABLE


class Fail(Outcome):
    """Shortcut for a single failing finding."""

    status = Status.FAIL


class TargetError(Exception):
    """A target could not be built or reached: its checks become ``error``."""


@dataclass(frozen=True)
class CheckResult:
    """The findings of one check on one item, rolled up into one status."""

    check_id: str
    item_id: str
    status: Status
    findings: tuple[Finding, ...]
    duration_s: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form; ``duration_s`` is left out so that same inputs give same bytes."""
        data = {
            "check_id": self.check_id,
            "item_id": self.item_id,
            "status": self.status.value,
            "findings": [f.to_dict() for f in self.findings],
        }
        if self.error is not None:
            data["error"] = self.error
        return data


@dataclass(frozen=True)
class Requirement:
    """A requirement a check traces to: a CI-SIS rule, a FHIR section, a legal article."""

    id: str
    title: str
    source: str
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _drop_none({"id": self.id, "title": self.title, "source": self.source, "url": self.url})
