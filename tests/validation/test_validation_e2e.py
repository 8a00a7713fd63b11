"""End to end on the real demo model (llama.cpp): a 12-case study, generated through the normal ask path
(interrupted and resumed through the CLI), scored by two reviewers (one in the GUI's review mode with the
keyboard, one through the CLI), a tampered assignment refused at unblinding, then unblinded and analysed
through the CLI, with the analysis checked against values computed by hand."""

from __future__ import annotations

import json
import os

import pytest

from safemed_desktop.cli import main as cli_main
from safemed_desktop.config import load_config, write_config_file
from safemed_desktop.errors import IntegrityError
from safemed_desktop.service import SafeMedService
from safemed_desktop.store import KdfParams

from .conftest import CASES12, PASSPHRASE, PIN
from .test_validation_analysis import hand_alpha

pytestmark = [pytest.mark.model, pytest.mark.gui]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
CRIT = "medical_correctness,clinical_utility"
STUDY = "e2e"


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def world(tmp_path_factory, demo_model_path):
    """A SafeMed home with a store, a lead, two reviewers and the demo model loaded once for the module."""
    home = tmp_path_factory.mktemp("e2e_home")
    with pytest.MonkeyPatch.context() as mp:
        for var in [v for v in os.environ if v.startswith("SAFEMED_")]:
            mp.delenv(var)
        mp.setenv("SAFEMED_HOME", str(home))
        write_config_file(load_config().paths.user_config_file,
                          {"threads": 2, "max_tokens": 8, "context_size": 1024, "temperature": 0.0})
        mp.setenv("SAFEMED_PASSPHRASE", PASSPHRASE)
        mp.setenv("SAFEMED_PROFILE_PIN", PIN)
        service = SafeMedService(load_config())
        store = service.create_store(PASSPHRASE, site_id="e2e-site", kdf_params=KdfParams.fast_for_tests(),
                                     admin_name="Admin", admin_pin=PIN)
        ids = {"admin": store.profile["id"]}
        for key, name, role in (("lead", "Dr Lead", "attending"), ("r1", "Dr One", "reviewer"),
                                ("r2", "Dr Two", "reviewer")):
            ids[key] = store.add_profile(name, role, PIN)
        service.load_model()
        yield service, store, ids, mp
        store.close()


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli_main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def score(side_of_model: str, reviewer: str, case_no: int) -> tuple[dict, dict]:
    """The designed scores (A, B): medical correctness model 4 / resident 3 by both reviewers; clinical utility
    3 / 3, except reviewer r1 gives residents 4 on odd-numbered cases."""
    model = {"medical_correctness": 4, "clinical_utility": 3}
    resident = {"medical_correctness": 3, "clinical_utility": 4 if (reviewer == "r1" and case_no % 2) else 3}
    return (model, resident) if side_of_model == "A" else (resident, model)


@pytest.mark.timeout(1500)  # 12 short answers; minutes only on a loaded shared CPU
def test_study_end_to_end(world, qtbot, capsys):
    service, store, ids, mp = world
    # set-up through the CLI, as the lead
    rc, out, err = cli(capsys, "study", "create", STUDY, "--cases", str(CASES12), "--criteria", CRIT, "--as",
                       "Dr Lead", "--json")
    assert rc == 0, err
    created = json.loads(out)
    assert created["n_cases"] == 12 and created["criteria"] == CRIT.split(",")
    # generation through the normal ask path, interrupted after 5 cases...
    store.authenticate(ids["lead"], PIN)
    seen = []

    def stop_after_five(n, total, cid):
        seen.append(cid)
        if n == 5:
            raise Stop

    with pytest.raises(Stop):
        service.generate_study(store, STUDY, progress=stop_after_five)
    assert store.studies.get(STUDY)["n_generated"] == 5
    # ... and resumed through the CLI: only the 7 missing cases are generated
    rc, out, err = cli(capsys, "study", "generate", STUDY, "--as", "Dr Lead", "--json")
    assert rc == 0, err
    assert json.loads(out) == {"study": STUDY, "n_cases": 12, "generated_now": 7, "n_generated": 12}
    cases = store.studies.cases(STUDY)
    assert all(c["answer_id"] for c in cases) and len({c["answer_id"] for c in cases}) == 12
    first = service.open_answer(store, cases[0]["answer_id"]).record
    assert first.model.demo and first.question == cases[0]["vignette"] and first.signals  # the ask path's record
    sides = {c["case_id"]: c["model_side"] for c in cases}
    numbers = {c["case_id"]: int(c["case_id"][1:]) for c in cases}

    # unblinding before the reviews are in is refused
    rc, out, err = cli(capsys, "study", "unblind", STUDY, "--as", "Dr Lead")
    assert rc != 0 and "not fully reviewed" in err and len(err.strip().splitlines()) == 1

    # reviewer 1 in the GUI's review mode, with the keyboard only
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from safemed_desktop.gui.ops import StoreOps
    from safemed_desktop.gui.review_panel import ReviewPanel, load_study
    from safemed_desktop.gui.workers import StoreExecutor

    store.authenticate(ids["r1"], PIN)
    executor = StoreExecutor()  # the window's store worker: the panel's store calls run there
    panel = ReviewPanel(service, store, STUDY, *load_study(service, store, STUDY), run=StoreOps(executor).run)
    qtbot.addWidget(panel)
    panel.resize(1100, 800)
    panel.show()
    qtbot.waitExposed(panel)
    panel.activateWindow()
    qtbot.waitUntil(panel.isActiveWindow, timeout=5000)
    qtbot.waitUntil(lambda: panel.case is not None, timeout=10000)
    assert panel.progress.value() == 0 and panel.progress.maximum() == 12
    for label in panel.anchor_labels.values():  # anchors visible
        assert label.isVisible() and "1" in label.text() and "5" in label.text()
    cell_key = {id(c): ks for ks, c in panel.cells.items()}
    for i in range(12):
        cid = panel.case.case_id
        assert cid == cases[i]["case_id"] and not panel.case.reviewed
        a, b = score(sides[cid], "r1", numbers[cid])
        panel.order[0].setFocus()
        qtbot.waitUntil(lambda: QApplication.focusWidget() is panel.order[0], timeout=3000)
        for cell in panel.order:
            key, side = cell_key[id(cell)]
            assert QApplication.focusWidget() is cell  # Tab walks the score cells in order
            qtbot.keyClick(cell, getattr(Qt.Key, f"Key_{(a if side == 'A' else b)[key]}"))
            qtbot.keyClick(cell, Qt.Key.Key_Tab)
        assert panel.submit_button.isEnabled()
        with qtbot.waitSignal(panel.submitted, timeout=10000):
            qtbot.keyClick(QApplication.focusWidget() or panel, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(lambda: panel.progress.value() == i + 1 and (i == 11 or panel.case.case_id != cid),
                        timeout=10000)
    qtbot.waitUntil(lambda: panel.queue.item(11).text().startswith("✓"), timeout=10000)
    panel.close()
    executor.shutdown()

    # reviewer 2 through the CLI (blinded view, then scores)
    for c in cases:
        rc, out, err = cli(capsys, "study", "show", STUDY, c["case_id"], "--as", "Dr Two", "--json")
        assert rc == 0, err
        shown = json.loads(out)
        assert set(shown) == {"case_id", "position", "n_cases", "vignette", "patient", "answer_a", "answer_b",
                              "criteria", "reviewed"}  # nothing that names the source
        a, b = score(sides[c["case_id"]], "r2", numbers[c["case_id"]])
        args = [f"--a={k}={v}" for k, v in a.items()] + [f"--b={k}={v}" for k, v in b.items()]
        rc, out, err = cli(capsys, "study", "review", STUDY, c["case_id"], *args, "--as", "Dr Two")
        assert rc == 0, err
    rc, out, err = cli(capsys, "study", "review", STUDY, "c01", "--a=medical_correctness=1", "--as", "Dr Lead")
    assert rc != 0 and "reviewer" in err  # a lead may not review

    # a tampered assignment is refused at unblinding (an audited rewrite by someone with the key)
    store.authenticate(ids["lead"], PIN)
    row = dict(next(store.db["study_cases"].rows_where("study_id = ? AND case_id = 'c05'",
                                                        [store.studies.get(STUDY)["id"]])))
    original = row["assignment_enc"]
    flipped = "B" if sides["c05"] == "A" else "A"
    cipher = store._keys.cipher_or_raise()
    row["assignment_enc"] = cipher.encrypt("study_cases", row["id"], "assignment_enc", flipped)
    with store._lock, store._transaction() as tx:
        tx.update("study_cases", row, ids["lead"], "update")
    rc, out, err = cli(capsys, "study", "unblind", STUDY, "--as", "Dr Lead")
    assert rc != 0 and "case c05" in err and "does not match its commitment" in err
    with pytest.raises(IntegrityError):
        service.unblind_study(store, STUDY)
    assert store.studies.get(STUDY)["unblinded"] is False
    row["assignment_enc"] = cipher.encrypt("study_cases", row["id"], "assignment_enc", sides["c05"])  # put back
    with store._lock, store._transaction() as tx:
        tx.update("study_cases", row, ids["lead"], "update")
    assert original != row["assignment_enc"]

    # unblind and analyse through the CLI
    rc, out, err = cli(capsys, "study", "unblind", STUDY, "--as", "Dr Lead", "--json")
    assert rc == 0, err
    unblinded = json.loads(out)
    assert unblinded["model_side"] == sides and unblinded["n_reviews"] == 24 and not unblinded["forced"]
    rc, out, err = cli(capsys, "study", "analyze", STUDY, "--as", "Dr Lead", "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert (res["n_cases"], res["n_reviewers"], res["n_reviews"]) == (12, 2, 24)
    mc, cu = res["criteria"]["medical_correctness"], res["criteria"]["clinical_utility"]
    # medical correctness: every case +1 -> CI [1, 1], exact Wilcoxon p = 2/2^12, alpha 1 (full agreement)
    assert (mc["mean_model"], mc["mean_resident"], mc["mean_diff"], mc["ci95"]) == (4, 3, 1, [1, 1])
    assert mc["wilcoxon"]["p"] == pytest.approx(2 / 4096) and mc["alpha"] == 1.0 and mc["verdict"] == "superior"
    # clinical utility: odd cases (r1: 3 vs 4, r2: 3 vs 3) -> -0.5; even cases 0 -> mean -0.25; 6 negative
    # differences -> p = 2/2^6; bootstrap quantiles -0.5 * {9, 3} / 12 -> [-0.375, -0.125]; the interval crosses
    # the margin (-0.25) -> inconclusive
    assert (cu["mean_model"], cu["mean_resident"], cu["mean_diff"]) == (3, 3.25, -0.25)
    assert cu["wilcoxon"]["p"] == pytest.approx(2 / 64) and cu["ci95"] == pytest.approx([-0.375, -0.125])
    assert cu["verdict"] == "inconclusive"
    units = []
    for c in cases:
        odd = numbers[c["case_id"]] % 2 == 1
        units += [[3, 3], [4 if odd else 3, 3]]  # (model unit, resident unit): raters r1, r2
    assert cu["alpha"] == pytest.approx(hand_alpha(units))
    pgy1 = res["by_level"]["PGY1"]["criteria"]["clinical_utility"]
    assert res["by_level"]["PGY1"]["n_cases"] == 6 and pgy1["mean_diff"] == pytest.approx(-0.25)
    print("\nE2E ANALYSIS", json.dumps({k: {x: v[x] for x in ("mean_model", "mean_resident", "mean_diff", "ci95",
                                                               "alpha", "verdict")} | {"p": v["wilcoxon"]["p"]}
                                         for k, v in res["criteria"].items()}))
