"""The TF-free model catalog: names, tasks, layouts and the classification head."""

from __future__ import annotations

import pytest

from kiln.config import TASKS
from kiln.errors import ConfigError
from kiln.models.catalog import ARCHITECTURES, check, classification_head, names

BOOK_MODELS = {
    "segmentation": ["segmentation_convnet"],
    "classification": ["mini_xception", "residual_convnet", "mnist_convnet"],
    "forecasting": ["dense", "conv1d", "lstm", "lstm_dropout", "stacked_gru", "bidirectional_lstm"],
}


def test_catalog_lists_the_books_models_per_task():
    assert {task: names(task) for task in TASKS} == BOOK_MODELS
    assert all(arch.description and arch.layouts for arch in ARCHITECTURES.values())


def test_check_accepts_every_model_for_its_task_and_layouts():
    for name, arch in ARCHITECTURES.items():
        for layout in arch.layouts:
            assert check(arch.task, name, layout) is arch


def test_check_names_the_choices_when_refusing():
    with pytest.raises(
        ConfigError,
        match="unknown model 'lstm' for task 'segmentation'; expected one of segmentation_convnet",
    ):
        check("segmentation", "lstm")
    with pytest.raises(ConfigError, match="unknown task 'audio'"):
        check("audio", "lstm")
    with pytest.raises(ConfigError, match="does not fit the 'mnist' data layout; it fits pets"):
        check("segmentation", "segmentation_convnet", "mnist")


def test_every_row_names_its_builder_by_import_path():
    for name, arch in ARCHITECTURES.items():
        module, sep, function = arch.builder.partition(":")
        assert sep and module.startswith("kiln.models.") and function, name


def test_the_classification_head_follows_the_class_count():
    assert classification_head(2) == (1, "sigmoid", "binary_crossentropy")
    assert classification_head(5) == (5, "softmax", "sparse_categorical_crossentropy")
    with pytest.raises(ConfigError, match="at least 2 classes"):
        classification_head(1)
