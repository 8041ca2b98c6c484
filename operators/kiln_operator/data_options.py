"""A TrainingJob's ``dataOptions:`` block (``spec.TrainingJobSpec.data_options``): the data
flags of `kiln train`, typed here and in the CRD so a wrong value is refused at admission, and
rendered back into those flags."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from kiln.tasks import Layout

# A duration as `kiln train --window/--step/--horizon` read it (kiln.data.timeseries_time).
DURATION_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?\s*(s|sec|min|m|h|d|w)\s*$"
_Duration = Annotated[str, Field(pattern=DURATION_PATTERN)]
_Name = Annotated[str, Field(min_length=1)]


class DataOptions(BaseModel):
    """`kiln train`'s data flags (README, "Your own timeseries CSV"), camelCase in the CR as
    every spec block (``spec._Spec``)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    preset: Layout | None = None
    image_size: int | None = Field(default=None, ge=1, le=8192)
    time_column: _Name | None = None
    target: _Name | None = None
    features: list[_Name] | None = Field(default=None, min_length=1)
    window: _Duration | None = None
    step: _Duration | None = None
    horizon: _Duration | None = None
    gaps: Literal["split", "fill", "refuse"] | None = None
    max_fill: int | None = Field(default=None, ge=0)
    duplicates: Literal["refuse", "first", "last", "mean"] | None = None
    sentinels: list[float] | None = None

    def flags(self) -> list[str]:
        """The `kiln train` flags these options are, in the CLI's spelling."""
        given = self.model_dump(exclude_none=True)
        flags: list[str] = []
        for field, value in given.items():
            flag = "--" + field.replace("_", "-")
            if field == "features":
                flags += [flag, ",".join(value)]
            elif field == "sentinels":
                flags += [part for v in value for part in ("--sentinel", repr(float(v)))]
            else:
                flags += [flag, str(value)]
        return flags
