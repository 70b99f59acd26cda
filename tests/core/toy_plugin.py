"""A small third-party-style plugin the core tests load with ``-p toy_plugin``.

Family ``toy``: its target is a folder of text files, each file one item. What a
file holds decides how ``toy.content`` behaves on it, so one profile can make a
check pass, fail, crash, hang or return garbage:

    OK ...          -> pass
    FAIL ...        -> fail, with the file and line as evidence
    CRASH           -> the check raises
    HANG            -> the check blocks (bounded: 30 s) until the runner times it out
    BADRETURN       -> the check returns a string instead of findings
    SKIP / NA       -> Skip / NotApplicable
    anything else   -> warn, quoting the line (used for redaction tests)
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from harness import (Evidence, Finding, NotApplicable, Reporter, Requirement, Severity, Skip, Status, TargetError, TargetKind,
                     check, failed, hookimpl, sha256_bytes)

__version__ = "9.9.9"

RELEASE_HANG = threading.Event()

SCHEMA = {
    "type": "object",
    "properties": {"dir": {"type": "string"}, "label": {"type": "string"}},
    "required": ["dir"],
    "additionalProperties": False,
}


class ToyTarget:
    """The folder of files; ``closed`` lets tests see that the session closed it."""

    def __init__(self, folder: Path, label: str = "") -> None:
        self.folder = folder
        self.label = label
        self.closed = False

    def files(self) -> list[tuple[str, Path]]:
        return [(p.name, p) for p in sorted(self.folder.iterdir()) if p.is_file()]

    def close(self) -> None:
        self.closed = True


def _make_target(config: dict[str, Any], profile) -> ToyTarget:
    folder = Path(config["dir"])
    if not folder.is_dir():
        raise TargetError(f"{folder.name} is not a folder")
    if config.get("label") == "HANG":
        RELEASE_HANG.wait(30)  # a target that never comes up (bounded for the test process)
    return ToyTarget(folder, config.get("label", ""))


@check("toy.content", title="Toy files say OK", severity=Severity.HIGH, requirements=["TOY-1"], target="toy",
       items=lambda target: target.files())
def toy_content(target: ToyTarget, path: Path):
    """Behaves as the first word of the file says (see the module docstring)."""
    data = path.read_bytes()
    text = data.decode("utf-8")
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    if first == "OK":
        return None
    if first == "FAIL":
        return [failed(f"{path.name} does not say OK", message_id="toy.not_ok",
                       evidence=[Evidence.file(str(path), sha256=sha256_bytes(data), line=1)])]
    if first == "CRASH":
        raise RuntimeError(f"toy crash on {path.name}")
    if first == "HANG":
        RELEASE_HANG.wait(30)
        return None
    if first == "BADRETURN":
        return "not a list of findings"
    if first == "SKIP":
        raise Skip("toy skip")
    if first == "NA":
        raise NotApplicable("toy not applicable")
    return [Finding(Status.WARN, f"unexpected content: {text.strip()}", message_id="toy.unexpected",
                    evidence=[Evidence.quoted(str(path), text.strip(), sha256=sha256_bytes(data))])]


@check("toy.size", title="Toy files are small", severity=Severity.LOW, requirements=["TOY-2"], target="toy",
       items=lambda target: target.files())
def toy_size(target: ToyTarget, path: Path):
    """Always decidable: the rest of the scorecard must stand when toy.content breaks."""
    if path.stat().st_size > 1000:
        return [failed(f"{path.name} is larger than 1000 bytes", message_id="toy.too_big")]
    return None


def _write_count(card: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / "toy-count.txt"
    path.write_text(str(len(card["results"])), encoding="utf-8")
    return path


@hookimpl
def harness_register_commands(cli):
    import click

    @cli.command("toy-hello")
    def toy_hello() -> None:
        """Say hello from a plugin command."""
        click.echo("hello from a plugin command")


@hookimpl
def harness_register_checks():
    return [toy_content, toy_size]


@hookimpl
def harness_register_requirements():
    return [Requirement("TOY-1", "Toy files say OK", "Toy spec §1", "https://example.org/toy#1"),
            Requirement("TOY-2", "Toy files are small", "Toy spec §2", "https://example.org/toy#2")]


@hookimpl
def harness_register_target_kinds():
    return [TargetKind("toy", SCHEMA, _make_target, description="A folder of toy files", path_keys=("dir",))]


@hookimpl
def harness_register_reporters():
    return [Reporter("toy-count", "Number of results, as text", _write_count, default=False)]
