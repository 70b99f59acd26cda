"""Hostile archives: bombs, zip-slip, absolute paths, links and devices; nothing is written outside the work folder."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from harness_plugins.portability.archive import ArchiveLimits, clean_member_name, materialize
from harness.safety import UnsafeInput


def make_zip(path: Path, members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            archive.writestr(info, target)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for member in members:
            if isinstance(member, tuple):
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                archive.addfile(info, io.BytesIO(member[1]))
            else:
                archive.addfile(member)
    return path


def tar_special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.fixture
def work(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    return work


def outside_files(tmp_path: Path, work: Path) -> list[Path]:
    """Every file under tmp_path that is neither the inputs nor inside the work folder."""
    return [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(work) and p.parent == tmp_path
            and p.suffix not in (".zip", ".gz", ".tar")]


def test_plain_zip_is_extracted_under_the_work_folder(tmp_path, work):
    archive = make_zip(tmp_path / "e.zip", {"fhir/Patient.ndjson": b'{"resourceType":"Patient","id":"p"}\n'})
    result = materialize(archive, work)
    assert result.aborted is None and not result.refusals
    assert [f.name for f in result.files] == ["fhir/Patient.ndjson"]
    assert result.files[0].path.is_relative_to(work)
    assert result.sha256 and len(result.sha256) == 64


@pytest.mark.parametrize("name, code", [("../evil.txt", "zip_slip"), ("a/../../evil.txt", "zip_slip"),
                                        ("/etc/evil.txt", "absolute"), ("C:/evil.txt", "absolute"),
                                        ("..\\evil.txt", "zip_slip")])
def test_zip_slip_and_absolute_paths_are_refused_and_never_written(tmp_path, work, name, code):
    archive = make_zip(tmp_path / "e.zip", {name: b"pwned", "ok.txt": b"fine"})
    result = materialize(archive, work)
    assert [r.code for r in result.refusals] == [code]
    assert [f.name for f in result.files] == ["ok.txt"]
    assert not (tmp_path / "evil.txt").exists() and not Path("/etc/evil.txt").exists()


def test_zip_symlink_is_refused(tmp_path, work):
    archive = make_zip(tmp_path / "e.zip", {"ok.txt": b"x"}, symlinks={"link": "/etc/passwd"})
    result = materialize(archive, work)
    assert [r.code for r in result.refusals] == ["link"]
    assert not any(p.is_symlink() for p in work.rglob("*"))


def test_zip_bomb_by_ratio_is_refused_whole(tmp_path, work):
    archive = make_zip(tmp_path / "bomb.zip", {"zeros.ndjson": b"\0" * (20 * 1024 * 1024), "ok.txt": b"x"})
    result = materialize(archive, work, ArchiveLimits(max_ratio=100))
    assert result.aborted and "bomb" in result.aborted
    assert result.files == [] and not (work / "archive").exists()


def test_zip_bomb_by_total_size_is_refused(tmp_path, work):
    archive = make_zip(tmp_path / "big.zip", {f"f{i}.txt": os.urandom(300_000) for i in range(4)})
    result = materialize(archive, work, ArchiveLimits(max_total_bytes=1_000_000))
    assert result.aborted and "bytes" in result.aborted
    assert result.files == []


def test_zip_member_over_the_member_cap_is_skipped(tmp_path, work):
    """(zipfile itself stops at the declared size and fails the CRC when a header lies.)"""
    path = make_zip(tmp_path / "liar.zip", {"a.bin": os.urandom(200_000)})
    result = materialize(path, work, ArchiveLimits(max_member_bytes=100_000))
    assert [r.code for r in result.refusals] == ["size"]


@pytest.mark.parametrize("member, code", [
    (tar_special("link", tarfile.SYMTYPE, "/etc/passwd"), "link"),
    (tar_special("hard", tarfile.LNKTYPE, "/etc/shadow"), "link"),
    (tar_special("dev/sda", tarfile.BLKTYPE), "device"),
    (tar_special("dev/tty", tarfile.CHRTYPE), "device"),
    (tar_special("fifo", tarfile.FIFOTYPE), "device"),
    (("../../evil.txt", b"pwned"), "zip_slip"),
    (("/tmp/evil-harness-test.txt", b"pwned"), "absolute"),
])
def test_tar_hostile_members_are_refused_rest_extracted(tmp_path, work, member, code):
    archive = make_tar(tmp_path / "e.tar.gz", [member, ("fhir/Patient.ndjson", b'{"resourceType":"Patient","id":"p"}\n')])
    result = materialize(archive, work)
    assert [r.code for r in result.refusals] == [code]
    assert [f.name for f in result.files] == ["fhir/Patient.ndjson"]
    assert not Path("/tmp/evil-harness-test.txt").exists()
    assert not (tmp_path.parent / "evil.txt").exists()
    assert not any(p.is_symlink() or not (p.is_file() or p.is_dir()) for p in work.rglob("*"))


def test_tar_gz_bomb_is_refused(tmp_path, work):
    archive = make_tar(tmp_path / "bomb.tar.gz", [("zeros.ndjson", b"\0" * (30 * 1024 * 1024))])
    result = materialize(archive, work)
    assert result.aborted and "bomb" in result.aborted
    assert result.files == []


def test_tar_member_count_cap(tmp_path, work):
    archive = make_tar(tmp_path / "many.tar", [(f"f{i}.txt", b"x") for i in range(30)], mode="w")
    result = materialize(archive, work, ArchiveLimits(max_members=10))
    assert result.aborted and "members" in result.aborted


def test_folder_is_read_in_place_and_links_not_followed(tmp_path, work):
    folder = tmp_path / "export"
    (folder / "fhir").mkdir(parents=True)
    (folder / "fhir" / "Patient.ndjson").write_bytes(b'{"resourceType":"Patient","id":"p"}\n')
    (folder / "passwd").symlink_to("/etc/passwd")
    os.mkfifo(folder / "pipe")
    result = materialize(folder, work)
    assert [f.name for f in result.files] == ["fhir/Patient.ndjson"]
    assert sorted(r.code for r in result.refusals) == ["device", "link"]
    assert not list(work.iterdir())


def test_not_an_archive(tmp_path, work):
    blob = tmp_path / "export.bin"
    blob.write_bytes(b"\x00\x01garbage")
    result = materialize(blob, work)
    assert result.aborted and "not a folder, zip or tar" in result.aborted


def test_corrupt_zip_is_reported_not_raised(tmp_path, work):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04" + os.urandom(100))
    result = materialize(bad, work)
    assert result.aborted and "unreadable" in result.aborted


@pytest.mark.parametrize("name", ["", "a\x00b", "/abs", "../x", "./.."])
def test_clean_member_name_refuses(name):
    with pytest.raises(UnsafeInput):
        clean_member_name(name)


def test_clean_member_name_normalises():
    assert clean_member_name("./a//b/./c.txt").as_posix() == "a/b/c.txt"
