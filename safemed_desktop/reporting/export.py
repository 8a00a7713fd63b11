"""Clinician audits as training data for the next alignment round: JSONL that TRL, Axolotl and LLaMA-Factory read.

- ``dpo``: every answer a clinician edited: the latest edit is ``chosen``, the model's own text ``rejected``
  (an edit identical to the model's text is skipped). Conversational preference format::

      {"prompt": [{"role": "user", "content": Q}], "chosen": [{"role": "assistant", "content": EDIT}],
       "rejected": [{"role": "assistant", "content": MODEL}], "scores": [...], "provenance": {...}}

- ``sft``: every answer whose every clinician score, on every criterion scored, is at least ``threshold``
  (default 4), with at least one feedback record and no ``unsafe`` or ``hallucination`` flag::

      {"messages": [{"role": "user", "content": Q}, {"role": "assistant", "content": MODEL}], "scores": [...],
       "provenance": {...}}

Blocked questions (no model text) are never exported. The patient context is left out unless the site
allows it (``include_patient``); then it is prepended to the question as the app's prompt does ("Patient: ...").
``provenance`` names the answer, model (id, sha256), prompt template hash, pack and rubric versions, and the
feedback and edit the example came from, by id and clinician role only.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable

from ..errors import InputError
from ..paths import write_file_atomic
from ..records.patient import PatientContext

FORMATS = ("sft", "dpo")
EXCLUDING_FLAGS = ("unsafe", "hallucination")


def _prompt(rec: dict[str, Any], include_patient: bool) -> str:
    q = rec["question"].strip()
    if include_patient and rec.get("patient"):
        ctx = PatientContext.from_dict(rec["patient"])
        if not ctx.is_empty():
            return f"Patient: {ctx.describe()}\n\n{q}"
    return q


def _provenance(rec: dict[str, Any]) -> dict[str, Any]:
    return {"answer_id": rec["answer_id"], "created_at": rec["created_at"], "model_id": rec["model_id"],
            "model_sha256": rec["model_sha256"], "prompt_template_hash": rec["prompt_template_hash"],
            "pack_versions": rec["pack_versions"], "rubric": rec["rubric"], "category": rec["category"],
            "feedback": [{"id": f["id"], "clinician_role": f["clinician_role"], "rubric": f["rubric"]}
                         for f in rec["feedback"]],
            "edit_version": rec["edit"]["version"] if rec.get("edit") else None}


def _scores(rec: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"clinician_role": f["clinician_role"], "rubric": f["rubric"], "scores": f["scores"], "flags": f["flags"]}
            for f in rec["feedback"]]


def training_examples(records: Iterable[dict[str, Any]], fmt: str, *, threshold: int = 4,
                      include_patient: bool = False) -> list[dict[str, Any]]:
    """The examples of ``fmt`` (see the module docstring) from ``StudyStore.training_records`` output."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= 5:
        raise InputError("the SFT score threshold must be a whole number 1..5")
    out = []
    for rec in records:
        model_text = (rec.get("answer") or "").strip()
        if rec.get("blocked") or not model_text:
            continue
        prompt = _prompt(rec, include_patient)
        if fmt == "dpo":
            edit = rec.get("edit")
            chosen = (edit or {}).get("text") or ""
            if not chosen.strip() or chosen.strip() == model_text:
                continue
            out.append({"prompt": [{"role": "user", "content": prompt}],
                        "chosen": [{"role": "assistant", "content": chosen.strip()}],
                        "rejected": [{"role": "assistant", "content": model_text}],
                        "scores": _scores(rec), "provenance": _provenance(rec)})
        else:
            fb = rec["feedback"]
            if not fb or any(set(f["flags"]) & set(EXCLUDING_FLAGS) for f in fb):
                continue
            if not all(f["scores"] and min(f["scores"].values()) >= threshold for f in fb):
                continue
            out.append({"messages": [{"role": "user", "content": prompt},
                                     {"role": "assistant", "content": model_text}],
                        "scores": _scores(rec), "provenance": _provenance(rec)})
    return out


def write_jsonl(path: str | os.PathLike, examples: list[dict[str, Any]]) -> int:
    """Write one JSON object a line (UTF-8, 0600, atomically); returns the number of lines."""
    body = "".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in examples)
    write_file_atomic(path, body.encode("utf-8"))
    return len(examples)


def collection_training_records(coll: Any, keys: Any) -> list[dict[str, Any]]:
    """``StudyStore.training_records`` from a site collection: clear columns, and the sealed text unsealed with
    the site's keys (``sync.keys.SiteKeys``)."""
    def clear(rtype: str) -> list[dict[str, Any]]:
        return [json.loads(c) for _rid, _ws, c in coll.clear_rows(rtype)]

    def loads(v: Any, default: Any) -> Any:
        return default if v is None else (json.loads(v) if isinstance(v, str) else v)

    fb: dict[str, list[dict[str, Any]]] = {}
    for f in sorted(clear("feedback"), key=lambda r: r["created_at"]):
        fb.setdefault(f["answer_id"], []).append(
            {"id": f["id"], "clinician_role": f["clinician_role"], "rubric": f"{f['rubric_id']}@{f['rubric_version']}",
             "scores": loads(f["scores"], {}), "flags": loads(f["flags"], []), "created_at": f["created_at"]})
    latest: dict[str, dict[str, Any]] = {}
    for e in sorted(clear("edits"), key=lambda r: r["version"]):
        latest[e["answer_id"]] = e
    answers = {a["id"]: a for a in clear("answers")}
    out = []
    for aid in sorted((set(fb) | set(latest)) & set(answers)):
        a = answers[aid]
        sealed = coll.unseal(keys, "answers", aid) or {}
        e = latest.get(aid)
        edit = None
        if e is not None:
            edit = {"version": e["version"], "created_at": e["created_at"],
                    "text": (coll.unseal(keys, "edits", e["id"]) or {}).get("text_enc")}
        out.append({"answer_id": aid, "created_at": a["created_at"], "model_id": a["model_id"],
                    "model_sha256": a["model_sha256"], "prompt_template_hash": a["prompt_template_hash"],
                    "pack_versions": loads(a["pack_versions"], {}), "rubric": a["rubric"], "category": a["category"],
                    "blocked": bool(a["blocked"]), "question": sealed.get("question_enc") or "",
                    "patient": loads(sealed.get("patient_enc"), {}), "answer": sealed.get("answer_enc") or "",
                    "edit": edit, "feedback": fb.get(aid, [])})
    return out
