"""The ``[targets.export]`` target: a vendor's full export, as an archive and/or through ``$export``.

One section may carry both ``path`` (the folder, zip or tar.gz handed to a
leaving doctor) and ``bulk_url`` (a FHIR Bulk Data kick-off URL): each gives
its own *source* (``archive``, ``bulk``), and every content check runs on each
source as a separate item, so an auditor sees whether the archive and the API
tell the same story.

The target is built once: the archive is extracted safely and the Bulk Data
jobs run (in parallel threads) into a private temporary work folder, then both
sources are scanned (:mod:`.analysis`). Nothing is written anywhere else, and
the work folder is removed when the run ends.
"""

from __future__ import annotations

import atexit
import json
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness import TargetError
from harness_plugins.interop.auth import AUTH_SCHEMA

from .analysis import AnalysisSettings, FileEntry, SourceAnalysis, analyze
from .archive import ArchiveLimits, Materialized, materialize
from .bulk import BulkClient, BulkResults, BulkSettings, env_token
from .formats import FileClass
from .scan import ScanOptions, fhir_base

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "path": {"type": "string", "description": "export folder, .zip or .tar.gz as handed to a leaving doctor"},
        "bulk_url": {"type": "string", "format": "uri", "description": "FHIR Bulk Data $export kick-off URL"},
        "bulk_levels": {"type": "array", "items": {"type": "string", "format": "uri"},
                        "description": "more kick-off URLs (Patient/$export, Group/<id>/$export) to exercise"},
        "expected": {"type": "string", "description": "JSON file: {counts: {Type: n}, known_records: file.ndjson}"},
        "expected_counts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        "known_records": {"type": "string", "description": "NDJSON of records that must come back unchanged"},
        "auth": AUTH_SCHEMA,
        "deadline": {"type": "number", "exclusiveMinimum": 0, "description": "seconds one export job may take"},
        "max_retry_after": {"type": "number", "exclusiveMinimum": 0, "description": "cap on a server's Retry-After"},
        "min_poll_interval": {"type": "number", "minimum": 0},
        "request_timeout": {"type": "number", "exclusiveMinimum": 0},
        "download_timeout": {"type": "number", "exclusiveMinimum": 0},
        "max_download_bytes": {"type": "integer", "minimum": 1024},
        "max_line_bytes": {"type": "integer", "minimum": 1024},
        "max_archive_bytes": {"type": "integer", "minimum": 1024},
        "max_member_bytes": {"type": "integer", "minimum": 1024},
        "max_members": {"type": "integer", "minimum": 1},
        "max_ratio": {"type": "number", "exclusiveMinimum": 1},
        "workers": {"type": "integer", "minimum": 0, "description": "scan processes (0: one per core)"},
        "validate": {"type": "boolean", "description": "run the shared FHIR validator on every resource"},
        "max_dmp_documents": {"type": "integer", "minimum": 0,
                              "description": "distinct CDA documents handed to the dmp family's validators (1000)"},
        "probe_cancel": {"type": "boolean"},
        "probe_params": {"type": "boolean"},
        "type_probe": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z][A-Za-z]+$"}, "minItems": 1},
        "since_probe": {"type": "string"},
        "verify_tls": {"type": "boolean"},
    },
}
PATH_KEYS = ("path", "expected", "known_records")


@dataclass
class Expected:
    """The seeded reference dataset the vendor was loaded with."""

    counts: dict[str, int] = field(default_factory=dict)
    known: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    origin: str | None = None
    problems: list[str] = field(default_factory=list)


def load_expected(config: dict[str, Any]) -> Expected:
    expected = Expected()
    known_path = config.get("known_records")
    if config.get("expected"):
        path = Path(config["expected"])
        expected.origin = path.name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TargetError(f"expected dataset {path.name} cannot be read: {exc}") from None
        if not isinstance(data, dict):
            raise TargetError(f"expected dataset {path.name} must be a JSON object with 'counts' and/or 'known_records'")
        counts = data.get("counts") or {}
        if not isinstance(counts, dict) or not all(isinstance(v, int) and v >= 0 for v in counts.values()):
            raise TargetError(f"expected dataset {path.name}: 'counts' must map resource types to counts")
        expected.counts.update(counts)
        expected.description = str(data.get("dataset", "")) + (f" v{data['version']}" if "version" in data else "")
        if data.get("known_records") and not known_path:
            known_path = str(path.parent / data["known_records"])
    expected.counts.update(config.get("expected_counts") or {})
    if known_path:
        path = Path(known_path)
        number = 0
        try:
            with open(path, "rb") as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    record = json.loads(line)
                    key = f"{record['resourceType']}/{record['id']}"
                    expected.known[key] = record
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TargetError(f"known records {path.name} cannot be read (line {number}): {exc}") from None
    return expected


def token_provider(auth: dict[str, Any], kickoff_url: str, base_dir: Path | None = None,
                   verify: bool = True) -> tuple[str | None, Any]:
    """(static token, provider) for the profile's auth: none, bearer (``token_env``) or SMART Backend Services.

    SMART Backend Services reuses the interop family's client (``harness_plugins.interop.auth.make_auth``):
    the same signed-assertion flow, token cache and refresh as the FHIR API audit.
    """
    kind = auth.get("type", "none")
    if kind == "none":
        return None, None
    if kind == "bearer":
        if auth.get("token_env"):
            return env_token(auth["token_env"]), None
        if auth.get("token"):
            return str(auth["token"]), None
        raise TargetError("bearer auth needs token_env (the variable holding the token)")
    try:
        from harness_plugins.interop.auth import make_auth
        from harness_plugins.interop.http import AuditClient, HttpPolicy
    except ImportError:
        raise TargetError("auth type 'smart-backend' needs the interop family (harness_plugins.interop.auth); "
                          "it is not installed: use 'bearer' with token_env") from None
    config = dict(auth)
    if config.get("private_key") and base_dir is not None and not Path(config["private_key"]).is_absolute():
        config["private_key"] = str(base_dir / config["private_key"])

    def origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    client = AuditClient(origin(kickoff_url), HttpPolicy(), verify=verify)
    smart = make_auth(config, client, fhir_base(kickoff_url),
                      client_for=lambda url: AuditClient(origin(url), HttpPolicy(), verify=verify))
    return None, lambda: str(smart.headers()["Authorization"]).split(" ", 1)[1]


class ExportTarget:
    """An export under audit; ``prepare()`` (idempotent, thread-safe) fetches and scans it."""

    kind = "export"

    def __init__(self, config: dict[str, Any], progress=None, base_dir: Path | None = None) -> None:
        if not config.get("path") and not config.get("bulk_url"):
            raise TargetError("[targets.export] needs 'path' (an export folder/zip/tar.gz), 'bulk_url' "
                              "(a $export kick-off URL), or both")
        self.config = config
        self.expected = load_expected(config)
        self.progress = progress
        self.limits = ArchiveLimits(
            max_members=int(config.get("max_members", ArchiveLimits.max_members)),
            max_total_bytes=int(config.get("max_archive_bytes", ArchiveLimits.max_total_bytes)),
            max_member_bytes=int(config.get("max_member_bytes", ArchiveLimits.max_member_bytes)),
            max_ratio=float(config.get("max_ratio", ArchiveLimits.max_ratio)),
        )
        self.bulk_settings = self._bulk_settings(config, base_dir) if config.get("bulk_url") else None
        self.scan_options = ScanOptions(
            max_line_bytes=int(config.get("max_line_bytes", ScanOptions.max_line_bytes)),
            validate=bool(config.get("validate", True)),
            base_urls=(fhir_base(config["bulk_url"]),) if config.get("bulk_url") else (),
        )
        self.workers = int(config.get("workers", 0))
        self.work_dir = Path(tempfile.mkdtemp(prefix="harness-portability-"))
        # If the core abandons a target build past its time box, close() is never called: clean at exit.
        atexit.register(shutil.rmtree, self.work_dir, True)
        self.sources: dict[str, SourceAnalysis] = {}
        self.materialized: Materialized | None = None
        self.bulk: BulkResults | None = None
        self._lock = threading.Lock()
        self._prepared = False
        self._stop = threading.Event()

    @staticmethod
    def _bulk_settings(config: dict[str, Any], base_dir: Path | None) -> BulkSettings:
        token, provider = token_provider(config.get("auth") or {"type": "none"}, config["bulk_url"], base_dir,
                                         bool(config.get("verify_tls", True)))
        defaults = BulkSettings(kickoff_url=config["bulk_url"])
        return BulkSettings(
            kickoff_url=config["bulk_url"],
            levels=tuple(config.get("bulk_levels") or ()),
            token=token,
            token_provider=provider,
            deadline=float(config.get("deadline", defaults.deadline)),
            max_retry_after=float(config.get("max_retry_after", defaults.max_retry_after)),
            min_poll_interval=float(config.get("min_poll_interval", defaults.min_poll_interval)),
            request_timeout=float(config.get("request_timeout", defaults.request_timeout)),
            download_timeout=float(config.get("download_timeout", defaults.download_timeout)),
            max_download_bytes=int(config.get("max_download_bytes", defaults.max_download_bytes)),
            probe_cancel=bool(config.get("probe_cancel", True)),
            probe_params=bool(config.get("probe_params", True)),
            type_probe=tuple(config.get("type_probe") or defaults.type_probe),
            since_probe=config.get("since_probe"),
            verify_tls=bool(config.get("verify_tls", True)),
        )

    # -- building
    def prepare(self) -> "ExportTarget":
        with self._lock:
            if not self._prepared:
                self._run_progress(self._prepare)
                self._prepared = True
        return self

    def _run_progress(self, work) -> None:
        own = None
        if self.progress is None and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            own = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                           TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            own.start()
            self.progress = own
        try:
            work()
        finally:
            if own is not None:
                own.stop()
                self.progress = None

    def _prepare(self) -> None:
        errors: list[BaseException] = []

        def fetch_archive() -> None:
            try:
                self.materialized = materialize(Path(self.config["path"]), self.work_dir, self.limits)
            except BaseException as exc:  # noqa: BLE001 - reported as the source's reason
                errors.append(exc)
                self.materialized = Materialized(kind="unknown", origin=Path(self.config["path"]),
                                                 aborted=f"{type(exc).__name__}: {exc}")

        def fetch_bulk() -> None:
            client = BulkClient(self.bulk_settings, self.work_dir / "bulk", self.progress, self._stop)
            (self.work_dir / "bulk").mkdir(exist_ok=True)
            try:
                self.bulk = client.run_all()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                self.bulk = BulkResults(settings=self.bulk_settings, error=f"{type(exc).__name__}: {exc}")
            finally:
                client.close()

        threads = []
        if self.config.get("path"):
            threads.append(threading.Thread(target=fetch_archive, name="export-archive", daemon=True))
        if self.bulk_settings is not None:
            threads.append(threading.Thread(target=fetch_bulk, name="export-bulk", daemon=True))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        settings = AnalysisSettings(options=self.scan_options, workers=self.workers,
                                    known_keys=frozenset(self.expected.known))
        settings.cda_validator, settings.cda_validator_state = dmp_cda_validator()
        settings.max_dmp_documents = int(self.config.get("max_dmp_documents", settings.max_dmp_documents))
        if self.materialized is not None:
            mat = self.materialized
            source = SourceAnalysis("archive", mat.label, files=[FileEntry(f.name, f.path, f.size) for f in mat.files],
                                    refusals=list(mat.refusals), aborted=mat.aborted, origin_sha256=mat.sha256)
            if mat.aborted:
                source.unavailable = f"the export archive was refused: {mat.aborted}"
            else:
                analyze(source, self.work_dir, settings, self.progress)
            self.sources["archive"] = source
        if self.bulk_settings is not None:
            self.sources["bulk"] = self._bulk_source(settings)

    def _bulk_source(self, settings: AnalysisSettings) -> SourceAnalysis:
        bulk = self.bulk
        label = self.bulk_settings.kickoff_url
        source = SourceAnalysis("bulk", label, fhir_base=fhir_base(label))
        main = bulk.main if bulk else None
        if bulk is None or bulk.error:
            source.unavailable = f"the Bulk Data client failed: {bulk.error if bulk else 'not run'}"
            return source
        if main is None or main.outcome != "complete":
            detail = main.outcome_detail if main else "not run"
            source.unavailable = f"the $export job did not complete ({detail}): no file to audit"
            return source
        for item in main.downloads:
            if item.kind == "output" and item.path:
                source.files.append(FileEntry(item.name or item.url, Path(item.path), item.bytes,
                                              cls=FileClass("ndjson", resource_type=item.type), sha256=item.sha256,
                                              url=item.url))
        analyze(source, self.work_dir, settings, self.progress)
        return source

    # -- for checks
    def source(self, name: str) -> SourceAnalysis:
        self.prepare()
        return self.sources[name]

    def source_items(self) -> list[tuple[str, SourceAnalysis]]:
        self.prepare()
        return sorted(self.sources.items())

    def rule_packs(self) -> list[dict[str, Any]]:
        try:
            from harness_plugins.fhir.validator import default_validator

            return list(default_validator().rule_packs() or [])
        except Exception:  # noqa: BLE001 - no validator, no pack to report
            return []

    def close(self) -> None:
        self._stop.set()
        shutil.rmtree(self.work_dir, ignore_errors=True)


def dmp_cda_validator():
    """The dmp family's public CDA validation function, when that family is installed and offers one.

    Contract looked for: ``validate_cda_bytes(data: bytes, name: str) -> list[dict]`` in
    ``harness_plugins.dmp.api`` (or ``harness_plugins.dmp``), each dict with ``status`` (pass, fail, warn,
    review, error), ``message`` and optionally ``message_id`` and ``requirement_ids``.
    """
    import importlib

    for module_name in ("harness_plugins.dmp.api", "harness_plugins.dmp"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        func = getattr(module, "validate_cda_bytes", None)
        if callable(func):
            return func, "ok"
    return None, ("DMP validators not used: the dmp family offers no public validate_cda_bytes(); "
                  "CDA checked here for safety, well-formedness, header and INS only")
