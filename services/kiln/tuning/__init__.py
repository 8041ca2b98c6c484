"""Hyperparameter search on Ray Tune (`kiln tune`): each trial an ordinary Kiln training run.

TF-free and Ray-free at import: the space, the config and the trial plans are pydantic; the
Tuner driver (``kiln.tuning.driver``) loads Ray when a search runs.
"""

from kiln.tuning.config import SearchConfig, check_search
from kiln.tuning.plan import TrialPlan
from kiln.tuning.space import Choice, Hyperparameter, Range

__all__ = ["Choice", "Hyperparameter", "Range", "SearchConfig", "TrialPlan", "check_search"]
