"""confidence: synthetic log-probability sequences (high, low, mixed), option letters, self-consistency,
thresholds pack, and one end-to-end run on the real demo model."""

from __future__ import annotations

import copy
import math

import pytest

from safemed_desktop.errors import InputError, PackError
from safemed_desktop.signals import confidence
from safemed_desktop.signals.packs import load_pack, parse_pack
from safemed_desktop.records.signal import SignalContext

TH = confidence.load_thresholds()


def ctx(texts, probs, question="What is the usual dose of amoxicillin?", answer=None):
    texts = tuple(texts)
    lps = tuple(math.log(p) for p in probs)
    if answer is None:
        answer = confidence._TAG.sub("", "".join(texts)).strip()
    return SignalContext(question=question, answer=answer, token_logprobs=lps, token_texts=texts)


WORDS = ("Amoxicillin", " 500", " mg", " three", " times", " daily", " for", " 5", " days", ".")


def test_high_probability_answer_is_ok():
    s = confidence.assess(ctx(WORDS, [0.97, 0.9, 0.99, 0.85, 0.95, 0.9, 0.92, 0.8, 0.97, 0.99]))
    assert s.level == "ok" and s.source == "model-logprobs"
    assert s.score == pytest.approx(sum([0.97, 0.9, 0.99, 0.85, 0.95, 0.9, 0.92, 0.8, 0.97, 0.99]) / 10)
    assert "10 tokens" in s.summary and not s.evidence


def test_low_probability_answer_alerts_with_token_evidence():
    probs = [0.05, 0.3, 0.08, 0.2, 0.04, 0.5, 0.3, 0.02, 0.4, 0.6]
    s = confidence.assess(ctx(WORDS, probs))
    assert s.level == "alert"
    assert s.score == pytest.approx(sum(probs) / len(probs))
    answer = "Amoxicillin 500 mg three times daily for 5 days."
    low = [e for e in s.evidence if e.rule == "low_token_prob"]
    assert [e.text for e in low] == ["Amoxicillin", "mg", "times", "5"]  # the four tokens with p < 0.1
    for e in low:
        assert answer[e.start:e.end] == e.text and e.target == "answer"


def test_mixed_answer_with_a_run_of_unsure_tokens_is_caution():
    # mean stays above the alert line but 30% of tokens are below p 0.1
    probs = [0.99, 0.99, 0.05, 0.99, 0.06, 0.99, 0.99, 0.07, 0.99, 0.99]
    s = confidence.assess(ctx(WORDS, probs))
    share = 3 / 10
    assert TH.by_measure["share_low_prob"].caution_above < share < TH.by_measure["share_low_prob"].alert_above
    assert s.level == "caution" and "share of tokens" in s.summary


def test_one_very_unlikely_token_is_caution():
    probs = [0.99] * 9 + [0.001]
    s = confidence.assess(ctx(WORDS, probs))
    assert s.level == "caution" and "lowest token probability" in s.summary


def test_format_tag_tokens_are_not_scored():
    texts = ("<", "answer", ">", *WORDS, "</", "answer", ">")
    probs = [0.999, 0.999, 0.999, *([0.3] * 10), 0.999, 0.999, 0.999]
    s = confidence.assess(ctx(texts, probs))
    assert s.score == pytest.approx(0.3)  # the six tag tokens would have lifted the mean to ~0.56
    assert "10 tokens" in s.summary


def test_no_generation_is_not_assessed():
    s = confidence.assess(SignalContext(question="q?", answer="a"))
    assert s.level == "not_assessed" and s.score is None


def test_too_short_answer_is_not_assessed():
    s = confidence.assess(ctx(("Yes",), [0.2]))
    assert s.level == "not_assessed" and "too short" in s.summary


MCQ = ("Which drug is first-line for type 2 diabetes?\nA) insulin glargine\nB) metformin\n"
       "C) glipizide\nD) acarbose")


@pytest.mark.parametrize("p_letter,level", [(0.95, "ok"), (0.5, "caution"), (0.2, "alert")])
def test_multiple_choice_reports_the_chosen_letter_probability(p_letter, level):
    texts = ("The", " answer", " is", " B", ")", " metformin", ".")
    probs = [0.99, 0.99, 0.99, p_letter, 0.99, 0.99, 0.99]
    s = confidence.assess(ctx(texts, probs, question=MCQ))
    assert s.level == level
    assert s.score == pytest.approx(p_letter)
    ev = [e for e in s.evidence if e.rule == "option_letter_prob"]
    assert len(ev) == 1 and ev[0].text == "B" and "option B" in s.summary


def test_option_detection():
    assert confidence.question_options(MCQ) == ("A", "B", "C", "D")
    assert confidence.question_options("Options: A. aspirin B. heparin C. warfarin") == ("A", "B", "C")
    assert confidence.question_options("(A) yes (B) no") == ("A", "B")
    assert confidence.question_options("Is vitamin A toxic? What about vitamin B12?") == ()
    assert confidence.find_chosen_option("B) metformin")[0] == "B"
    assert confidence.find_chosen_option("The correct answer is (C).")[0] == "C"
    assert confidence.find_chosen_option("A patient with diabetes should take metformin.", ("A", "B")) is None
    assert confidence.find_chosen_option("The answer is a combination of drugs.") is None


def test_self_consistency_on_letters_and_text():
    assert confidence.self_consistency(["B", "The answer is B", "B) metformin", "C"], MCQ) == pytest.approx(0.75)
    assert confidence.self_consistency(["metformin first line", "first line metformin"]) == pytest.approx(1.0)
    low = confidence.self_consistency(["metformin first line", "insulin glargine nightly", "acarbose with meals"])
    assert low == pytest.approx(0.0)
    with pytest.raises(InputError):
        confidence.self_consistency(["only one"])


def test_self_consistency_folds_into_the_signal():
    texts = ("The", " answer", " is", " B", ".")
    c = ctx(texts, [0.99, 0.99, 0.99, 0.95, 0.99], question=MCQ)
    agree = confidence.assess(c, samples=["B", "Answer: B", "B) metformin"])
    assert agree.level == "ok" and "100% agreement across 4" in agree.summary
    split = confidence.assess(c, samples=["C", "A) insulin", "D"])
    assert split.level == "alert" and split.score == pytest.approx(0.25)


def test_thresholds_pack_is_versioned_with_a_calibration_note():
    pack = load_pack("confidence_thresholds")
    assert pack.version and "calibrat" in " ".join(pack.sources.values()).lower()
    assert set(TH.by_measure) == set(confidence.MEASURES)


def test_bad_thresholds_are_rejected():
    raw = copy.deepcopy(load_pack("confidence_thresholds").raw)
    raw["entries"][0]["alert_below"] = 0.9  # above caution_below
    with pytest.raises(PackError, match="alert_below exceeds caution_below"):
        confidence.parse_thresholds(parse_pack(raw, "test"))
    raw = copy.deepcopy(load_pack("confidence_thresholds").raw)
    raw["entries"] = raw["entries"][:-1]
    with pytest.raises(PackError, match="no entry for self_consistency"):
        confidence.parse_thresholds(parse_pack(raw, "test"))


@pytest.mark.model
def test_end_to_end_on_the_demo_model(demo_model_path):
    from safemed_desktop.inference.engine import Engine, EngineSettings
    from safemed_desktop.records.events import DoneEvent, TokenEvent
    from safemed_desktop.inference.prompt import build_messages
    from safemed_desktop.inference.reasoning import parse_output
    from safemed_desktop.signals.pipeline import SIGNAL_ORDER, assess_all

    question = "What is the first-line drug for type 2 diabetes?"
    with Engine(EngineSettings(demo_model_path, n_ctx=512, n_threads=2)) as engine:
        events = list(engine.stream_chat(build_messages(question, None, "plain"), max_tokens=40, temperature=0.0))
    done = events[-1]
    assert isinstance(done, DoneEvent)
    toks = [e for e in events if isinstance(e, TokenEvent) and e.phase == "answer"]
    parsed = parse_output(done.text)
    c = SignalContext(question=question, answer=parsed.answer, token_logprobs=tuple(e.logprob for e in toks),
                      token_texts=tuple(e.text for e in toks))
    s = confidence.assess(c)
    assert s.level in ("ok", "caution", "alert")
    probs = [math.exp(e.logprob) for e in toks]
    assert s.score == pytest.approx(sum(probs) / len(probs), rel=1e-9)
    assert f"{len(probs)} tokens" in s.summary
    for e in s.evidence:
        assert parsed.answer[e.start:e.end] == e.text
    signals = assess_all(c)
    assert [x.name for x in signals] == list(SIGNAL_ORDER)
    assert signals[0] == s
