"""Fixtures of the portal tests.

``db_url`` runs a test once on SQLite and once on a real PostgreSQL server that
this suite starts itself (initdb + pg_ctl in a temporary folder, 127.0.0.1 and
a free port, stopped at the end). Missing PostgreSQL binaries FAIL the
PostgreSQL half with the reason: they are never skipped.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from portal_support import TOKEN, PostgresMissing, PostgresServer, ThreadedServer, make_card, write_card

from harness_plugins.portal.keys import load_signing_key, load_trusted, new_keypair

@pytest.fixture(scope="session")
def pg_server():
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.fail("psycopg 3 is not installed (pip install -e '.[test]'): the PostgreSQL storage tests need it")
    try:
        server = PostgresServer().start()
    except PostgresMissing as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/portal.sqlite3"
    server = request.getfixturevalue("pg_server")
    return server.create_database(f"portal_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def keypair(tmp_path_factory):
    """An auditor key pair and a trusted-keys folder holding its public key."""
    root = tmp_path_factory.mktemp("keys")
    key_path, pub_path, keyid = new_keypair(root / "private", "auditor")
    trusted = root / "trusted"
    trusted.mkdir()
    (trusted / pub_path.name).write_bytes(pub_path.read_bytes())
    return {"key": key_path, "pub": pub_path, "keyid": keyid, "trusted": trusted,
            "signing": load_signing_key(key_path), "trusted_keys": load_trusted(trusted)}


@pytest.fixture(scope="session")
def other_keypair(tmp_path_factory):
    """A key nobody registered."""
    root = tmp_path_factory.mktemp("other-keys")
    key_path, pub_path, keyid = new_keypair(root, "stranger")
    return {"key": key_path, "pub": pub_path, "keyid": keyid, "signing": load_signing_key(key_path)}


@pytest.fixture
def card_file(tmp_path):
    return write_card(make_card(), tmp_path / "scorecard.json")


@pytest.fixture
def portal(db_url, keypair, tmp_path):
    """The portal app on 127.0.0.1 (in a thread) over ``db_url``; yields (url, store, app)."""
    from harness_plugins.portal.server import PortalConfig, create_app, register_keys
    from harness_plugins.portal.store import Store

    store = Store(db_url)
    store.migrate()
    register_keys(store, keypair["trusted_keys"])
    app = create_app(PortalConfig(store=store, tokens=[TOKEN], known_packs=set(), site_dir=tmp_path / "site"))
    with ThreadedServer(app) as server:
        yield server.url, store, app


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
