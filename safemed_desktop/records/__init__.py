"""Shared records: the vocabulary every layer speaks (answer, patient, signal, events, guard).

This package sits at the bottom: it imports only ``errors`` and ``jsonio``, never a feature
package (inference, signals, store, ...) nor the service above them.
"""

from .answer import AnswerRecord, ModelIdentity, new_id
from .events import DoneEvent, Event, Timings, TokenEvent
from .feedback import FeedbackDraft
from .guard import BLOCKING_SIGNALS, GUARD_ACTIONS, GuardDecision, guard_decision
from .patient import ImportedPatient, PatientContext
from .profile import ROLES
from .signal import LEVEL_RANK, LEVELS, SIGNAL_NAMES, Evidence, Signal, SignalContext, worst_level

__all__ = [
    "AnswerRecord", "ModelIdentity", "new_id", "DoneEvent", "Event", "Timings", "TokenEvent",
    "FeedbackDraft", "BLOCKING_SIGNALS", "GUARD_ACTIONS", "GuardDecision", "guard_decision", "ImportedPatient", "PatientContext", "ROLES",
    "LEVEL_RANK", "LEVELS", "SIGNAL_NAMES", "Evidence", "Signal", "SignalContext", "worst_level",
]
