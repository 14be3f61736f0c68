import threading

import numpy as np
import pytest

from hpml_portal.storage import sha256_file
from inference.runtime import (
    BatchTooLarge,
    InputError,
    LoadedModel,
    ModelCache,
    ModelIntegrityError,
    Signature,
    load_model_file,
    parse_instances,
)

FLAT = Signature(input_shape=(4,), classes=("a", "b"))
FLAT_SIGNATURE = {"input_shape": [4], "classes": ["a", "b"]}
IMAGE = Signature(input_shape=(2, 3), classes=(0, 1, 2))


def parse(instances, signature=FLAT, max_batch=10):
    return parse_instances(instances, signature, max_batch=max_batch)


# --- parse_instances ---------------------------------------------------------------------------


def test_flat_rows_become_a_float32_batch():
    batch = parse([[1, 2, 3, 4], [0.5, -1, 2e3, 0]])

    assert batch.dtype == np.float32 and batch.shape == (2, 4)
    assert batch[1].tolist() == [0.5, -1.0, 2000.0, 0.0]


def test_flat_rows_are_reshaped_to_a_nested_input_shape():
    batch = parse([[1, 2, 3, 4, 5, 6]], IMAGE)

    assert batch.dtype == np.float32 and batch.shape == (1, 2, 3)
    assert batch[0].tolist() == [[1, 2, 3], [4, 5, 6]]


def test_nested_rows_are_taken_as_they_are():
    batch = parse([[[1, 2, 3], [4, 5, 6]], [[0, 0, 0], [1, 1, 1]]], IMAGE)

    assert batch.dtype == np.float32 and batch.shape == (2, 2, 3)
    assert batch[0].tolist() == [[1, 2, 3], [4, 5, 6]]


def test_flat_and_nested_rows_may_be_mixed_in_one_batch():
    batch = parse([[1, 2, 3, 4, 5, 6], [[0, 0, 0], [1, 1, 1]]], IMAGE)

    assert batch.dtype == np.float32 and batch.shape == (2, 2, 3)
    assert batch[1].tolist() == [[0, 0, 0], [1, 1, 1]]


def test_a_batch_of_exactly_the_limit_is_accepted():
    assert parse([[0, 0, 0, 0]] * 3, max_batch=3).shape == (3, 4)


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([], "instances must be a non-empty list of rows"),
        ({"a": [1, 2, 3, 4]}, "instances must be a non-empty list of rows"),
        ("1,2,3,4", "instances must be a non-empty list of rows"),
        (None, "instances must be a non-empty list of rows"),
        ([[1, 2, 3, 4], [1, 2, 3]], "instance 1: expected 4 numbers, got 3 values with shape [3]"),
        ([[1, 2, 3, 4, 5]], "instance 0: expected 4 numbers, got 5 values with shape [5]"),
        ([[]], "instance 0: expected 4 numbers, got 0 values with shape [0]"),
        ([[0, 0, 0, 0], [1, 2, "x", 4]], "instance 1: 'x' is not a number; expected 4 numbers"),
        ([[0, 0, 0, 0], [1, 2, "3", 4]], "instance 1: '3' is not a number"),
        ([[1, 2, 3, True]], "instance 0: True is not a number"),
        ([[0, 0, 0, 0], [False, 0, 0, 0]], "instance 1: False is not a number"),
        ([[1, 2, None, 4]], "instance 0: None is not a number"),
        ([[1, 2, {"v": 3}, 4]], "instance 0: {'v': 3} is not a number"),
        ([[0, 0, 0, 0], 7], "instance 1: expected a list of 4 numbers, got int"),
        ([[0, 0, 0, 0], {"x": 1}], "instance 1: expected a list of 4 numbers, got dict"),
        ([[1, 2], [1, 2, 3, 4]], "instance 0: expected 4 numbers, got 2 values"),
        ([[[1, 2], 3, 4, 5]], "instance 0: rows are ragged; expected 4 numbers"),
        ([[0, 0, 0, float("nan")]], "instance 0: values must be finite numbers"),
        ([[0, 0, 0, 0], [0, float("inf"), 0, 0]], "instance 1: values must be finite numbers"),
        ([[0, 0, 0, 2**64]], "instance 0: a number is out of range"),
        ([[0, 0, 0, 0], [0, 0, 0, -(10**400)]], "instance 1: a number is out of range"),
    ],
)
def test_it_rejects_rows_that_do_not_fit_and_names_the_instance(instances, message):
    with pytest.raises(InputError) as error:
        parse(instances)

    assert message in str(error.value)


@pytest.mark.parametrize(
    ("instances", "message"),
    [
        ([[[1, 2, 3], [4, 5]]], "instance 0: rows are ragged; expected 6 numbers (or nested as"),
        ([[[1, 2], [3, 4], [5, 6]]], "instance 0: expected 6 numbers (or nested as [2, 3]), got"),
    ],
)
def test_it_rejects_nested_rows_of_the_wrong_shape(instances, message):
    with pytest.raises(InputError) as error:
        parse(instances, IMAGE)

    assert message in str(error.value)


def test_a_batch_over_the_limit_is_too_large():
    with pytest.raises(BatchTooLarge, match="3 instances is over the limit of 2 per request"):
        parse([[0, 0, 0, 0]] * 3, max_batch=2)

    # Callers that only know InputError still refuse it.
    assert issubclass(BatchTooLarge, InputError)


# --- ModelCache --------------------------------------------------------------------------------


class Loads:
    """Counts how often each key is loaded; each load makes a distinct object."""

    def __init__(self):
        self.count: dict[str, int] = {}

    def __call__(self, key):
        def load():
            self.count[key] = self.count.get(key, 0) + 1
            return object()

        return load


def test_the_cache_loads_each_key_once():
    cache, loads = ModelCache(max_size=4), Loads()

    first = cache.get("a", loads("a"))
    again = cache.get("a", loads("a"))

    assert again is first and loads.count == {"a": 1} and len(cache) == 1


def test_the_cache_drops_the_least_recently_used_model():
    cache, loads = ModelCache(max_size=2), Loads()
    a = cache.get("a", loads("a"))
    cache.get("b", loads("b"))
    cache.get("a", loads("a"))  # "b" is now the least recently used

    cache.get("c", loads("c"))

    assert len(cache) == 2
    assert cache.get("a", loads("a")) is a
    cache.get("b", loads("b"))
    assert loads.count == {"a": 1, "b": 2, "c": 1}


def test_concurrent_requests_for_one_model_load_it_once():
    cache, loads, started = ModelCache(), Loads(), threading.Event()
    release = threading.Event()
    counting = loads("a")

    def slow_load():
        started.set()
        release.wait(5)
        return counting()

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("a", slow_load))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    started.wait(5)
    release.set()
    for thread in threads:
        thread.join(5)

    assert loads.count == {"a": 1}
    assert len(results) == 4 and all(r is results[0] for r in results)


def test_a_failed_load_caches_nothing_and_the_next_request_tries_again():
    cache, loads = ModelCache(), Loads()

    def broken():
        raise OSError("storage is down")

    with pytest.raises(OSError, match="storage is down"):
        cache.get("a", broken)

    assert len(cache) == 0
    cache.get("a", loads("a"))
    assert loads.count == {"a": 1}


# --- load_model_file ---------------------------------------------------------------------------


def digits_signature(result) -> dict:
    return {"input_shape": result.input_shape, "classes": result.classes}


def test_a_model_file_whose_sha256_differs_is_refused(trained_model_file):
    path, result = trained_model_file

    with pytest.raises(ModelIntegrityError, match="does not match " + "0" * 64):
        load_model_file(path, sha256="0" * 64, signature=digits_signature(result))


def test_a_real_model_file_loads_and_predicts_like_the_trained_model(trained_model_file):
    from sklearn.datasets import load_digits

    path, result = trained_model_file
    rows = load_digits().data[:20].astype(np.float32)

    loaded = load_model_file(path, sha256=sha256_file(path), signature=digits_signature(result))
    labels, probabilities = loaded.predict(rows)

    assert isinstance(loaded, LoadedModel)
    assert probabilities.shape == (20, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    expected = np.asarray(result.model(rows, training=False))
    np.testing.assert_allclose(probabilities, expected, rtol=1e-4, atol=1e-6)
    assert labels == [result.classes[i] for i in expected.argmax(axis=1)]


def test_a_model_file_with_python_code_is_never_loaded(tmp_path):
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = tmp_path / "code.keras"
    model.save(path)

    with pytest.raises(ModelIntegrityError, match="cannot be loaded safely.*Lambda"):
        load_model_file(path, sha256=sha256_file(path), signature=FLAT_SIGNATURE)


def test_a_model_whose_outputs_do_not_match_its_classes_is_not_served(trained_model_file):
    path, result = trained_model_file  # 10 outputs
    three_classes = {"input_shape": result.input_shape, "classes": [0, 1, 2]}

    with pytest.raises(ModelIntegrityError, match="gives 10 outputs, but its version names 3"):
        load_model_file(path, sha256=sha256_file(path), signature=three_classes)


def test_a_load_error_names_the_problem_without_paths_or_the_whole_config(tmp_path):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"PK\x03\x04 not really a zip file")

    with pytest.raises(ModelIntegrityError) as refused:
        load_model_file(path, sha256=sha256_file(path), signature=FLAT_SIGNATURE)

    message = str(refused.value)
    assert message.startswith("the model file cannot be loaded safely (")
    assert str(tmp_path) not in message and "\n" not in message and len(message) < 300


def test_web_processes_can_run_tensorflow_on_one_thread(tmp_path):
    import subprocess
    import sys

    script = (
        "from inference.runtime import limit_threads\n"
        "import tensorflow as tf\n"
        "print(limit_threads(1), tf.config.threading.get_intra_op_parallelism_threads())\n"
        "tf.constant(1.0) + 1\n"
        "print(limit_threads(2))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )

    # Applied before TensorFlow starts; refused (False, not an error) once it has.
    assert done.stdout.split() == ["True", "1", "False"]
