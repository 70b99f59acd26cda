"""The peers family end to end: demo vendors, profiles with CSV/JSON exports, the section beside the scores."""

from __future__ import annotations

import json
import shutil

import pytest

from harness import scorecard
from harness.session import AuditOptions, Session
from harness.testing import audit_demo, results_of

PEERS_CHECKS = ("peers.ratings.valid", "peers.ratings.enough", "peers.ratings.suspicious")


@pytest.fixture(scope="module")
def good():
    return audit_demo("good", AuditOptions(families=("peers",)))


@pytest.fixture(scope="module")
def poor():
    return audit_demo("poor", AuditOptions(families=("peers",)))


def test_registered_checks():
    from harness_plugins.peers.plugin import harness_register_checks

    assert tuple(sorted(c.id for c in harness_register_checks())) == tuple(sorted(PEERS_CHECKS))


@pytest.mark.parametrize("check_id", PEERS_CHECKS)
def test_demo_good_passes_every_peers_check(good, check_id):
    results = results_of(good, check_id)
    assert results and {r["status"] for r in results} == {"pass"}


@pytest.mark.parametrize("check_id", PEERS_CHECKS)
def test_demo_poor_makes_every_peers_check_report_a_problem(poor, check_id):
    statuses = {r["status"] for r in results_of(poor, check_id)}
    assert statuses & {"fail", "warn", "review"}, statuses


def test_demo_poor_findings_name_lines_and_patterns(poor):
    valid = [f["message"] for r in results_of(poor, "peers.ratings.valid") for f in r["findings"]]
    assert any(m.startswith("line ") and "unknown product 'AutreLogiciel'" in m for m in valid)
    assert any("unknown facet 'rapidite'" in m for m in valid)
    assert any("score 9 outside 1..5" in m for m in valid)
    assert any("not UTF-8; read as Windows-1252" in m for m in valid)
    assert any(m.startswith("257 valid ratings of VieuxCabinet imported") for m in valid)
    suspicious = [f["message"] for r in results_of(poor, "peers.ratings.suspicious") for f in r["findings"]]
    assert any("rev-p666" in m for m in suspicious)
    assert any("8 of VieuxCabinet's" in m for m in suspicious)
    too_few = [r["item_id"] for r in results_of(poor, "peers.ratings.enough") if r["status"] == "warn"]
    assert too_few == ["gain_de_temps"]
    evidence = results_of(poor, "peers.ratings.valid")[0]["findings"][0]["evidence"][0]
    assert evidence["kind"] == "file" and evidence["line"] > 1 and len(evidence["sha256"]) == 64


def test_section_is_beside_the_scores_never_inside(poor, good):
    for card in (good, poor):
        fam = card["scores"]["families"]["peers"]
        assert fam["scored"] is False and fam["score"] is None and fam["weight"] == 0.0
        assert card["scores"]["overall"]["score"] is None  # only peers ran: nothing objective to score
    section = poor["sections"]["peer_ratings"]
    assert section["product"] == "VieuxCabinet" and section["scale"] == "0-10"
    assert section["facets"]["gain_de_temps"]["enough"] is False
    assert section["facets"]["gain_de_temps"]["mean"] is None
    assert section["facets"]["global"]["flagged"] == 12
    assert section["rejected_rows"] == 7
    assert {f["kind"] for f in section["flags"]} == {"repeat_reviewer", "burst"}
    good_global = good["sections"]["peer_ratings"]["facets"]["global"]
    assert good_global["count"] == 40 and good_global["enough"] and good_global["ci95"][0] < good_global["mean"]


def test_peer_ratings_do_not_change_the_objective_scores():
    from harness.scoring import load_policy, score

    card = audit_demo("poor")
    assert "peer_ratings" in card["sections"] and card["scores"]["families"]["peers"]["scored"] is False
    objective = [c for c in card["checks"] if c["family"] != "peers"]
    results = [r for r in card["results"] if not r["check_id"].startswith("peers.")]
    without = score(objective, results, load_policy())
    assert without["overall"] == card["scores"]["overall"]


def _profile(tmp_path, ratings_name: str, content: bytes, extra: str = "") -> str:
    (tmp_path / ratings_name).write_bytes(content)
    profile = tmp_path / "vendor.toml"
    profile.write_text(f'[subject]\nvendor = "V"\nproduct = "Cab"\nversion = "2.0"\n\n'
                       f'[targets.peers]\nratings = "{ratings_name}"\n{extra}', encoding="utf-8")
    return str(profile)


def test_json_export_with_settings_from_the_profile(tmp_path):
    rows = [{"product": "Cab", "facet": "global", "score": 8, "scale": 10, "date": f"2026-0{1 + i % 9}-1{i % 9}",
             "reviewer": f"r{i}"} for i in range(3)]
    rows.append({"product": "Autre", "facet": "global", "score": 3, "date": "2026-01-01", "reviewer": "x"})
    profile = _profile(tmp_path, "export.json", json.dumps(rows, indent=1).encode(),
                       'min_count = 3\nknown_products = ["Autre"]\n')
    card = Session(profile, AuditOptions()).run()
    scorecard.validate(card)
    assert {r["check_id"]: r["status"] for r in card["results"]
            if r["check_id"].startswith("peers.") and r["item_id"] in ("-", "global")} == {
        "peers.ratings.valid": "pass", "peers.ratings.enough": "pass", "peers.ratings.suspicious": "pass"}
    facet = card["sections"]["peer_ratings"]["facets"]["global"]
    assert facet["count"] == 3 and facet["mean"] == 8.0 and facet["bayesian"] == round((25 + 24) / 8, 3)


def test_unusable_export_fails_the_validity_check(tmp_path):
    profile = _profile(tmp_path, "ratings.csv", b"produit,note\nCab,4\n")
    card = Session(profile, AuditOptions()).run()
    valid = results_of(card, "peers.ratings.valid")[0]
    assert valid["status"] == "fail"
    assert valid["findings"][0]["message"].startswith("ratings export unusable: line 1: missing column(s)")


def test_unreadable_export_is_an_error_not_a_failure(tmp_path):
    profile = _profile(tmp_path, "ratings.csv", b"")
    (tmp_path / "ratings.csv").unlink()
    (tmp_path / "ratings.csv").mkdir()  # exists (the profile accepts it) but cannot be read as a file
    card = Session(profile, AuditOptions()).run()
    peers = [r for r in card["results"] if r["check_id"].startswith("peers.")]
    assert peers and {r["status"] for r in peers} == {"error"}
    assert "cannot read the ratings export" in peers[0]["findings"][0]["message"]


def test_bad_settings_are_profile_errors(tmp_path):
    from harness.profile import ProfileError

    profile = _profile(tmp_path, "ratings.csv", b"product,facet,score,date,reviewer\n", "min_count = 0\n")
    with pytest.raises(ProfileError, match=r"vendor.toml:\d+ \[targets.peers.min_count\]"):
        Session(profile, AuditOptions())


def test_demo_fixture_copy_is_independent(tmp_path):
    from harness.demo import vendor_dir

    shutil.copy(vendor_dir("good") / "ratings.csv", tmp_path / "ratings.csv")
    profile = _profile(tmp_path, "r.csv", (tmp_path / "ratings.csv").read_bytes().replace(b"DemoCabinet", b"Cab"))
    card = Session(profile, AuditOptions()).run()
    assert card["sections"]["peer_ratings"]["ratings"] == 280
