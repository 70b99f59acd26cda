"""Bench: sign, verify and ingest (HTTP → verify → store) one scorecard of N findings.

    python bench/portal_ingest.py [--findings 10000] [--db sqlite:///…|postgresql://…]

Prints the time of each stage. The portal runs on 127.0.0.1 in this process.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

import httpx

from harness import scorecard as scorecard_mod
from harness_plugins.portal.dsse import scorecard_digest, sign_scorecard, verify_envelope
from harness_plugins.portal.keys import load_signing_key, load_trusted, new_keypair
from harness_plugins.portal.server import PortalConfig, create_app, register_keys
from harness_plugins.portal.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "portal"))
from portal_support import TOKEN, ThreadedServer, make_card  # noqa: E402


def timed(label: str, func, *args, **kwargs):
    started = time.perf_counter()
    value = func(*args, **kwargs)
    print(f"{label:<34} {time.perf_counter() - started:8.2f} s")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    key_path, _pub, _ = new_keypair(work / "keys", "bench")
    key, trusted = load_signing_key(key_path), load_trusted(work / "keys")
    card = make_card(product="Bench", findings=args.findings)
    print(f"scorecard: {args.findings} findings, {len(scorecard_mod.dumps(card)) / 1e6:.1f} MB canonical")
    timed("schema validation", scorecard_mod.validate, copy.deepcopy(card))
    envelope = timed("sign (validate + statement + DSSE)", sign_scorecard, card, [key])
    timed("verify (all steps)", verify_envelope, envelope, trusted, set())
    store = Store(args.db or f"sqlite:///{work}/portal.sqlite3")
    store.migrate()
    register_keys(store, trusted)
    app = create_app(PortalConfig(store=store, tokens=[TOKEN], known_packs=set(), site_dir=work / "site"))
    with ThreadedServer(app) as server:
        headers = {"Authorization": f"Bearer {TOKEN}", "Idempotency-Key": f"sha256:{scorecard_digest(card)}",
                   "Content-Type": "application/vnd.dsse.envelope.v1+json"}
        response = timed(f"POST to portal ({store.engine})", httpx.post, f"{server.url}/api/v1/scorecards",
                         content=envelope, headers=headers, timeout=900)
        assert response.status_code == 201, response.text[:500]
        replay = timed("identical replay", httpx.post, f"{server.url}/api/v1/scorecards", content=envelope,
                       headers=headers, timeout=900)
        assert replay.status_code == 200
        page = timed("site build + first page", httpx.get, f"{server.url}/site/", timeout=900)
        assert page.status_code == 200


if __name__ == "__main__":
    main()
