"""Small parts of the formats: event hashes equal the store's, chain checks, fingerprints, signed documents."""

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


FIELD = st.one_of(st.from_regex(r"[A-Za-z0-9_.:\- ]{0,12}", fullmatch=True),
                  st.text(max_size=8).filter(lambda t: not set(t) & {"\x1e", "\x1f", "\n"}))


def _chain(events_fields: list[tuple], key) -> tuple:
    """A genuine chain from ``genesis`` over the fields, closed by a signed checkpoint: (bundle, payload)."""
    from types import SimpleNamespace

    from safemed_desktop.store.audit import checkpoint_message, genesis_hash
    from safemed_desktop.sync.bundle import RS, Payload, PayloadText, _event_line, events_plain, parse_events

    ws = "ws-prop"
    prev, events = genesis_hash(ws), []
    for seq, (ts, actor, action, table, row_id) in enumerate(events_fields, start=1):
        digest = "ab" * 32
        h = event_hash(prev, seq, ts, actor, action, table, row_id, digest)
        events.append((seq, ts, actor, action, table, row_id, digest, prev, h))
        prev = h
    n = len(events)
    sig = key.sign(checkpoint_message(ws, n, prev, 1.5, 0, 2))
    pt = PayloadText("b", {"checkpoints": []}, RS.join(_event_line(e) for e in events), "")
    pl = Payload(parse_events(pt), [(n, 1.5, prev, sig, 2, None)], [], events_plain(pt))  # as they travel
    b = SimpleNamespace(name="b", workstation_id=ws, manifest={"chain": {
        "from_seq": 0, "from_hash": genesis_hash(ws), "to_seq": n, "to_hash": prev, "events": n, "checkpoints": 1}})
    return b, pl


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(allow_nan=False, allow_infinity=False, width=64), FIELD, FIELD, FIELD, FIELD),
                min_size=1, max_size=4), st.integers(0, 3), st.integers(0, 4))
def test_check_chain_accepts_every_genuine_chain_and_no_altered_one(fields, which, col):
    """Plain strings take the fast path, others the store's own encoding; either way a genuine chain verifies
    and a chain with one field changed does not (an altered field shifted into quotes included)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from safemed_desktop.sync.bundle import check_chain

    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes_raw()
    b, pl = _chain(fields, key)
    check_chain(b, pl, pub)
    i = which % len(pl.events)
    ev = list(pl.events[i])
    ts = ev[1]
    ev[1 + col] = f'{ev[1 + col]}","x' if col else (ts + 1.0 if abs(ts) < 1e15 else ts * 2)  # a string, or the time
    pl.events[i] = tuple(ev)
    with pytest.raises(BundleError, match="audit chain is broken"):
        check_chain(b, pl, pub)


def test_events_plain_is_the_one_scan_it_replaced():
    import re

    from safemed_desktop.sync.bundle import PayloadText, events_plain

    scan = re.compile(r"[A-Za-z0-9_.:\- +\x1e\x1f]*")
    for text in ("", "1\x1f2.5\x1fa b\x1e3", "a\"b", "a\\b", "é", "a\x00b", "a/b", "1e+21\x1fx-y:z_.0"):
        assert events_plain(PayloadText("b", {}, text, "")) is bool(scan.fullmatch(text)), text


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


def test_a_bundle_whose_records_are_not_sorted_imports_the_same(enrolled, tmp_path, monkeypatch, another_db):
    """Bundles travel sorted by (type, id); one that does not (an older exporter) is sorted on import."""
    from safemed_desktop.sync import bundle
    from safemed_desktop.sync.bundle import RS, US, open_payload

    from .conftest import Site

    site, ws = enrolled
    ws.add(6)
    ordered = ws.export("sorted.smb")
    with monkeypatch.context() as m:
        m.setattr(bundle, "_KEY", lambda r: (r[0], r[1][::-1]))  # types grouped, ids out of order
        shuffled = ws.export("shuffled.smb")
    keys = site.keys()
    try:
        ids = [line.split(US)[1] for line in open_payload(parse_bundle(shuffled.read_bytes()), keys.enc_private,
                                                          keys.site_id).records.split(RS) if line.startswith("feedback")]
    finally:
        keys.close()
    assert ids != sorted(ids)  # the second bundle really is out of order
    other = Site.clone(site, tmp_path / "other", another_db())
    other.accept(ws)
    assert site.import_(ordered)[0]["new_records"] == other.import_(shuffled)[0]["new_records"] == 13
    assert site.digest() == other.digest()
