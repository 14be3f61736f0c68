"""Processing recipes: normalise, split and reshape a dataset into a new version. Pure NumPy.

A recipe is fitted once (``recipe_fit``: one chunked pass, returning everything needed to
repeat the transform) and then applied (``recipe_apply``) or replayed on new rows
(``transform_rows``), so inference can prepare inputs exactly as training saw them.
"""

import json
import math
from pathlib import Path

import numpy as np

from datasets.formats import DatasetReader, NpzWriter
from datasets.formats.scan import FiniteCheck, Moments, scan

KEYS = ("normalize", "reshape", "seed", "split", "stratify")
NORMALIZERS = ("minmax", "standard")
SPLIT_NAMES = ("train", "validation", "test")
TRAIN, VALIDATION, TEST = 0, 1, 2


class RecipeError(ValueError):
    """The recipe cannot be used; the message says why, for people."""


def recipe_parse(spec: dict, *, feature_shape: list[int]) -> dict:
    """The canonical form of a requested recipe: every key, defaults filled, in key order.

    Equal requests give equal dicts, so callers can hash ``json.dumps(canonical,
    sort_keys=True)`` to find a version already made by the same recipe.
    """
    if not isinstance(spec, dict):
        raise RecipeError(f"a recipe is a JSON object, not {type(spec).__name__}")
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise RecipeError(
            f"unknown recipe keys: {', '.join(map(repr, unknown))}; known: {', '.join(KEYS)}"
        )
    normalize = spec.get("normalize")
    if normalize is not None and normalize not in NORMALIZERS:
        raise RecipeError(f"normalize must be one of {', '.join(NORMALIZERS)} or null")
    split = _parse_split(spec.get("split"))
    reshape = _parse_reshape(spec.get("reshape"), list(feature_shape))
    if normalize is None and split is None and reshape is None:
        raise RecipeError("the recipe does nothing: give normalize, split or reshape")
    # null means "not given", as a form that leaves a field empty sends it.
    seed = _parse_seed(0 if spec.get("seed") is None else spec["seed"])
    stratify = True if spec.get("stratify") is None else spec["stratify"]
    if not isinstance(stratify, bool):
        raise RecipeError(f"stratify must be true or false, not {json.dumps(stratify)}")
    if split is None:
        seed, stratify = 0, True  # they change nothing then, so must not change the hash
    return {
        "normalize": normalize,
        "reshape": reshape,
        "seed": seed,
        "split": split,
        "stratify": stratify,
    }


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_split(split) -> list[float] | None:
    if split is None:
        return None
    if not (isinstance(split, list | tuple) and len(split) == 3 and all(map(_is_number, split))):
        raise RecipeError(
            "split must be three numbers: the train, validation and test fractions, "
            f"not {json.dumps(split, default=str)}"
        )
    fractions = [float(f) for f in split]
    if not all(0 <= f <= 1 for f in fractions):
        raise RecipeError(f"split fractions must each be between 0 and 1, not {fractions}")
    if abs(sum(fractions) - 1) > 1e-6:
        raise RecipeError(f"split fractions must add up to 1, not {sum(fractions):g}")
    if fractions[TRAIN] == 0:
        raise RecipeError("the train fraction of a split must be more than 0")
    return fractions


def _parse_seed(seed) -> int:
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise RecipeError(f"seed must be an integer, not {json.dumps(seed, default=str)}")
    if not 0 <= seed <= 2**32 - 1:
        raise RecipeError(f"seed must be between 0 and {2**32 - 1}, not {seed}")
    return seed


def _parse_reshape(reshape, feature_shape: list[int]) -> list[int] | None:
    if reshape is None:
        return None
    valid = isinstance(reshape, list | tuple) and reshape
    if not valid or any(not isinstance(d, int) or isinstance(d, bool) for d in reshape):
        raise RecipeError(f"reshape must be a list of integers, not {json.dumps(reshape)}")
    if any(d <= 0 for d in reshape):
        raise RecipeError(f"reshape dimensions must be positive, not {list(reshape)}")
    size, target = math.prod(feature_shape), math.prod(reshape)
    if size != target:
        raise RecipeError(f"cannot reshape {size} features into {list(reshape)} ({target})")
    # Reshaping to the shape it already has is no step at all.
    return None if list(reshape) == list(feature_shape) else list(reshape)


def assign_split(labels: np.ndarray, fractions, *, seed: int, stratify: bool = True) -> np.ndarray:
    """int8 codes per row (0 train, 1 validation, 2 test), the same for the same seed.

    Stratified, each class is split in the given proportions on its own; either way every
    class keeps at least one training row, so a model can learn every class it is tested on.
    """
    rng = np.random.default_rng(seed)
    _, codes_of = np.unique(labels, return_inverse=True)
    order = np.argsort(codes_of, kind="stable")
    groups = np.split(order, np.cumsum(np.bincount(codes_of))[:-1]) if stratify else [order]
    split = np.zeros(len(labels), np.int8)
    for rows in groups:
        rows = rng.permutation(rows)
        n_val, n_test = _held_out(len(rows), fractions)
        split[rows[:n_val]] = VALIDATION
        split[rows[n_val : n_val + n_test]] = TEST
    if not stratify:
        _keep_a_training_row(split, codes_of)
    return split


def _held_out(rows: int, fractions) -> tuple[int, int]:
    """Validation and test counts for a group, leaving it at least one training row.

    Each part gets the whole rows of its share, and the rows left over go to the parts with
    the largest remainders (training first on a tie), so the counts add up and stay as close
    to the fractions as whole rows allow: 0.7/0.15/0.15 of 30 rows is 21/5/4, not 20/5/5.
    """
    exact = [rows * fraction for fraction in fractions]
    counts = [math.floor(share + 1e-9) for share in exact]  # 30 * 0.7 is 20.999...
    leftover = rows - sum(counts)
    by_remainder = sorted(range(3), key=lambda part: (counts[part] - exact[part], part))
    for part in by_remainder[: max(leftover, 0)]:
        counts[part] += 1
    n_val, n_test = counts[VALIDATION], counts[TEST]
    excess = n_val + n_test - (rows - 1)
    if excess > 0:
        cut = min(excess, n_val)
        n_val, n_test = n_val - cut, n_test - (excess - cut)
    return n_val, n_test


def _keep_a_training_row(split: np.ndarray, codes_of: np.ndarray) -> None:
    trained = np.zeros(codes_of.max() + 1, bool)
    trained[codes_of[split == TRAIN]] = True
    for code in np.flatnonzero(~trained):
        split[np.flatnonzero(codes_of == code)[0]] = TRAIN


def recipe_fit(reader: DatasetReader, spec: dict) -> dict:
    """The full recipe to store: the canonical spec plus what was learnt from the data.

    Normalisation is fitted on training rows only whenever there is a split (the recipe's
    or the parent's), so validation and test figures never leak into it.
    """
    spec = recipe_parse(spec, feature_shape=list(reader.feature_shape))
    split, split_info = _fit_split(reader, spec)
    normalize = _fit_normalize(reader, spec["normalize"], split) if spec["normalize"] else None
    return {
        "spec": spec,
        "input_shape": list(reader.feature_shape),
        "output_shape": spec["reshape"] or list(reader.feature_shape),
        "normalize": normalize,
        "split": split_info,
        "reshape": spec["reshape"],
    }


def _fit_split(reader: DatasetReader, spec: dict) -> tuple[np.ndarray | None, dict | None]:
    if spec["split"] is not None:
        split = assign_split(
            reader.labels(), spec["split"], seed=spec["seed"], stratify=spec["stratify"]
        )
        info = {"source": "recipe", "fractions": spec["split"], "seed": spec["seed"]}
        info["stratify"] = spec["stratify"]
    elif (split := reader.split()) is not None:
        info = {"source": "parent", "fractions": None, "seed": None, "stratify": None}
    else:
        return None, None
    sizes = np.bincount(split, minlength=3)
    info["sizes"] = {name: int(n) for name, n in zip(SPLIT_NAMES, sizes, strict=True)}
    return split, info


class _TrainMoments:
    def __init__(self, features: int, split: np.ndarray | None):
        self.moments, self.split = Moments(features), split

    def update(self, x: np.ndarray, y: np.ndarray, start: int) -> None:
        flat = x.reshape(len(x), -1)
        if self.split is not None:
            flat = flat[self.split[start : start + len(x)] == TRAIN]
        self.moments.update(flat)

    def finish(self) -> None:
        pass


def _fit_normalize(reader: DatasetReader, method: str, split: np.ndarray | None) -> dict:
    fit = _TrainMoments(reader.features, split)
    scan(reader, [fit, FiniteCheck()])
    m = fit.moments
    offset, scale = (m.min, m.max - m.min) if method == "minmax" else (m.mean, m.std)
    # A constant feature would divide by zero; like scikit-learn, leave its scale at 1.
    constant = m.max == m.min
    scale = np.where(constant | (scale == 0), 1.0, scale)
    return {
        "method": method,
        "offset": offset.tolist(),
        "scale": scale.tolist(),
        "constant_features": np.flatnonzero(constant).tolist(),
        "fitted_on": "all" if split is None else "train",
    }


def transform_rows(x: np.ndarray, recipe: dict) -> np.ndarray:
    """Raw rows shaped (n, *input_shape) -> (n, *output_shape) float32, as the recipe says."""
    if list(x.shape[1:]) != list(recipe["input_shape"]):
        raise RecipeError(
            f"rows shaped {list(x.shape[1:])} do not fit a recipe for {recipe['input_shape']}"
        )
    flat = x.reshape(len(x), -1).astype(np.float64)
    normalize = recipe["normalize"]
    if normalize is not None:
        flat -= np.asarray(normalize["offset"])
        flat /= np.asarray(normalize["scale"])
    return flat.astype(np.float32).reshape(len(x), *recipe["output_shape"])


def recipe_apply(reader: DatasetReader, recipe: dict, out_path: Path) -> None:
    """Write the processed dataset (x float32, y, split) as a deterministic .npz, chunk by chunk."""
    split = _split_for(reader, recipe)
    shape = (reader.samples, *recipe["output_shape"])
    with NpzWriter(Path(out_path)) as out:
        with out.stream("x", shape=shape, dtype=np.float32) as x_out:
            for x, _ in reader.batches():
                x_out.append(transform_rows(x, recipe))
        out.write("y", reader.labels())
        if split is not None:
            out.write("split", split)


def _split_for(reader: DatasetReader, recipe: dict) -> np.ndarray | None:
    info = recipe["split"]
    if info is None:
        return None
    if info["source"] == "parent":
        split = reader.split()
    else:
        split = assign_split(
            reader.labels(), info["fractions"], seed=info["seed"], stratify=info["stratify"]
        )
    sizes = np.bincount(split, minlength=3).tolist() if split is not None else None
    if sizes != [info["sizes"][name] for name in SPLIT_NAMES]:
        raise RecipeError("the data no longer splits as when the recipe was fitted")
    return split
