"""BentoML 1.4 serving the benchmark's Keras model, for ``benchmarks/predict.py``.

Loads the ``.keras`` file named by ``BENCH_MODEL_PATH`` and calls it through a compiled
``tf.function`` over ``[None, 64]`` float32 rows. It runs in its own virtualenv
(``benchmarks/.venv-bento``, made by ``predict.py``):

    BENCH_MODEL_PATH=digits.keras benchmarks/.venv-bento/bin/bentoml serve \
        bento_service:DigitsClassifier --working-dir benchmarks --port 3000

POST /predict ``{"instances": [[...64 floats...]]}`` answers ``{"predictions": [[...]]}``
(class probabilities per row).
"""

import os

import bentoml
import numpy as np

INPUT_WIDTH = 64


# No access log: the portal's gunicorn and the floor write none either.
@bentoml.service(workers=2, traffic={"timeout": 60}, logging={"access": {"enabled": False}})
class DigitsClassifier:
    def __init__(self) -> None:
        import keras
        import tensorflow as tf

        model = keras.saving.load_model(os.environ["BENCH_MODEL_PATH"], compile=False)
        self.forward = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, INPUT_WIDTH], tf.float32)],
        )
        self.forward(np.zeros((1, INPUT_WIDTH), dtype=np.float32))  # trace before serving

    @bentoml.api
    def predict(self, instances: list[list[float]]) -> dict:
        rows = np.asarray(instances, dtype=np.float32)
        return {"predictions": self.forward(rows).numpy().tolist()}
