"""A scorecard with 100,000 findings: signed, published, verified, stored and shown.

The whole path (HTTP, verification, storage, site) runs once, on SQLite; the
storage of the same 40+ MB envelope runs on SQLite and on PostgreSQL. Most of
the time goes to the scorecard JSON Schema validation (``harness.scorecard.validate``),
done once when signing and once by the portal.
"""

from __future__ import annotations

import time

import httpx
import pytest
from portal_support import TOKEN, ThreadedServer, auth, make_card

from harness_plugins.portal.dsse import scorecard_digest, sign_scorecard, subject_name
from harness_plugins.portal.server import PortalConfig, create_app, register_keys
from harness_plugins.portal.store import Store

FINDINGS = 100_000
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def huge(keypair):
    card = make_card(product="Enorme", version="9.9", findings=FINDINGS)
    started = time.monotonic()
    envelope = sign_scorecard(card, [keypair["signing"]])
    print(f"\nsigned {FINDINGS} findings ({len(envelope) / 1e6:.1f} MB) in {time.monotonic() - started:.1f}s")
    return card, envelope


def test_huge_scorecard_through_the_portal(huge, keypair, tmp_path):
    card, envelope = huge
    digest = scorecard_digest(card)
    store = Store(f"sqlite:///{tmp_path}/portal.sqlite3")
    store.migrate()
    register_keys(store, keypair["trusted_keys"])
    app = create_app(PortalConfig(store=store, tokens=[TOKEN], known_packs=set(), site_dir=tmp_path / "site"))
    with ThreadedServer(app) as server:
        started = time.monotonic()
        response = httpx.post(f"{server.url}/api/v1/scorecards", content=envelope, timeout=900,
                              headers=auth() | {"Idempotency-Key": f"sha256:{digest}",
                                                "Content-Type": "application/vnd.dsse.envelope.v1+json"})
        print(f"verified and stored in {time.monotonic() - started:.1f}s")
        assert response.status_code == 201, response.text[:2000]
        started = time.monotonic()
        page = httpx.get(server.url + response.json()["links"]["site"], timeout=900)
        print(f"site built and served in {time.monotonic() - started:.1f}s")
        assert page.status_code == 200 and "Enorme" in page.text
        served = httpx.get(f"{server.url}/api/v1/scorecards/{digest}/envelope", timeout=300)
        assert served.content == envelope


def test_huge_envelope_storage(huge, db_url):
    card, envelope = huge
    store = Store(db_url)
    store.migrate()
    digest = scorecard_digest(card)
    started = time.monotonic()
    created, row = store.add_scorecard(digest=digest, subject_name=subject_name(card), card=card, keyids=["k"],
                                       envelope=envelope.decode(), idempotency_key=f"sha256:{digest}")
    print(f"stored {len(envelope) / 1e6:.1f} MB in {time.monotonic() - started:.1f}s ({store.describe()})")
    assert created and row.product == "Enorme"
    assert store.envelope(digest) == envelope.decode()
    assert store.add_scorecard(digest=digest, subject_name=subject_name(card), card=card, keyids=["k"],
                               envelope=envelope.decode(), idempotency_key=f"sha256:{digest}")[0] is False
