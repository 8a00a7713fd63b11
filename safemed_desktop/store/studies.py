"""Blinded validation studies in the encrypted store: studies, cases, the model's answers, reviews, unblindings.

Clinical text (vignettes, resident answers, patient context, reviewers' comments), the blinding salt and
each case's A/B assignment are encrypted per field; ids, levels, scores (recorded as A/B, blinded) and
commitments stay in clear. Every write goes through ``Store._transaction`` (audit events and a signed
checkpoint); every read checks each record against its latest audit event.

The assignment commitment (``validation.blinding`` computes it; the store only keeps it) lives in its
own row of ``study_commitments``, which has no encrypted column and so is never rewritten (not even by
``rekey``): unblinding refuses unless that row still has exactly its one creation event, every case's
commitment matches its row, and the root over the cases' commitments matches the committed root. The
caller (the service) recomputes each case's commitment from the decrypted salt and assignment.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import InputError, IntegrityError, PermissionDeniedError
from ..records.answer import new_id
from ..records.patient import PatientContext
from ..rubric import Rubric
from .connection import sqlite_errors

if TYPE_CHECKING:
    from .store import Store

REVIEWER_ROLE = "reviewer"
#: Who may set up a study, generate its answers and unblind it.
LEAD_ROLES = ("site_admin", "attending")
COMMIT_ACTION = "commit_assignment"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class StudyStore:
    """The studies of one open store (``Store.studies``). Every method runs under the store's lock."""

    def __init__(self, store: "Store"):
        self._s = store

    def _locked(self):
        s = self._s
        return _Locked(s)

    # ------------------------------------------------------------------ creation
    def create(self, *, name: str, cases: list[dict[str, Any]], rubric: Rubric, criteria: list[str], margin: float,
               min_reviewers: int, cases_sha256: str, salt: bytes, commitment: str) -> str:
        """Store a new study (a lead role: ``LEAD_ROLES``). ``cases``: dicts with case_id, vignette, resident_answer,
        resident_level, patient (PatientContext), model_side ("A"/"B") and commitment; returns the study id."""
        s = self._s
        with self._locked():
            cipher = s._require_unlocked()
            actor = s.require_profile(*LEAD_ROLES)["id"]
            if next(s.db["studies"].rows_where("name = ?", [name], select="id"), None) is not None:
                raise InputError(f"a study named {name!r} already exists")
            sid, now = new_id(), s._now()
            study = {"id": sid, "name": name, "created_at": now, "created_by": actor, "rubric_id": rubric.id,
                     "rubric_version": rubric.version, "criteria": _json(list(criteria)), "margin": float(margin),
                     "min_reviewers": int(min_reviewers), "n_cases": len(cases), "cases_sha256": cases_sha256,
                     "commitment": commitment,
                     "salt_enc": cipher.encrypt("studies", sid, "salt_enc", salt.hex())}
            rows = []
            for pos, c in enumerate(cases):
                cid = new_id()
                enc = lambda col, v, cid=cid: cipher.encrypt("study_cases", cid, col, v)  # noqa: E731
                rows.append({"id": cid, "study_id": sid, "case_id": c["case_id"], "position": pos,
                             "resident_level": c.get("resident_level"), "created_at": now,
                             "commitment": c["commitment"], "vignette_enc": enc("vignette_enc", c["vignette"]),
                             "resident_answer_enc": enc("resident_answer_enc", c["resident_answer"]),
                             "patient_enc": enc("patient_enc", _json(c["patient"].to_dict())),
                             "assignment_enc": enc("assignment_enc", c["model_side"])})
            with s._transaction() as tx:
                tx.insert("studies", study, actor, "create_study")
                tx.insert("study_commitments", {"id": sid, "created_at": now, "n_cases": len(cases),
                                                "commitment": commitment}, actor, COMMIT_ACTION)
                tx.insert_many("study_cases", rows, [actor] * len(rows))
            return sid

    # ------------------------------------------------------------------ reads
    def _study_row(self, name: str) -> dict[str, Any]:
        s = self._s
        row = next(s.db["studies"].rows_where("name = ?", [name], select="id"), None)
        if row is None:
            raise InputError(f"no study named {name!r}", hint="list studies with `safemed study list`")
        return s._verified("studies", row["id"], "study")

    @staticmethod
    def _study_out(row: dict[str, Any]) -> dict[str, Any]:
        return {"id": row["id"], "name": row["name"], "created_at": row["created_at"], "created_by": row["created_by"],
                "rubric": f"{row['rubric_id']}@{row['rubric_version']}", "criteria": json.loads(row["criteria"]),
                "margin": row["margin"], "min_reviewers": row["min_reviewers"], "n_cases": row["n_cases"],
                "cases_sha256": row["cases_sha256"], "commitment": row["commitment"]}

    def get(self, name: str) -> dict[str, Any]:
        """The study's clear description, with progress counts (and, once unblinded, the revealed assignment)."""
        s = self._s
        with self._locked():
            s._require_unlocked()
            s.require_profile()
            row = self._study_row(name)
            out = self._study_out(row)
            q = lambda sql: s._conn.execute(sql, [row["id"]]).fetchone()[0]  # noqa: E731
            out["n_generated"] = q("SELECT COUNT(*) FROM study_answers WHERE study_id = ?")
            out["n_reviews"] = q("SELECT COUNT(*) FROM study_reviews WHERE study_id = ?")
            out["reviewers"] = [r[0] for r in s._conn.execute(
                "SELECT DISTINCT reviewer_id FROM study_reviews WHERE study_id = ? ORDER BY reviewer_id", [row["id"]])]
            out["unblindings"] = [dict(r) for r in s.db["study_unblindings"].rows_where(
                "study_id = ?", [row["id"]], order_by="created_at",
                select="id, created_at, actor, forced, n_reviews, n_expected, revealed_salt, revealed_assignment")]
            for u in out["unblindings"]:
                u["revealed_assignment"] = json.loads(u["revealed_assignment"])
            out["unblinded"] = bool(out["unblindings"])
            return out

    def list(self) -> list[dict[str, Any]]:
        s = self._s
        with self._locked():
            s._require_unlocked()
            names = [r["name"] for r in s.db["studies"].rows_where(select="name", order_by="created_at")]
        return [self.get(n) for n in names]

    def cases(self, name: str) -> list[dict[str, Any]]:
        """Every case, decrypted, in file order, with the model's answer id (None until generated) and the
        assignment (``model_side``): for the service only, which never shows it before unblinding."""
        s = self._s
        with self._locked():
            cipher = s._require_unlocked()
            s.require_profile()
            study = self._study_row(name)
            answers = {r["case_row_id"]: r for r in s._verified_rows("study_answers", "study_id = ?", [study["id"]])}
            out = []
            for r in s._verified_rows("study_cases", "study_id = ?", [study["id"]], order_by="position"):
                d = lambda col, r=r: cipher.decrypt("study_cases", r["id"], col, r[col])  # noqa: E731
                a = answers.get(r["id"])
                out.append({"row_id": r["id"], "case_id": r["case_id"], "position": r["position"],
                            "resident_level": r["resident_level"], "commitment": r["commitment"],
                            "vignette": d("vignette_enc"), "resident_answer": d("resident_answer_enc"),
                            "patient": PatientContext.from_dict(json.loads(d("patient_enc") or "{}")),
                            "model_side": d("assignment_enc"), "answer_id": a["answer_id"] if a else None})
            return out

    def salt(self, name: str) -> bytes:
        s = self._s
        with self._locked():
            cipher = s._require_unlocked()
            s.require_profile(*LEAD_ROLES)
            row = self._study_row(name)
            return bytes.fromhex(cipher.decrypt("studies", row["id"], "salt_enc", row["salt_enc"]) or "")

    def committed_root(self, name: str) -> str:
        """The root commitment as recorded at creation: refused unless its row has only its creation event."""
        s = self._s
        with self._locked():
            s._require_unlocked()
            sid = self._study_row(name)["id"]
            row = s._verified("study_commitments", sid, "study commitment")
            events = s._conn.execute("SELECT action FROM audit WHERE table_name = 'study_commitments' AND row_id = ?",
                                     [sid]).fetchall()
            if [e[0] for e in events] != [COMMIT_ACTION]:
                raise IntegrityError(f"the assignment commitment of study {name!r} was rewritten after creation "
                                     f"({len(events)} audit events)", hint="run `safemed store verify`")
            return row["commitment"]

    # ------------------------------------------------------------------ generation
    def link_answer(self, name: str, case_row_id: str, answer_id: str) -> None:
        s = self._s
        with self._locked():
            s._require_unlocked()
            actor = s.require_profile(*LEAD_ROLES)["id"]
            study = self._study_row(name)
            with s._transaction() as tx:
                tx.insert("study_answers", {"id": new_id(), "study_id": study["id"], "case_row_id": case_row_id,
                                            "answer_id": answer_id, "created_at": s._now()}, actor)

    # ------------------------------------------------------------------ reviews
    def add_review(self, name: str, case_id: str, rubric: Rubric, scores_a: dict[str, int],
                   scores_b: dict[str, int], comment: str | None) -> str:
        """The signed-in reviewer's scores for answers A and B of one case (every study criterion, on the scale)."""
        s = self._s
        with self._locked():
            cipher = s._require_unlocked()
            reviewer_id = s.require_profile(REVIEWER_ROLE)["id"]
            study = self._study_row(name)
            criteria = json.loads(study["criteria"])
            for side, scores in (("A", scores_a), ("B", scores_b)):
                if sorted(scores) != sorted(criteria):
                    missing = sorted(set(criteria) - set(scores))
                    extra = sorted(set(scores) - set(criteria))
                    raise InputError(f"answer {side}: score every study criterion"
                                     + (f"; missing {', '.join(missing)}" if missing else "")
                                     + (f"; not in this study: {', '.join(extra)}" if extra else ""))
                rubric.validate_scores(scores)
            case = next(s.db["study_cases"].rows_where("study_id = ? AND case_id = ?", [study["id"], case_id],
                                                       select="id"), None)
            if case is None:
                raise InputError(f"study {name!r} has no case {case_id!r}")
            if s._conn.execute("SELECT 1 FROM study_answers WHERE case_row_id = ?", [case["id"]]).fetchone() is None:
                raise InputError(f"case {case_id} has no model answer yet", hint=f"run `safemed study generate {name}`")
            if s._conn.execute("SELECT 1 FROM study_reviews WHERE case_row_id = ? AND reviewer_id = ?",
                               [case["id"], reviewer_id]).fetchone():
                raise InputError(f"this reviewer has already scored case {case_id}; a review is final")
            rid = new_id()
            text = comment.strip() if isinstance(comment, str) and comment.strip() else None
            with s._transaction() as tx:
                tx.insert("study_reviews", {"id": rid, "study_id": study["id"], "case_row_id": case["id"],
                                            "reviewer_id": reviewer_id, "created_at": s._now(),
                                            "scores_a": _json(scores_a), "scores_b": _json(scores_b),
                                            "comment_enc": cipher.encrypt("study_reviews", rid, "comment_enc", text)},
                          reviewer_id, "review")
            return rid

    def reviews(self, name: str, reviewer_id: str | None = None) -> list[dict[str, Any]]:
        """Reviews (verified, comments decrypted); only ``reviewer_id``'s when given. A signed-in reviewer only
        ever gets their own: a reviewer never sees another's scores."""
        s = self._s
        with self._locked():
            cipher = s._require_unlocked()
            me = s.require_profile()
            if me["role"] == REVIEWER_ROLE:
                if reviewer_id not in (None, me["id"]):
                    raise PermissionDeniedError("a reviewer sees only their own reviews")
                reviewer_id = me["id"]
            study = self._study_row(name)
            where, args = "study_id = ?", [study["id"]]
            if reviewer_id is not None:
                where, args = where + " AND reviewer_id = ?", args + [reviewer_id]
            case_ids = {r["id"]: r["case_id"] for r in s.db["study_cases"].rows_where(
                "study_id = ?", [study["id"]], select="id, case_id")}
            return [{"id": r["id"], "case_id": case_ids[r["case_row_id"]], "reviewer_id": r["reviewer_id"],
                     "created_at": r["created_at"], "scores_a": json.loads(r["scores_a"]),
                     "scores_b": json.loads(r["scores_b"]),
                     "comment": cipher.decrypt("study_reviews", r["id"], "comment_enc", r["comment_enc"])}
                    for r in s._verified_rows("study_reviews", where, args, order_by="created_at")]

    # ------------------------------------------------------------------ unblinding
    def record_unblinding(self, name: str, forced: bool, n_reviews: int, n_expected: int, salt: bytes,
                          assignment: dict[str, str]) -> str:
        """Record the unblinding and reveal the (already checked) salt and assignment in clear."""
        s = self._s
        with self._locked():
            s._require_unlocked()
            actor = s.require_profile(*LEAD_ROLES)["id"]
            study = self._study_row(name)
            uid = new_id()
            with s._transaction() as tx:
                tx.insert("study_unblindings", {"id": uid, "study_id": study["id"], "created_at": s._now(),
                                                "actor": actor, "forced": int(bool(forced)), "n_reviews": n_reviews,
                                                "n_expected": n_expected, "revealed_salt": salt.hex(),
                                                "revealed_assignment": _json(assignment)}, actor, "unblind_forced" if forced else "unblind")
            return uid

    # ------------------------------------------------------------------ for reports and exports
    def report_records(self) -> dict[str, list[dict[str, Any]]]:
        return report_records(self._s)

    def training_records(self) -> list[dict[str, Any]]:
        return training_records(self._s)

    def all_names(self) -> list[str]:
        with self._locked():
            return [r["name"] for r in self._s.db["studies"].rows_where(select="name", order_by="created_at")]


# ---------------------------------------------------------------------- reads for the governance report and export
#: Clear columns of the answers the report reads (no clinical text).
_ANSWER_CLEAR = ("id", "created_at", "model_id", "model_sha256", "model_demo", "prompt_template_hash", "pack_versions",
                 "rubric", "category", "finish_reason", "blocked", "answer_collapsed", "signal_levels")


def report_records(store: "Store") -> dict[str, list[dict[str, Any]]]:
    """Verified clear metadata for the governance report: answers (no text), feedback scores, edit counts,
    five-strike reviews. A lead role (``LEAD_ROLES``)."""
    with _Locked(store):
        store._require_unlocked()
        store.require_profile(*LEAD_ROLES)
        answers = [{k: r[k] for k in _ANSWER_CLEAR} for r in store._verified_rows("answers", order_by="created_at")]
        feedback = [{k: r[k] for k in ("id", "answer_id", "clinician_role", "rubric_id", "rubric_version", "created_at",
                                       "scores", "flags", "strike")}
                    for r in store._verified_rows("feedback", order_by="created_at")]
        edits = [{k: r[k] for k in ("id", "answer_id", "version", "created_at")}
                 for r in store._verified_rows("edits", order_by="created_at")]
        reviews = store._verified_rows("model_reviews", order_by="marked_at")
        for r in answers:
            r["pack_versions"] = json.loads(r["pack_versions"])
            r["signal_levels"] = json.loads(r["signal_levels"])
        for f in feedback:
            f["scores"], f["flags"] = json.loads(f["scores"]), json.loads(f["flags"])
        return {"answers": answers, "feedback": feedback, "edits": edits, "model_reviews": reviews}


def training_records(store: "Store") -> list[dict[str, Any]]:
    """Every answer that has clinician feedback or an edit, decrypted (question, patient, model text, the latest
    edit and every feedback's scores): the raw material of the training-data export. Site administrators only."""
    with _Locked(store):
        cipher = store._require_unlocked()
        store.require_profile("site_admin")
        fb: dict[str, list[dict[str, Any]]] = {}
        for r in store._verified_rows("feedback", order_by="created_at"):
            fb.setdefault(r["answer_id"], []).append(
                {"id": r["id"], "clinician_role": r["clinician_role"], "rubric": f"{r['rubric_id']}@{r['rubric_version']}",
                 "scores": json.loads(r["scores"]), "flags": json.loads(r["flags"]), "created_at": r["created_at"]})
        latest: dict[str, dict[str, Any]] = {}
        for r in store._verified_rows("edits", order_by="version"):
            latest[r["answer_id"]] = r
        ids = sorted(set(fb) | set(latest))
        out = []
        for aid in ids:
            a = store._verified("answers", aid, "answer")
            d = lambda col, a=a: cipher.decrypt("answers", a["id"], col, a[col])  # noqa: E731
            e = latest.get(aid)
            out.append({"answer_id": aid, "created_at": a["created_at"], "model_id": a["model_id"],
                        "model_sha256": a["model_sha256"], "prompt_template_hash": a["prompt_template_hash"],
                        "pack_versions": json.loads(a["pack_versions"]), "rubric": a["rubric"],
                        "category": a["category"], "blocked": bool(a["blocked"]), "question": d("question_enc") or "",
                        "patient": json.loads(d("patient_enc") or "{}"), "answer": d("answer_enc") or "",
                        "edit": ({"version": e["version"], "created_at": e["created_at"],
                                  "text": cipher.decrypt("edits", e["id"], "text_enc", e["text_enc"])} if e else None),
                        "feedback": fb.get(aid, [])})
        return out


class _Locked:
    """The store's lock, with SQLite errors raised as SafeMed errors."""

    def __init__(self, store: "Store"):
        self._store = store
        self._errors = sqlite_errors(store.path, store.busy_timeout_s)

    def __enter__(self) -> None:
        self._store._lock.acquire()
        try:
            self._errors.__enter__()
        except BaseException:
            self._store._lock.release()
            raise

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self._errors.__exit__(*exc)
        finally:
            self._store._lock.release()


__all__ = ["StudyStore", "REVIEWER_ROLE", "LEAD_ROLES"]
