"""Serving core: load, verify, cache, warm and call models. Plain Python + Keras: no Django.

Requests never go through ``model.predict()``, which costs tens of milliseconds per call
whatever the batch size. On the TensorFlow backend the model's forward pass is wrapped once in
a ``tf.function`` with a batch dimension of any size, so it is traced a single time, at load.
"""

import hashlib
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Each error names the HTTP status the API answers it with (read by the API's exception
# handler), so this module needs no web framework.


class InputError(ValueError):
    """The request's instances do not fit the model's signature; the message says how."""

    http_status = 400


class BatchTooLarge(InputError):
    """More instances than one request may carry."""

    http_status = 413


class ModelIntegrityError(RuntimeError):
    """A stored model file does not match the sha256 recorded at registration, or cannot be
    loaded safely."""

    http_status = 503


@dataclass(frozen=True)
class Signature:
    input_shape: tuple[int, ...]
    classes: tuple
    # The names of the flattened features, when the data had them (tables).
    feature_names: tuple[str, ...] | None = None

    @classmethod
    def from_dict(cls, data: dict) -> "Signature":
        names = data.get("feature_names")
        return cls(
            tuple(int(d) for d in data["input_shape"]),
            tuple(data["classes"]),
            tuple(names) if names else None,
        )

    @property
    def size(self) -> int:
        return math.prod(self.input_shape)


def parse_instances(instances: object, signature: Signature, *, max_batch: int) -> np.ndarray:
    """Turn the request's rows into a float32 batch shaped for the model.

    Each row is either flat (``size`` numbers) or nested in the model's input shape.
    """
    if not isinstance(instances, list) or not instances:
        raise InputError("instances must be a non-empty list of rows")
    if len(instances) > max_batch:
        raise BatchTooLarge(
            f"{len(instances)} instances is over the limit of {max_batch} per request"
        )
    try:
        batch = np.asarray(instances)
    except ValueError:  # ragged rows
        batch = None
    # JSON true/false would pass as 1/0 inside a numeric array: refuse them too.
    if batch is not None and batch.dtype.kind in "iuf" and not _has_bool(instances):
        if batch.shape[1:] == signature.input_shape:
            return _finite(batch.astype(np.float32))
        if batch.shape[1:] == (signature.size,):
            return _finite(batch.astype(np.float32).reshape((-1, *signature.input_shape)))
    # Slow path: find the first bad row and say what is wrong with it. When every row is
    # good on its own (flat and nested rows mixed), build the batch row by row.
    for index, row in enumerate(instances):
        _check_row(index, row, signature)
    rows = [np.asarray(row, dtype=np.float32).reshape(signature.input_shape) for row in instances]
    return _finite(np.stack(rows))


def _has_bool(values: list) -> bool:
    return any(type(v) is bool or (type(v) is list and _has_bool(v)) for v in values)


def _check_row(index: int, row: object, signature: Signature) -> None:
    expected = f"{signature.size} numbers" + (
        f" (or nested as {list(signature.input_shape)})" if len(signature.input_shape) > 1 else ""
    )
    if not isinstance(row, list):
        raise InputError(
            f"instance {index}: expected a list of {expected}, got {type(row).__name__}"
        )
    try:
        array = np.asarray(row)
    except ValueError:
        raise InputError(f"instance {index}: rows are ragged; expected {expected}") from None
    if array.dtype.kind not in "iuf" or _has_bool(row):
        bad = [v for v in _leaves(row) if isinstance(v, bool) or not isinstance(v, int | float)]
        if not bad:  # every leaf is a number: an integer too large for any machine type
            raise InputError(f"instance {index}: a number is out of range; expected {expected}")
        raise InputError(f"instance {index}: {bad[0]!r} is not a number; expected {expected}")
    if not (array.shape == signature.input_shape or array.shape == (signature.size,)):
        raise InputError(
            f"instance {index}: expected {expected}, got {array.size} values "
            f"with shape {list(array.shape)}"
        )


def _leaves(row):
    for value in row:
        if isinstance(value, list):
            yield from _leaves(value)
        else:
            yield value


def _finite(batch: np.ndarray) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(batch).reshape(len(batch), -1).all(axis=1))
    if len(bad):
        raise InputError(f"instance {int(bad[0])}: values must be finite numbers")
    return batch


class LoadedModel:
    """A Keras model ready to serve: compiled forward pass, warmed up."""

    def __init__(self, model, signature: Signature):
        outputs = model.output_shape[-1] if model.output_shape else None
        if outputs != len(signature.classes):
            raise ModelIntegrityError(
                f"the model gives {outputs} outputs, but its version names "
                f"{len(signature.classes)} classes"
            )
        self.model, self.signature = model, signature
        self._forward = _compile_forward(model, signature)
        self.predict_proba(np.zeros((1, *signature.input_shape), dtype=np.float32))  # warm up

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self._forward(batch))

    def predict(self, batch: np.ndarray) -> tuple[list, np.ndarray]:
        """Class labels and class probabilities for a batch."""
        probabilities = self.predict_proba(batch)
        classes = self.signature.classes
        return [classes[i] for i in probabilities.argmax(axis=1)], probabilities


def _compile_forward(model, signature: Signature) -> Callable[[np.ndarray], np.ndarray]:
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec([None, *signature.input_shape], tf.float32)
        forward = tf.function(lambda x: model(x, training=False), input_signature=[spec])
        # The traced graph itself: calling it skips the argument matching of every call
        # through the tf.function (about 0.15 ms of 0.4 for a small model).
        concrete = forward.get_concrete_function()
        return lambda batch: concrete(tf.convert_to_tensor(batch)).numpy()
    return lambda batch: keras.ops.convert_to_numpy(model(batch, training=False))


def limit_threads(count: int) -> bool:
    """Run TensorFlow's operations on ``count`` threads (0: its default, one per core); False
    when TensorFlow had started already, or is not the backend. A web process answers one
    request per worker: for small models, handing each operation to a pool of threads costs more
    than it gains, and the workers already share the cores."""
    import keras

    if count <= 0 or keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(count)
        tf.config.threading.set_inter_op_parallelism_threads(count)
    except RuntimeError:  # the runtime is up: too late in this process
        return False
    return True


def load_model_file(path: Path, *, sha256: str, signature: dict) -> LoadedModel:
    """Load a ``.keras`` file after checking its sha256; never unpickles anything."""
    import keras

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    if digest != sha256:
        raise ModelIntegrityError(f"model file sha256 {digest} does not match {sha256}")
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except (ValueError, TypeError, OSError) as exc:  # corrupt, or code safe_mode refuses
        raise ModelIntegrityError(
            f"the model file cannot be loaded safely ({type(exc).__name__}: {_first_line(exc)})"
        ) from exc
    return LoadedModel(model, Signature.from_dict(signature))


def _first_line(exc: Exception) -> str:
    """What went wrong in a few words: Keras's load errors go on to print the model's whole
    configuration, and may name this machine's temporary paths."""
    line = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
    line = re.sub(r"(/[^\s'\"]+)+", "<path>", line)
    return line[:200]


class ModelCache:
    """Models loaded in this process, least recently used dropped first."""

    def __init__(self, max_size: int = 8):
        self.max_size = max_size
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, key: str, load: Callable[[], LoadedModel]) -> LoadedModel:
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # one thread loads a model; the others wait for it
            with self._lock:
                if key in self._models:
                    return self._models[key]
            loaded = load()
            with self._lock:
                self._models[key] = loaded
                self._loading.pop(key, None)
                while len(self._models) > self.max_size:
                    self._models.popitem(last=False)
            return loaded

    def __contains__(self, key: str) -> bool:
        return key in self._models

    def __len__(self) -> int:
        return len(self._models)
