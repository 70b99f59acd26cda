"""Ed25519 auditor keys: create, load, and the trusted-keys folder.

A key pair is two files:

- ``NAME.key``: the private key, PKCS#8 PEM, unencrypted, mode 0600;
- ``NAME.pub``: JSON ``{"keyid", "algorithm": "ed25519", "name", "created", "public_key"}``
  where ``public_key`` is the SubjectPublicKeyInfo PEM and ``keyid`` is the
  lowercase hex sha256 of the SubjectPublicKeyInfo DER bytes.

A trusted-keys folder holds ``*.pub`` files (and, for convenience, bare
``*.pem`` public keys, whose keyid is computed). A ``.pub`` file whose recorded
keyid does not match its key is refused: a trust store must not lie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "ed25519"


class KeyFileError(Exception):
    """A key file that cannot be read, or a trust folder that is unusable."""


def keyid_of(public_key: Ed25519PublicKey) -> str:
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


@dataclass(frozen=True)
class TrustedKey:
    keyid: str
    name: str
    public_key: Ed25519PublicKey
    path: Path | None = None

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    @property
    def pem(self) -> str:
        return public_pem(self.public_key)


@dataclass(frozen=True)
class SigningKey:
    keyid: str
    private_key: Ed25519PrivateKey
    path: Path

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def new_keypair(out_dir: Path, name: str, force: bool = False) -> tuple[Path, Path, str]:
    """Write ``NAME.key`` (0600) and ``NAME.pub``; returns both paths and the keyid."""
    if not name or any(c in name for c in "/\\\0") or name.startswith("."):
        raise KeyFileError(f"invalid key name {name!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    key_path, pub_path = out_dir / f"{name}.key", out_dir / f"{name}.pub"
    for path in (key_path, pub_path):
        if path.exists() and not force:
            raise KeyFileError(f"{path} already exists (use --force to replace it)")
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    if key_path.exists():
        key_path.unlink()
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.chmod(key_path, 0o600)  # whatever the umask
    keyid = keyid_of(private.public_key())
    record = {"keyid": keyid, "algorithm": ALGORITHM, "name": name,
              "created": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
              "public_key": public_pem(private.public_key())}
    pub_path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return key_path, pub_path, keyid


def load_signing_key(path: Path) -> SigningKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read private key {path}: {exc.strerror or exc}") from None
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 private key ({type(private).__name__})")
    return SigningKey(keyid_of(private.public_key()), private, Path(path))


def public_key_from_pem(text: str, where: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise KeyFileError(f"{where}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{where}: not an Ed25519 public key ({type(key).__name__})")
    return key


def load_public_key(path: Path) -> TrustedKey:
    """One ``.pub`` (JSON) or ``.pem`` public key file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read public key {path}: {exc}") from None
    if path.suffix == ".pem" or text.lstrip().startswith("-----BEGIN"):
        key = public_key_from_pem(text, path)
        return TrustedKey(keyid_of(key), path.stem, key, path)
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyFileError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("public_key"), str):
        raise KeyFileError(f"{path}: expected a JSON object with a 'public_key' PEM")
    if record.get("algorithm", ALGORITHM) != ALGORITHM:
        raise KeyFileError(f"{path}: algorithm {record.get('algorithm')!r} is not supported (ed25519 only)")
    key = public_key_from_pem(record["public_key"], path)
    keyid = keyid_of(key)
    if record.get("keyid") not in (None, keyid):
        raise KeyFileError(f"{path}: recorded keyid {record.get('keyid')!r} does not match its public key "
                        f"(sha256 of the key is {keyid})")
    return TrustedKey(keyid, str(record.get("name") or path.stem), key, path)


def load_trusted(directory: Path) -> dict[str, TrustedKey]:
    """Every public key in a folder, by keyid."""
    directory = Path(directory)
    if not directory.is_dir():
        raise KeyFileError(f"trusted keys folder {directory} does not exist")
    keys: dict[str, TrustedKey] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix in (".pub", ".pem"):
            key = load_public_key(path)
            keys.setdefault(key.keyid, key)
    return keys
