"""Signed scorecards: an in-toto Statement v1 in a DSSE envelope, signed with Ed25519.

Statement (the DSSE payload)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "<vendor>/<product>/<version>/scorecard.json",
                  "digest": {"sha256": "<sha256 of the canonical scorecard bytes>"}}],
     "predicateType": "https://lgc-harness.example/attestation/scorecard/v1",
     "predicate": <the scorecard>}

The canonical scorecard bytes are ``harness.scorecard.dumps(card)`` in UTF-8
(sorted keys, indent 2, trailing newline): what ``harness audit`` writes.

Envelope (DSSE v1)::

    {"payload": "<base64 of the statement bytes>",
     "payloadType": "application/vnd.in-toto+json",
     "signatures": [{"keyid": "<sha256 of the key's SubjectPublicKeyInfo>", "sig": "<base64>"}]}

Each signature is Ed25519 over PAE(payloadType, payload bytes), the DSSE
pre-authentication encoding ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``.

The envelope file is written byte-canonical (compact JSON, sorted keys, ASCII,
one trailing newline) and :func:`verify_envelope` insists on it, together with
canonical base64: so changing any single byte of the file makes verification
fail, even whitespace that a JSON reader would ignore.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from harness import scorecard as scorecard_mod

from .keys import SigningKey, TrustedKey

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://lgc-harness.example/attestation/scorecard/v1"
ENVELOPE_KEYS = frozenset({"payload", "payloadType", "signatures"})
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class VerificationError(Exception):
    """Verification failed at one ``step`` with a machine-readable ``code``.

    ``status`` is the HTTP status the portal answers with.
    """

    def __init__(self, step: str, code: str, message: str, status: int = 422) -> None:
        super().__init__(f"{step}: {message}")
        self.step, self.code, self.message, self.status = step, code, message, status


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def canonical_scorecard_bytes(card: dict[str, Any]) -> bytes:
    return scorecard_mod.dumps(card).encode("utf-8")


def scorecard_digest(card: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_scorecard_bytes(card)).hexdigest()


def subject_name(card: dict[str, Any]) -> str:
    subject = card.get("subject", {})
    parts = [subject.get("vendor", ""), subject.get("product", ""), subject.get("version", "unversioned")]
    return "/".join(p.replace("/", "_") for p in parts) + "/scorecard.json"


def statement_for(card: dict[str, Any]) -> dict[str, Any]:
    return {"_type": STATEMENT_TYPE,
            "subject": [{"name": subject_name(card), "digest": {"sha256": scorecard_digest(card)}}],
            "predicateType": PREDICATE_TYPE,
            "predicate": card}


def _compact(value: Any, ascii_only: bool) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only).encode("utf-8")


def dumps_envelope(envelope: dict[str, Any]) -> bytes:
    """The byte-canonical envelope file."""
    return _compact(envelope, ascii_only=True) + b"\n"


def sign_scorecard(card: dict[str, Any], keys: Iterable[SigningKey], *, validate: bool = True) -> bytes:
    """Validate ``card`` (unless the caller just did) and return the envelope file bytes, signed by every key."""
    if validate:
        scorecard_mod.validate(card)
    payload = _compact(statement_for(card), ascii_only=False)
    message = pae(PAYLOAD_TYPE, payload)
    signatures = [{"keyid": key.keyid, "sig": base64.b64encode(key.sign(message)).decode("ascii")}
                  for key in keys]
    if not signatures:
        raise ValueError("at least one signing key is needed")
    return dumps_envelope({"payload": base64.b64encode(payload).decode("ascii"), "payloadType": PAYLOAD_TYPE,
                           "signatures": signatures})


# --------------------------------------------------------------------------
# Reading and verifying
# --------------------------------------------------------------------------


def _b64(text: Any, what: str, step: str) -> bytes:
    if not isinstance(text, str):
        raise VerificationError(step, "malformed-envelope", f"{what} must be a base64 string", 400)
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise VerificationError(step, "malformed-envelope", f"{what} is not valid base64 ({exc})", 400) from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise VerificationError(step, "malformed-envelope",
                                f"{what} is not canonical base64 (padding or trailing bits altered)", 400)
    return raw


def parse_envelope(data: bytes) -> dict[str, Any]:
    """Shape checks only: returns the envelope dict with ``_payload`` (bytes) added."""
    step = "envelope"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VerificationError(step, "malformed-envelope", f"not UTF-8 (byte {exc.start})", 400) from None
    try:
        envelope = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VerificationError(step, "malformed-envelope",
                                f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", 400) from None
    if not isinstance(envelope, dict):
        raise VerificationError(step, "malformed-envelope", "a DSSE envelope is a JSON object", 400)
    missing = sorted(k for k in ("payload", "payloadType") if k not in envelope)
    if missing:
        raise VerificationError(step, "malformed-envelope", f"missing field(s) {', '.join(missing)}", 400)
    extra = sorted(set(envelope) - ENVELOPE_KEYS)
    if extra:
        raise VerificationError(step, "malformed-envelope", f"unexpected field(s) {', '.join(extra)}", 400)
    signatures = envelope.get("signatures")
    if not signatures:
        raise VerificationError("signature", "unsigned", "the envelope carries no signature", 422)
    if not isinstance(signatures, list):
        raise VerificationError(step, "malformed-envelope", "'signatures' must be a list", 400)
    for i, sig in enumerate(signatures):
        if not isinstance(sig, dict) or set(sig) != {"keyid", "sig"} or not all(
                isinstance(sig[k], str) for k in ("keyid", "sig")):
            raise VerificationError(step, "malformed-envelope",
                                    f"signatures[{i}] must be an object with exactly 'keyid' and 'sig' strings", 400)
    if envelope["payloadType"] != PAYLOAD_TYPE:
        raise VerificationError("payloadType", "payload-type",
                                f"payloadType is {envelope['payloadType']!r}, expected {PAYLOAD_TYPE!r}", 422)
    canonical = dumps_envelope(envelope)
    if canonical != data:
        pairs = enumerate(zip(canonical, data, strict=False))
        offset = next((i for i, (a, b) in pairs if a != b), min(len(canonical), len(data)))
        raise VerificationError(step, "non-canonical-envelope",
                                f"the file is not byte-canonical (it differs from its canonical form at byte "
                                f"{offset}): it was modified after signing", 400)
    envelope["_payload"] = _b64(envelope["payload"], "payload", step)
    for i, sig in enumerate(signatures):
        _b64(sig["sig"], f"signatures[{i}].sig", step)
    return envelope


def read_statement(payload: bytes) -> dict[str, Any]:
    """Statement shape checks (no signature, no schema)."""
    step = "statement"
    try:
        statement = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VerificationError(step, "statement-invalid", f"payload is not JSON ({exc})") from None
    if not isinstance(statement, dict):
        raise VerificationError(step, "statement-invalid", "the statement must be a JSON object")
    if statement.get("_type") != STATEMENT_TYPE:
        raise VerificationError(step, "statement-invalid",
                                f"_type is {statement.get('_type')!r}, expected {STATEMENT_TYPE!r}")
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise VerificationError(step, "statement-invalid",
                                f"predicateType is {statement.get('predicateType')!r}, expected {PREDICATE_TYPE!r}")
    subject = statement.get("subject")
    if (not isinstance(subject, list) or len(subject) != 1 or not isinstance(subject[0], dict)
            or not isinstance(subject[0].get("name"), str) or not isinstance(subject[0].get("digest"), dict)
            or not SHA256_RE.match(str(subject[0]["digest"].get("sha256", "")))):
        raise VerificationError(step, "statement-invalid",
                                "subject must be one {name, digest: {sha256: <64 hex>}} entry")
    if not isinstance(statement.get("predicate"), dict):
        raise VerificationError(step, "statement-invalid", "predicate (the scorecard) must be a JSON object")
    return statement


def envelope_digest(data: bytes) -> str:
    """The scorecard digest a (shape-valid) envelope claims, without verifying anything else."""
    envelope = parse_envelope(data)
    return read_statement(envelope["_payload"])["subject"][0]["digest"]["sha256"]


@dataclass
class Verified:
    scorecard: dict[str, Any]
    digest: str
    subject_name: str
    keyids: list[str]
    signers: list[str]
    rule_packs: list[dict[str, Any]] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)


def verify_signatures(envelope: dict[str, Any], trusted: dict[str, TrustedKey]) -> list[TrustedKey]:
    """Every signature must come from a trusted key and verify; returns the signers."""
    message = pae(envelope["payloadType"], envelope["_payload"])
    unknown = [s["keyid"] for s in envelope["signatures"] if s["keyid"] not in trusted]
    if unknown:
        raise VerificationError("signature", "unknown-key",
                                f"signed by key {', '.join(k[:16] + '…' for k in unknown)} which is not a trusted "
                                f"(registered) auditor key", 403)
    signers = []
    for i, sig in enumerate(envelope["signatures"]):
        key = trusted[sig["keyid"]]
        if not key.verify(base64.b64decode(sig["sig"]), message):
            raise VerificationError("signature", "bad-signature",
                                    f"signatures[{i}] by {key.name} ({key.keyid[:16]}…) does not match the payload: "
                                    f"the payload, its type or the signature was altered")
        signers.append(key)
    return signers


def check_rule_packs(card: dict[str, Any], known: set[str] | None) -> list[dict[str, Any]]:
    packs = card.get("rule_packs", [])
    if known is None:
        return packs
    unknown = [p for p in packs if p.get("sha256") not in known]
    if unknown:
        names = ", ".join(f"{p.get('name')} {p.get('version')} (sha256 {str(p.get('sha256'))[:16]}…)" for p in unknown)
        raise VerificationError("rule-packs", "unknown-rule-pack",
                                f"rule pack(s) not known to this verifier: {names}")
    return packs


def verify_envelope(data: bytes, trusted: dict[str, TrustedKey], known_packs: set[str] | None) -> Verified:
    """Every check, in order; raises :class:`VerificationError` at the first failure.

    ``known_packs`` is the set of accepted rule-pack sha256 (None: do not check).
    """
    envelope = parse_envelope(data)
    signers = verify_signatures(envelope, trusted)
    statement = read_statement(envelope["_payload"])
    card = statement["predicate"]
    claimed = statement["subject"][0]["digest"]["sha256"]
    actual = scorecard_digest(card)
    if actual != claimed:
        raise VerificationError("digest", "digest-mismatch",
                                f"the scorecard's sha256 is {actual}, the statement's subject says {claimed}")
    try:
        scorecard_mod.validate(card)
    except scorecard_mod.ScorecardError as exc:
        raise VerificationError("schema", "schema-invalid", str(exc)) from None
    packs = check_rule_packs(card, known_packs)
    steps = ["envelope: well-formed, byte-canonical DSSE v1",
             "signature: " + ", ".join(f"{k.name} ({k.keyid[:16]}…)" for k in signers),
             f"statement: in-toto v1, predicate {PREDICATE_TYPE}",
             f"digest: sha256 {actual}",
             f"schema: scorecard {card['schema_version']} valid",
             "rule-packs: " + (("not checked" if known_packs is None else
                               f"{len(packs)} recorded, all known") if packs else "none recorded")]
    return Verified(card, actual, statement["subject"][0]["name"], [k.keyid for k in signers],
                    [k.name for k in signers], packs, steps)
