"""IHE XDM packages (``IHE_XDM.ZIP``): layout and the ebRIM DocumentEntry metadata of each subset.

An XDM zip holds ``IHE_XDM/<subset>/METADATA.XML`` (an ebRIM
``SubmitObjectsRequest``) beside the documents it describes, plus
``INDEX.HTM`` and ``README.TXT`` at the root. Only the hardened readers of
:mod:`harness.safety` touch the archive.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from lxml import etree

from harness.safety import UnsafeInput, ZipLimits, read_zip_member, safe_zip_members, xml_parser

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
NS = {"rim": RIM}

# DocumentEntry classification and identification schemes (IHE ITI TF-3 4.2.5).
CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
FACILITY_TYPE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
PRACTICE_SETTING = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
EVENT_CODE = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
DOCUMENT_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SCHEME_NAMES = {CLASS_CODE: "classCode", CONFIDENTIALITY: "confidentialityCode", FORMAT_CODE: "formatCode",
                FACILITY_TYPE: "healthcareFacilityTypeCode", PRACTICE_SETTING: "practiceSettingCode",
                TYPE_CODE: "typeCode", AUTHOR: "author", EVENT_CODE: "eventCodeList",
                PATIENT_ID: "patientId", UNIQUE_ID: "uniqueId"}


@dataclass
class Coded:
    code: str | None
    scheme: str | None
    display: str | None
    line: int | None
    slots: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class DocumentEntry:
    id: str | None
    line: int | None
    mime_type: str | None
    title: str | None
    slots: dict[str, list[str]] = field(default_factory=dict)
    slot_lines: dict[str, int | None] = field(default_factory=dict)
    classifications: dict[str, list[Coded]] = field(default_factory=dict)
    identifiers: dict[str, tuple[str | None, int | None]] = field(default_factory=dict)

    def slot(self, name: str) -> str | None:
        values = self.slots.get(name) or []
        return values[0] if values else None


@dataclass
class Subset:
    folder: str                                   # IHE_XDM/SUBSET01
    metadata_member: str | None
    metadata_sha256: str | None = None
    entries: list[DocumentEntry] = field(default_factory=list)
    error: str | None = None


@dataclass
class Package:
    path: str
    members: dict[str, int] = field(default_factory=dict)   # name -> real size
    subsets: list[Subset] = field(default_factory=list)
    error: str | None = None


def _slots(el) -> tuple[dict[str, list[str]], dict[str, int | None]]:
    values: dict[str, list[str]] = {}
    lines: dict[str, int | None] = {}
    for slot in el.findall("rim:Slot", NS):
        name = slot.get("name") or ""
        values[name] = [(v.text or "").strip() for v in slot.findall("rim:ValueList/rim:Value", NS)]
        lines[name] = slot.sourceline
    return values, lines


def _localized(el) -> str | None:
    ls = el.find("rim:Name/rim:LocalizedString", NS)
    return ls.get("value") if ls is not None else None


def parse_metadata(data: bytes) -> list[DocumentEntry]:
    """DocumentEntries (ExtrinsicObjects) of one METADATA.XML; raises UnsafeInput / XMLSyntaxError."""
    root = etree.fromstring(data, parser=xml_parser())
    info = root.getroottree().docinfo
    if info.internalDTD is not None or info.system_url:
        raise UnsafeInput("METADATA.XML carries a DOCTYPE; refused")
    entries = []
    for eo in root.iter(f"{{{RIM}}}ExtrinsicObject"):
        slots, lines = _slots(eo)
        entry = DocumentEntry(eo.get("id"), eo.sourceline, eo.get("mimeType"), _localized(eo), slots, lines)
        for cl in eo.findall("rim:Classification", NS):
            scheme = cl.get("classificationScheme") or ""
            cslots, _ = _slots(cl)
            entry.classifications.setdefault(scheme, []).append(
                Coded(cl.get("nodeRepresentation"), (cslots.get("codingScheme") or [None])[0], _localized(cl),
                      cl.sourceline, cslots))
        for ei in eo.findall("rim:ExternalIdentifier", NS):
            entry.identifiers[ei.get("identificationScheme") or ""] = (ei.get("value"), ei.sourceline)
        entries.append(entry)
    return entries


def read_package(path: str, limits: ZipLimits = ZipLimits(), max_metadata_bytes: int = 20 * 1024 * 1024) -> Package:
    """Vet the archive and read every subset's metadata (documents are read by the checks that need them)."""
    package = Package(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        package.error = f"not a readable zip archive: {exc}"
        return package
    with archive:
        try:
            infos = safe_zip_members(archive, limits)
        except UnsafeInput as exc:
            package.error = str(exc)
            return package
        package.members = {i.filename: i.file_size for i in infos if not i.is_dir()}
        metadata = sorted(n for n in package.members if PurePosixPath(n).name.upper() == "METADATA.XML")
        for name in metadata:
            folder = str(PurePosixPath(name).parent)
            subset = Subset(folder, name)
            package.subsets.append(subset)
            info = archive.getinfo(name)
            try:
                if info.file_size > max_metadata_bytes:
                    raise UnsafeInput(f"{name} declares {info.file_size:,} bytes")
                data = read_zip_member(archive, info, limits)
                subset.metadata_sha256 = hashlib.sha256(data).hexdigest()
                subset.entries = parse_metadata(data)
            except UnsafeInput as exc:
                subset.error = f"{name}: {exc}"
            except etree.XMLSyntaxError as exc:
                subset.error = f"{name} is not well-formed XML: {exc.msg} (line {exc.position[0]})"
    return package


def read_member(path: str, member: str, limits: ZipLimits = ZipLimits()) -> bytes:
    with zipfile.ZipFile(path) as archive:
        infos = {i.filename: i for i in safe_zip_members(archive, limits)}
        if member not in infos:
            raise UnsafeInput(f"no member {member!r}")
        return read_zip_member(archive, infos[member], limits)


def member_for_uri(package: Package, subset: Subset, uri: str | None) -> str | None:
    """The archive member a DocumentEntry URI names (relative to its subset folder)."""
    if not uri:
        return None
    candidate = str(PurePosixPath(subset.folder) / uri) if subset.folder not in ("", ".") else uri
    if candidate in package.members:
        return candidate
    lowered = {m.lower(): m for m in package.members}
    return lowered.get(candidate.lower())


def xcn_id(value: str | None) -> tuple[str | None, str | None]:
    """``8001234567^DUPONT^JEAN^^^^^^&1.2.250.1.71.4.2.1&ISO`` -> (id, assigning authority OID)."""
    if not value:
        return None, None
    parts = value.split("^")
    ident = parts[0] or None
    authority = None
    if len(parts) >= 9:
        sub = parts[8].split("&")
        authority = sub[1] if len(sub) > 1 else None
    return ident, authority


def cx_id(value: str | None) -> tuple[str | None, str | None]:
    """``279035121518989^^^&1.2.250.1.213.1.4.10&ISO`` -> (id, assigning authority OID)."""
    if not value:
        return None, None
    parts = value.split("^")
    ident = parts[0] or None
    authority = None
    if len(parts) >= 4:
        sub = parts[3].split("&")
        authority = sub[1] if len(sub) > 1 else None
    return ident, authority


def to_utc(ts: str | None) -> str | None:
    """An HL7 TS (``20240115103000+0100``) as the XDS UTC form (``20240115093000``), at its own precision."""
    import datetime as dt
    import re

    if not ts:
        return None
    m = re.fullmatch(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?", ts.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, tz = m.groups()
    digits = "".join(g for g in (year, month, day, hour, minute, second) if g)
    if not tz or not hour:
        return digits
    try:
        stamp = dt.datetime(int(year), int(month or 1), int(day or 1), int(hour), int(minute or 0), int(second or 0),
                            tzinfo=dt.timezone(dt.timedelta(hours=int(tz[1:3]), minutes=int(tz[3:5]))
                                               * (1 if tz[0] == "+" else -1)))
    except ValueError:
        return None
    utc = stamp.astimezone(dt.timezone.utc).strftime("%Y%m%d%H%M%S")
    return utc[: len(digits)]


def summary(entry: DocumentEntry) -> dict[str, Any]:
    return {"id": entry.id, "title": entry.title, "uri": entry.slot("URI")}
