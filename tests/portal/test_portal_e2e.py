"""End to end on 127.0.0.1 with the real commands: audit → sign → publish → portal stores → site shows it.

Runs once with SQLite storage and once with a real PostgreSQL server.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from portal_support import TOKEN, portal_process

from harness_plugins.portal import dsse
from harness_plugins.portal.keys import new_keypair


def harness(*args, cwd=None, env=None, timeout=300):
    return subprocess.run(["harness", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.fixture(scope="module")
def demo_scorecard(tmp_path_factory) -> Path:
    """The demo vendor's real scorecard (audited once for the module)."""
    out = tmp_path_factory.mktemp("audit")
    audit = harness("demo", "--vendor", "good", "--fail-on", "none", "-o", out,
                    env={"HARNESS_CACHE": str(out / "cache")})
    assert audit.returncode == 0, audit.stderr
    return out / "scorecard.json"


def test_audit_sign_publish_store_show_on_loopback(tmp_path, db_url, repo_root, demo_scorecard):
    env = {"HARNESS_CACHE": str(tmp_path / "cache"), "HARNESS_PORTAL_TOKEN": TOKEN}
    card_path = tmp_path / "scorecard.json"
    card_path.write_bytes(demo_scorecard.read_bytes())
    card = json.loads(card_path.read_text())

    assert harness("keys", "new", "--out", tmp_path / "keys", "--name", "asso-auditor").returncode == 0
    new_keypair(tmp_path / "stranger", "stranger")  # a key the portal never registers
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "asso-auditor.pub").write_bytes((tmp_path / "keys" / "asso-auditor.pub").read_bytes())

    key = tmp_path / "keys" / "asso-auditor.key"
    signed = harness("sign", card_path, "--key", key, "-o", tmp_path / "card.dsse.json")
    assert signed.returncode == 0, signed.stderr
    envelope = tmp_path / "card.dsse.json"

    args = ["--db", db_url, "--keys", trusted, "--token", TOKEN, "--site-dir", tmp_path / "site"]
    if card["rule_packs"]:
        # the operator accepts the rule packs the audit used (unknown ones: test_unknown_rule_pack_is_rejected)
        known = tmp_path / "known-packs.json"
        known.write_text(json.dumps({"rule_packs": card["rule_packs"]}))
        args += ["--known-packs", known]
    with portal_process([str(a) for a in args], env=env) as (url, proc):
        # publish: stored, then an identical replay is accepted idempotently
        first = harness("publish", envelope, "--portal", url, env=env)
        assert first.returncode == 0, first.stderr + first.stdout
        assert first.stdout.startswith("stored: sha256:")
        site_line = next(line for line in first.stdout.splitlines() if line.startswith("site page: "))
        replay = harness("publish", envelope, "--portal", url, env=env)
        assert replay.returncode == 0 and "already stored (identical replay)" in replay.stdout

        # the site shows the product, its scores and the demo vendor's name
        page = httpx.get(site_line.removeprefix("site page: "))
        assert page.status_code == 200
        assert card["subject"]["product"] in page.text and "Demo Sant" in page.text
        assert card["subject"]["product"] in httpx.get(f"{url}/site/").text

        # tampering: a changed score inside a re-encoded payload, published anyway
        raw = json.loads(envelope.read_bytes())
        statement = json.loads(base64.b64decode(raw["payload"]))
        statement["predicate"]["subject"]["vendor"] = "Someone Else"
        raw["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
        tampered = tmp_path / "tampered.dsse.json"
        tampered.write_bytes(dsse.dumps_envelope(raw))
        refused = harness("publish", tampered, "--portal", url, env=env)
        assert refused.returncode == 1
        assert "HTTP 422" in refused.stderr and "[bad-signature]" in refused.stderr

        # a key the portal never registered
        foreign = tmp_path / "foreign.dsse.json"
        stranger = tmp_path / "stranger" / "stranger.key"
        assert harness("sign", card_path, "--key", stranger, "-o", foreign).returncode == 0
        unknown = harness("publish", foreign, "--portal", url, env=env)
        assert unknown.returncode == 1 and "HTTP 403" in unknown.stderr and "[unknown-key]" in unknown.stderr

        # wrong token: a clear message, no retry loop
        denied = harness("publish", envelope, "--portal", url, "--token", "nope")
        assert denied.returncode == 1 and "HTTP 401" in denied.stderr and "attempt" not in denied.stderr

        # a vendor dispute: annotate the scorecard, sign again, publish the new version
        check_id = card["results"][0]["check_id"]
        annotated = harness("annotate", card_path, "--check", check_id, "--item", card["results"][0]["item_id"],
                            "--kind", "vendor_dispute", "--text", "Nous contestons <b>ce</b> résultat",
                            "--author", "Demo Santé", "-o", tmp_path / "annotated.json")
        assert annotated.returncode == 0, annotated.stderr
        assert harness("sign", tmp_path / "annotated.json", "--key", tmp_path / "keys" / "asso-auditor.key",
                       "-o", tmp_path / "annotated.dsse.json").returncode == 0
        second = harness("publish", tmp_path / "annotated.dsse.json", "--portal", url, env=env)
        assert second.returncode == 0 and second.stdout.startswith("stored:"), second.stderr
        listed = httpx.get(f"{url}/api/v1/scorecards").json()["scorecards"]
        assert len(listed) == 2
        page = httpx.get(site_line.removeprefix("site page: ")).text
        assert "Nous contestons &lt;b&gt;ce&lt;/b&gt; résultat" in page

        # the demo vendor's peer ratings imported into the portal
        ratings = repo_root / "fixtures" / "vendors" / "demo-good" / "ratings.csv"
        imported = harness("portal", "import-ratings", ratings, "--portal", url, env=env)
        assert imported.returncode == 0, imported.stderr
        assert imported.stdout.startswith("imported ")
        assert httpx.get(f"{url}/api/v1/ratings/imports").json()["imports"][0]["filename"] == "ratings.csv"
        assert httpx.get(f"{url}/site/").status_code == 200
        assert proc.poll() is None

    # the data outlives the process: a restarted portal serves the same versions
    with portal_process([str(a) for a in args], env=env) as (url, _proc):
        assert len(httpx.get(f"{url}/api/v1/scorecards").json()["scorecards"]) == 2


def test_portal_serve_refuses_to_start_without_token_or_keys(tmp_path):
    done = harness("portal", "serve", "--db", f"sqlite:///{tmp_path}/p.db", "--port", "0", timeout=60,
                   env={"HARNESS_PORTAL_TOKENS": ""})
    assert done.returncode == 2 and "upload token" in done.stderr
    done = harness("portal", "serve", "--db", f"sqlite:///{tmp_path}/p.db", "--port", "0", "--token", "t", timeout=60)
    assert done.returncode == 2 and "no auditor key is registered" in done.stderr
    migrated = harness("portal", "migrate", "--db", f"sqlite:///{tmp_path}/m.db")
    assert migrated.returncode == 0 and "applied 0001_initial.sql" in migrated.stdout
    assert "up to date" in harness("portal", "migrate", "--db", f"sqlite:///{tmp_path}/m.db").stdout
    assert Path(tmp_path / "m.db").is_file()
