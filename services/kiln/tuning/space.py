"""Search spaces: which hyperparameters a model has, what values they may take, and how a YAML
file narrows or replaces them. TF-free and Ray-free (pydantic only), so the CLI and the
operator can check a space before anything starts.

A domain is one of: a number (the hyperparameter is fixed), ``{low, high, log}`` (a range,
both ends included) or ``{values: [...]}`` (a choice). Each architecture declares its
hyperparameters in ``kiln.models.spaces`` with the book's value as the default.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kiln.config import format_validation_error
from kiln.errors import ConfigError


class Range(BaseModel):
    """Every value from ``low`` to ``high`` (both included), uniformly or log-uniformly."""

    model_config = ConfigDict(extra="forbid")
    low: float
    high: float
    log: bool = False


class Choice(BaseModel):
    """One of ``values``."""

    model_config = ConfigDict(extra="forbid")
    values: list[float]


Domain = float | Range | Choice
Target = Literal["model", "train", "data"]


class Hyperparameter(BaseModel):
    """One tunable knob of an architecture.

    ``target`` says where a value goes: a keyword argument of the model's builder, a field of
    the TrainConfig (``batch_size``) or of the data's LoadOptions (``image_size``, a square side).
    ``minimum``/``maximum`` are the values that make sense at all; ``search`` is the range a
    search explores unless a space file says otherwise.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    integer: bool
    default: float
    minimum: float
    maximum: float
    search: Range | Choice
    target: Target = "model"
    unit: str = ""
    description: str = ""

    def cast(self, value: float) -> float | int:
        return int(round(value)) if self.integer else float(value)


class SpaceFile(BaseModel):
    """A YAML search-space file: per model, the domains that replace the declared ones.

    ``mode: narrow`` (the default) keeps searching the hyperparameters the file does not name
    over their declared ranges; ``mode: replace`` fixes those at their defaults, so only the
    named ones are searched.
    """

    model_config = ConfigDict(extra="forbid")
    mode: Literal["narrow", "replace"] = "narrow"
    models: dict[str, dict[str, Domain]] = Field(default_factory=dict)


def parse_space_file(data: dict, source: str) -> SpaceFile:
    try:
        return SpaceFile.model_validate(data)
    except ValidationError as e:
        raise ConfigError(
            f"invalid search space {source}: {format_validation_error(e)}; a domain is a "
            "number, {low: L, high: H, log: true|false} or {values: [...]}"
        ) from e


def check_domain(hp: Hyperparameter, domain: Domain, where: str) -> Domain:
    """``domain`` if it is a non-empty, ordered set of valid values for ``hp``, else a
    ConfigError saying what was wrong and what is allowed."""
    allowed = f"{hp.name} takes {'integers' if hp.integer else 'numbers'} in [{hp.minimum:g}, {hp.maximum:g}]"
    points: list[float]
    if isinstance(domain, Range):
        if domain.low > domain.high:
            raise ConfigError(
                f"{where}: inverted range, low {domain.low:g} > high {domain.high:g}; "
                "give low <= high"
            )
        if domain.low == domain.high and not hp.integer:
            raise ConfigError(
                f"{where}: empty range, low == high == {domain.low:g}; give a single number "
                "to fix the value, or a wider range"
            )
        if hp.integer and math.floor(domain.high) < math.ceil(domain.low):
            raise ConfigError(
                f"{where}: empty range, no integer in [{domain.low:g}, {domain.high:g}]"
            )
        if domain.log and domain.low <= 0:
            raise ConfigError(f"{where}: a log range needs low > 0, got {domain.low:g}")
        points = [domain.low, domain.high]
    elif isinstance(domain, Choice):
        if not domain.values:
            raise ConfigError(f"{where}: empty choice; give at least one value")
        points = list(domain.values)
    else:
        points = [float(domain)]
    for point in points:
        if not hp.minimum <= point <= hp.maximum or (hp.integer and point != int(point)):
            raise ConfigError(f"{where}: {point:g} is out of bounds; {allowed}")
    return domain


def resolve(
    declared: dict[str, Hyperparameter],
    overrides: dict[str, Domain],
    mode: Literal["narrow", "replace"],
    model: str,
) -> dict[str, Domain]:
    """The domains a search of ``model`` explores: the declared ones with ``overrides``
    applied; unknown names and bad domains are ConfigErrors."""
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ConfigError(
            f"{model} has no hyperparameter(s) {', '.join(unknown)}; it has {', '.join(declared)}"
        )
    resolved: dict[str, Domain] = {}
    for name, hp in declared.items():
        domain = overrides.get(name, hp.search if mode == "narrow" else hp.default)
        resolved[name] = check_domain(hp, domain, f"{model}.{name}")
    return resolved


def baseline_value(hp: Hyperparameter, domain: Domain) -> float | int:
    """The value a search's first trial uses: the default where the domain holds it, else the
    domain's nearest value (a fixed number, the clipped default, the closest choice)."""
    if isinstance(domain, Range):
        return hp.cast(min(max(hp.default, domain.low), domain.high))
    if isinstance(domain, Choice):
        return hp.cast(min(domain.values, key=lambda value: abs(value - hp.default)))
    return hp.cast(domain)
