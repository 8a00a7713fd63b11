"""Use cases of blinded expert validation: create a study, generate the model's answers, review, unblind, analyse.

A study pairs, for each case, a resident's answer with the model's answer to the same vignette. The model's
answer comes from the normal ask path (``ask_to_end``: the same prompt, signals and guard) and is stored as
an ordinary answer record (``record_answer``), linked to its case; generation is resumable (a case with a
linked answer is skipped). Reviewers only ever get a ``BlindedCase``: the vignette and two answers in the
neutral format (``validation.neutral_text``), labelled A and B by the study's committed random assignment,
and nothing else that could reveal which is the model's. Unblinding checks the stored assignment against
the commitment recorded at creation before revealing anything.

Who acts is the store's signed-in profile (``Store.authenticate``); the store enforces the roles: a lead
(site_admin, attending) sets up, generates and unblinds, only a reviewer reviews, and a reviewer never
gets another reviewer's scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import InputError, IntegrityError
from ..records import PatientContext

if TYPE_CHECKING:
    from ..store import Store

#: Text shown for a model answer that has no text (e.g. the guard blocked the question): neutral, like a
#: resident leaving a case blank.
NO_ANSWER = "No answer given."
DEFAULT_MARGIN = 0.25
DEFAULT_MIN_REVIEWERS = 2


@dataclass(frozen=True)
class BlindedCase:
    """What a reviewer sees of one case: nothing says which answer is the model's."""

    study: str
    case_id: str
    position: int  # 0-based, in the study's order
    n_cases: int
    vignette: str
    answer_a: str
    answer_b: str
    criteria: tuple[str, ...]
    reviewed: bool  # by this reviewer
    patient_summary: str = ""


@dataclass(frozen=True)
class ReviewQueue:
    study: str
    reviewer_id: str
    n_cases: int
    done: tuple[str, ...]  # case ids this reviewer has scored
    pending: tuple[str, ...]  # case ids still to score, in study order
    cases: tuple[str, ...] = ()  # every case ready for review (answer generated), in study order

    @property
    def progress(self) -> float:
        return len(self.done) / self.n_cases if self.n_cases else 1.0


@dataclass
class Unblinded:
    study: str
    forced: bool
    n_reviews: int
    n_expected: int
    assignments: dict[str, str] = field(default_factory=dict)  # case id -> side of the model's answer


class StudiesService:
    """Blinded validation studies (mixed into ``SafeMedService``)."""

    # ---------------------------------------------------------------- set-up
    def create_study(self, store: "Store", name: str, cases_file: str, *,
                     criteria: Iterable[str] | None = None, margin: float = DEFAULT_MARGIN,
                     min_reviewers: int = DEFAULT_MIN_REVIEWERS, coin: Callable[[], int] | None = None) -> dict[str, Any]:
        """Import the cases, draw and commit the A/B assignment; returns the study."""
        from ..validation import blinding
        from ..validation.cases import read_cases

        name = (name or "").strip()
        if not name or len(name) > 80 or any(ch in name for ch in "\n\r\t"):
            raise InputError("a study name must be 1-80 characters on one line")
        if not isinstance(margin, (int, float)) or not math.isfinite(margin) or not 0 < margin <= 4:
            raise InputError(f"the non-inferiority margin must be between 0 and 4 score points, got {margin!r}")
        if not isinstance(min_reviewers, int) or not 1 <= min_reviewers <= 50:
            raise InputError("the number of reviewers per case must be 1..50")
        rubric = self.load_rubric()
        crit = list(dict.fromkeys(criteria)) if criteria else list(rubric.keys)
        for key in crit:
            rubric.criterion(key)  # InputError for an unknown criterion
        cases, sha = read_cases(cases_file)
        salt = blinding.new_salt()
        # the study id is only known to the store; commit over the name, which is unique and never changes
        assignments = blinding.draw_assignments([c.case_id for c in cases], coin)
        rows = []
        for c, a in zip(cases, assignments):
            rows.append({"case_id": c.case_id, "vignette": c.vignette, "resident_answer": c.resident_answer,
                         "resident_level": c.resident_level, "patient": c.patient, "model_side": a.model_side,
                         "commitment": blinding.case_commitment(salt, name, c.case_id, a.model_side)})
        root = blinding.root_commitment(r["commitment"] for r in rows)
        store.studies.create(name=name, cases=rows, rubric=rubric, criteria=crit, margin=float(margin),
                             min_reviewers=min_reviewers, cases_sha256=sha, salt=salt, commitment=root)
        return store.studies.get(name)

    @staticmethod
    def list_studies(store: "Store") -> list[dict[str, Any]]:
        return store.studies.list()

    @staticmethod
    def study_status(store: "Store", name: str) -> dict[str, Any]:
        return store.studies.get(name)

    # ---------------------------------------------------------------- generation
    def generate_study(self, store: "Store", name: str, *, max_tokens: int | None = None,
                       progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
        """The model's answer for every case not yet answered, through the normal ask path; each case is
        committed as it completes, so an interrupted run resumes where it stopped."""
        cases = store.studies.cases(name)
        todo = [c for c in cases if c["answer_id"] is None]
        done = len(cases) - len(todo)
        for c in todo:
            record = self.ask_to_end(c["vignette"], c["patient"], max_tokens=max_tokens, temperature=0.0)
            self.record_answer(store, record)
            store.studies.link_answer(name, c["row_id"], record.id)
            done += 1
            if progress is not None:
                progress(done, len(cases), c["case_id"])
        return {"study": name, "n_cases": len(cases), "generated_now": len(todo), "n_generated": done}

    # ---------------------------------------------------------------- review
    def _model_text(self, store: "Store", answer_id: str) -> str:
        from ..validation import neutral_text

        rec = store.get_answer(answer_id)
        return neutral_text(rec.answer or "") or NO_ANSWER

    def review_queue(self, store: "Store", name: str) -> ReviewQueue:
        """The signed-in reviewer's queue."""
        reviewer = self._reviewer(store)
        cases = store.studies.cases(name)
        mine = {r["case_id"] for r in store.studies.reviews(name, reviewer)}
        ready = [c["case_id"] for c in cases if c["answer_id"] is not None]
        return ReviewQueue(study=name, reviewer_id=reviewer, n_cases=len(cases),
                           done=tuple(c for c in ready if c in mine), pending=tuple(c for c in ready if c not in mine),
                           cases=tuple(ready))

    def blinded_case(self, store: "Store", name: str, case_id: str) -> BlindedCase:
        """The vignette and answers A and B of one case, in the neutral format, for the signed-in reviewer."""
        from ..validation import neutral_text

        reviewer = self._reviewer(store)
        study = store.studies.get(name)
        cases = store.studies.cases(name)
        case = next((c for c in cases if c["case_id"] == case_id), None)
        if case is None:
            raise InputError(f"study {name!r} has no case {case_id!r}")
        if case["answer_id"] is None:
            raise InputError(f"case {case_id} has no model answer yet", hint=f"run `safemed study generate {name}`")
        model = self._model_text(store, case["answer_id"])
        resident = neutral_text(case["resident_answer"]) or NO_ANSWER
        a, b = (model, resident) if case["model_side"] == "A" else (resident, model)
        reviewed = any(r["case_id"] == case_id for r in store.studies.reviews(name, reviewer))
        patient: PatientContext = case["patient"]
        return BlindedCase(study=name, case_id=case_id, position=case["position"], n_cases=len(cases),
                           vignette=case["vignette"], answer_a=a, answer_b=b, criteria=tuple(study["criteria"]),
                           reviewed=reviewed, patient_summary=patient.describe() if not patient.is_empty() else "")

    @staticmethod
    def _reviewer(store: "Store") -> str:
        """The signed-in profile, refused unless it has the reviewer role (the store enforces it again)."""
        from ..store.studies import REVIEWER_ROLE

        return store.require_profile(REVIEWER_ROLE)["id"]

    def submit_review(self, store: "Store", name: str, case_id: str, scores_a: dict[str, int],
                      scores_b: dict[str, int], comment: str | None = None) -> str:
        """The signed-in reviewer's final scores for answers A and B of one case; returns the review id."""
        self._reviewer(store)
        rubric = self.load_rubric(store.studies.get(name)["rubric"])
        return store.studies.add_review(name, case_id, rubric, dict(scores_a), dict(scores_b), comment)

    def my_reviews(self, store: "Store", name: str) -> list[dict[str, Any]]:
        """The signed-in reviewer's own reviews (never another reviewer's)."""
        return store.studies.reviews(name, self._reviewer(store))

    # ---------------------------------------------------------------- unblinding and analysis
    @staticmethod
    def verify_assignment(store: "Store", name: str) -> dict[str, str]:
        """Check every case's assignment against the commitment recorded at creation; case id -> model side.

        IntegrityError naming the first case whose assignment (or commitment) changed."""
        from ..validation import blinding

        root = store.studies.committed_root(name)
        salt = store.studies.salt(name)
        cases = store.studies.cases(name)
        out: dict[str, str] = {}
        for c in cases:
            side = c["model_side"]
            if side not in blinding.SIDES or not blinding.matches(
                    c["commitment"], blinding.case_commitment(salt, name, c["case_id"], side)):
                raise IntegrityError(f"the A/B assignment of case {c['case_id']} in study {name!r} does not match "
                                     "its commitment: the blinding was tampered with; the study was not unblinded")
            out[c["case_id"]] = side
        if not blinding.matches(root, blinding.root_commitment(c["commitment"] for c in cases)):
            raise IntegrityError(f"the case commitments of study {name!r} do not match the commitment recorded at "
                                 "creation: the blinding was tampered with; the study was not unblinded")
        return out

    def unblind_study(self, store: "Store", name: str, *, force: bool = False) -> Unblinded:
        """Reveal the assignment after checking it; refused while reviews are incomplete unless ``force``
        (recorded). A lead role only (the store enforces it)."""
        from ..store.studies import LEAD_ROLES

        store.require_profile(*LEAD_ROLES)
        study = store.studies.get(name)
        assignments = self.verify_assignment(store, name)
        expected = study["n_cases"] * study["min_reviewers"]
        per_case: dict[str, int] = {}
        for r in store.studies.reviews(name):
            per_case[r["case_id"]] = per_case.get(r["case_id"], 0) + 1
        short = [cid for cid in assignments if per_case.get(cid, 0) < study["min_reviewers"]]
        n_reviews = sum(per_case.values())
        if short and not force:
            raise InputError(f"study {name!r} is not fully reviewed: {len(short)} of {study['n_cases']} case(s) have "
                             f"fewer than {study['min_reviewers']} reviews", hint="finish the reviews, or unblind with "
                             "--force (recorded in the audit trail)")
        store.studies.record_unblinding(name, bool(short) and force, n_reviews, expected, store.studies.salt(name),
                                        assignments)
        return Unblinded(study=name, forced=bool(short) and force, n_reviews=n_reviews, n_expected=expected,
                         assignments=assignments)

    @staticmethod
    def unblinded_reviews(store: "Store", name: str) -> list[dict[str, Any]]:
        """Every review with its A/B scores mapped to model and resident (refused before unblinding)."""
        study = store.studies.get(name)
        if not study["unblinded"]:
            raise InputError(f"study {name!r} is still blinded", hint=f"run `safemed study unblind {name}` first")
        from ..validation.analysis import paired_reviews

        assignments = StudiesService.verify_assignment(store, name)
        levels = {c["case_id"]: c["resident_level"] for c in store.studies.cases(name)}
        return paired_reviews(store.studies.reviews(name), assignments, levels)

    def analyze_study(self, store: "Store", name: str, *, seed: int = 0) -> dict[str, Any]:
        from ..validation import analyze

        study = store.studies.get(name)
        result = analyze(self.unblinded_reviews(store, name), study["criteria"], study["margin"], seed=seed)
        result.update({"study": name, "study_id": study["id"], "rubric": study["rubric"],
                       "commitment": study["commitment"], "cases_sha256": study["cases_sha256"],
                       "forced_unblinding": any(u["forced"] for u in study["unblindings"])})
        return result
