"""Randomly mutated bundles never crash the import and never half-import; the genuine bundle imports after."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.floats(0, 1, exclude_max=True), st.integers(1, 64)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True), st.just(0)),
)


def mutate(raw: bytes, ops) -> bytes:
    b = bytearray(raw)
    for op, where, arg in ops:
        pos = min(int(where * len(b)), max(len(b) - 1, 0))
        if not b:
            break
        if op == "flip":
            b[pos] ^= arg
        elif op == "cut":
            del b[pos:pos + arg]
        elif op == "insert":
            b[pos:pos] = arg
        else:
            del b[pos:]
    return bytes(b)


def test_mutated_bundles_change_nothing_and_the_valid_one_imports(enrolled, tmp_path):
    site, ws = enrolled
    ws.add(2)
    good = ws.export()
    raw = good.read_bytes()
    before = site.snapshot()
    seen = []

    @settings(max_examples=30, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(MUTATION, min_size=1, max_size=4))
    def check(ops):
        bad = mutate(raw, ops)
        if bad == raw:
            return
        f = tmp_path / "mutated.smb"
        f.write_bytes(bad)
        (out,) = site.import_(f)  # a crash (any non-SafeMed exception) propagates and fails the test
        assert not out["ok"] and out["error"] and "\n" not in out["error"]
        seen.append(out["error"])

    check()
    assert seen
    assert site.snapshot() == before
    (out,) = site.import_(good)
    assert out["ok"] and out["new_records"] == 5
