"""The trials of a search, drawn up front: which model and hyperparameters each one trains.

Drawing every trial before Ray starts makes a search reproducible from its seed, lets several
models share one search (each model has its own space) and puts each model's baseline first:
its defaults (see ``space.baseline_value``), the figure the other trials have to beat.
Trials take the models in turn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel

from kiln.tuning.space import Choice, Domain, Hyperparameter, Range, baseline_value


class TrialPlan(BaseModel):
    """One trial: its index, model and hyperparameter values."""

    index: int
    model: str
    params: dict[str, float | int]
    baseline: bool = False

    @property
    def name(self) -> str:
        return f"t{self.index:03d}-{self.model}"


def _draw(hp: Hyperparameter, domain: Domain, rng: np.random.Generator) -> float | int:
    if isinstance(domain, Choice):
        return hp.cast(domain.values[int(rng.integers(len(domain.values)))])
    if isinstance(domain, Range):
        if domain.log:
            value = math.exp(rng.uniform(math.log(domain.low), math.log(domain.high)))
        elif hp.integer:
            return int(rng.integers(math.ceil(domain.low), math.floor(domain.high) + 1))
        else:
            value = rng.uniform(domain.low, domain.high)
        # Three significant digits: the table stays readable and nothing measurable is lost.
        return hp.cast(float(f"{value:.3g}"))
    return hp.cast(domain)


def draw_trials(
    spaces: dict[str, tuple[dict[str, Hyperparameter], dict[str, Domain]]],
    trials: int,
    seed: int,
) -> list[TrialPlan]:
    """``trials`` plans over ``spaces`` (model -> (declared, resolved domains)); each model's
    first trial is its baseline."""
    rng = np.random.default_rng(seed)
    models = list(spaces)
    plans: list[TrialPlan] = []
    for index in range(trials):
        model = models[index % len(models)]
        declared, domains = spaces[model]
        baseline = index < len(models)
        params: dict[str, Any] = {
            name: baseline_value(declared[name], domain)
            if baseline
            else _draw(declared[name], domain, rng)
            for name, domain in domains.items()
        }
        plans.append(TrialPlan(index=index, model=model, params=params, baseline=baseline))
    return plans
