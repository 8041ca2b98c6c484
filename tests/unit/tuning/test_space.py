"""Search spaces: every architecture declares one that its builder accepts, and a bad space,
metric or budget is a clear ConfigError before any trial starts."""

from __future__ import annotations

import pytest

from kiln.errors import ConfigError
from kiln.models.catalog import ARCHITECTURES
from kiln.models.spaces import SPACES
from kiln.tuning import SearchConfig, check_search
from kiln.tuning.config import check_fits_one_epoch, parse_duration
from kiln.tuning.space import parse_space_file


def search(**fields) -> SearchConfig:
    base = {"task": "forecasting", "models": ["lstm"], "data": "x", "trials": 4, "max_epochs": 4}
    return SearchConfig.model_validate({**base, **fields})


def space(models: dict, mode: str = "narrow") -> dict:
    return {"mode": mode, "models": models}


def test_every_architecture_declares_a_space_whose_defaults_are_valid():
    assert set(SPACES) == set(ARCHITECTURES)
    for name, declared in SPACES.items():
        assert "learning_rate" in declared and "batch_size" in declared, name
        for hp in declared.values():
            assert hp.minimum <= hp.default <= hp.maximum, (name, hp.name)


def test_each_models_first_trial_is_its_baseline_and_the_draw_is_seeded():
    config = search(models=["lstm", "stacked_gru"], trials=6, seed=3)
    plans = check_search(config)
    assert [p.model for p in plans] == ["lstm", "stacked_gru"] * 3
    assert plans[0].baseline and plans[1].baseline and not plans[2].baseline
    # The book's LSTM(16) and stacked GRU(32, recurrent_dropout 0.5, two layers).
    assert plans[0].params == {
        "units": 16,
        "recurrent_dropout": 0.0,
        "dropout": 0.0,
        "learning_rate": 1e-3,
        "batch_size": 256,
    }
    assert plans[1].params["stacked_layers"] == 2 and plans[1].params["units"] == 32
    assert [p.params for p in check_search(config)] == [p.params for p in plans]
    for plan in plans[2:]:
        assert 1e-4 <= plan.params["learning_rate"] <= 1e-2
        assert plan.params["batch_size"] in (32, 64, 128, 256)


def test_a_space_file_narrows_or_replaces_the_declared_space():
    narrowed = search(space=space({"lstm": {"units": {"values": [4, 8]}, "batch_size": 32}}))
    plans = check_search(narrowed)
    assert plans[0].params["units"] == 8  # the choice nearest the book's 16
    assert {p.params["units"] for p in plans} <= {4, 8}
    assert {p.params["batch_size"] for p in plans} == {32}
    assert len({p.params["learning_rate"] for p in plans}) > 1  # still searched
    replaced = search(
        space=space({"lstm": {"learning_rate": {"low": 1e-5, "high": 1e-2}}}, "replace")
    )
    plans = check_search(replaced)
    assert {p.params["units"] for p in plans} == {16} and len(
        {p.params["learning_rate"] for p in plans}
    ) > 1


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ({"lstm": {"unitz": 8}}, "lstm has no hyperparameter(s) unitz; it has units"),
        ({"lstm": {"learning_rate": {"low": 1e-2, "high": 1e-4}}}, "inverted range"),
        ({"lstm": {"dropout": {"low": 0.2, "high": 0.2}}}, "empty range"),
        ({"lstm": {"units": {"low": 4.2, "high": 4.8}}}, "no integer in"),
        ({"lstm": {"units": {"values": []}}}, "empty choice"),
        ({"lstm": {"dropout": {"low": 0.1, "high": 1.5}}}, "1.5 is out of bounds"),
        ({"lstm": {"learning_rate": {"low": 0, "high": 1e-2, "log": True}}}, "needs low > 0"),
        ({"gru": {"units": 8}}, "names gru, which this search does not train"),
    ],
)
def test_bad_spaces_are_refused_before_any_trial(models, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_search(search(space=space(models)))


def test_a_malformed_space_file_says_what_a_domain_looks_like():
    with pytest.raises(ConfigError, match="a domain is a number"):
        parse_space_file({"models": {"lstm": {"units": {"min": 1}}}}, "space.yaml")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_epochs": 1}, "no epoch to stop a trial at"),
        ({"trials": 1, "models": ["lstm", "dense"]}, "cannot cover 2 models"),
        ({"metric": "val_accuracy"}, "unknown metric 'val_accuracy' for forecasting"),
        ({"models": ["mini_xception"]}, "unknown model 'mini_xception' for task 'forecasting'"),
        ({"time_budget": "soon"}, "not a duration"),
        ({"time_budget": "0m"}, "is zero"),
    ],
)
def test_bad_budgets_and_names_are_refused(fields, message):
    with pytest.raises(ConfigError, match=message):
        check_search(search(**fields))


def test_a_global_batch_larger_than_the_training_split_cannot_fit_one_epoch():
    config = search(workers_per_trial=2)
    plans = check_search(config)
    with pytest.raises(ConfigError, match="not one step fits an epoch"):
        check_fits_one_epoch(config, plans, train_items=300)
    check_fits_one_epoch(config, plans, train_items=512)


def test_durations():
    assert parse_duration("30m") == 1800 and parse_duration("90s") == 90
    assert parse_duration("2h") == 7200 and parse_duration("45") == 45
