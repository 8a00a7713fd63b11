"""parse_output, split_steps and PhaseTracker on well-formed and broken think/answer output."""

from __future__ import annotations

import pytest

from safemed_desktop.inference.reasoning import PhaseTracker, parse_output, split_steps


def test_well_formed_output():
    p = parse_output("<think>\n1. Renal function is low.\n2. Halve the dose.\n</think>\n<answer>Give 250 mg.</answer>")
    assert p.reasoning_steps == ("Renal function is low.", "Halve the dose.")
    assert p.answer == "Give 250 mg."
    assert (p.think_open, p.think_closed, p.answer_tagged, p.answer_closed) == (True, True, True, True)
    assert p.well_formed and p.issues == ()


def test_unclosed_think_is_all_reasoning_and_flagged():
    p = parse_output("<think>1. Check allergies.\n2. Consider interactions")
    assert p.answer == ""
    assert p.reasoning_steps == ("Check allergies.", "Consider interactions")
    assert p.think_open and not p.think_closed and not p.answer_tagged
    assert "reasoning block <think> was never closed" in p.issues
    assert "the answer is empty" in p.issues
    assert not p.well_formed


def test_unclosed_think_followed_by_answer_tag():
    p = parse_output("<think>weigh the risk<answer>Avoid NSAIDs.</answer>")
    assert p.reasoning == "weigh the risk"
    assert p.answer == "Avoid NSAIDs."
    assert p.think_open and not p.think_closed and p.answer_tagged


def test_missing_tags_whole_text_is_answer():
    raw = "  Amoxicillin 500 mg three times daily.\n\nReview in 48 hours.  "
    p = parse_output(raw)
    assert p.answer == raw.strip()
    assert p.reasoning == "" and p.reasoning_steps == ()
    assert not (p.think_open or p.think_closed or p.answer_tagged)
    assert p.issues == ()


def test_answer_without_closing_tag_runs_to_end():
    p = parse_output("<think>a</think><answer>Start low, go slow.\nMonitor potassium.")
    assert p.answer == "Start low, go slow.\nMonitor potassium."
    assert p.answer_tagged and not p.answer_closed
    assert "<answer> was never closed" in p.issues


def test_text_after_think_without_answer_tag_is_the_answer():
    p = parse_output("<think>1. eGFR 25.\n2. Reduce dose.</think>\n  Use 50% of the usual dose.  ")
    assert p.answer == "Use 50% of the usual dose."
    assert p.reasoning_steps == ("eGFR 25.", "Reduce dose.")
    assert not p.answer_tagged
    assert "no <answer> tag after the reasoning" in p.issues


def test_closing_think_without_opening_tag():
    p = parse_output("Step 1: check weight.\nStep 2: compute dose.</think><answer>10 mg/kg</answer>")
    assert p.reasoning_steps == ("check weight.", "compute dose.")
    assert p.answer == "10 mg/kg"
    assert p.think_closed and not p.think_open


def test_tags_case_insensitive_and_whitespace():
    p = parse_output("\n  <THINK>  \n  reason here \n </Think>\n\n <Answer>\n  yes \n</ANSWER>\n")
    assert p.reasoning == "reason here"
    assert p.answer == "yes"
    assert p.well_formed


def test_empty_and_whitespace_only_output():
    for raw in ("", "   \n\t "):
        p = parse_output(raw)
        assert p.answer == "" and p.reasoning_steps == ()
        assert p.issues == ("the answer is empty",)


def test_empty_think_block():
    p = parse_output("<think></think><answer>ok</answer>")
    assert p.reasoning == "" and p.reasoning_steps == () and p.answer == "ok"


@pytest.mark.parametrize(
    "reasoning, steps",
    [
        ("1. First.\n2. Second.\n3. Third.", ("First.", "Second.", "Third.")),
        ("Step 1: weigh.\nStep 2: dose.", ("weigh.", "dose.")),
        ("**Step 1:** weigh.\n**Step 2:** dose.", ("weigh.", "dose.")),
        ("1) a\n2) b", ("a", "b")),
        ("- renal\n- hepatic\n* cardiac\n\u2022 pregnancy", ("renal", "hepatic", "cardiac", "pregnancy")),
        ("First paragraph\ncontinues here.\n\nSecond paragraph.", ("First paragraph continues here.", "Second paragraph.")),
        ("Intro line.\n1. one\n   more of one\n2. two\n\nConclusion.", ("Intro line.", "one more of one", "two", "Conclusion.")),
        ("A single thought.", ("A single thought.",)),
        ("", ()),
    ],
)
def test_split_steps(reasoning, steps):
    assert split_steps(reasoning) == steps


def test_decimal_doses_are_not_step_numbers():
    assert split_steps("1. Give 2.5 mg.\n2.5 mg is the maximum.") == ("Give 2.5 mg. 2.5 mg is the maximum.",)


def _phases(chunks):
    tracker = PhaseTracker()
    return [tracker.feed(c) for c in chunks]


def test_phase_tracker_whole_tags():
    assert _phases(["Intro ", "<think>", "reason", "</think>", "<answer>", "ans", "</answer>"]) == [
        "answer", "reasoning", "reasoning", "answer", "answer", "answer", "answer"]


def test_phase_tracker_split_tags():
    chunks = ["<th", "ink>", "1. dose", " is ok</", "thi", "nk", "><ans", "wer>", "yes"]
    assert _phases(chunks) == ["answer", "reasoning", "reasoning", "reasoning", "reasoning", "reasoning",
                               "answer", "answer", "answer"]


def test_phase_tracker_every_split_matches_whole_text():
    text = "pre <think>a < b, 1. x</think> mid <answer>ok</answer> after"
    whole = PhaseTracker().feed(text)
    assert whole == "answer"
    for cut in range(1, len(text)):
        t = PhaseTracker()
        t.feed(text[:cut])
        assert t.feed(text[cut:]) == whole
    # char by char: reasoning exactly between the end of <think> and the end of </think>
    tracker = PhaseTracker()
    seen = [tracker.feed(ch) for ch in text]
    start = text.index("<think>") + len("<think>") - 1
    end = text.index("</think>") + len("</think>") - 1
    assert all(p == "reasoning" for p in seen[start:end])
    assert all(p == "answer" for p in seen[:start] + seen[end:])


def test_phase_tracker_answer_tag_ends_unclosed_think_like_parse_output():
    tracker = PhaseTracker()
    assert tracker.feed("<think>reason") == "reasoning"
    assert tracker.feed("<answer>") == "answer"
    assert parse_output("<think>reason<answer>x").answer == "x"


def test_phase_tracker_lone_angle_brackets_do_not_stick():
    tracker = PhaseTracker()
    assert tracker.feed("<think>") == "reasoning"
    assert tracker.feed("eGFR <") == "reasoning"
    assert tracker.feed(" 30, dose < 5 mg") == "reasoning"
    assert tracker.feed("</think>") == "answer"
