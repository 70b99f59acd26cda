"""Hardened readers shared by every family: XML, zip archives and HTTP.

Vendors' files and endpoints are untrusted input. These helpers refuse what
could hurt the auditor's machine (external entities, entity expansion, zip
bombs, zip-slip, endless or huge responses) with a clear :class:`UnsafeInput`
message instead of crashing or hanging the run.
"""

from __future__ import annotations

import email.utils
import hashlib
import stat
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Mapping

from lxml import etree

from .model import HttpExchange


class UnsafeInput(Exception):
    """Input refused for safety (too large, hostile XML, path traversal, bomb…)."""


# ----------------------------------------------------------------------------- XML

DEFAULT_MAX_XML_BYTES = 50 * 1024 * 1024


def xml_parser(*, huge: bool = False) -> etree.XMLParser:
    """An lxml parser that never loads DTDs, never touches the network and never expands entities."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge,
        remove_comments=False,
    )


def parse_xml_bytes(data: bytes, *, max_bytes: int = DEFAULT_MAX_XML_BYTES, base_url: str | None = None):
    """Parse untrusted XML; refuses DOCTYPEs with entity declarations and oversize input.

    Returns the ``ElementTree``. Raises :class:`UnsafeInput` for refused input
    and ``etree.XMLSyntaxError`` for malformed XML (with its line).
    """
    if len(data) > max_bytes:
        raise UnsafeInput(f"XML of {len(data):,} bytes exceeds the {max_bytes:,}-byte limit")
    head = data[:4096].lstrip()
    tree = etree.ElementTree(etree.fromstring(data, parser=xml_parser(), base_url=base_url))
    docinfo = tree.docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None or b"<!ENTITY" in head:
        dtd = docinfo.internalDTD
        if dtd is not None and list(dtd.iterentities()):
            raise UnsafeInput("XML declares entities in a DOCTYPE (XXE / entity expansion refused)")
        if docinfo.system_url or docinfo.public_id:
            raise UnsafeInput(f"XML references an external DTD ({docinfo.system_url or docinfo.public_id}); refused")
    return tree


def parse_xml_file(path: str | Path, *, max_bytes: int = DEFAULT_MAX_XML_BYTES):
    path = Path(path)
    size = path.stat().st_size
    if size > max_bytes:
        raise UnsafeInput(f"{path.name}: {size:,} bytes exceeds the {max_bytes:,}-byte limit")
    return parse_xml_bytes(path.read_bytes(), max_bytes=max_bytes, base_url=path.as_uri())


# ----------------------------------------------------------------------------- zip

@dataclass(frozen=True)
class ZipLimits:
    max_members: int = 20_000
    max_total_bytes: int = 2 * 1024**3
    max_member_bytes: int = 512 * 1024**2
    max_ratio: float = 200.0


def _safe_member_name(name: str) -> PurePosixPath:
    norm = name.replace("\\", "/")
    path = PurePosixPath(norm)
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":") or ".." in path.parts:
        raise UnsafeInput(f"archive member {name!r} escapes the extraction folder (zip-slip refused)")
    return path


def safe_zip_members(archive: zipfile.ZipFile, limits: ZipLimits = ZipLimits()) -> list[zipfile.ZipInfo]:
    """Vet a zip's directory: member count, names, declared sizes and ratios, symlinks."""
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise UnsafeInput(f"archive has {len(infos):,} members (limit {limits.max_members:,})")
    total = 0
    for info in infos:
        _safe_member_name(info.filename)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise UnsafeInput(f"archive member {info.filename!r} is a symbolic link; refused")
        total += info.file_size
        if info.file_size > limits.max_member_bytes:
            raise UnsafeInput(f"archive member {info.filename!r} declares {info.file_size:,} bytes "
                              f"(limit {limits.max_member_bytes:,})")
        if info.compress_size and info.file_size / info.compress_size > limits.max_ratio:
            raise UnsafeInput(f"archive member {info.filename!r} compresses {info.file_size / info.compress_size:.0f}:1 "
                              f"(limit {limits.max_ratio:.0f}:1): zip bomb refused")
    if total > limits.max_total_bytes:
        raise UnsafeInput(f"archive expands to {total:,} bytes (limit {limits.max_total_bytes:,})")
    return infos


def read_zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ZipLimits = ZipLimits()) -> bytes:
    """Read one member, counting real bytes (declared sizes can lie)."""
    chunks, size = [], 0
    with archive.open(info) as handle:
        while block := handle.read(1 << 16):
            size += len(block)
            if size > limits.max_member_bytes or (info.compress_size and size / max(info.compress_size, 1) > limits.max_ratio
                                                  and size > 1 << 20):
                raise UnsafeInput(f"archive member {info.filename!r} inflates beyond its limits (zip bomb refused)")
            chunks.append(block)
    return b"".join(chunks)


def iter_zip(path: str | Path, limits: ZipLimits = ZipLimits()) -> Iterator[tuple[str, bytes]]:
    """Yield ``(name, bytes)`` for each file member of a vetted zip."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise UnsafeInput(f"{Path(path).name}: not a readable zip archive ({exc})") from None
    with archive:
        for info in safe_zip_members(archive, limits):
            if info.is_dir():
                continue
            yield info.filename, read_zip_member(archive, info, limits)


# ----------------------------------------------------------------------------- HTTP

@dataclass(frozen=True)
class HttpLimits:
    max_bytes: int = 20 * 1024 * 1024
    total_timeout: float = 30.0
    excerpt_chars: int = 2000


@dataclass
class Fetched:
    """A bounded HTTP response: status, headers, body bytes and the evidence record."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    exchange: HttpExchange

    def json(self) -> Any:
        import json

        return json.loads(self.body)


def fetch(client, method: str, url: str, *, limits: HttpLimits = HttpLimits(), headers: Mapping[str, str] | None = None,
          content: bytes | None = None) -> Fetched:
    """Send one request with ``client`` (an ``httpx.Client``), reading at most ``limits.max_bytes``.

    The body is streamed, so an endless or slow-drip response is cut at the size
    limit or the overall deadline. Raises :class:`UnsafeInput` when cut, and
    ``httpx.HTTPError`` for transport failures.
    """
    start = time.perf_counter()
    deadline = start + limits.total_timeout
    with client.stream(method, url, headers=headers, content=content) as response:
        chunks, size = [], 0
        for block in response.iter_bytes():
            size += len(block)
            if size > limits.max_bytes:
                raise UnsafeInput(f"{method} {url}: response exceeds {limits.max_bytes:,} bytes; cut")
            if time.perf_counter() > deadline:
                raise UnsafeInput(f"{method} {url}: response not complete after {limits.total_timeout:g}s; cut")
            chunks.append(block)
        body = b"".join(chunks)
        exchange = HttpExchange(
            method=method,
            url=str(response.request.url),
            status=response.status_code,
            duration_ms=round((time.perf_counter() - start) * 1000, 1),
            request_headers=dict(response.request.headers),
            response_headers=dict(response.headers),
            body_excerpt=body[: limits.excerpt_chars].decode("utf-8", "replace"),
            body_sha256=hashlib.sha256(body).hexdigest(),
        )
        return Fetched(response.status_code, response.headers, body, exchange)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP-date); None when absent or unreadable.

    Shared by every family that polls or retries (interop, Bulk Data, portal publish).
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
