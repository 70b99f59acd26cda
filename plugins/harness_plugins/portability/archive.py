"""Safe materialisation of an export as handed to a leaving doctor: folder, zip or tar(.gz).

Archives are untrusted. The zip side reuses ``harness.safety``'s limits type and
refusal exception; tar has no equivalent in the core, so the tar reader lives
here, with the same policy:

- names: absolute paths, drive letters, ``..`` segments, NUL bytes, empty names
  are refused (zip-slip); the destination is re-checked to lie inside the work
  folder after joining;
- member types: symbolic and hard links, character/block devices, FIFOs and
  anything that is not a plain file or folder are refused (never created);
- sizes: member count, per-member bytes, total bytes and the compression ratio
  are capped; sizes are counted on the real inflated bytes, never trusted from
  headers.

A refused *member* is skipped and reported (the rest of the export is still
audited: a careless symlink must not hide the patients' data); a *bomb* (total
size or ratio exceeded) stops the archive and nothing of it is audited. Files
are only ever written below the work folder given by the caller; folders are
read in place and never written to.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from harness.safety import UnsafeInput, ZipLimits

CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps for one export archive (defaults sized for a cabinet's whole history)."""

    max_members: int = 200_000
    max_total_bytes: int = 64 * 1024**3
    max_member_bytes: int = 16 * 1024**3
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1 << 20  # tiny members may compress absurdly well; only judge ratio above this

    def zip_limits(self) -> ZipLimits:
        return ZipLimits(max_members=self.max_members, max_total_bytes=self.max_total_bytes,
                         max_member_bytes=self.max_member_bytes, max_ratio=self.max_ratio)


@dataclass(frozen=True)
class Refusal:
    member: str
    reason: str
    code: str  # zip_slip, absolute, link, device, size, bomb, collision, unreadable


@dataclass
class ExportFile:
    name: str          # posix path inside the export, as shown in findings
    path: Path         # where its bytes are on disk (inside the work folder, or the user's folder)
    size: int


@dataclass
class Materialized:
    kind: str                     # folder, zip, tar
    origin: Path
    files: list[ExportFile] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    aborted: str | None = None    # set when the whole archive was refused (bomb, unreadable)
    sha256: str | None = None     # of the archive file (None for folders)
    size: int = 0

    @property
    def label(self) -> str:
        return self.origin.name


def archive_kind(path: Path) -> str:
    if path.is_dir():
        return "folder"
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")):
        return "tar"
    with open(path, "rb") as handle:
        head = handle.read(262)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\x1f\x8b") or head[257:262] == b"ustar":
        return "tar"
    raise UnsafeInput(f"{path.name}: not a folder, zip or tar archive")


def clean_member_name(name: str) -> PurePosixPath:
    """The member's relative path, or :class:`UnsafeInput` naming why it would escape the work folder."""
    if not name or "\x00" in name:
        raise UnsafeInput(f"archive member {name!r} has an empty or NUL-containing name")
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise UnsafeInput(f"archive member {name!r} has an absolute path; refused")
    path = PurePosixPath(norm)
    if ".." in path.parts:
        raise UnsafeInput(f"archive member {name!r} escapes the extraction folder (zip-slip refused)")
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        raise UnsafeInput(f"archive member {name!r} has no usable name")
    return PurePosixPath(*parts)


def _refusal_code(message: str) -> str:
    if "absolute" in message:
        return "absolute"
    if "escapes" in message:
        return "zip_slip"
    return "name"


def _destination(root: Path, rel: PurePosixPath) -> Path:
    dest = (root / Path(*rel.parts)).resolve()
    if not dest.is_relative_to(root.resolve()):
        raise UnsafeInput(f"archive member {rel.as_posix()!r} resolves outside the work folder; refused")
    return dest


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class _Budget:
    """Real inflated bytes against the caps of one archive."""

    def __init__(self, limits: ArchiveLimits, compressed_size: int) -> None:
        self.limits = limits
        self.compressed_size = max(compressed_size, 1)
        self.total = 0

    def add(self, n: int) -> None:
        self.total += n
        if self.total > self.limits.max_total_bytes:
            raise _Bomb(f"archive inflates beyond {self.limits.max_total_bytes:,} bytes in total (zip bomb refused)")
        if self.total > self.limits.ratio_floor_bytes and self.total / self.compressed_size > self.limits.max_ratio:
            raise _Bomb(f"archive inflates more than {self.limits.max_ratio:.0f}:1 over its {self.compressed_size:,} "
                        f"compressed bytes (bomb refused)")


class _Bomb(Exception):
    pass


class _MemberTooBig(Exception):
    pass


def _copy_member(source, dest: Path, name: str, limits: ArchiveLimits, budget: _Budget,
                 member_compressed: int | None = None) -> int:
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(dest, "xb") as out:
            while block := source.read(CHUNK):
                size += len(block)
                budget.add(len(block))
                if size > limits.max_member_bytes:
                    raise _MemberTooBig(f"archive member {name!r} inflates beyond {limits.max_member_bytes:,} bytes")
                if (member_compressed is not None and size > limits.ratio_floor_bytes
                        and size / max(member_compressed, 1) > limits.max_ratio):
                    raise _Bomb(f"archive member {name!r} inflates more than {limits.max_ratio:.0f}:1 (zip bomb refused)")
                out.write(block)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return size


def _discard_all(result: Materialized, root: Path) -> None:
    for f in result.files:
        f.path.unlink(missing_ok=True)
    result.files.clear()
    shutil.rmtree(root, ignore_errors=True)


def materialize(path: str | Path, work_dir: Path, limits: ArchiveLimits = ArchiveLimits()) -> Materialized:
    """List a folder in place, or extract a zip/tar safely below ``work_dir``; never raises for hostile input."""
    origin = Path(path)
    try:
        kind = archive_kind(origin)
    except (UnsafeInput, OSError) as exc:
        return Materialized(kind="unknown", origin=origin, aborted=str(exc))
    if kind == "folder":
        return _walk_folder(origin)
    result = Materialized(kind=kind, origin=origin, size=origin.stat().st_size, sha256=_hash_file(origin))
    root = work_dir / "archive"
    root.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "zip":
            _extract_zip(origin, root, limits, result)
        else:
            _extract_tar(origin, root, limits, result)
    except _Bomb as exc:
        result.aborted = str(exc)
        _discard_all(result, root)
    except UnsafeInput as exc:
        result.aborted = str(exc)
        _discard_all(result, root)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        result.aborted = f"{origin.name}: unreadable archive ({type(exc).__name__}: {exc})"
        _discard_all(result, root)
    result.files.sort(key=lambda f: f.name)
    return result


def _walk_folder(origin: Path) -> Materialized:
    result = Materialized(kind="folder", origin=origin)
    base = origin.resolve()
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        for name in sorted(dirnames):
            full = Path(dirpath) / name
            if full.is_symlink():
                rel = full.relative_to(base).as_posix()
                result.refusals.append(Refusal(rel, f"{rel!r} is a symbolic link to {os.readlink(full)!r}; not followed",
                                               "link"))
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(base).as_posix()
            mode = full.lstat().st_mode
            if stat.S_ISLNK(mode):
                result.refusals.append(Refusal(rel, f"{rel!r} is a symbolic link to {os.readlink(full)!r}; not followed",
                                               "link"))
            elif not stat.S_ISREG(mode):
                result.refusals.append(Refusal(rel, f"{rel!r} is a device, socket or FIFO; not read", "device"))
            else:
                size = full.stat().st_size
                result.size += size
                result.files.append(ExportFile(rel, full, size))
    return result


def _extract_zip(origin: Path, root: Path, limits: ArchiveLimits, result: Materialized) -> None:
    zlimits = limits.zip_limits()
    with zipfile.ZipFile(origin) as archive:
        infos = archive.infolist()
        if len(infos) > zlimits.max_members:
            raise UnsafeInput(f"archive has {len(infos):,} members (limit {zlimits.max_members:,})")
        declared = sum(i.file_size for i in infos)
        if declared > zlimits.max_total_bytes:
            raise _Bomb(f"archive declares {declared:,} bytes in total (limit {zlimits.max_total_bytes:,}): bomb refused")
        budget = _Budget(limits, result.size)
        seen: set[str] = set()
        for info in infos:
            if info.is_dir():
                continue
            try:
                rel = clean_member_name(info.filename)
            except UnsafeInput as exc:
                result.refusals.append(Refusal(info.filename, str(exc), _refusal_code(str(exc))))
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                result.refusals.append(Refusal(info.filename, f"archive member {info.filename!r} is a symbolic link; "
                                                              "refused", "link"))
                continue
            if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
                result.refusals.append(Refusal(info.filename, f"archive member {info.filename!r} is not a regular file "
                                                              f"(mode {oct(mode)}); refused", "device"))
                continue
            if info.file_size > zlimits.max_member_bytes:
                result.refusals.append(Refusal(info.filename, f"archive member {info.filename!r} declares "
                                                              f"{info.file_size:,} bytes (limit {zlimits.max_member_bytes:,})",
                                               "size"))
                continue
            if (info.compress_size and info.file_size > limits.ratio_floor_bytes
                    and info.file_size / info.compress_size > zlimits.max_ratio):
                raise _Bomb(f"archive member {info.filename!r} declares a {info.file_size / info.compress_size:.0f}:1 "
                            f"compression ratio (limit {zlimits.max_ratio:.0f}:1): zip bomb refused")
            key = rel.as_posix()
            if key in seen:
                result.refusals.append(Refusal(info.filename, f"archive member {key!r} appears twice; later copy ignored",
                                               "collision"))
                continue
            try:
                dest = _destination(root, rel)
            except UnsafeInput as exc:
                result.refusals.append(Refusal(info.filename, str(exc), "zip_slip"))
                continue
            try:
                with archive.open(info) as source:
                    size = _copy_member(source, dest, info.filename, limits, budget, info.compress_size)
            except _MemberTooBig as exc:
                result.refusals.append(Refusal(info.filename, str(exc), "size"))
                continue
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                result.refusals.append(Refusal(info.filename, f"archive member {key!r} collides with another member "
                                                              f"({type(exc).__name__})", "collision"))
                continue
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
                # A corrupt or encrypted member is unreadable, not hostile: skip it and say so.
                result.refusals.append(Refusal(info.filename, f"archive member {key!r} cannot be read: {exc}",
                                               "unreadable"))
                continue
            seen.add(key)
            result.files.append(ExportFile(key, dest, size))


def _extract_tar(origin: Path, root: Path, limits: ArchiveLimits, result: Materialized) -> None:
    """Stream through the tar once: vet each header, copy plain files, refuse everything else."""
    budget = _Budget(limits, result.size)
    seen: set[str] = set()
    count = 0
    with tarfile.open(origin, mode="r:*") as archive:
        while True:
            member = archive.next()
            if member is None:
                break
            count += 1
            if count > limits.max_members:
                raise UnsafeInput(f"archive has more than {limits.max_members:,} members")
            archive.members = []  # tarfile caches every header; keep memory flat on huge archives
            name = member.name
            if member.isdir():
                continue
            try:
                rel = clean_member_name(name)
            except UnsafeInput as exc:
                result.refusals.append(Refusal(name, str(exc), _refusal_code(str(exc))))
                continue
            if member.issym() or member.islnk():
                kind = "symbolic" if member.issym() else "hard"
                result.refusals.append(Refusal(name, f"archive member {name!r} is a {kind} link to "
                                                     f"{member.linkname!r}; refused", "link"))
                continue
            if member.ischr() or member.isblk() or member.isfifo():
                what = "character device" if member.ischr() else "block device" if member.isblk() else "FIFO"
                result.refusals.append(Refusal(name, f"archive member {name!r} is a {what}; refused", "device"))
                continue
            if not member.isreg():
                result.refusals.append(Refusal(name, f"archive member {name!r} is not a regular file (type "
                                                     f"{member.type!r}); refused", "device"))
                continue
            if member.size > limits.max_member_bytes:
                result.refusals.append(Refusal(name, f"archive member {name!r} declares {member.size:,} bytes "
                                                     f"(limit {limits.max_member_bytes:,})", "size"))
                continue
            key = rel.as_posix()
            if key in seen:
                result.refusals.append(Refusal(name, f"archive member {key!r} appears twice; later copy ignored",
                                               "collision"))
                continue
            try:
                dest = _destination(root, rel)
            except UnsafeInput as exc:
                result.refusals.append(Refusal(name, str(exc), "zip_slip"))
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            try:
                size = _copy_member(source, dest, name, limits, budget)
            except _MemberTooBig as exc:
                result.refusals.append(Refusal(name, str(exc), "size"))
                continue
            except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
                result.refusals.append(Refusal(name, f"archive member {key!r} collides with another member "
                                                     f"({type(exc).__name__})", "collision"))
                continue
            seen.add(key)
            result.files.append(ExportFile(key, dest, size))
