"""Portal storage, run on SQLite and on a real PostgreSQL server (``db_url`` is parametrized)."""

from __future__ import annotations

import json
import threading

import pytest
from portal_support import make_card

from harness_plugins.portal import store as store_mod
from harness_plugins.portal.dsse import scorecard_digest, sign_scorecard, subject_name
from harness_plugins.portal.store import IdempotencyConflict, Store, StoreError


def add(store: Store, card: dict, key=None, envelope: str = "{}"):
    return store.add_scorecard(digest=scorecard_digest(card), subject_name=subject_name(card), card=card,
                               keyids=["k1"], envelope=envelope, idempotency_key=key)


def test_migrations_apply_once_and_are_recorded(db_url):
    store = Store(db_url)
    applied = store.migrate()
    assert applied == [name for _, name, _ in store_mod.migrations()]
    assert applied[0] == "0001_initial.sql" and len(applied) >= 2
    assert store.migrate() == []
    assert store.schema_version() == len(applied)
    with store.transaction() as tx:
        rows = tx.all("SELECT version, name, sha256 FROM schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == list(range(1, len(applied) + 1))
    assert store.stats() == {"scorecards": 0, "products": 0, "ratings": 0, "keys": 0}


def test_an_edited_or_unknown_migration_stops_the_portal(db_url, monkeypatch):
    store = Store(db_url)
    store.migrate()
    shipped = store_mod.migrations()
    edited = [(shipped[0][0], shipped[0][1], shipped[0][2] + "\n-- edited\n")] + shipped[1:]
    monkeypatch.setattr(store_mod, "migrations", lambda: edited)
    with pytest.raises(StoreError, match="was changed after it was applied"):
        store.migrate()
    monkeypatch.setattr(store_mod, "migrations", lambda: shipped[:1])
    with pytest.raises(StoreError, match="upgrade the harness"):
        store.migrate()


def test_scorecards_are_stored_once_per_digest_and_every_version_is_kept(db_url):
    store = Store(db_url)
    store.migrate()
    v1, v2 = make_card(version="4.2.0"), make_card(version="4.3.0", score=6.0)
    created, row = add(store, v1, key=f"sha256:{scorecard_digest(v1)}")
    assert created and row.version == "4.2.0" and row.overall_score == 7.5 and row.keyids == ["k1"]
    again, row_again = add(store, v1, key=f"sha256:{scorecard_digest(v1)}")
    assert not again and row_again.received_at == row.received_at
    assert add(store, v2)[0]
    rows = store.scorecards()
    assert [r.version for r in rows] == ["4.2.0", "4.3.0"]
    assert [r.version for r in store.scorecards(product="DemoCabinet", vendor="Demo Santé")] == ["4.2.0", "4.3.0"]
    assert store.stats()["scorecards"] == 2 and store.stats()["products"] == 1


def test_an_idempotency_key_reused_for_other_content_is_a_conflict(db_url):
    store = Store(db_url)
    store.migrate()
    first, other = make_card(), make_card(score=1.0)
    add(store, first, key="upload-1")
    with pytest.raises(IdempotencyConflict) as caught:
        add(store, other, key="upload-1")
    assert caught.value.stored == scorecard_digest(first) and caught.value.received == scorecard_digest(other)
    assert store.stats()["scorecards"] == 1  # nothing of the conflicting request was kept
    assert store.idempotency_digest("upload-1") == scorecard_digest(first)


def test_concurrent_identical_uploads_store_one_row(db_url):
    store = Store(db_url)
    store.migrate()
    card = make_card()
    outcomes, errors = [], []

    def upload():
        try:
            outcomes.append(add(store, card, key=f"sha256:{scorecard_digest(card)}")[0])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(outcomes) == [False] * 5 + [True]
    assert store.stats()["scorecards"] == 1


def test_text_is_stored_as_given_including_markup_and_nul(db_url):
    store = Store(db_url)
    store.migrate()
    card = make_card(vendor="<script>alert('v')</script>", product="Cab\x00inet \"&\" 'x'")
    add(store, card)
    row = store.scorecards()[0]
    assert row.vendor == "<script>alert('v')</script>"
    assert row.product == "Cab\ufffdinet \"&\" 'x'"


def test_large_envelopes_round_trip(db_url, keypair):
    store = Store(db_url)
    store.migrate()
    card = make_card(findings=2000)
    envelope = sign_scorecard(card, [keypair["signing"]]).decode()
    add(store, card, envelope=envelope)
    assert store.envelope(scorecard_digest(card)) == envelope
    assert [row.digest for row, _ in store.envelopes()] == [scorecard_digest(card)]


def test_ratings_imports_are_snapshots_per_product(db_url):
    store = Store(db_url)
    store.migrate()

    def row(line, product, score, reviewer="r1"):
        return {"line": line, "product": product, "version": "", "facet": "global", "score10": score,
                "date": "2026-01-10", "reviewer": reviewer}

    assert store.add_ratings(digest="a" * 64, filename="jan.csv",
                             ratings=[row(2, "A", 5.0), row(3, "B", 6.0)], problems=[(4, "bad score")])
    assert not store.add_ratings(digest="a" * 64, filename="jan.csv", ratings=[row(2, "A", 5.0)], problems=[])
    assert store.add_ratings(digest="b" * 64, filename="feb.csv", ratings=[row(2, "A", 9.0), row(3, "A", 8.0, "r2")],
                             problems=[])
    current = store.current_ratings()
    assert sorted((r["product"], r["score10"]) for r in current) == [("A", 8.0), ("A", 9.0), ("B", 6.0)]
    imports = store.ratings_imports()
    assert [i["filename"] for i in imports] == ["jan.csv", "feb.csv"]
    assert imports[0]["problems"] == [[4, "bad score"]]
    assert store.stats()["ratings"] == 4  # older imports stay recorded


def test_keys_register_once(db_url, keypair):
    store = Store(db_url)
    store.migrate()
    key = keypair["trusted_keys"][keypair["keyid"]]
    assert store.register_key(key.keyid, key.name, key.pem)
    assert not store.register_key(key.keyid, "renamed", key.pem)
    assert store.keys() == [(key.keyid, "auditor", key.pem)]


def test_database_urls(tmp_path):
    assert Store(f"sqlite:///{tmp_path}/a.db").path == tmp_path / "a.db"
    assert Store(str(tmp_path / "b.db")).engine == "sqlite"
    with pytest.raises(StoreError, match="unsupported database URL scheme"):
        Store("mysql://x/y")
    with pytest.raises(StoreError, match="in-memory"):
        Store("sqlite:///:memory:")
    with pytest.raises(StoreError, match="cannot connect"):
        Store("postgresql://nobody@127.0.0.1:1/none").migrate()


def test_schema_files_are_portable_sql():
    """Both engines run the same files: no engine-specific types or autoincrement."""
    for _, name, sql in store_mod.migrations():
        lowered = " ".join(store_mod.split_sql(sql)).lower()
        for word in ("serial", "autoincrement", "identity", "jsonb", "pragma"):
            assert word not in lowered, f"{name} uses {word}"
    assert json.dumps([n for _, n, _ in store_mod.migrations()])
