"""The application layer: the one door through which the CLI and the GUI reach the core.

``SafeMedService`` is one object with one method per use case. Its methods are grouped by
subject in this package, one module per group, each a small class the service inherits:

- ``core``: load a model, ask, record an answer, submit feedback (with an edit), acknowledge an
  alert, open an answer with its provenance, list / verify / add models, diagnose the workstation,
  create / open / unlock the store, assess signals for a given text.

A new group (sync, evaluation, studies, conversations) is a module here with its class added to
the bases below; views import ``safemed_desktop.service`` only, never the core packages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .core import (CoreService, LoadedModel, OpenedAnswer, SafeMedError, SubmittedFeedback, acknowledged_all,
                   fmt_bytes, install_network_guard, summarize_logprobs, unified_diff, validate_question)

from .conversations import (LEVEL_TEXT, SIGNAL_TITLES, Conversation, ConversationService, finish_text, role_text,
                            signal_title)
from .studies import BlindedCase, ReviewQueue, StudiesService, Unblinded
from .reporting import ReportingService
from .profiles import ProfileService
from .sync import SyncService
from .evaluation import EvaluationService

if TYPE_CHECKING:  # types the views may name
    from .core import EngineProtocol, ModelManifest, ResolvedModel, Rubric, Store, VerifyReport


class SafeMedService(CoreService, ConversationService, StudiesService, ReportingService, ProfileService, SyncService,
                     EvaluationService):
    """The application layer: every use case of the CLI and the GUI (see the module docstring)."""


__all__ = ["SafeMedService", "LoadedModel", "OpenedAnswer", "SubmittedFeedback", "summarize_logprobs",
           "validate_question", "acknowledged_all", "install_network_guard", "fmt_bytes", "unified_diff",
           "SafeMedError", "Conversation", "SIGNAL_TITLES", "LEVEL_TEXT", "signal_title", "finish_text", "role_text",
           "BlindedCase", "ReviewQueue", "Unblinded"]
