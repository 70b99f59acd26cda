"""Keys, DSSE/in-toto signing and verification (item 5 of issue 9)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from portal_support import make_card, write_card

from harness import rulepacks
from harness import scorecard as scorecard_mod
from harness_plugins.portal import dsse
from harness_plugins.portal.dsse import VerificationError, pae, sign_scorecard, verify_envelope
from harness_plugins.portal.keys import KeyFileError, load_trusted, new_keypair


def harness(*args, cwd=None, env=None):
    return subprocess.run(["harness", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_pae_matches_the_dsse_spec_example():
    assert pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_keys_new_writes_a_private_key_0600_and_a_public_key_with_its_keyid(tmp_path):
    done = harness("keys", "new", "--out", tmp_path / "k", "--name", "alice")
    assert done.returncode == 0, done.stderr
    key, pub = tmp_path / "k" / "alice.key", tmp_path / "k" / "alice.pub"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    record = json.loads(pub.read_text())
    assert record["algorithm"] == "ed25519" and record["name"] == "alice"
    public = serialization.load_pem_public_key(record["public_key"].encode())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert record["keyid"] == hashlib.sha256(der).hexdigest()
    assert record["keyid"] in done.stdout
    assert harness("keys", "id", key).stdout.strip() == record["keyid"]
    again = harness("keys", "new", "--out", tmp_path / "k", "--name", "alice")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_a_pub_file_whose_keyid_lies_is_refused(tmp_path, keypair):
    record = json.loads(keypair["pub"].read_text())
    record["keyid"] = "f" * 64
    (tmp_path / "liar.pub").write_text(json.dumps(record))
    with pytest.raises(KeyFileError, match="does not match its public key"):
        load_trusted(tmp_path)


def test_envelope_is_an_in_toto_statement_in_dsse(keypair):
    card = make_card()
    envelope = json.loads(sign_scorecard(card, [keypair["signing"]]))
    assert set(envelope) == {"payload", "payloadType", "signatures"}
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert envelope["signatures"][0]["keyid"] == keypair["keyid"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == dsse.PREDICATE_TYPE
    assert statement["predicate"] == card
    canonical = scorecard_mod.dumps(card).encode("utf-8")
    assert statement["subject"] == [{"name": "Demo Santé/DemoCabinet/4.2.0/scorecard.json",
                                     "digest": {"sha256": hashlib.sha256(canonical).hexdigest()}}]
    # the signature is Ed25519 over PAE(payloadType, payload)
    public = keypair["trusted_keys"][keypair["keyid"]]
    message = pae(envelope["payloadType"], base64.b64decode(envelope["payload"]))
    assert public.verify(base64.b64decode(envelope["signatures"][0]["sig"]), message)


def test_sign_then_verify_on_the_command_line(tmp_path, keypair, card_file):
    done = harness("sign", card_file, "--key", keypair["key"])
    assert done.returncode == 0, done.stderr
    envelope = tmp_path / "scorecard.dsse.json"
    assert envelope.is_file()
    ok = harness("verify", envelope, "--trusted-keys", keypair["trusted"], "-o", tmp_path / "out.json")
    assert ok.returncode == 0, ok.stderr
    assert "VALID" in ok.stdout and "signature: auditor" in ok.stdout
    assert json.loads((tmp_path / "out.json").read_text()) == json.loads(card_file.read_text())
    as_json = json.loads(harness("verify", envelope, "--trusted-keys", keypair["trusted"], "--json").stdout)
    assert as_json["valid"] is True and as_json["keyids"] == [keypair["keyid"]]


def test_changing_any_single_byte_makes_verify_fail(keypair):
    data = sign_scorecard(make_card(), [keypair["signing"]])
    verify_envelope(data, keypair["trusted_keys"], set())
    steps = {}
    for i in range(len(data)):
        for delta in (1, 0x41):  # a low bit, and a change that keeps base64 characters base64
            tampered = bytearray(data)
            tampered[i] = (tampered[i] + delta) % 256
            with pytest.raises(VerificationError) as caught:
                verify_envelope(bytes(tampered), keypair["trusted_keys"], set())
            steps[caught.value.code] = steps.get(caught.value.code, 0) + 1
            assert caught.value.message  # says what failed
    # every part of the envelope is covered by some check
    assert {"bad-signature", "unknown-key", "malformed-envelope"} <= set(steps)
    # whitespace a JSON reader would ignore is a change too
    for variant in (data[:-1] + b" ", data[:-1], data + b"\n", data.replace(b'{"payload"', b'{ "payload"')):
        with pytest.raises(VerificationError) as caught:
            verify_envelope(variant, keypair["trusted_keys"], set())
        assert caught.value.code == "non-canonical-envelope"
        assert "modified after signing" in caught.value.message


@pytest.mark.parametrize("where, expected", [
    ("payload", "FAILED signature: signatures[0] by auditor"),
    ("keyid", "FAILED signature: signed by key"),
    ("sig", "FAILED signature: signatures[0] by auditor"),
    ("space", "FAILED envelope: the file is not byte-canonical"),
])
def test_verify_cli_says_what_failed(tmp_path, keypair, where, expected):
    data = sign_scorecard(make_card(), [keypair["signing"]])
    envelope = json.loads(data)
    if where == "payload":
        raw = bytearray(base64.b64decode(envelope["payload"]))
        raw[len(raw) // 2] ^= 0x01
        envelope["payload"] = base64.b64encode(bytes(raw)).decode()
        tampered = dsse.dumps_envelope(envelope)
    elif where == "keyid":
        keyid = envelope["signatures"][0]["keyid"]
        # another first digit: a fixed "0" left a key id that already began with 0 unchanged
        envelope["signatures"][0]["keyid"] = ("1" if keyid[0] == "0" else "0") + keyid[1:]
        tampered = dsse.dumps_envelope(envelope)
    elif where == "sig":
        sig = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
        sig[0] ^= 0x80
        envelope["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
        tampered = dsse.dumps_envelope(envelope)
    else:
        tampered = data.replace(b'","payloadType"', b'", "payloadType"')
    path = tmp_path / "tampered.dsse.json"
    path.write_bytes(tampered)
    done = harness("verify", path, "--trusted-keys", keypair["trusted"])
    assert done.returncode == 1
    assert expected in done.stderr


def _sign_statement(statement: dict, key) -> bytes:
    payload = json.dumps(statement).encode()
    sig = key.sign(pae(dsse.PAYLOAD_TYPE, payload))
    return dsse.dumps_envelope({"payload": base64.b64encode(payload).decode(), "payloadType": dsse.PAYLOAD_TYPE,
                                "signatures": [{"keyid": key.keyid, "sig": base64.b64encode(sig).decode()}]})


def test_predicate_not_matching_its_subject_digest_fails_even_when_signed(keypair):
    card = make_card()
    statement = dsse.statement_for(card)
    statement["predicate"]["scores"]["overall"]["score"] = 10.0  # changed after the digest was computed
    with pytest.raises(VerificationError) as caught:
        verify_envelope(_sign_statement(statement, keypair["signing"]), keypair["trusted_keys"], set())
    assert caught.value.step == "digest" and "subject says" in caught.value.message


def test_schema_invalid_and_unknown_schema_version_fail_with_the_reason(keypair):
    card = make_card()
    card["results"][0]["status"] = "excellent"
    statement = dsse.statement_for(card)
    with pytest.raises(VerificationError) as caught:
        verify_envelope(_sign_statement(statement, keypair["signing"]), keypair["trusted_keys"], set())
    assert caught.value.step == "schema" and "results/0/status" in caught.value.message
    card = make_card()
    card["schema_version"] = "2.0"
    with pytest.raises(VerificationError) as caught:
        verify_envelope(_sign_statement(dsse.statement_for(card), keypair["signing"]), keypair["trusted_keys"], set())
    assert caught.value.step == "schema" and "'2.0' is not supported" in caught.value.message


def test_unsigned_wrong_type_and_foreign_key_are_rejected(keypair, other_keypair):
    data = json.loads(sign_scorecard(make_card(), [keypair["signing"]]))
    unsigned = dict(data, signatures=[])
    with pytest.raises(VerificationError) as caught:
        verify_envelope(dsse.dumps_envelope(unsigned), keypair["trusted_keys"], set())
    assert caught.value.code == "unsigned"
    wrong_type = dict(data, payloadType="application/json")
    with pytest.raises(VerificationError) as caught:
        verify_envelope(dsse.dumps_envelope(wrong_type), keypair["trusted_keys"], set())
    assert caught.value.code == "payload-type"
    foreign = sign_scorecard(make_card(), [other_keypair["signing"]])
    with pytest.raises(VerificationError) as caught:
        verify_envelope(foreign, keypair["trusted_keys"], set())
    assert caught.value.code == "unknown-key" and caught.value.status == 403
    # signed by a trusted key and a foreign one: every signature must be trusted
    both = sign_scorecard(make_card(), [keypair["signing"], other_keypair["signing"]])
    with pytest.raises(VerificationError, match="not a trusted"):
        verify_envelope(both, keypair["trusted_keys"], set())


def test_two_trusted_signatures_verify(keypair, tmp_path):
    key2_path, pub2, _ = new_keypair(tmp_path, "second")
    trusted = dict(keypair["trusted_keys"]) | load_trusted(tmp_path)
    from harness_plugins.portal.keys import load_signing_key

    data = sign_scorecard(make_card(), [keypair["signing"], load_signing_key(key2_path)])
    assert verify_envelope(data, trusted, set()).signers == ["auditor", "second"]


def test_rule_pack_hashes_must_be_known(tmp_path, keypair, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    pack_dir = tmp_path / "pack"
    pack_dir.mkdir()
    (pack_dir / "rules.sch").write_text("<schema/>")
    sha = rulepacks.tree_sha256(pack_dir)
    card = make_card(packs=[{"name": "ans-cda", "version": "2025.1", "sha256": sha}])
    envelope = tmp_path / "card.dsse.json"
    envelope.write_bytes(sign_scorecard(card, [keypair["signing"]]))
    env = {"HARNESS_CACHE": str(tmp_path / "cache")}
    refused = harness("verify", envelope, "--trusted-keys", keypair["trusted"], env=env)
    assert refused.returncode == 1
    assert "FAILED rule-packs: rule pack(s) not known to this verifier: ans-cda 2025.1" in refused.stderr
    known = tmp_path / "known.txt"
    known.write_text(f"# accepted packs\nans-cda 2025.1 {sha}\n")
    accepted = harness("verify", envelope, "--trusted-keys", keypair["trusted"], "--known-packs", known, env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert "rule-packs: 1 recorded, all known" in accepted.stdout
    rulepacks.install(pack_dir, name="ans-cda", version="2025.1")  # installed packs are known too
    installed = harness("verify", envelope, "--trusted-keys", keypair["trusted"], env=env)
    assert installed.returncode == 0, installed.stderr
    only_listed = harness("verify", envelope, "--trusted-keys", keypair["trusted"], "--no-installed-packs", env=env)
    assert only_listed.returncode == 1


def test_verify_usage_errors_exit_2(tmp_path, keypair, card_file):
    assert harness("verify", tmp_path / "missing.json", "--trusted-keys", keypair["trusted"]).returncode == 2
    harness("sign", card_file, "--key", keypair["key"])
    envelope = tmp_path / "scorecard.dsse.json"
    done = harness("verify", envelope, "--trusted-keys", tmp_path / "nowhere")
    assert done.returncode == 2 and "does not exist" in done.stderr
    (tmp_path / "empty").mkdir()
    assert harness("verify", envelope, "--trusted-keys", tmp_path / "empty").returncode == 2
    assert harness("verify", envelope).returncode == 2  # --trusted-keys missing
    signed_twice = harness("sign", envelope, "--key", keypair["key"])
    assert signed_twice.returncode == 2 and "already a signed envelope" in signed_twice.stderr


def test_sign_refuses_an_invalid_scorecard(tmp_path, keypair):
    card = make_card()
    card["schema_version"] = "9.0"
    bad = write_card(card, tmp_path / "bad.json")
    done = harness("sign", bad, "--key", keypair["key"])
    assert done.returncode == 2 and "not supported" in done.stderr
    assert harness("sign", write_card(make_card(), tmp_path / "ok.json"), "--key", tmp_path / "nokey").returncode == 2
