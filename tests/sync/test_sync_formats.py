"""Small parts of the formats: the fast event hash equals the store's, fingerprints, signed documents."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safemed_desktop.errors import BundleError
from safemed_desktop.store.audit import event_hash
from safemed_desktop.sync.bundle import _event_hash, parse_bundle
from safemed_desktop.sync.formats import fingerprint

TEXT = st.one_of(st.sampled_from(["workstation", "insert", "answers", "a b", ""]), st.text(max_size=12))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**40), st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(0, 10**12)),
       TEXT, TEXT, TEXT, TEXT, st.text(alphabet="0123456789abcdef", max_size=64))
def test_fast_event_hash_is_the_stores(seq, ts, actor, action, table, row_id, digest):
    prev = "ab" * 32
    assert _event_hash(prev, seq, ts, actor, action, table, row_id, digest) == \
        event_hash(prev, seq, ts, actor, action, table, row_id, digest)


def test_fingerprint_is_short_and_key_bound():
    a, b = fingerprint("site", "x", b"k1"), fingerprint("site", "x", b"k2")
    assert a != b and len(a.replace(" ", "")) == 20 and fingerprint("site", "x", b"k1") == a


@pytest.mark.parametrize("raw", [b"", b"SMBUNDL", b"SMBUNDL\x02" + b"\0" * 100, b"PK\x03\x04" + b"\0" * 200])
def test_not_a_bundle(raw):
    with pytest.raises(BundleError):
        parse_bundle(raw)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**40), st.floats(allow_nan=False, allow_infinity=False),
       st.from_regex(r"[A-Za-z0-9_.:\- ]*", fullmatch=True), st.sampled_from(["insert", "reencrypt"]))
def test_fast_plain_event_hash_is_the_stores(seq, ts, actor, action):
    from safemed_desktop.sync.bundle import _fast_event_hash

    prev = "cd" * 32
    assert _fast_event_hash(prev, seq, ts, actor, action, "answers", "id-1", "ab" * 32) == \
        event_hash(prev, seq, ts, actor, action, "answers", "id-1", "ab" * 32)


def test_zlib_payloads_still_import(enrolled, monkeypatch):
    from safemed_desktop.sync import bundle

    site, ws = enrolled
    ws.add(1)
    monkeypatch.setattr(bundle, "COMPRESSION", "zlib")
    out = ws.export()
    assert parse_bundle(out.read_bytes()).manifest["payload"]["compression"] == "zlib"
    (res,) = site.import_(out)
    assert res["ok"] and res["new_records"] == 3


def test_a_deeply_nested_manifest_is_a_bundle_error_not_a_crash():
    import struct

    from safemed_desktop.sync import bundle

    manifest = b"[" * 100_000
    raw = (bundle.MAGIC + struct.pack(bundle._HEAD.format, len(manifest)) + manifest
           + struct.pack(bundle._LEN.format, 0) + b"\0" * bundle.SIG_BYTES)
    with pytest.raises(BundleError, match="manifest is not valid JSON"):
        parse_bundle(raw)


def test_a_deeply_nested_site_card_is_a_bundle_error(tmp_path):
    from safemed_desktop.sync.formats import read_json_doc

    card = tmp_path / "site-card.json"
    card.write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(BundleError, match="not valid JSON"):
        read_json_doc(card, "site card")
