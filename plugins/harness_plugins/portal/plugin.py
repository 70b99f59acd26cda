"""portal plugin: signing, verification, publishing, annotations and the reference portal.

Commands added to ``harness`` (see ``docs/portal.md``):

- ``harness keys new``: an Ed25519 auditor key pair;
- ``harness sign SCORECARD --key K``: a DSSE envelope holding an in-toto statement;
- ``harness verify ENVELOPE --trusted-keys DIR``: signature, statement, digest, schema, rule packs;
- ``harness publish ENVELOPE --portal URL --token T``: idempotent, retried upload;
- ``harness annotate SCORECARD --check ID …``: a vendor dispute or auditor note;
- ``harness portal serve`` / ``harness portal migrate`` / ``harness portal import-ratings``.

Exit codes: 0 ok; 1 verification failed / the portal refused or could not be
reached; 2 usage or input error.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import click

from harness import hookimpl
from harness import scorecard as scorecard_mod

__version__ = "0.2.0"

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        _fail(f"cannot read {what} {path}: {exc.strerror or exc}")
    raise AssertionError  # pragma: no cover


# --------------------------------------------------------------------------
# keys, sign, verify
# --------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """Auditor signing keys (Ed25519)."""


@keys_group.command("new")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("keys"),
              show_default=True, help="Folder for NAME.key (private, 0600) and NAME.pub.")
@click.option("--name", default="auditor", show_default=True, help="Key name (file names, shown to verifiers).")
@click.option("--force", is_flag=True, help="Replace existing files of that name.")
def keys_new(out_dir: Path, name: str, force: bool) -> None:
    """Create an Ed25519 key pair; the .pub file goes to verifiers' trusted-keys folders."""
    from .keys import KeyFileError, new_keypair

    try:
        key_path, pub_path, keyid = new_keypair(out_dir, name, force=force)
    except (KeyFileError, OSError) as exc:
        _fail(str(exc))
    click.echo(f"private key: {key_path} (keep it secret)\npublic key:  {pub_path}\nkeyid:       {keyid}")


@keys_group.command("id")
@click.argument("path", type=click.Path(path_type=Path))
def keys_id(path: Path) -> None:
    """Print the keyid of a public (.pub/.pem) or private (.key) key file."""
    from .keys import KeyFileError, load_public_key, load_signing_key

    try:
        keyid = (load_signing_key(path) if path.suffix == ".key" else load_public_key(path)).keyid
    except KeyFileError as exc:
        _fail(str(exc))
    click.echo(keyid)


@click.command("sign")
@click.argument("scorecard", type=click.Path(path_type=Path))
@click.option("--key", "key_paths", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Private key file (repeatable: one signature per key).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Envelope file (default: SCORECARD with .dsse.json).")
def sign_cmd(scorecard: Path, key_paths: tuple[Path, ...], output: Path | None) -> None:
    """Sign a scorecard: an in-toto statement in a DSSE envelope (Ed25519)."""
    from .dsse import scorecard_digest, sign_scorecard
    from .keys import KeyFileError, load_signing_key

    if _looks_like_envelope(scorecard):
        _fail(f"{scorecard} is already a signed envelope; sign the scorecard itself")
    try:
        card = scorecard_mod.load(scorecard)
        keys = [load_signing_key(p) for p in key_paths]
    except (scorecard_mod.ScorecardError, KeyFileError) as exc:
        _fail(str(exc))
    output = output or scorecard.with_name(scorecard.name.removesuffix(".json") + ".dsse.json")
    data = sign_scorecard(card, keys, validate=False)  # scorecard.load validated it
    output.write_bytes(data)
    click.echo(f"signed {scorecard} -> {output}\nsha256:{scorecard_digest(card)} by "
               + ", ".join(k.keyid[:16] + "…" for k in keys))


def _looks_like_envelope(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return b'"payloadType"' in head or (head.lstrip().startswith(b'{"payload"'))


@click.command("verify")
@click.argument("envelope", type=click.Path(path_type=Path))
@click.option("--trusted-keys", "trusted_dir", required=True, type=click.Path(path_type=Path),
              help="Folder of trusted public keys (*.pub from `harness keys new`, or *.pem).")
@click.option("--known-packs", "known_files", multiple=True, type=click.Path(path_type=Path),
              help="Accepted rule packs (JSON records or one sha256 per line); added to the installed packs.")
@click.option("--no-installed-packs", is_flag=True,
              help="Do not accept the rule packs installed on this machine, only --known-packs.")
@click.option("-o", "--extract", "extract", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="When verification passes, write the scorecard to this file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result on stdout.")
def verify_cmd(envelope: Path, trusted_dir: Path, known_files: tuple[Path, ...], no_installed_packs: bool,
               extract: Path | None, as_json: bool) -> None:
    """Verify a signed scorecard: exit 0 valid, 1 verification failed, 2 usage.

    Checks, in order: the envelope (well-formed, byte-canonical DSSE), every
    signature against the trusted keys, the in-toto statement, the scorecard
    digest, the scorecard schema, and that every recorded rule pack is known.
    """
    from .dsse import VerificationError, canonical_scorecard_bytes, verify_envelope
    from .keys import KeyFileError, load_trusted
    from .packs import PacksError, known_packs

    data = _read_bytes(envelope, "envelope")
    try:
        trusted = load_trusted(trusted_dir)
        known = known_packs(known_files, include_installed=not no_installed_packs)
    except (KeyFileError, PacksError) as exc:
        _fail(str(exc))
    if not trusted:
        _fail(f"no public key (*.pub, *.pem) in {trusted_dir}")
    try:
        verified = verify_envelope(data, trusted, known)
    except VerificationError as exc:
        if as_json:
            click.echo(json.dumps({"valid": False, "step": exc.step, "code": exc.code, "message": exc.message}))
        click.echo(f"FAILED {exc.step}: {exc.message}", err=True)
        sys.exit(EXIT_FAILED)
    if extract:  # already validated: written as is, canonical
        extract.write_bytes(canonical_scorecard_bytes(verified.scorecard))
    if as_json:
        click.echo(json.dumps({"valid": True, "digest": verified.digest, "subject": verified.subject_name,
                               "keyids": verified.keyids, "signers": verified.signers, "steps": verified.steps},
                              ensure_ascii=False))
    else:
        for step in verified.steps:
            click.echo(f"ok  {step}")
        click.echo(f"VALID {verified.subject_name}")


# --------------------------------------------------------------------------
# publish, annotate
# --------------------------------------------------------------------------


def _check_url(url: str) -> str:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        _fail(f"--portal {url!r} is not an http(s) URL")
    return url


@click.command("publish")
@click.argument("envelope", type=click.Path(path_type=Path))
@click.option("--portal", required=True, help="Portal base URL, e.g. https://portal.example.")
@click.option("--token", envvar="HARNESS_PORTAL_TOKEN", required=True,
              help="Upload bearer token (or $HARNESS_PORTAL_TOKEN).")
@click.option("--retries", type=click.IntRange(0, 20), default=4, show_default=True,
              help="Retries after 5xx, 429 or a network error.")
@click.option("--max-backoff", type=click.FloatRange(0, 600), default=30.0, show_default=True,
              help="Longest wait between attempts, Retry-After included (seconds).")
@click.option("--timeout", type=click.FloatRange(0.1), default=120.0, show_default=True,
              help="Seconds for one attempt.")
def publish_cmd(envelope: Path, portal: str, token: str, retries: int, max_backoff: float, timeout: float) -> None:
    """Post a signed scorecard to a portal (idempotency key = its sha256)."""
    from .dsse import VerificationError, envelope_digest
    from .publish import PublishError, publish

    data = _read_bytes(envelope, "envelope")
    try:
        digest = envelope_digest(data)
    except VerificationError as exc:
        _fail(f"{envelope} is not a publishable envelope: {exc}")
    try:
        result = publish(data, _check_url(portal), token, f"sha256:{digest}", retries=retries,
                         max_backoff=max_backoff, timeout=timeout, log=lambda m: click.echo(m, err=True))
    except PublishError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    body = result.body
    what = "already stored (identical replay)" if result.replayed else "stored"
    click.echo(f"{what}: sha256:{digest} — {body.get('vendor', '?')} {body.get('product', '?')} "
               f"{body.get('version', '')}".rstrip())
    if (body.get("links") or {}).get("site"):
        click.echo(f"site page: {portal.rstrip('/')}{body['links']['site']}")


@click.command("annotate")
@click.argument("scorecard", type=click.Path(path_type=Path))
@click.option("--check", "check_id", required=True, help="Check id the annotation is about.")
@click.option("--item", "item_id", default=None, help="Item of that check (document, resource type…).")
@click.option("--message-id", default=None, help="Finding (message id) within the check/item.")
@click.option("--kind", type=click.Choice(["vendor_dispute", "auditor_note"]), required=True)
@click.option("--text", required=True, help="The dispute or the note (plain text).")
@click.option("--author", required=True, help="Who writes it (vendor name, auditor).")
@click.option("--date", default=None, help="ISO 8601 date (default: now, UTC).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Annotated scorecard (default: replace SCORECARD).")
def annotate_cmd(scorecard: Path, check_id: str, item_id: str | None, message_id: str | None, kind: str, text: str,
                 author: str, date: str | None, output: Path | None) -> None:
    """Attach a vendor dispute or an auditor note to a finding of a scorecard.

    The scorecard must then be signed again: an envelope is never edited.
    """
    from .annotate import AnnotationError, add_annotation

    if _looks_like_envelope(scorecard):
        _fail(f"{scorecard} is a signed envelope, which cannot be edited: annotate the scorecard, then sign it "
              "again with `harness sign`")
    try:
        card = scorecard_mod.load(scorecard)
        entry = add_annotation(card, check_id=check_id, item_id=item_id, message_id=message_id, kind=kind,
                               text=text, author=author, date=date)
        path = scorecard_mod.write(card, output or scorecard)
    except (scorecard_mod.ScorecardError, AnnotationError) as exc:
        _fail(str(exc))
    target = check_id + (f" / {item_id}" if item_id else "") + (f" / {message_id}" if message_id else "")
    click.echo(f"{entry['kind']} by {entry['author']} on {target} -> {path} "
               f"({len(card['annotations'])} annotation(s)); sign it again before publishing")


# --------------------------------------------------------------------------
# portal
# --------------------------------------------------------------------------


@click.group("portal")
def portal_group() -> None:
    """The reference portal import service."""


def _open_store(db: str, migrate: bool = True):
    from .store import Store, StoreError

    try:
        store = Store(db)
        applied = store.migrate() if migrate else []
    except StoreError as exc:
        _fail(str(exc))
    return store, applied


@portal_group.command("migrate")
@click.option("--db", default="sqlite:///portal.sqlite3", show_default=True,
              help="sqlite:///PATH or postgresql://user@host:port/db")
def portal_migrate(db: str) -> None:
    """Create or upgrade the portal's database schema."""
    store, applied = _open_store(db)
    click.echo(f"{store.describe()}: " + (f"applied {', '.join(applied)}" if applied else "up to date")
               + f" (schema version {store.schema_version()})")


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@portal_group.command("serve")
@click.option("--db", default="sqlite:///portal.sqlite3", show_default=True,
              help="sqlite:///PATH (default, nothing to install) or postgresql://user@host:port/db")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0: any free port.")
@click.option("--keys", "keys_dir", type=click.Path(path_type=Path), default=None,
              help="Folder of auditor public keys to register (*.pub, *.pem); registered keys stay registered.")
@click.option("--token", "tokens", multiple=True, envvar="HARNESS_PORTAL_TOKENS",
              help="Bearer token accepted for uploads (repeatable, or $HARNESS_PORTAL_TOKENS space-separated).")
@click.option("--known-packs", "known_files", multiple=True, type=click.Path(path_type=Path),
              help="Accepted rule packs, added to those installed on this machine.")
@click.option("--site-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the comparison site is built (default: a temporary folder).")
@click.option("--max-body-mb", type=click.IntRange(1, 4096), default=256, show_default=True)
def portal_serve(db: str, host: str, port: int, keys_dir: Path | None, tokens: tuple[str, ...],
                 known_files: tuple[Path, ...], site_dir: Path | None, max_body_mb: int) -> None:
    """Serve the portal import API and the comparison site until interrupted."""
    import uvicorn

    from .keys import KeyFileError, load_trusted
    from .packs import PacksError, known_packs
    from .server import PortalConfig, create_app, register_keys

    tokens = tuple(t for t in tokens if t.strip())
    if not tokens:
        _fail("give at least one upload token: --token T or $HARNESS_PORTAL_TOKENS")
    try:
        known = known_packs(known_files)
        keys = load_trusted(keys_dir) if keys_dir else {}
    except (KeyFileError, PacksError) as exc:
        _fail(str(exc))
    store, applied = _open_store(db)
    new_keys = register_keys(store, keys)
    if not store.keys():
        _fail("no auditor key is registered: give --keys DIR with the auditors' .pub files")
    sock = _listen(host, port)
    actual = sock.getsockname()[1]
    app = create_app(PortalConfig(store=store, tokens=list(tokens), known_packs=known, site_dir=site_dir,
                                  max_body=max_body_mb * 1024 * 1024))
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"storage: {store.describe()} (schema version {store.schema_version()}"
               + (f", applied {', '.join(applied)}" if applied else "") + ")")
    click.echo(f"auditor keys: {len(store.keys())} registered ({len(new_keys)} new)")
    click.echo(f"portal listening on http://{shown}:{actual}/", nl=True)
    sys.stdout.flush()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=10)
    uvicorn.Server(config).run(sockets=[sock])


@portal_group.command("import-ratings")
@click.argument("ratings", type=click.Path(path_type=Path))
@click.option("--portal", required=True, help="Portal base URL.")
@click.option("--token", envvar="HARNESS_PORTAL_TOKEN", required=True, help="Upload bearer token.")
def portal_import_ratings(ratings: Path, portal: str, token: str) -> None:
    """Upload a peer ratings export (CSV, JSON or JSON Lines) to a portal."""
    from .publish import PublishError, upload_ratings

    data = _read_bytes(ratings, "ratings export")
    try:
        answer = upload_ratings(data, ratings.name, _check_url(portal), token)
    except PublishError as exc:
        click.echo(f"error: {exc}", err=True)
        for problem in (exc.problem or {}).get("problems", [])[:20]:
            click.echo(f"  line {problem.get('line')}: {problem.get('message')}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo(f"imported {answer['imported']} rating(s) from {ratings.name}, {answer['rejected']} rejected")
    for problem in answer.get("problems", [])[:20]:
        click.echo(f"  line {problem['line']}: {problem['message']}", err=True)
    if answer.get("unknown_products"):
        click.echo("products without a scorecard yet: " + ", ".join(answer["unknown_products"]), err=True)


# --------------------------------------------------------------------------
# hooks
# --------------------------------------------------------------------------


@hookimpl
def harness_register_commands(cli: Any) -> None:
    for command in (keys_group, sign_cmd, verify_cmd, publish_cmd, annotate_cmd, portal_group):
        cli.add_command(command)
