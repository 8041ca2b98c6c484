"""The Jena climate loader: the book's chronological splits, windows, statistics and baseline."""

from __future__ import annotations

import numpy as np
import pytest

from kiln.data.info import LoadOptions
from kiln.data.jena_csv import JENA_COLUMNS
from kiln.data.loaders import load_splits
from kiln.data.synthetic_jena import jena_table, write_jena_csv
from kiln.errors import ConfigError, DataError

T = JENA_COLUMNS.index("T (degC)")
# Short windows keep the test data small: 24 hourly samples, target 24 h after the last one.
SHORT = LoadOptions(sequence_length=24, sampling_rate=6)


def raw_values(path):
    return np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(1, 15), dtype=np.float64)


def elements(dataset):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset.batch(4096)], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


@pytest.fixture(scope="module")
def jena(jena_dir):
    return load_splits("forecasting", jena_dir, SHORT)


def test_splits_chronologically_with_the_books_window_counts(jena, jena_dir):
    info = jena.info
    rows = len(raw_values(jena_dir / "jena_climate_2009_2016.csv"))
    train_rows, val_rows = int(0.5 * rows), int(0.25 * rows)
    delay = 6 * (24 + 24 - 1)  # The book's delay formula, with sequence_length 24.
    span = 6 * 23
    assert info.delay_rows == delay and info.row_interval_minutes == 10.0
    expected = {
        "train": train_rows - span,
        "validation": val_rows - span,
        "test": rows - delay - (train_rows + val_rows) - span,
    }
    assert info.split_counts.model_dump() == expected
    for name, count in expected.items():
        x, y = elements(getattr(jena, name))
        assert len(x) == count
        assert x.shape[1:] == (24, 14) and x.dtype == np.float32
        assert y.shape == (count,) and y.dtype == np.float32


def test_normalizes_with_training_rows_only_and_keeps_raw_celsius_targets(jena, jena_dir):
    raw = raw_values(jena_dir / "jena_climate_2009_2016.csv")
    train_rows = int(0.5 * len(raw))
    np.testing.assert_allclose(jena.info.mean, raw[:train_rows].mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(jena.info.std, raw[:train_rows].std(axis=0), rtol=1e-4)
    assert not np.allclose(jena.info.mean, raw.mean(axis=0), rtol=1e-3)
    # The first validation window starts at the first validation row; its target is raw °C
    # at that row + delay, and its inputs de-normalize to the raw rows it sampled.
    x, y = next(iter(jena.validation))
    start, delay = train_rows, jena.info.delay_rows
    assert y.numpy() == pytest.approx(raw[start + delay, T], abs=1e-3)
    restored = x.numpy() * np.asarray(jena.info.std) + np.asarray(jena.info.mean)
    np.testing.assert_allclose(restored, raw[start : start + 24 * 6 : 6], atol=1e-2)


def test_statistics_do_not_move_when_validation_or_test_rows_change(tmp_path, jena):
    values = jena_table(21, seed=4)
    values[len(values) // 2 :] += 50.0  # Wildly different held-out rows.
    write_jena_csv(tmp_path / "jena.csv", values)
    info = load_splits("forecasting", tmp_path, SHORT).info
    np.testing.assert_allclose(info.mean, jena.info.mean, rtol=1e-4)
    np.testing.assert_allclose(info.std, jena.info.std, rtol=1e-3)


def test_naive_baseline_matches_the_books_evaluation_on_the_test_windows(jena):
    x, y = elements(jena.test)
    now = x[:, -1, T] * jena.info.std[T] + jena.info.mean[T]
    assert jena.info.naive_baseline_mae == pytest.approx(np.mean(np.abs(now - y)), rel=1e-4)


def test_naive_baseline_equals_a_hand_computed_value_on_a_tiny_csv(tmp_path):
    rows = 60
    values = np.random.default_rng(0).normal(size=(rows, 14))
    values[:, T] = np.arange(rows) % 5  # 0 1 2 3 4 0 1 2 3 4 ...
    write_jena_csv(tmp_path / "tiny.csv", values)
    # Windows of 3 samples every 2 rows (span 4), target 20 minutes (2 rows) after the last.
    options = LoadOptions(sequence_length=3, sampling_rate=2, horizon_hours=1 / 3)
    info = load_splits("forecasting", tmp_path, options).info
    # 30 train rows, 15 validation, test windows start at rows 45..49 (end = 60 - delay 6 = 54).
    # "Now" is T at rows 49..53 = 4,0,1,2,3; the targets are rows 51..55 = 1,2,3,4,0.
    # |1-4| + |2-0| + |3-1| + |4-2| + |0-3| = 12, over 5 windows.
    assert info.split_counts.test == 5
    assert info.naive_baseline_mae == pytest.approx(12 / 5)


def test_synthetic_signal_is_predictable_beyond_persistence(jena):
    """A least-squares fit on the whole window beats "same as now" by far more than 20 %: the
    synthetic CSV has a learnable 24-hour-ahead signal (pressure leads temperature)."""
    x_train, y_train = elements(jena.train)
    x_test, y_test = elements(jena.test)

    def features(x):
        return np.concatenate([x.reshape(len(x), -1), np.ones((len(x), 1))], axis=1)

    weights, *_ = np.linalg.lstsq(features(x_train), y_train, rcond=None)
    fitted = np.mean(np.abs(features(x_test) @ weights - y_test))
    assert fitted < 0.8 * jena.info.naive_baseline_mae


def test_the_books_lstm_beats_the_naive_baseline_by_more_than_a_fifth(jena):
    """The claim the synthetic CSV exists for, checked with the real model and the loader's own
    splits: LSTM(16), six short epochs, MAE on the test windows in °C."""
    import keras

    from kiln.models.build import build_model

    keras.utils.set_random_seed(0)
    model = build_model("lstm", jena.info)
    model.fit(jena.train.batch(16), epochs=6, verbose=0, shuffle=False)  # Already shuffled.
    mae = model.evaluate(jena.test.batch(512), verbose=0, return_dict=True)["mae"]
    assert mae < 0.8 * jena.info.naive_baseline_mae


CSV_HEADER = '"Date Time",' + ",".join(f'"{c}"' for c in JENA_COLUMNS)
ROW = "01.01.2009 00:10:00," + ",".join(["1.0"] * 14)


def write_text(tmp_path, lines):
    (tmp_path / "jena_climate_2009_2016.csv").write_text("\n".join(lines) + "\n")
    return tmp_path


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            CSV_HEADER.replace('"T (degC)"', '"Temp"'),
            r"missing \['T \(degC\)'\]; unexpected \['Temp'\]",
        ),
        (CSV_HEADER.replace('"Date Time"', '"When"'), "first column is 'When'"),
        (CSV_HEADER.replace('"p (mbar)","T (degC)"', '"T (degC)","p (mbar)"'), "out of order"),
    ],
)
def test_refuses_a_wrong_header_saying_what_differs(tmp_path, header, message):
    with pytest.raises(DataError, match=message):
        load_splits("forecasting", write_text(tmp_path, [header, ROW, ROW]), SHORT)


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        (ROW + ",7", "line 4: 16 fields; expected 15"),
        (ROW[:-3] + "n/a", r"line 4: 'wd \(deg\)' is 'n/a', not a number"),
        (ROW.replace("01.01.2009", "2009-01-01"), "line 4: timestamp '2009-01-01 00:10:00'"),
    ],
)
def test_refuses_a_malformed_row_naming_its_line(tmp_path, bad_row, message):
    with pytest.raises(DataError, match=message):
        load_splits("forecasting", write_text(tmp_path, [CSV_HEADER, ROW, ROW, bad_row, ROW]))


def test_cleans_wind_sentinels_with_a_warning_and_refuses_them_elsewhere(tmp_path, jena):
    values = jena_table(21, seed=4)
    wind = JENA_COLUMNS.index("wv (m/s)")
    gust = JENA_COLUMNS.index("max. wv (m/s)")
    values[[10, 20, 3000], wind] = -9999.0
    values[5, gust] = -9999.0
    write_jena_csv(tmp_path / "a" / "jena.csv", values)
    info = load_splits("forecasting", tmp_path / "a", SHORT).info
    assert any("replaced 3 sentinel -9999" in w and "'wv (m/s)'" in w for w in info.warnings)
    assert any("replaced 1 sentinel" in w and "max. wv" in w for w in info.warnings)
    assert info.mean[wind] > 0  # The sentinel did not drag the statistics to -9999.
    values[7, T] = -9999.0
    write_jena_csv(tmp_path / "b" / "jena.csv", values)
    with pytest.raises(DataError, match=r"line 9: sentinel -9999 in 'T \(degC\)'"):
        load_splits("forecasting", tmp_path / "b", SHORT)


def test_reads_a_csv_saved_with_a_byte_order_mark(tmp_path, jena_dir, jena):
    text = (jena_dir / "jena_climate_2009_2016.csv").read_text()
    (tmp_path / "bom.csv").write_text("\ufeff" + text.replace("\n", "\r\n"), newline="")
    info = load_splits("forecasting", tmp_path, SHORT).info
    assert info.split_counts == jena.info.split_counts and info.mean == jena.info.mean


def test_refuses_too_few_rows_and_inconsistent_options(tmp_path, jena_dir):
    write_jena_csv(tmp_path / "jena.csv", jena_table(3, seed=0))
    with pytest.raises(
        DataError, match=r"too few for windows of 120 samples.*about 6\d\d\d rows \(4\d days\)"
    ):
        load_splits("forecasting", tmp_path)
    with pytest.raises(ConfigError, match="leave no rows for the test split"):
        load_splits(
            "forecasting", jena_dir, LoadOptions(train_fraction=0.8, validation_fraction=0.2)
        )
    with pytest.raises(ConfigError, match="target column 'T'"):
        load_splits("forecasting", jena_dir, LoadOptions(target_column="T"))
