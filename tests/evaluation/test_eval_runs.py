"""The run engine on a real encrypted store with a scripted item function: per-item commits, resume,
interruption, frozen descriptions, roles."""

from __future__ import annotations

import pytest

from safemed_desktop.errors import GenerationCancelled, InputError, PermissionDeniedError
from safemed_desktop.evaluation import runs

from .conftest import make_service

DESC = {"dataset": {"sha256": "d" * 64}, "dataset_name": "file.jsonl", "model": {"sha256": "m" * 64}, "seed": 1}


def _items(n):
    return [runs.PlannedItem(f"k{i}", i) for i in range(n)]


def _summ(results):
    return {"n": len(results), "total": sum(r["value"] for r in results)}


@pytest.fixture
def store(tmp_path):
    svc, store = make_service(tmp_path / "home")
    yield store
    store.close()


def test_items_are_committed_one_by_one_and_a_resume_skips_them(store):
    calls = []

    def process(item):
        calls.append(item.key)
        if item.payload == 3 and len(calls) == 4:
            raise KeyboardInterrupt  # Ctrl+C while the fourth item is in flight
        return {"value": item.payload * 10}, {"text": f"secret {item.payload}"}

    started = []
    with pytest.raises(GenerationCancelled) as err:
        runs.execute(store, "mcq", DESC, _items(6), process, _summ, progress=False,
                     on_start=lambda rid, n, done: started.append((rid, n, done)))
    run_id, n, done = started[0]
    assert (n, done) == (6, 0) and f"--run-id {run_id}" in str(err.value)
    run = store.eval_run(run_id)
    assert run["status"] == "interrupted" and run["n_done"] == 3 and run["summary"] == {"n": 3, "total": 30}

    out = runs.execute(store, "mcq", {**DESC, "dataset_name": "moved.jsonl"}, _items(6), process, _summ,
                       run_id=run_id, progress=False)
    assert calls == ["k0", "k1", "k2", "k3", "k3", "k4", "k5"]  # only the unfinished items ran again
    assert out.n_new == 3 and out.summary == {"n": 6, "total": 150}
    assert store.eval_run(run_id)["status"] == "complete"
    items = store.eval_items(run_id, with_detail=True)
    assert [i["item_key"] for i in items] == [f"k{i}" for i in range(6)]
    assert items[4]["detail"] == {"text": "secret 4"}
    assert store.verify().ok


def test_resume_refuses_changed_inputs_and_other_kinds(store):
    out = runs.execute(store, "mcq", DESC, _items(2), lambda it: ({"value": 1}, {}), _summ, progress=False)
    with pytest.raises(InputError, match="different model"):
        runs.execute(store, "mcq", {**DESC, "model": {"sha256": "x" * 64}}, _items(2), lambda it: ({}, {}), _summ,
                     run_id=out.run_id, progress=False)
    with pytest.raises(InputError, match="is a mcq run"):
        runs.execute(store, "redteam", DESC, _items(2), lambda it: ({}, {}), _summ, run_id=out.run_id, progress=False)
    with pytest.raises(InputError, match="duplicate"):
        runs.execute(store, "mcq", DESC, [runs.PlannedItem("a", 1), runs.PlannedItem("a", 2)], lambda it: ({}, {}),
                     _summ, progress=False)
    with pytest.raises(InputError, match="already has a result"):
        store.add_eval_item(out.run_id, 0, "k0", {"value": 1}, {})


def test_only_admins_and_reviewers_run_evaluations(store):
    nurse = store.add_profile("Nurse Test", "nurse", "nurse-pin-2468")  # by the signed-in site administrator
    out = runs.execute(store, "mcq", DESC, _items(1), lambda it: ({"value": 1}, {}), _summ, progress=False)
    store.authenticate(nurse, "nurse-pin-2468")
    with pytest.raises(PermissionDeniedError):
        runs.execute(store, "mcq", DESC, _items(1), lambda it: ({"value": 1}, {}), _summ, progress=False)
    assert store.list_eval_runs()[0]["run_id"] == out.run_id  # every signed-in profile may read them
