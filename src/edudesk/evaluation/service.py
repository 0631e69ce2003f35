"""What other areas use of the evaluation: the breakdown views and the hold-out scoring of an org's own questions.

The knowledge-base admin's quality report (``edudesk.kb.quality``) builds on these; areas reach each other only
through ``service`` (the import contracts in pyproject.toml), and evaluation itself stays free of the database.
"""

from __future__ import annotations

from edudesk.evaluation.breakdown import Outcome, report_dict, summary, sweep_thresholds
from edudesk.evaluation.holdout import FOLDS, LabelledQuery, holdout_key, score, similar_question_queries

__all__ = ["FOLDS", "LabelledQuery", "Outcome", "holdout_key", "report_dict", "score",
           "similar_question_queries", "summary", "sweep_thresholds"]
