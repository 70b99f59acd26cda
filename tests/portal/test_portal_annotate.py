"""``harness annotate``: vendor disputes and auditor notes travel in the scorecard (item 7 of issue 9)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from portal_support import make_card, write_card

from harness import scorecard as scorecard_mod
from harness_plugins.portal.annotate import AnnotationError, add_annotation, annotations_for
from harness_plugins.portal.dsse import sign_scorecard, verify_envelope


def harness(*args):
    return subprocess.run(["harness", *map(str, args)], capture_output=True, text=True, env=dict(os.environ),
                          timeout=120)


def test_annotate_adds_a_dated_entry_that_validates(tmp_path):
    path = write_card(make_card(), tmp_path / "scorecard.json")
    done = harness("annotate", path, "--check", "dmp.cda.xsd", "--item", "doc-2.xml", "--message-id",
                   "dmp.xsd.invalid", "--kind", "vendor_dispute", "--text", "Le schéma utilisé est obsolète.",
                   "--author", "Demo Santé")
    assert done.returncode == 0, done.stderr
    assert "sign it again" in done.stdout
    card = scorecard_mod.load(path)
    [entry] = card["annotations"]
    assert entry["check_id"] == "dmp.cda.xsd" and entry["item_id"] == "doc-2.xml"
    assert entry["message_id"] == "dmp.xsd.invalid" and entry["kind"] == "vendor_dispute"
    assert entry["text"] == "Le schéma utilisé est obsolète." and entry["author"] == "Demo Santé"
    assert entry["date"].endswith("+00:00")
    note = harness("annotate", path, "--check", "interop.capability.statement", "--kind", "auditor_note",
                   "--text", "Vérifié à la main.", "--author", "A. Udit", "--date", "2026-02-01",
                   "-o", tmp_path / "two.json")
    assert note.returncode == 0, note.stderr
    two = scorecard_mod.load(tmp_path / "two.json")
    assert [a["kind"] for a in two["annotations"]] == ["vendor_dispute", "auditor_note"]
    assert two["annotations"][1]["date"] == "2026-02-01" and "item_id" not in two["annotations"][1]
    assert len(scorecard_mod.load(path)["annotations"]) == 1  # -o left the input alone


@pytest.mark.parametrize("args, message", [
    (["--check", "dmp.nope"], "check 'dmp.nope' is not in this scorecard"),
    (["--check", "dmp.cda.xsd", "--item", "doc-9.xml"], "has no item 'doc-9.xml'"),
    (["--check", "dmp.cda.xsd", "--item", "doc-1.xml", "--message-id", "dmp.xsd.invalid"],
     "no finding with message id 'dmp.xsd.invalid'"),
])
def test_annotate_refuses_targets_that_do_not_exist(tmp_path, args, message):
    path = write_card(make_card(), tmp_path / "scorecard.json")
    before = path.read_bytes()
    done = harness("annotate", path, *args, "--kind", "auditor_note", "--text", "t", "--author", "a")
    assert done.returncode == 2 and message in done.stderr
    assert path.read_bytes() == before


def test_annotate_usage_errors(tmp_path, keypair):
    path = write_card(make_card(), tmp_path / "scorecard.json")
    bad_kind = harness("annotate", path, "--check", "dmp.cda.xsd", "--kind", "rant", "--text", "t", "--author", "a")
    assert bad_kind.returncode == 2
    empty = harness("annotate", path, "--check", "dmp.cda.xsd", "--kind", "auditor_note", "--text", "  ",
                    "--author", "a")
    assert empty.returncode == 2 and "empty" in empty.stderr
    envelope = tmp_path / "scorecard.dsse.json"
    envelope.write_bytes(sign_scorecard(make_card(), [keypair["signing"]]))
    refused = harness("annotate", envelope, "--check", "dmp.cda.xsd", "--kind", "auditor_note", "--text", "t",
                      "--author", "a")
    assert refused.returncode == 2 and "cannot be edited" in refused.stderr and "sign it" in refused.stderr


def test_an_annotated_scorecard_is_signed_again_and_both_versions_verify(keypair):
    card = make_card()
    original = sign_scorecard(card, [keypair["signing"]])
    add_annotation(card, check_id="dmp.cda.xsd", item_id="doc-2.xml", kind="vendor_dispute",
                   text="<b>faux</b> positif", author="Vendor & Co")
    annotated = sign_scorecard(card, [keypair["signing"]])
    first = verify_envelope(original, keypair["trusted_keys"], set())
    second = verify_envelope(annotated, keypair["trusted_keys"], set())
    assert first.digest != second.digest
    assert second.scorecard["annotations"][0]["text"] == "<b>faux</b> positif"  # stored verbatim, escaped on display
    assert annotations_for(second.scorecard, "dmp.cda.xsd", "doc-2.xml") == second.scorecard["annotations"]
    assert annotations_for(second.scorecard, "dmp.cda.xsd", "doc-1.xml") == []


def test_annotation_limits():
    card = make_card()
    with pytest.raises(AnnotationError, match="at most"):
        add_annotation(card, check_id="dmp.cda.xsd", kind="auditor_note", text="x" * 20_001, author="a")
    with pytest.raises(AnnotationError, match="kind"):
        add_annotation(card, check_id="dmp.cda.xsd", kind="other", text="x", author="a")
    assert json.dumps(card["annotations"]) == "[]"


def test_annotations_show_in_the_html_report(tmp_path):
    from harness_plugins.report.render import render_report

    card = make_card()
    add_annotation(card, check_id="dmp.cda.xsd", item_id="doc-2.xml", kind="vendor_dispute",
                   text="Nous contestons <script>x</script>", author="Demo Santé")
    html = render_report(card)
    assert "Nous contestons &lt;script&gt;x&lt;/script&gt;" in html
