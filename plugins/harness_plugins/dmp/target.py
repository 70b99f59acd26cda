"""The ``[targets.dmp]`` target: the vendor's CDA documents and XDM packages, and their validation.

Building the target is cheap (list files, open the rule pack). The first check
that needs a document's validation starts the raw-data stage for *all*
documents at once: a process pool (one Saxon processor per worker, stylesheets
compiled once per pack content and loaded once per worker) validates them in
parallel while the checks, pure functions of the reports, wait on their own
document's future.
"""

from __future__ import annotations

import concurrent.futures as cf
import glob
import os
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from harness import TargetError, sha256_file
from harness.rulepacks import RulePackError, resolve
from harness.safety import UnsafeInput, ZipLimits, safe_zip_members

from . import engine, xdm
from .engine import DocumentReport, Options, Source, StageResult
from .pack import SchematronPack
from .pool import RecyclingPool
from .valuesets import ValueSets

DEFAULT_PACK = "ci-sis"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "documents": {"type": "array", "items": {"type": "string"},
                      "description": "CDA documents: files, folders or globs, relative to the profile"},
        "xdm": {"type": "array", "items": {"type": "string"},
                "description": "IHE XDM packages (IHE_XDM.ZIP): files, folders or globs"},
        "rules": {"type": "string",
                  "description": "the CI-SIS rule pack: a folder (relative to the profile) or an installed pack name"},
        "max_document_bytes": {"type": "integer", "minimum": 1024,
                               "description": "larger documents are refused unread (default 20 MB)"},
        "max_embedded_bytes": {"type": "integer", "minimum": 1024,
                               "description": "limit for one decoded base64 object (default 20 MB)"},
        "max_documents": {"type": "integer", "minimum": 1,
                          "description": "refuse folders with more documents than this (default 100000)"},
        "workers": {"type": "integer", "minimum": 0,
                    "description": "validation processes (default: the CPUs; 0 validates in the harness process)"},
        "worker_max_documents": {"type": "integer", "minimum": 1,
                                 "description": "validation processes are replaced after this many documents "
                                                "each (default 1000), which bounds the memory Saxon's heap keeps"},
        "optimize": {"type": "boolean",
                     "description": "run the equivalence-tested optimised stylesheets (default true)"},
        "require_pdfa": {"type": "boolean",
                         "description": "every embedded PDF must identify as PDF/A (default: only where the volet "
                                        "requires it; elsewhere a warning)"},
        "max_document_age_years": {"type": "integer", "minimum": 1,
                                   "description": "effectiveTime older than this is suspicious (default 100)"},
    },
}


#: Documents a validation process handles before it is replaced (see ``worker_max_documents``).
WORKER_MAX_DOCUMENTS = 1000


@dataclass(frozen=True)
class XdmPackage:
    item_id: str
    path: str
    members: tuple[str, ...] = ()
    error: str | None = None


def _expand(patterns: list[str], suffixes: tuple[str, ...]) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, recursive=True))
        elif os.path.isdir(pattern):
            matches = sorted(p for p in glob.glob(os.path.join(pattern, "**", "*"), recursive=True)
                             if p.lower().endswith(suffixes))
        else:
            matches = [pattern]
        found.extend(Path(m) for m in matches if os.path.isfile(m) or not os.path.exists(m))
    seen, out = set(), []
    for path in found:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


class DmpTarget:
    """Documents, XDM packages, the rule pack and the lazily started validation stage."""

    kind = "dmp"

    def __init__(self, config: dict[str, Any], base_dir: Path) -> None:
        self.base_dir = Path(base_dir)
        self.config = config
        self.options = Options(
            max_document_bytes=int(config.get("max_document_bytes", Options.max_document_bytes)),
            max_embedded_bytes=int(config.get("max_embedded_bytes", Options.max_embedded_bytes)),
            optimize=bool(config.get("optimize", True)),
            zip_limits=ZipLimits(),
        )
        self.worker_max_documents = int(config.get("worker_max_documents", WORKER_MAX_DOCUMENTS))
        self.require_pdfa = bool(config.get("require_pdfa", False))
        self.max_age_years = int(config.get("max_document_age_years", 100))
        max_documents = int(config.get("max_documents", 100_000))
        try:
            self.pack = resolve(config.get("rules", DEFAULT_PACK), base=self.base_dir)
        except RulePackError as exc:
            raise TargetError(f"CI-SIS rule pack unavailable: {exc}") from None
        self.schematrons = SchematronPack(self.pack)
        if not self.schematrons.xsd_path.is_file():
            raise TargetError(f"rule pack {self.pack.path} has no {self.schematrons.mapping.xsd}: "
                              f"not a CI-SIS CDA pack")
        self.sources: list[Source] = []
        for path in _expand(list(config.get("documents", [])), (".xml",)):
            self.sources.append(Source(self._item_id(path), str(path)))
        self.packages: list[XdmPackage] = []
        for path in _expand(list(config.get("xdm", [])), (".zip",)):
            package = self._open_package(path)
            self.packages.append(package)
            for member in package.members:
                self.sources.append(Source(f"{package.item_id}!{member}", str(path), member))
        # Each worker process loads the compiled stylesheets once (~10 s of CPU for the structuration
        # minimale): workers only pay off beyond a hundred documents or so.
        # Below a hundred documents they are validated in this process (one shared validator).
        n = len(self.sources)
        self.workers = int(config["workers"]) if "workers" in config else \
            (0 if n < 100 else min(engine.default_workers(), 1 + n // 100))
        if len(self.sources) > max_documents:
            raise TargetError(f"{len(self.sources):,} documents exceed max_documents = {max_documents:,}")
        ids = [s.item_id for s in self.sources]
        if len(set(ids)) != len(ids):  # two globs naming one file through different spellings
            self.sources = list({s.item_id: s for s in self.sources}.values())
        self._by_member = {(s.path, s.member): s for s in self.sources}
        self.value_sets = ValueSets(Path(self.pack.path))
        self._xdm_cache: dict[str, xdm.Package] = {}
        self._sha_cache: dict[str, str] = {}
        self._lock = threading.Lock()
        self._futures: dict[str, cf.Future] = {}
        self._pool: RecyclingPool | None = None
        self._inline: engine.Validator | None = None
        self._started = False
        self.stats: dict[str, Any] = {}

    # ------------------------------------------------------------ listing
    def _item_id(self, path: Path) -> str:
        try:
            return os.path.relpath(os.path.abspath(path), self.base_dir)
        except ValueError:  # pragma: no cover - another drive on Windows
            return str(path)

    def _open_package(self, path: Path) -> XdmPackage:
        item_id = self._item_id(path)
        try:
            with zipfile.ZipFile(path) as archive:
                infos = safe_zip_members(archive, self.options.zip_limits)
        except zipfile.BadZipFile as exc:
            return XdmPackage(item_id, str(path), error=f"not a readable zip archive: {exc}")
        except UnsafeInput as exc:
            return XdmPackage(item_id, str(path), error=str(exc))
        except OSError as exc:
            return XdmPackage(item_id, str(path), error=f"cannot read: {exc}")
        members = tuple(sorted(i.filename for i in infos if not i.is_dir() and _is_xdm_document(i.filename)))
        return XdmPackage(item_id, str(path), members)

    def documents(self) -> Iterator[tuple[str, Source]]:
        for source in self.sources:
            yield source.item_id, source

    def xdm_packages(self) -> Iterator[tuple[str, XdmPackage]]:
        for package in self.packages:
            yield package.item_id, package

    def source_of(self, path: str, member: str | None) -> Source | None:
        return self._by_member.get((path, member))

    def xdm(self, package: XdmPackage) -> "xdm.Package":
        """The package's vetted layout and metadata, read once."""
        with self._lock:
            cached = self._xdm_cache.get(package.path)
        if cached is None:
            cached = xdm.read_package(package.path, self.options.zip_limits)
            if package.error and not cached.error:
                cached.error = package.error
            with self._lock:
                self._xdm_cache[package.path] = cached
        return cached

    def file_sha256(self, path: str) -> str | None:
        with self._lock:
            if path in self._sha_cache:
                return self._sha_cache[path]
        try:
            digest = sha256_file(path)
        except OSError:
            return None
        with self._lock:
            self._sha_cache[path] = digest
        return digest

    def rule_packs(self) -> list[dict[str, Any]]:
        return [self.pack.record()]

    # ------------------------------------------------------------ the validation stage
    def start(self, wait: bool = True) -> "DmpTarget":
        """Start the raw-data stage: load the validator(s) and queue every document.

        With ``wait`` (what the target factory does), return once the engine is ready, so
        the compile/load time is spent in the time-boxed target build and not inside the
        first check calls.
        """
        with self._lock:
            if self._started:
                return self
            self._started = True
            pending = list(self.sources)
            if not pending:
                return self
            workers = min(self.workers, len(pending))
            t0 = time.perf_counter()
            if workers <= 0:
                try:
                    self._inline = engine.shared_validator(self.pack, self.options)
                except Exception as exc:  # noqa: BLE001 - saxonche unusable, cache not writable…
                    raise TargetError(f"the CDA validation engine cannot start: {type(exc).__name__}: {exc}") from exc
                self.stats.update(mode="in-process", workers=0, startup_s=round(time.perf_counter() - t0, 3))
                return self
            self._pool = RecyclingPool(self.pack, self.options, workers, self.worker_max_documents,
                                       task=engine.run_one_packed)
            ready = self._pool.warm_up()
            for source, future in zip(pending, self._pool.submit_all(pending)):
                self._futures[source.item_id] = future
        if wait:
            try:
                self.stats["workers_ready"] = [f.result() for f in ready]
            except Exception as exc:  # noqa: BLE001 - BrokenProcessPool: the engine died while loading
                raise TargetError(f"the CDA validation workers could not start: {type(exc).__name__}: {exc}") \
                    from exc
        self.stats.update(mode="process-pool", workers=workers, worker_max_documents=self.worker_max_documents,
                          startup_s=round(time.perf_counter() - t0, 3))
        return self

    def report(self, source: Source) -> DocumentReport:
        """The full validation of one document (computed once, shared by every check)."""
        self.start(wait=False)
        compute = False
        with self._lock:
            future = self._futures.get(source.item_id)
            if future is None:  # in-process mode: the first caller computes, the others wait
                future = self._futures[source.item_id] = cf.Future()
                compute = True
        if compute:
            try:
                validator = self._inline or engine.shared_validator(self.pack, self.options)
                future.set_result(validator.validate(source))
            except Exception as exc:  # noqa: BLE001 - surfaced to every waiting check below
                future.set_exception(exc)
        try:
            result = future.result()
        except cf.process.BrokenProcessPool as exc:
            return _failed_report(source, f"the validation worker died ({exc}); the document may crash the "
                                          f"schematron engine")
        except Exception as exc:  # noqa: BLE001 - e.g. the engine could not start
            return _failed_report(source, f"validation unavailable: {type(exc).__name__}: {exc}")
        # Worker processes send packed reports (engine.pack_report), kept packed until read.
        return engine.unpack_report(result) if isinstance(result, bytes) else result

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


def _is_xdm_document(name: str) -> bool:
    """An XML file of an XDM subset other than its METADATA.XML: a document to validate."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].upper()
    return base.endswith(".XML") and base != "METADATA.XML"


def _failed_report(source: Source, reason: str) -> DocumentReport:
    report = DocumentReport(source.item_id, source.display)
    for name in engine.STAGES:
        report.stages[name] = StageResult(name, "error", reason)
    return report
