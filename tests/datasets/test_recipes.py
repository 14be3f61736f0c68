import json
from pathlib import Path

import numpy as np
import pytest

from datasets import formats
from datasets.formats import open_dataset, read_arrays
from datasets.recipes import (
    RecipeError,
    assign_split,
    recipe_apply,
    recipe_fit,
    recipe_parse,
    transform_rows,
)


def digits_like(tmp_path: Path, samples: int = 120, **extra) -> Path:
    """8x8 'images' with a constant border pixel, as the digits data has."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, size=(samples, 64)).astype(np.float32)
    x[:, 0] = 0.0
    path = tmp_path / "digits.npz"
    formats.write_npz(path, x=x, y=np.arange(samples) % 3, **extra)
    return path


def fit_and_apply(source: Path, spec: dict, out: Path) -> dict:
    with open_dataset(source, "npz") as reader:
        recipe = recipe_fit(reader, spec)
        recipe_apply(reader, recipe, out)
    return recipe


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"split": [0.5, 0.3, 0.3]}, "split fractions must add up to 1, not 1.1"),
        ({"reshape": [8, 7, 1]}, "cannot reshape 64 features into [8, 7, 1] (56)"),
        ({"reshape": [64, 0]}, "reshape dimensions must be positive, not [64, 0]"),
        ({"reshape": [8.0, 8]}, "reshape must be a list of integers"),
        ({"normalise": "minmax"}, "unknown recipe keys: 'normalise'; known: normalize,"),
        ({"split": [0.8, 0.1, 0.1], "seed": True}, "seed must be an integer, not true"),
        ({"split": [0.8, 0.1, 0.1], "seed": "7"}, 'seed must be an integer, not "7"'),
        ({"split": [0.8, 0.1, 0.1], "seed": 2**32}, "seed must be between 0 and 4294967295"),
        ({"split": [0.8, 0.1, 0.1], "stratify": "yes"}, "stratify must be true or false"),
        ({"split": ["0.8", 0.1, 0.1]}, "split must be three numbers"),
        ({"split": [0.9, 0.1]}, "split must be three numbers"),
        ({"split": [1.5, -0.5, 0]}, "split fractions must each be between 0 and 1"),
        ({"split": [0, 0.5, 0.5]}, "the train fraction of a split must be more than 0"),
        ({"normalize": "zscore"}, "normalize must be one of minmax, standard or null"),
        ({}, "the recipe does nothing: give normalize, split or reshape"),
        ({"reshape": [64]}, "the recipe does nothing"),
        ([], "a recipe is a JSON object, not list"),
    ],
)
def test_it_refuses_a_recipe_it_cannot_follow(spec, message):
    with pytest.raises(RecipeError) as caught:
        recipe_parse(spec, feature_shape=[64])
    assert message in str(caught.value)


def test_the_same_request_gives_the_same_canonical_recipe():
    first = recipe_parse({"split": [0.8, 0.1, 0.1], "normalize": "minmax"}, feature_shape=[64])
    second = recipe_parse(
        {"stratify": True, "seed": 0, "normalize": "minmax", "split": [0.8, 0.1, 0.1]},
        feature_shape=[64],
    )
    assert (
        first
        == second
        == {
            "normalize": "minmax",
            "reshape": None,
            "seed": 0,
            "split": [0.8, 0.1, 0.1],
            "stratify": True,
        }
    )
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    # Without a split, seed and stratify change nothing, so they do not change the recipe.
    assert recipe_parse({"reshape": [8, 8], "seed": 5}, feature_shape=[64])["seed"] == 0
    assert recipe_parse(first, feature_shape=[64]) == first


def test_a_stratified_split_keeps_each_class_in_the_same_proportions():
    labels = np.repeat(["a", "b", "c"], [100, 50, 200])
    split = assign_split(labels, [0.8, 0.1, 0.1], seed=3)
    assert split.dtype == np.int8
    for label, size in (("a", 100), ("b", 50), ("c", 200)):
        counts = np.bincount(split[labels == label], minlength=3)
        assert counts.tolist() == [size - 2 * round(size / 10), round(size / 10), round(size / 10)]


def test_a_split_is_the_same_for_the_same_seed():
    labels = np.arange(300) % 4
    for stratify in (True, False):
        first = assign_split(labels, [0.6, 0.2, 0.2], seed=11, stratify=stratify)
        again = assign_split(labels, [0.6, 0.2, 0.2], seed=11, stratify=stratify)
        other = assign_split(labels, [0.6, 0.2, 0.2], seed=12, stratify=stratify)
        assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_every_class_keeps_a_training_row():
    labels = np.array([0] * 50 + [1] + [2, 2])
    for stratify in (True, False):
        split = assign_split(labels, [0.1, 0.45, 0.45], seed=0, stratify=stratify)
        assert all(np.any(split[labels == c] == 0) for c in (0, 1, 2))


def test_a_constant_feature_keeps_a_scale_of_one(tmp_path):
    out = tmp_path / "out.npz"
    recipe = fit_and_apply(digits_like(tmp_path), {"normalize": "standard"}, out)
    normalize = recipe["normalize"]
    assert normalize["constant_features"] == [0] and normalize["scale"][0] == 1.0
    assert normalize["fitted_on"] == "all" and recipe["split"] is None
    x = read_arrays(out, "npz").x
    assert np.all(np.isfinite(x)) and np.all(x[:, 0] == 0)
    assert x[:, 1:].mean(axis=0) == pytest.approx(np.zeros(63), abs=1e-5)
    assert x[:, 1:].std(axis=0) == pytest.approx(np.ones(63), abs=1e-5)


def test_normalisation_is_fitted_on_training_rows_only(tmp_path):
    source = digits_like(tmp_path)
    spec = {"normalize": "minmax", "split": [0.5, 0.25, 0.25], "seed": 4}
    recipe = fit_and_apply(source, spec, tmp_path / "out.npz")
    raw, made = read_arrays(source, "npz"), read_arrays(tmp_path / "out.npz", "npz")
    train = raw.x[made.split == 0]
    assert recipe["normalize"]["fitted_on"] == "train"
    assert recipe["normalize"]["offset"] == train.min(axis=0).tolist()
    assert made.x[made.split == 0].max() == pytest.approx(1.0)
    assert recipe["split"] == {
        "source": "recipe",
        "fractions": [0.5, 0.25, 0.25],
        "seed": 4,
        "stratify": True,
        "sizes": {"train": 60, "validation": 30, "test": 30},
    }
    expected = assign_split(raw.y, [0.5, 0.25, 0.25], seed=4)
    assert np.array_equal(made.split, expected) and np.array_equal(made.y, raw.y)


def test_transform_rows_matches_what_apply_wrote(tmp_path, monkeypatch):
    monkeypatch.setattr("datasets.formats.base.CHUNK_BYTES", 64 * 8 * 25)  # 25 rows a chunk
    source = digits_like(tmp_path)
    spec = {"normalize": "standard", "split": [0.7, 0.15, 0.15], "reshape": [8, 8, 1]}
    recipe = fit_and_apply(source, spec, tmp_path / "out.npz")
    made = read_arrays(tmp_path / "out.npz", "npz")
    assert made.x.dtype == np.float32 and made.x.shape == (120, 8, 8, 1)
    assert recipe["input_shape"] == [64] and recipe["output_shape"] == [8, 8, 1]
    assert np.array_equal(made.x, transform_rows(read_arrays(source, "npz").x, recipe))


def test_applying_a_recipe_twice_gives_the_same_bytes(tmp_path):
    source = digits_like(tmp_path)
    spec = {"normalize": "minmax", "split": [0.8, 0.1, 0.1], "seed": 9}
    fit_and_apply(source, spec, tmp_path / "a.npz")
    fit_and_apply(source, spec, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_a_chained_recipe_keeps_the_parents_split(tmp_path):
    first = {"normalize": "minmax", "split": [0.6, 0.2, 0.2], "reshape": [8, 8]}
    fit_and_apply(digits_like(tmp_path), first, tmp_path / "first.npz")
    recipe = fit_and_apply(tmp_path / "first.npz", {"reshape": [64, 1]}, tmp_path / "second.npz")
    parent, child = (
        read_arrays(tmp_path / "first.npz", "npz"),
        read_arrays(tmp_path / "second.npz", "npz"),
    )
    assert recipe["input_shape"] == [8, 8] and recipe["output_shape"] == [64, 1]
    assert recipe["split"]["source"] == "parent" and recipe["normalize"] is None
    assert np.array_equal(child.split, parent.split)
    assert np.array_equal(child.x.reshape(120, 8, 8), parent.x)


def test_a_recipe_split_replaces_the_parents(tmp_path):
    source = digits_like(tmp_path, split=np.full(120, 2, np.int8))
    spec = {"split": [1, 0, 0], "normalize": "standard"}
    recipe = fit_and_apply(source, spec, tmp_path / "out.npz")
    assert recipe["split"]["sizes"] == {"train": 120, "validation": 0, "test": 0}
    assert read_arrays(tmp_path / "out.npz", "npz").split.tolist() == [0] * 120


def test_transform_rows_refuses_rows_of_another_shape(tmp_path):
    with open_dataset(digits_like(tmp_path), "npz") as reader:
        recipe = recipe_fit(reader, {"reshape": [8, 8]})
    with pytest.raises(RecipeError, match=r"rows shaped \[10\] do not fit a recipe for \[64\]"):
        transform_rows(np.zeros((2, 10)), recipe)


@pytest.mark.parametrize(
    ("rows", "fractions", "expected"),
    [
        (30, [0.7, 0.15, 0.15], (21, 5, 4)),
        (10, [0.8, 0.1, 0.1], (8, 1, 1)),
        (7, [0.5, 0.25, 0.25], (3, 2, 2)),
        (2, [0.1, 0.45, 0.45], (1, 0, 1)),  # one training row kept
    ],
)
def test_a_split_gives_each_part_its_share_in_whole_rows(rows, fractions, expected):
    split = assign_split(np.zeros(rows, int), fractions, seed=0)

    assert tuple(int((split == code).sum()) for code in range(3)) == expected
