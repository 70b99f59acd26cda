"""The CI-SIS rule pack as the dmp family uses it: entry points, volet mapping, compiled stylesheets.

Compilation follows the pack's own pipeline (``schematrons/moteur/``, the ISO
skeleton the upstream ``compilverif.bat`` runs): ``iso_dsdl_include.xsl`` →
``iso_abstract_expand.xsl`` → ``iso_svrl_for_xslt2.xsl``, with saxonche. Each
entry point is compiled once per pack content: the results live in
``pack.derived_dir(...)`` (keyed by the pack's sha256, our optimiser version
and the Saxon version) with a ``manifest.json`` written last, so a later run
finds everything there and compiles nothing.

The compiled XSLT reads value sets through paths relative to itself
(``../jeuxDeValeurs/…``, ``doc('include/voc-…')``). It is never run from the
cache folder: :mod:`.engine` parses it with the base URI of the ``.sch`` it
came from inside the pack, which is where the official scripts write it.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import re
import time
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.rulepacks import RulePack

from . import optimize

MAPPING_FILE = "harness-dmp.toml"
DEFAULT_MAPPING = Path(__file__).with_name("volets.toml")
ROLES = ("structuration_minimale", "modeles_contenus", "modeles_ans")
MOTEUR = "schematrons/moteur"
ENGINE_FILES = ("iso_dsdl_include.xsl", "iso_abstract_expand.xsl", "iso_svrl_for_xslt2.xsl")

#: Saxon error codes that mean the pack itself is broken (a file it reads is missing or unreadable).
PACK_DEFECT_CODES = ("FODC0002", "FODC0005", "XTSE0165", "XTDE1160", "FOUT1170", "SXXP0003")


def saxon_version() -> str:
    try:
        return metadata.version("saxonche")
    except metadata.PackageNotFoundError:  # pragma: no cover - saxonche is a dependency
        return "unknown"


def looks_like_pack_defect(message: str) -> bool:
    """True when a Saxon error says a file of the pack could not be read (not a document problem)."""
    text = message or ""
    return any(code in text for code in PACK_DEFECT_CODES) or bool(
        re.search(r"I/O error|No such file|cannot be found|Cannot locate|not found", text, re.I))


@dataclass(frozen=True)
class Volet:
    name: str
    entry: str
    template_ids: tuple[str, ...]
    extension: str | None = None
    codes: tuple[str, ...] = ()
    pdfa: str | None = None

    @property
    def stem(self) -> str:
        return Path(self.entry).stem


@dataclass
class Mapping:
    xsd: str
    generic: dict[str, str]
    generic_templates: frozenset[str]
    volets: list[Volet] = field(default_factory=list)
    source: str = ""

    @classmethod
    def load(cls, path: Path) -> "Mapping":
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        volets = [Volet(v["name"], v["entry"], tuple(v.get("template_ids", ())), v.get("extension"),
                        tuple(v.get("codes", ())), v.get("pdfa")) for v in data.get("volet", [])]
        return cls(data["xsd"], dict(data["generic"]), frozenset(data.get("generic_templates", {}).get("roots", [])),
                   volets, str(path))

    def choose_volet(self, templates: list[tuple[str, str | None]], code: str | None,
                     available: set[str]) -> tuple[Volet | None, str]:
        """The volet for a document's templateIds/code, and why (or why none)."""
        roots = [root for root, _ in templates if root]
        for volet in self.volets:
            for root, ext in templates:
                if root in volet.template_ids and (volet.extension is None or re.search(volet.extension, ext or "")):
                    if volet.entry in available:
                        return volet, f"templateId {root}" + (f" (extension {ext})" if ext else "")
                    return None, f"templateId {root} names volet {volet.name}, whose schematron is not in the pack"
        specific = [r for r in roots if r not in self.generic_templates]
        if specific:
            return None, ("no volet schematron of the pack matches the document's templateIds "
                          f"({', '.join(roots)})")
        if code:
            for volet in self.volets:
                if code in volet.codes and volet.entry in available:
                    return volet, f"no volet templateId; document code {code} is a {volet.name} document"
        return None, f"templateIds {', '.join(roots) or '(none)'} and code {code or '(none)'} name no volet of the pack"


@dataclass(frozen=True)
class Entry:
    """One schematron entry point of the pack and where its compiled forms are."""

    role: str             # structuration_minimale | modeles_contenus | modeles_ans | volet
    sch: str              # path relative to the pack
    stem: str

    def files(self, cache: Path) -> dict[str, Path]:
        """``xsl`` the skeleton's output as is; ``shared`` with repeated blocks shared (same
        semantics, dynamic errors included); ``opt`` also flattened; ``index`` the assert index."""
        return {"xsl": cache / f"{self.stem}.xsl", "shared": cache / f"{self.stem}.shared.xsl",
                "opt": cache / f"{self.stem}.opt.xsl", "index": cache / f"{self.stem}.index.json"}


class SchematronPack:
    """A CI-SIS pack opened for the dmp family (cheap; compilation is :meth:`ensure_compiled`)."""

    def __init__(self, pack: RulePack) -> None:
        self.pack = pack
        self.root = Path(pack.path)
        override = self.root / MAPPING_FILE
        self.mapping = Mapping.load(override if override.is_file() else DEFAULT_MAPPING)
        entries: list[Entry] = []
        for role in ROLES:
            rel = self.mapping.generic.get(role)
            if rel:
                entries.append(Entry(role, rel, Path(rel).stem))
        seen = {e.sch for e in entries}
        for volet in self.mapping.volets:
            if volet.entry not in seen:
                entries.append(Entry("volet", volet.entry, volet.stem))
                seen.add(volet.entry)
        self.entries = entries
        self.compiled_now = 0  # entry points compiled by this object (0 on a warm cache)

    # -------------------------------------------------------------- locations
    @property
    def cache_dir(self) -> Path:
        purpose = f"dmp-schematron-opt{optimize.VERSION}-saxonche{saxon_version()}"
        return self.pack.derived_dir(purpose)

    @property
    def xsd_path(self) -> Path:
        return self.root / self.mapping.xsd

    def sch_path(self, entry: Entry) -> Path:
        return self.root / entry.sch

    def available_entries(self) -> set[str]:
        return {e.sch for e in self.entries if self.sch_path(e).is_file()}

    def entry_for_role(self, role: str) -> Entry | None:
        for e in self.entries:
            if e.role == role:
                return e
        return None

    def entry_for_sch(self, sch: str) -> Entry | None:
        for e in self.entries:
            if e.sch == sch:
                return e
        return None

    def manifest_path(self) -> Path:
        return self.cache_dir / "manifest.json"

    def manifest(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.manifest_path().read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if data.get("pack_sha256") != self.pack.sha256:
            return None
        return data

    # -------------------------------------------------------------- compile
    def ensure_compiled(self) -> dict[str, Any]:
        """Compile every entry point not yet in the cache; returns the manifest. Safe across processes."""
        manifest = self.manifest()
        if manifest is not None:
            return manifest
        cache = self.cache_dir
        with open(cache / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                manifest = self.manifest()
                if manifest is not None:
                    return manifest
                manifest = self._compile_all(cache)
                tmp = cache / "manifest.json.tmp"
                tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
                os.replace(tmp, cache / "manifest.json")
                return manifest
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _compile_all(self, cache: Path) -> dict[str, Any]:
        from lxml import etree
        from saxonche import PySaxonProcessor

        started = time.perf_counter()
        proc = PySaxonProcessor(license=False)
        xslt = proc.new_xslt30_processor()
        engine_error = None
        steps = []
        for name in ENGINE_FILES:
            path = self.root / MOTEUR / name
            try:
                steps.append(xslt.compile_stylesheet(stylesheet_file=str(path)))
            except Exception as exc:  # noqa: BLE001 - reported as a pack defect of every entry point
                engine_error = f"compile engine {MOTEUR}/{name} unusable: {_first_line(exc)}"
                break
        entries: dict[str, Any] = {}
        for entry in self.entries:
            sch = self.sch_path(entry)
            record: dict[str, Any] = {"role": entry.role, "sch": entry.sch}
            if not sch.is_file():
                record.update(status="absent")
                entries[entry.stem] = record
                continue
            if engine_error:
                record.update(status="defect", error=engine_error)
                entries[entry.stem] = record
                continue
            t0 = time.perf_counter()
            try:
                node = proc.parse_xml(xml_file_name=str(sch))
                included = steps[0].transform_to_value(xdm_node=node).head
                expanded = steps[1].transform_to_value(xdm_node=included).head
                text = steps[2].transform_to_string(xdm_node=expanded)
            except Exception as exc:  # noqa: BLE001 - an include that doesn't resolve, a broken file
                record.update(status="defect", error=f"compiling {entry.sch} failed: {_first_line(exc)}")
                entries[entry.stem] = record
                continue
            files = entry.files(cache)
            files["xsl"].write_text(text, encoding="utf-8")
            tree = etree.ElementTree(etree.fromstring(text.encode("utf-8"), etree.XMLParser(huge_tree=True)))
            index = optimize.assert_index(tree)
            shared = copy.deepcopy(tree)
            optimize.optimize(shared, flatten=False)
            shared.write(str(files["shared"]), encoding="UTF-8", xml_declaration=True)
            stats = optimize.optimize(tree)
            tree.write(str(files["opt"]), encoding="UTF-8", xml_declaration=True)
            files["index"].write_text(json.dumps(index, ensure_ascii=False), encoding="utf-8")
            record.update(status="ok", asserts=len(index), optimizer=stats,
                          compile_s=round(time.perf_counter() - t0, 3))
            entries[entry.stem] = record
            self.compiled_now += 1
        return {
            "pack": self.pack.record(),
            "pack_sha256": self.pack.sha256,
            "saxonche": saxon_version(),
            "optimizer": optimize.VERSION,
            "mapping": self.mapping.source,
            "entries": entries,
            "compile_s": round(time.perf_counter() - started, 3),
        }


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:500] or type(exc).__name__
