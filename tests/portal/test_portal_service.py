"""The portal import service over HTTP on 127.0.0.1, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import json
import re

import httpx
from portal_support import TOKEN, ThreadedServer, auth, make_card

from harness_plugins.portal import dsse
from harness_plugins.portal.annotate import add_annotation
from harness_plugins.portal.dsse import scorecard_digest, sign_scorecard

ENVELOPE_TYPE = "application/vnd.dsse.envelope.v1+json"


def post(url, data: bytes, key: str | None = "auto", token: str | None = TOKEN, content_type=ENVELOPE_TYPE):
    headers = {"Content-Type": content_type}
    if token is not None:
        headers |= auth(token)
    if key == "auto":
        key = f"sha256:{dsse.envelope_digest(data)}"
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(f"{url}/api/v1/scorecards", content=data, headers=headers, timeout=300)


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"].endswith("/" + code) and body["title"] and body["detail"]
    return body


def test_publish_store_and_show_then_reject_tampering_and_replays(portal, keypair, other_keypair):
    url, store, _app = portal
    card = make_card(vendor="Cabinet Logiciels", product="MediDoc", version="1.0")
    envelope = sign_scorecard(card, [keypair["signing"]])
    digest = scorecard_digest(card)

    created = post(url, envelope)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["digest"] == digest and body["product"] == "MediDoc" and body["signers"] == ["auditor"]
    assert created.headers["location"] == f"/api/v1/scorecards/{digest}"

    # identical replay: idempotent, nothing new stored
    replay = post(url, envelope)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["received_at"] == body["received_at"]
    assert store.stats()["scorecards"] == 1

    # what was stored is what was signed
    assert httpx.get(f"{url}/api/v1/scorecards/{digest}").json() == card
    assert httpx.get(f"{url}/api/v1/scorecards/{digest}/envelope").content == envelope
    listed = httpx.get(f"{url}/api/v1/scorecards").json()["scorecards"]
    assert [(r["product"], r["version"]) for r in listed] == [("MediDoc", "1.0")]

    # the site shows it
    index = httpx.get(f"{url}/site/")
    assert index.status_code == 200 and "MediDoc" in index.text
    page = httpx.get(url + body["links"]["site"])
    assert page.status_code == 200 and "MediDoc" in page.text and "Cabinet Logiciels" in page.text

    # tampered payload (re-encoded so the envelope stays well-formed)
    raw = json.loads(envelope)
    payload = base64.b64decode(raw["payload"]).replace(b'"score":7.5', b'"score":9.5')
    tampered = dsse.dumps_envelope(dict(raw, payload=base64.b64encode(payload).decode()))
    problem = assert_problem(post(url, tampered, key=None), 422, "bad-signature")
    assert problem["step"] == "signature" and "altered" in problem["detail"]
    # one byte of the file changed
    flipped = bytearray(envelope)
    flipped[len(flipped) // 3] ^= 0x01
    assert post(url, bytes(flipped), key=None).status_code in (400, 422)

    # a different scorecard replayed under the same idempotency key
    other = sign_scorecard(make_card(vendor="Cabinet Logiciels", product="MediDoc", version="1.1"),
                           [keypair["signing"]])
    conflict = assert_problem(post(url, other, key=f"sha256:{digest}"), 409, "idempotency-conflict")
    assert conflict["received_digest"] != digest
    assert post(url, other, key="upload-42").status_code == 201
    assert_problem(post(url, envelope, key="upload-42"), 409, "idempotency-conflict")

    # unsigned and unknown-key submissions
    assert_problem(post(url, dsse.dumps_envelope(dict(raw, signatures=[])), key=None), 422, "unsigned")
    foreign = sign_scorecard(make_card(product="Intrus"), [other_keypair["signing"]])
    assert "not a trusted (registered) auditor key" in assert_problem(post(url, foreign), 403, "unknown-key")["detail"]
    assert store.stats()["scorecards"] == 2


def test_uploads_need_a_valid_token_and_a_sane_request(portal, keypair):
    url, _store, _app = portal
    envelope = sign_scorecard(make_card(), [keypair["signing"]])
    missing = assert_problem(post(url, envelope, token=None), 401, "unauthorized")
    assert "Bearer" in missing["detail"]
    response = post(url, envelope, token="wrong")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert_problem(post(url, envelope, content_type="text/html"), 415, "unsupported-media-type")
    assert_problem(post(url, envelope, key="bad key with spaces"), 400, "bad-idempotency-key")
    assert_problem(post(url, b"not json", key=None), 400, "malformed-envelope")
    assert_problem(post(url, b'{"payload": "x"}', key=None), 400, "malformed-envelope")
    assert_problem(post(url, envelope[:-1] + b" ", key=None), 400, "non-canonical-envelope")
    assert httpx.get(f"{url}/api/v1/scorecards/{'0' * 64}").status_code == 404


def test_body_size_limit(db_url, keypair, tmp_path):
    from harness_plugins.portal.server import PortalConfig, create_app, register_keys
    from harness_plugins.portal.store import Store

    store = Store(db_url)
    store.migrate()
    register_keys(store, keypair["trusted_keys"])
    app = create_app(PortalConfig(store=store, tokens=[TOKEN], known_packs=set(), max_body=4096))
    with ThreadedServer(app) as server:
        envelope = sign_scorecard(make_card(findings=50), [keypair["signing"]])
        assert_problem(post(server.url, envelope), 413, "too-large")


def test_unknown_rule_pack_is_rejected(portal, keypair):
    url, _store, _app = portal
    card = make_card(packs=[{"name": "ans-cda", "version": "1", "sha256": "ab" * 32}])
    problem = assert_problem(post(url, sign_scorecard(card, [keypair["signing"]])), 422, "unknown-rule-pack")
    assert "ans-cda 1" in problem["detail"]


RATINGS_CSV = """product,version,facet,score,scale,date,reviewer
MediDoc,1.0,global,4,5,2026-01-02,r1
MediDoc,1.0,global,5,5,2026-01-03,r2
MediDoc,1.0,global,3,5,2026-01-04,r3
MediDoc,1.0,global,4,5,2026-01-05,r4
MediDoc,1.0,global,4,5,2026-01-06,r5
MediDoc,1.0,fiabilite,11,5,2026-01-06,r6
Inconnu,,global,2,5,2026-01-06,r7
"""


def test_ratings_import_feeds_the_site_beside_the_scores(portal, keypair):
    url, store, _app = portal
    card = make_card(product="MediDoc", version="1.0")
    assert post(url, sign_scorecard(card, [keypair["signing"]])).status_code == 201
    response = httpx.post(f"{url}/api/v1/ratings", params={"filename": "export.csv"},
                          content=RATINGS_CSV.encode(), headers=auth() | {"Content-Type": "text/csv"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["imported"] == 6 and body["rejected"] == 1
    assert body["problems"][0]["line"] == 7 and "11" in body["problems"][0]["message"]
    assert body["unknown_products"] == ["Inconnu"]
    again = httpx.post(f"{url}/api/v1/ratings", params={"filename": "export.csv"}, content=RATINGS_CSV.encode(),
                       headers=auth() | {"Content-Type": "text/csv"})
    assert again.status_code == 200 and store.stats()["ratings"] == 6
    assert [i["filename"] for i in httpx.get(f"{url}/api/v1/ratings/imports").json()["imports"]] == ["export.csv"]
    # the site's data shows the peer figures from the portal's import beside the objective score
    data = httpx.get(f"{url}/site/data.json").json()
    medidoc = next(p for p in data["products"] if p["product"] == "MediDoc")
    assert medidoc["overall"]["score"] == 7.5
    assert medidoc["peers"]["global"]["count"] == 5
    # JSON export too; unusable exports are refused with the reason
    as_json = json.dumps([{"product": "MediDoc", "facet": "support", "score": 8, "scale": "10",
                           "date": "2026-02-01", "reviewer": "r9"}])
    assert httpx.post(f"{url}/api/v1/ratings", params={"filename": "feb.json"}, content=as_json,
                      headers=auth() | {"Content-Type": "application/json"}).status_code == 201
    bad = httpx.post(f"{url}/api/v1/ratings", content=b"who,what\nx,y\n", headers=auth() | {"Content-Type": "text/csv"})
    assert_problem(bad, 422, "ratings-unusable")
    assert_problem(httpx.post(f"{url}/api/v1/ratings", content=RATINGS_CSV.encode()), 401, "unauthorized")


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_html_in_every_free_text_field_is_escaped_on_the_site(portal, keypair):
    url, _store, _app = portal
    card = make_card(vendor=f"Vendor {XSS}", product=f"Prod {XSS}", version=f"1 {XSS}")
    card["results"][2]["findings"][0]["message"] = f"message {XSS}"
    card["checks"][1]["title"] = f"title {XSS}"
    add_annotation(card, check_id="dmp.cda.xsd", item_id="doc-2.xml", kind="vendor_dispute",
                   text=f"dispute {XSS}", author=f"author {XSS}")
    created = post(url, sign_scorecard(card, [keypair["signing"]]))
    assert created.status_code == 201, created.text
    ratings = f"product,facet,score,date,reviewer\n\"Prod {XSS}\",global,4,2026-01-02,\"r {XSS}\"\n"
    assert httpx.post(f"{url}/api/v1/ratings", content=ratings.encode(),
                      headers=auth() | {"Content-Type": "text/csv"}).status_code == 201
    pages = [httpx.get(f"{url}/site/"), httpx.get(url + created.json()["links"]["site"])]
    report_links = re.findall(r'href="(?:\.\./)?(reports/[^"]+\.html)"', pages[1].text)
    assert report_links, "the product page links its reports"
    pages.append(httpx.get(f"{url}/site/{report_links[0]}"))
    for page in pages:
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;alert" in page.text
    assert "dispute &lt;script&gt;" in pages[2].text or "dispute &lt;script&gt;" in pages[1].text


def test_site_paths_cannot_escape_the_site_folder(portal):
    url, _store, _app = portal
    for path in ("/site/../../etc/passwd", "/site/%2e%2e/%2e%2e/etc/passwd", "/site/nothing.html"):
        response = httpx.get(url + path)
        assert response.status_code == 404 and "root:" not in response.text
    assert httpx.get(url + "/", follow_redirects=False).headers["location"] == "/site/"


def test_health_and_keys(portal, keypair):
    url, _store, _app = portal
    health = httpx.get(f"{url}/healthz").json()
    assert health["status"] == "ok" and health["schema_version"] >= 2 and health["keys"] == 1
    assert httpx.get(f"{url}/api/v1/keys").json()["keys"] == [{"keyid": keypair["keyid"], "name": "auditor"}]


def test_every_version_is_stored_and_shown_in_history(portal, keypair):
    url, store, _app = portal
    for version, score in (("1.0", 8.0), ("1.1", 6.0), ("1.2", 9.0)):
        card = make_card(product="Histo", version=version, score=score)
        assert post(url, sign_scorecard(card, [keypair["signing"]])).status_code == 201
    # an annotated scorecard is a new version of the evidence: signed again, stored beside the first
    card = make_card(product="Histo", version="1.2", score=9.0)
    add_annotation(card, check_id="dmp.cda.xsd", kind="auditor_note", text="re-checked by hand", author="A. Udit")
    assert post(url, sign_scorecard(card, [keypair["signing"]])).status_code == 201
    assert [r.version for r in store.scorecards(product="Histo")] == ["1.0", "1.1", "1.2", "1.2"]
    data = httpx.get(f"{url}/site/data.json").json()
    histo = next(p for p in data["products"] if p["product"] == "Histo")
    assert histo["versions"] == 4
