"""FHIR Bulk Data Access (v2.0.0) client: kick-off, status polling, manifest, downloads, errors, cancel.

Everything the server says is recorded as evidence (``HttpExchange``) and kept
for the checks to judge; the client itself never raises for a misbehaving
server. Lessons from users of existing test kits are built in:

- ``Retry-After`` is honoured but capped (``max_retry_after``), and an overall,
  configurable ``deadline`` ends a job that never completes (it is then
  cancelled with ``DELETE``, as a courtesy);
- a 5xx status answer whose OperationOutcome says ``transient`` is retried, as
  the IG asks; any other error ends the job and its body is kept even when it is
  not an OperationOutcome;
- ``requiresAccessToken`` is checked against how the files are actually served
  (one probe download with, or without, the token);
- downloads stream to the work folder with a byte cap and a time box, so a
  huge or endless file costs neither memory nor the run.

A rich progress bar shows polling (with ``X-Progress``) and download bytes,
only when stderr is a terminal.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from harness import HttpExchange, TargetError
from harness.safety import Fetched, HttpLimits, UnsafeInput, fetch, retry_after_seconds

FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
#: Response headers kept in evidence (Date, Server and the like would make scorecards differ run to run).
KEPT_HEADERS = {"content-type", "content-location", "retry-after", "x-progress", "content-length", "location",
                "www-authenticate", "expires"}
INSTANT_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class BulkSettings:
    kickoff_url: str
    levels: tuple[str, ...] = ()
    token: str | None = None
    token_provider: Callable[[], str] | None = None
    deadline: float = 90.0
    max_retry_after: float = 30.0
    min_poll_interval: float = 0.5
    request_timeout: float = 30.0
    max_download_bytes: int = 8 * 1024**3
    download_timeout: float = 600.0
    max_json_bytes: int = 20 * 1024 * 1024
    probe_cancel: bool = True
    probe_params: bool = True
    type_probe: tuple[str, ...] = ("Patient", "Observation")
    since_probe: str | None = None
    verify_tls: bool = True
    parallel_downloads: int = 4


@dataclass
class Poll:
    status: int | None
    retry_after: str | None
    waited: float
    progress: str | None
    exchange: HttpExchange | None = None


@dataclass
class Download:
    url: str
    type: str | None
    declared_count: Any
    kind: str = "output"                 # output or error
    status: int | None = None
    exchange: HttpExchange | None = None
    path: str | None = None
    name: str | None = None
    bytes: int = 0
    sha256: str | None = None
    error: str | None = None
    content_type: str | None = None
    sent_token: bool = False
    token_withheld: bool = False         # the file is on another origin than the kick-off URL


@dataclass
class Job:
    name: str
    url: str
    params: dict[str, str] = field(default_factory=dict)
    kickoff: HttpExchange | None = None
    kickoff_status: int | None = None
    kickoff_body: Any = None
    status_url: str | None = None
    status_url_problem: str | None = None
    polls: list[Poll] = field(default_factory=list)
    poll_count: int = 0
    progress_values: list[str] = field(default_factory=list)
    retry_after_values: list[str] = field(default_factory=list)
    capped_waits: int = 0
    outcome: str = "not-started"          # complete, deadline, error, kickoff-failed, transport-error
    outcome_detail: str | None = None
    final: HttpExchange | None = None
    final_status: int | None = None
    final_body: Any = None
    manifest: dict[str, Any] | None = None
    manifest_problem: str | None = None
    elapsed: float = 0.0
    cleanup: HttpExchange | None = None
    downloads: list[Download] = field(default_factory=list)
    token_probe: dict[str, Any] | None = None


@dataclass
class CancelProbe:
    job: Job
    delete: HttpExchange | None = None
    delete_status: int | None = None
    after: HttpExchange | None = None
    after_status: int | None = None
    after_body: Any = None
    error: str | None = None


@dataclass
class BulkResults:
    settings: BulkSettings
    main: Job | None = None
    levels: list[Job] = field(default_factory=list)
    type_probe: Job | None = None
    since_probe: Job | None = None
    cancel: CancelProbe | None = None
    error: str | None = None

    def jobs(self) -> list[Job]:
        out = [j for j in [self.main, *self.levels] if j is not None]
        return out


def level_name(url: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    parts = path.split("/")
    if parts and parts[-1] == "$export":
        parts = parts[:-1]
    if len(parts) >= 2 and parts[-2] == "Group":
        return f"group:{parts[-1]}"
    if parts and parts[-1] == "Patient":
        return "patient"
    return "system"


def trim_exchange(exchange: HttpExchange) -> HttpExchange:
    headers = {k: v for k, v in exchange.response_headers.items() if k.lower() in KEPT_HEADERS}
    return HttpExchange(method=exchange.method, url=exchange.url, status=exchange.status,
                        duration_ms=exchange.duration_ms, request_headers=dict(exchange.request_headers),
                        response_headers=headers, body_excerpt=exchange.body_excerpt,
                        body_sha256=exchange.body_sha256, error=exchange.error)


def error_exchange(method: str, url: str, exc: Exception) -> HttpExchange:
    return HttpExchange(method=method, url=url, error=f"{type(exc).__name__}: {exc}")


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def is_operation_outcome(body: Any) -> bool:
    return isinstance(body, dict) and body.get("resourceType") == "OperationOutcome"


def is_transient(body: Any) -> bool:
    return is_operation_outcome(body) and any(
        isinstance(i, dict) and i.get("code") in ("transient", "lock-error", "timeout", "throttled", "incomplete")
        for i in body.get("issue") or [])



class BulkClient:
    """Runs every Bulk Data exchange a profile asks for, into ``work_dir``."""

    def __init__(self, settings: BulkSettings, work_dir: Path, progress=None, stop: threading.Event | None = None) -> None:
        self.settings = settings
        self.work_dir = work_dir
        self.progress = progress
        self.stop = stop or threading.Event()
        self.client = httpx.Client(timeout=httpx.Timeout(settings.request_timeout), verify=settings.verify_tls,
                                   follow_redirects=False)
        self.limits = HttpLimits(max_bytes=settings.max_json_bytes, total_timeout=settings.request_timeout * 2,
                                 excerpt_chars=1500)

    def close(self) -> None:
        self.client.close()

    # -- auth
    def same_origin(self, url: str) -> bool:
        """Credentials go only to the kick-off URL's origin: a manifest must not be able to collect them."""
        return urlsplit(url)[:2] == urlsplit(self.settings.kickoff_url)[:2]

    def token(self) -> str | None:
        if self.settings.token_provider is not None:
            return self.settings.token_provider()
        return self.settings.token

    def headers(self, accept: str, *, prefer: bool = False, token: bool = True) -> dict[str, str]:
        headers = {"Accept": accept}
        if prefer:
            headers["Prefer"] = "respond-async"
        if token:
            value = self.token()
            if value:
                headers["Authorization"] = f"Bearer {value}"
        return headers

    def _fetch(self, method: str, url: str, headers: dict[str, str]) -> tuple[Fetched | None, HttpExchange]:
        try:
            fetched = fetch(self.client, method, url, limits=self.limits, headers=headers)
        except (httpx.HTTPError, UnsafeInput, TargetError) as exc:
            return None, error_exchange(method, url, exc)
        return fetched, trim_exchange(fetched.exchange)

    # -- one job
    def run_job(self, name: str, url: str, params: dict[str, str] | None = None, *, download: bool = False,
                download_limit_lines: int | None = None) -> Job:
        job = Job(name=name, url=url, params=dict(params or {}))
        started = time.monotonic()
        full = url + ("?" + urlencode(job.params, safe=",:") if job.params else "")
        fetched, job.kickoff = self._fetch("GET", full, self.headers(FHIR_JSON, prefer=True))
        if fetched is None:
            job.outcome, job.outcome_detail = "transport-error", job.kickoff.error
            return job
        job.kickoff_status = fetched.status
        job.kickoff_body = parse_json(fetched.body)
        if fetched.status != 202:
            job.outcome = "kickoff-failed"
            job.outcome_detail = f"kick-off answered HTTP {fetched.status}"
            return job
        location = fetched.headers.get("content-location")
        if not location:
            job.outcome = "kickoff-failed"
            job.outcome_detail = "kick-off answered 202 without a Content-Location header"
            return job
        if not urlsplit(location).scheme:
            job.status_url_problem = f"Content-Location {location!r} is not an absolute URL"
            location = urljoin(full, location)
        job.status_url = location
        self._poll(job, started)
        job.elapsed = round(time.monotonic() - started, 3)
        if job.outcome == "complete" and download and job.manifest is not None:
            self._download_all(job, download_limit_lines)
        return job

    def _poll(self, job: Job, started: float) -> None:
        s = self.settings
        deadline = started + s.deadline
        task = None
        if self.progress is not None:
            task = self.progress.add_task(f"bulk {job.name}: waiting for the export", total=None)
        transport_failures = 0
        try:
            while True:
                if self.stop.is_set():
                    job.outcome, job.outcome_detail = "error", "stopped"
                    return
                if time.monotonic() > deadline + 0.05:
                    self._deadline(job)
                    return
                t0 = time.monotonic()
                fetched, exchange = self._fetch("GET", job.status_url, self.headers("application/json"))
                job.poll_count += 1
                if fetched is None:
                    transport_failures += 1
                    self._keep_poll(job, Poll(None, None, 0.0, None, exchange))
                    if transport_failures >= 3:
                        job.outcome, job.outcome_detail = "transport-error", exchange.error
                        job.final = exchange
                        return
                    wait = s.min_poll_interval
                else:
                    transport_failures = 0
                    status = fetched.status
                    retry_raw = fetched.headers.get("retry-after")
                    progress = fetched.headers.get("x-progress")
                    body = parse_json(fetched.body)
                    if status == 200:
                        job.final, job.final_status, job.final_body = exchange, status, body
                        job.outcome = "complete"
                        if isinstance(body, dict):
                            job.manifest = body
                        else:
                            job.manifest_problem = "the completion answer is not a JSON object"
                        self._keep_poll(job, Poll(status, retry_raw, 0.0, progress, exchange))
                        return
                    transient = status in (429, 503) or (status >= 500 and is_transient(body))
                    if status != 202 and not transient:
                        job.final, job.final_status, job.final_body = exchange, status, body
                        job.outcome = "error"
                        job.outcome_detail = f"status request answered HTTP {status}"
                        self._keep_poll(job, Poll(status, retry_raw, 0.0, progress, exchange))
                        return
                    if progress and len(job.progress_values) < 50:
                        job.progress_values.append(progress)
                    if retry_raw is not None and len(job.retry_after_values) < 50:
                        job.retry_after_values.append(retry_raw)
                    asked = retry_after_seconds(retry_raw)
                    wait = asked if asked is not None else s.min_poll_interval
                    if wait > s.max_retry_after:
                        job.capped_waits += 1
                        wait = s.max_retry_after
                    wait = max(wait, s.min_poll_interval)
                    self._keep_poll(job, Poll(status, retry_raw, wait, progress, exchange))
                    if task is not None:
                        self.progress.update(task, description=f"bulk {job.name}: {progress or 'in progress'} "
                                                               f"(poll {job.poll_count})")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._deadline(job)
                    return
                self.stop.wait(min(max(0.0, wait - (time.monotonic() - t0)), remaining))
        finally:
            if task is not None:
                self.progress.remove_task(task)

    def _deadline(self, job: Job) -> None:
        job.outcome = "deadline"
        job.outcome_detail = (f"not complete after {self.settings.deadline:g}s and {job.poll_count} status requests "
                              "(deadline)")
        self._cleanup(job)

    def _keep_poll(self, job: Job, poll: Poll) -> None:
        """Keep the first three and the last three polls (a long job polls thousands of times)."""
        job.polls.append(poll)
        if len(job.polls) > 6:
            del job.polls[3]

    def _cleanup(self, job: Job) -> None:
        if job.status_url:
            _fetched, job.cleanup = self._fetch("DELETE", job.status_url, self.headers(FHIR_JSON))

    # -- downloads
    def _download_all(self, job: Job, limit_lines: int | None) -> None:
        manifest = job.manifest or {}
        requires = manifest.get("requiresAccessToken")
        send_token = requires is not False and self.token() is not None
        entries: list[Download] = []
        for kind in ("output", "error"):
            for entry in manifest.get(kind) or []:
                if isinstance(entry, dict) and isinstance(entry.get("url"), str):
                    entries.append(Download(url=entry["url"], type=entry.get("type"),
                                            declared_count=entry.get("count"), kind=kind))
        job.downloads = entries
        if not entries:
            return
        for index, item in enumerate(entries, start=1):
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", (item.type or item.kind))[:40]
            item.name = f"{item.kind}-{index:03d}-{safe}.ndjson"
        job_dir = self.work_dir / re.sub(r"[^A-Za-z0-9._-]", "_", job.name)
        job_dir.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=max(1, self.settings.parallel_downloads)) as pool:
            list(pool.map(lambda d: self._download(d, send_token, limit_lines, job_dir), entries))
        self._probe_token(job, requires)

    def _download(self, item: Download, send_token: bool, limit_lines: int | None, job_dir: Path) -> None:
        s = self.settings
        url = item.url
        if not urlsplit(url).scheme:
            item.error = f"url {url!r} is not absolute"
            url = urljoin(self.settings.kickoff_url, url)
        dest = job_dir / (item.name or "download.ndjson")
        item.token_withheld = send_token and not self.same_origin(url)
        headers = self.headers(NDJSON, token=send_token and not item.token_withheld)
        item.sent_token = "Authorization" in headers
        start = time.perf_counter()
        deadline = start + s.download_timeout
        digest = hashlib.sha256()
        task = None
        try:
            with self.client.stream("GET", url, headers=headers) as response:
                item.status = response.status_code
                item.content_type = response.headers.get("content-type")
                total = response.headers.get("content-length")
                if self.progress is not None and response.status_code == 200:
                    task = self.progress.add_task(f"download {item.type or item.kind}",
                                                  total=int(total) if total and total.isdigit() else None)
                head = b""
                size = 0
                lines = 0
                cut = None
                with open(dest, "wb") as out:
                    for block in response.iter_bytes():
                        if response.status_code == 200 and limit_lines is not None:
                            lines += block.count(b"\n")
                        size += len(block)
                        if len(head) < 1500:
                            head += block[: 1500 - len(head)]
                        if size > s.max_download_bytes:
                            cut = f"file exceeds {s.max_download_bytes:,} bytes; download cut"
                            break
                        if time.perf_counter() > deadline:
                            cut = f"file not complete after {s.download_timeout:g}s; download cut"
                            break
                        digest.update(block)
                        out.write(block)
                        if task is not None:
                            self.progress.update(task, advance=len(block))
                        if limit_lines is not None and lines >= limit_lines:
                            break
                item.bytes = size
                item.sha256 = digest.hexdigest()
                exchange = HttpExchange(
                    method="GET", url=str(response.request.url), status=response.status_code,
                    duration_ms=round((time.perf_counter() - start) * 1000, 1),
                    request_headers=dict(response.request.headers),
                    response_headers={k: v for k, v in response.headers.items() if k.lower() in KEPT_HEADERS},
                    body_excerpt=head[:600].decode("utf-8", "replace"), body_sha256=item.sha256)
                item.exchange = exchange
                if cut:
                    item.error = cut
                if response.status_code == 200 and not cut:
                    item.path = str(dest)
                else:
                    dest.unlink(missing_ok=True)
        except httpx.HTTPError as exc:
            item.error = f"{type(exc).__name__}: {exc}"
            item.exchange = error_exchange("GET", url, exc)
            dest.unlink(missing_ok=True)
        finally:
            if task is not None:
                self.progress.remove_task(task)

    def _probe_token(self, job: Job, requires: Any) -> None:
        """Fetch one file the *other* way and see whether the server agrees with its manifest."""
        ok = next((d for d in job.downloads if d.status == 200 and d.kind == "output"), None)
        if ok is None or not isinstance(requires, bool):
            return
        token = self.token()
        if requires and token is None:
            job.token_probe = {"mode": "no-token-configured", "url": ok.url, "status": ok.status,
                               "exchange": ok.exchange}
            return
        headers = self.headers(NDJSON, token=not requires and self.same_origin(ok.url))
        try:
            with self.client.stream("GET", ok.url, headers=headers) as response:
                status = response.status_code
                exchange = HttpExchange(method="GET", url=ok.url, status=status,
                                        request_headers=dict(response.request.headers),
                                        response_headers={k: v for k, v in response.headers.items()
                                                          if k.lower() in KEPT_HEADERS})
        except httpx.HTTPError as exc:
            job.token_probe = {"mode": "error", "url": ok.url, "error": str(exc)}
            return
        job.token_probe = {"mode": "without-token" if requires else "with-token", "url": ok.url, "status": status,
                           "exchange": exchange}

    # -- cancel
    def run_cancel_probe(self, url: str) -> CancelProbe:
        job = Job(name="cancel", url=url, params={"_type": self.settings.type_probe[0] if self.settings.type_probe
                                                   else "Patient"})
        probe = CancelProbe(job=job)
        full = url + "?" + urlencode(job.params, safe=",")
        fetched, job.kickoff = self._fetch("GET", full, self.headers(FHIR_JSON, prefer=True))
        if fetched is None:
            probe.error = f"kick-off failed: {job.kickoff.error}"
            return probe
        job.kickoff_status = fetched.status
        location = fetched.headers.get("content-location")
        if fetched.status != 202 or not location:
            probe.error = f"kick-off answered HTTP {fetched.status}" + ("" if location else " without Content-Location")
            return probe
        job.status_url = urljoin(full, location)
        fetched, probe.delete = self._fetch("DELETE", job.status_url, self.headers(FHIR_JSON))
        if fetched is None:
            probe.error = f"DELETE failed: {probe.delete.error}"
            return probe
        probe.delete_status = fetched.status
        fetched, probe.after = self._fetch("GET", job.status_url, self.headers("application/json"))
        if fetched is not None:
            probe.after_status = fetched.status
            probe.after_body = parse_json(fetched.body)
        return probe

    # -- everything
    def run_all(self) -> BulkResults:
        s = self.settings
        results = BulkResults(settings=s)
        with ThreadPoolExecutor(max_workers=4 + len(s.levels)) as pool:
            main_f = pool.submit(self.run_job, level_name(s.kickoff_url), s.kickoff_url, download=True)
            level_fs = [pool.submit(self.run_job, level_name(u), u) for u in s.levels]
            type_f = cancel_f = None
            if s.probe_params and s.type_probe:
                type_f = pool.submit(self.run_job, "_type", s.kickoff_url, {"_type": ",".join(s.type_probe)})
            if s.probe_cancel:
                cancel_f = pool.submit(self.run_cancel_probe, s.kickoff_url)
            results.main = main_f.result()
            if s.probe_params:
                since = s.since_probe
                if since is None and results.main.manifest:
                    tt = results.main.manifest.get("transactionTime")
                    since = tt if isinstance(tt, str) and INSTANT_RE.match(tt) else None
                if since is None:
                    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                results.since_probe = self.run_job("_since", s.kickoff_url, {"_since": since}, download=True,
                                                   download_limit_lines=1000)
            results.levels = [f.result() for f in level_fs]
            results.type_probe = type_f.result() if type_f else None
            results.cancel = cancel_f.result() if cancel_f else None
        return results


def env_token(name: str | None) -> str:
    value = os.environ.get(name or "")
    if not value:
        raise TargetError(f"bearer token variable {name!r} is not set")
    return value
