"""The provenance panel shows the site-wide figures of the applied site pack beside the workstation's own."""

from safemed_desktop.gui.provenance_panel import ProvenancePanel

PROV = {"audits": [], "acknowledgements": [], "edit_history": [], "category": "dosing",
        "strikes": {"count": 0, "limit": 5, "window_days": 30, "under_review": False},
        "track_record": {"overall": {"audited_answers": 2, "feedback_count": 3, "mean_scores": {}, "flag_counts": {}},
                         "category": None}}


def test_site_wide_figures_with_their_pack(qtbot):
    panel = ProvenancePanel()
    qtbot.addWidget(panel)
    site = {"pack_version": 3, "pack_date": 1.7e9, "overall": {"audited_answers": 41, "feedback_count": 57,
                                                               "unsafe_flags": 2, "strikes": 1},
            "category": {"category": "dosing", "audited_answers": 12, "workstations": 4,
                         "mean_scores": {"medical_correctness": 3.5}}}
    panel.show_provenance({**PROV, "site": site})
    text = panel.track.toPlainText()
    assert "2 audited answer(s)" in text  # the workstation's own
    assert "Site-wide (site pack version 3" in text and "41 audited answer(s)" in text and "2 flagged unsafe" in text
    assert "from 4 workstation(s)" in text and "medical_correctness 3.50" in text


def test_without_a_site_pack_it_says_so(qtbot):
    panel = ProvenancePanel()
    qtbot.addWidget(panel)
    panel.show_provenance({**PROV, "site": None})
    assert "no site pack on this workstation yet" in panel.track.toPlainText()
