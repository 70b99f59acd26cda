"""What the dmp checks read from a CDA R2 document besides the schematrons: header facts and embedded files.

Everything here works on an lxml tree that :mod:`.engine` parsed safely, and
returns plain data (dicts, lists, tuples, small dataclasses) that can cross a process boundary.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from harness_plugins._common.identifiers import is_oid, is_uuid

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS = {"h": HL7}

_WS = re.compile(rb"\s+")
_PDFAID_PART = re.compile(rb"pdfaid:part\s*(?:=\s*[\"']\s*(\d)|>\s*(\d))")
_PDFAID_CONF = re.compile(rb"pdfaid:conformance\s*(?:=\s*[\"']\s*([A-Za-z])|>\s*([A-Za-z]))")
_MAGIC = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "text/rtf": (b"{\\rtf",),
}


def local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def qname(el) -> str:
    """The element's name as written in the document (``name()`` in XPath): prefix:local or local."""
    name = local(el.tag)
    return f"{el.prefix}:{name}" if el.prefix else name


class PathIndex:
    """Paths in the form the CI-SIS skeleton writes in SVRL ``@location``, both ways.

    ``/ClinicalDocument/component/structuredBody/component[3]/section``: ``name()``
    of each ancestor, with ``[n]`` only when preceding siblings share the name.
    """

    def __init__(self, root) -> None:
        self.path_of: dict[Any, str] = {}
        self.by_path: dict[str, Any] = {}
        stack = [(root, "", 1)]
        while stack:
            el, prefix, n = stack.pop()
            path = f"{prefix}/{qname(el)}" + (f"[{n}]" if n > 1 else "")
            self.path_of[el] = path
            self.by_path.setdefault(path, el)
            seen = {}
            kids = []
            for child in el:
                if isinstance(child.tag, str):
                    cname = qname(child)
                    seen[cname] = seen.get(cname, 0) + 1
                    kids.append((child, path, seen[cname]))
            stack.extend(reversed(kids))

    def path(self, el) -> str:
        return self.path_of.get(el) or "/" + qname(el)

    def element(self, location: str | None):
        """The element a location names (for an attribute or text location, its element)."""
        if not location:
            return None
        loc = location.strip()
        if "/@" in loc:
            loc = loc.split("/@", 1)[0]
        loc = re.sub(r"/text\(\)(\[\d+\])?$", "", loc)
        el = self.by_path.get(loc)
        if el is not None:
            return el
        # the skeleton's other form: /*:name[namespace-uri()='…'][n]/…
        simple = re.sub(r"\*:([\w.\-]+)\[namespace-uri\(\)='[^']*'\]\[(\d+)\]",
                        lambda m: m.group(1) + ("" if m.group(2) == "1" else f"[{m.group(2)}]"), loc)
        return self.by_path.get(simple)

    def line(self, location: str | None) -> int | None:
        el = self.element(location)
        return el.sourceline if el is not None else None

    def line_map(self) -> "LineMap":
        return LineMap({path: el.sourceline for path, el in self.by_path.items()})


class LineMap:
    """Location -> line without the tree (so a large document's tree can be released early)."""

    def __init__(self, lines: dict[str, int | None]) -> None:
        self.lines = lines

    def line(self, location: str | None) -> int | None:
        if not location:
            return None
        loc = location.strip()
        if "/@" in loc:
            loc = loc.split("/@", 1)[0]
        loc = re.sub(r"/text\(\)(\[\d+\])?$", "", loc)
        if loc in self.lines:
            return self.lines[loc]
        simple = re.sub(r"\*:([\w.\-]+)\[namespace-uri\(\)='[^']*'\]\[(\d+)\]",
                        lambda m: m.group(1) + ("" if m.group(2) == "1" else f"[{m.group(2)}]"), loc)
        return self.lines.get(simple)


def readable_path(el) -> str:
    """The skeleton-style path of one element (walks its ancestors; use :class:`PathIndex` in bulk)."""
    steps = []
    while el is not None and isinstance(el.tag, str):
        name = qname(el)
        parent = el.getparent()
        if parent is not None:
            n = 1 + sum(1 for s in el.itersiblings(preceding=True) if isinstance(s.tag, str) and qname(s) == name)
            if n > 1:
                name += f"[{n}]"
        steps.append(name)
        el = parent
    return "/" + "/".join(reversed(steps))


def _attr_at(P, el, attr: str) -> dict[str, Any]:
    return {"value": el.get(attr), "line": el.sourceline, "xpath": P.path(el) + f"/@{attr}"}


def _ids(P, parent, path: str) -> list[dict[str, Any]]:
    out = []
    for el in parent.findall(path, NS):
        out.append({"root": el.get("root"), "extension": el.get("extension"), "nullFlavor": el.get("nullFlavor"),
                    "line": el.sourceline, "xpath": P.path(el)})
    return out


def _code(P, el) -> dict[str, Any] | None:
    if el is None:
        return None
    return {"code": el.get("code"), "codeSystem": el.get("codeSystem"), "displayName": el.get("displayName"),
            "nullFlavor": el.get("nullFlavor"), "line": el.sourceline, "xpath": P.path(el)}


def _name(el) -> dict[str, str]:
    if el is None:
        return {}
    return {"family": " ".join(_text(f) for f in el.findall("h:family", NS)),
            "given": " ".join(_text(g) for g in el.findall("h:given", NS))}


def _text(el) -> str:
    return " ".join("".join(el.itertext()).split())


def _actor(P, el, role: str) -> dict[str, Any]:
    """An author, authenticator, performer…: its ids and what the XDS metadata mirrors."""
    assigned = None
    for name in ("assignedAuthor", "assignedEntity"):
        assigned = el.find(f"h:{name}", NS)
        if assigned is not None:
            break
    data: dict[str, Any] = {"role": role, "line": el.sourceline, "xpath": P.path(el), "ids": [],
                            "kind": None, "name": {}, "specialty": None, "time": None}
    t = el.find("h:time", NS)
    if t is not None:
        data["time"] = t.get("value")
    if assigned is None:
        return data
    data["ids"] = _ids(P, assigned, "h:id")
    data["specialty"] = _code(P, assigned.find("h:code", NS))
    person = assigned.find("h:assignedPerson", NS)
    device = assigned.find("h:assignedAuthoringDevice", NS)
    if person is not None:
        data["kind"] = "person"
        data["name"] = _name(person.find("h:name", NS))
    elif device is not None:
        data["kind"] = "device"
    org = assigned.find("h:representedOrganization", NS)
    if org is not None:
        data["organization"] = {"ids": _ids(P, org, "h:id"),
                                "name": " ".join(_text(n) for n in org.findall("h:name", NS))}
    return data


def header(root, P: PathIndex) -> dict[str, Any]:
    """Header facts of a ClinicalDocument (empty-ish dict when the root is something else)."""
    h: dict[str, Any] = {"root_element": etree.QName(root.tag).text if isinstance(root.tag, str) else str(root.tag),
                         "is_cda": root.tag == f"{{{HL7}}}ClinicalDocument"}
    if not h["is_cda"]:
        return h
    h["templates"] = [(t.get("root"), t.get("extension")) for t in root.findall("h:templateId", NS)]
    h["template_lines"] = [t.sourceline for t in root.findall("h:templateId", NS)]
    h["id"] = (_ids(P, root, "h:id") or [None])[0]
    h["code"] = _code(P, root.find("h:code", NS))
    title = root.find("h:title", NS)
    h["title"] = _text(title) if title is not None else None
    for key in ("effectiveTime", "languageCode", "confidentialityCode", "versionNumber"):
        el = root.find(f"h:{key}", NS)
        if el is None:
            h[key] = None
        elif key == "effectiveTime" or key == "versionNumber":
            h[key] = _attr_at(P, el, "value")
        elif key == "languageCode":
            h[key] = _attr_at(P, el, "code")
        else:
            h[key] = _code(P, el)
    h["setId"] = (_ids(P, root, "h:setId") or [None])[0]
    patients = []
    for rt in root.findall("h:recordTarget", NS):
        role = rt.find("h:patientRole", NS)
        if role is None:
            continue
        patient = role.find("h:patient", NS)
        birth = patient.find("h:birthTime", NS) if patient is not None else None
        gender = patient.find("h:administrativeGenderCode", NS) if patient is not None else None
        patients.append({"ids": _ids(P, role, "h:id"), "line": role.sourceline, "xpath": P.path(role),
                         "name": _name(patient.find("h:name", NS)) if patient is not None else {},
                         "birthTime": birth.get("value") if birth is not None else None,
                         "gender": gender.get("code") if gender is not None else None})
    h["patients"] = patients
    actors = []
    for path, role in (("h:author", "author"), ("h:legalAuthenticator", "legalAuthenticator"),
                       ("h:authenticator", "authenticator"), ("h:dataEnterer", "dataEnterer"),
                       ("h:documentationOf/h:serviceEvent/h:performer", "performer"),
                       ("h:componentOf/h:encompassingEncounter/h:responsibleParty", "responsibleParty"),
                       ("h:componentOf/h:encompassingEncounter/h:encounterParticipant", "encounterParticipant")):
        for el in root.findall(path, NS):
            actors.append(_actor(P, el, role))
    h["actors"] = actors
    custodian = root.find("h:custodian/h:assignedCustodian/h:representedCustodianOrganization", NS)
    h["custodian"] = {"ids": _ids(P, custodian, "h:id")} if custodian is not None else None
    enc = root.find("h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code", NS)
    h["healthcareFacilityType"] = _code(P, enc)
    se = root.find("h:documentationOf/h:serviceEvent", NS)
    if se is not None:
        low = se.find("h:effectiveTime/h:low", NS)
        h["serviceStart"] = low.get("value") if low is not None else None
    body = root.find("h:component", NS)
    h["body"] = local(body[0].tag) if body is not None and len(body) and isinstance(body[0].tag, str) else None
    return h


@dataclass
class OidScan:
    """Every @root and @codeSystem checked in the worker; only the invalid ones travel to the audit.

    A document carries hundreds of OIDs and the audit keeps every document's report until its
    checks have run: shipping them all made 10,000 reports weigh 1.4 GB in the parent.
    """

    checked: int = 0
    invalid: int = 0
    listed: list[tuple[str, str, int | None, str]] = field(default_factory=list)  # (attribute, value, line, xpath)


def scan_oids(root, P: PathIndex, keep: int = 200) -> OidScan:
    """HL7 II.root is an OID or a UUID; a codeSystem is an OID. The first ``keep`` invalid values are listed."""
    scan = OidScan()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in ("root", "codeSystem"):
            value = el.get(attr)
            if value is None:
                continue
            scan.checked += 1
            if is_oid(value) or (attr == "root" and is_uuid(value)):
                continue
            scan.invalid += 1
            if len(scan.listed) < keep:
                scan.listed.append((attr, value, el.sourceline, P.path(el) + f"/@{attr}"))
    return scan


def embedded_objects(root, P: PathIndex, max_bytes: int) -> list[dict[str, Any]]:
    """Every base64 ED (nonXMLBody text, observationMedia value…): decodes, sniffs, PDF/A identification."""
    out = []
    for el in root.iter(f"{{{HL7}}}text", f"{{{HL7}}}value"):
        if (el.get("representation") or "").upper() != "B64":
            continue
        parent = el.getparent()
        where = local(parent.tag) if parent is not None else "?"
        media = (el.get("mediaType") or "").strip().lower()
        info: dict[str, Any] = {"where": where, "element": local(el.tag), "mediaType": media or None,
                                "line": el.sourceline, "xpath": P.path(el), "problems": []}
        text = el.text or ""
        info["b64_chars"] = len(text)
        estimate = len(text) * 3 // 4
        if estimate > max_bytes:
            info["problems"].append(("too_large", f"embedded object of about {estimate:,} bytes exceeds the "
                                                  f"{max_bytes:,}-byte limit"))
            out.append(info)
            continue
        compact = _WS.sub(b"", text.encode("ascii", "replace"))
        try:
            data = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError) as exc:
            info["problems"].append(("base64", f"the base64 text does not decode: {exc}"))
            out.append(info)
            continue
        info["bytes"] = len(data)
        info["sha256"] = hashlib.sha256(data).hexdigest()
        if not data:
            info["problems"].append(("empty", "the embedded object is empty"))
        magics = _MAGIC.get(media)
        if magics and data and not any(data.startswith(m) for m in magics):
            info["problems"].append(("magic", f"declared {media} but the bytes start with {data[:8]!r}"))
        if media == "application/pdf" or data.startswith(b"%PDF-"):
            info["pdf"] = pdf_facts(data)
        out.append(info)
    return out


def pdf_facts(data: bytes) -> dict[str, Any]:
    """Byte-level facts about a PDF: header version, %%EOF, encryption, PDF/A identification (XMP pdfaid)."""
    facts: dict[str, Any] = {"is_pdf": data.startswith(b"%PDF-")}
    if facts["is_pdf"]:
        facts["version"] = data[5:8].decode("ascii", "replace")
    facts["eof"] = b"%%EOF" in data[-2048:]
    facts["encrypted"] = b"/Encrypt" in data
    part = _PDFAID_PART.search(data)
    conf = _PDFAID_CONF.search(data)
    facts["pdfa_part"] = (part.group(1) or part.group(2)).decode() if part else None
    facts["pdfa_conformance"] = (conf.group(1) or conf.group(2)).decode().upper() if conf else None
    return facts
