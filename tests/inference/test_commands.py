import io
import json

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from inference.models import PredictionLog
from models_registry.services import model_alias_set


def predict(*args) -> dict:
    """The command's answer, from this process: no worker is asked (--worker-wait 0)."""
    out = io.StringIO()
    call_command("predict", "digits", *args, "--worker-wait", "0", stdout=out)
    return json.loads(out.getvalue())


def write(tmp_path, content, name="rows.json"):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


def assert_no_success_logged():
    assert not PredictionLog.objects.filter(outcome=PredictionLog.Outcome.OK).exists()


def test_it_prints_the_predictions_as_json(tmp_path, production, digits):
    x, y = digits
    path = write(tmp_path, {"instances": x[:10].tolist()})

    result = predict("--input", path)

    assert result["model"] == "digits" and result["version"] == 1
    assert len(result["predictions"]) == 10 and len(result["probabilities"]) == 10
    assert sum(p == label for p, label in zip(result["predictions"], y[:10], strict=True)) >= 8
    assert PredictionLog.objects.get().outcome == PredictionLog.Outcome.OK


@pytest.mark.parametrize("wrap", [lambda rows: rows, lambda rows: {"inputs": rows}])
def test_it_takes_a_bare_list_or_inputs(wrap, tmp_path, production, digits):
    path = write(tmp_path, wrap(digits[0][:2].tolist()))

    assert len(predict("--input", path)["predictions"]) == 2


def test_it_reads_stdin(monkeypatch, production, digits):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(digits[0][:3].tolist())))

    assert len(predict("--stdin")["predictions"]) == 3


def test_a_version_or_an_alias_is_chosen(tmp_path, production, second_version, digits):
    model_alias_set(model_version=second_version, alias="staging")
    path = write(tmp_path, digits[0][:1].tolist())

    assert predict("--input", path, "--version", "2")["version"] == 2
    assert predict("--input", path, "--alias", "staging")["version"] == 2
    assert predict("--input", path)["version"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{instances: [[1, 2]", "the input is not valid JSON: "),
        ("", "the input is not valid JSON: "),
        ({"instances": [[0] * 63]}, "instance 0: expected 64 numbers, got 63 values"),
        ({"instances": [[0] * 64, [0] * 63 + ["x"]]}, "instance 1: 'x' is not a number"),
        ({"instances": []}, "instances must be a non-empty list of rows"),
        ({"rows": [[0] * 64]}, 'send one of {"instances": [...]}'),
        ("7", "instances must be a non-empty list of rows"),
        ({"dataframe_split": {"columns": ["a"], "data": [[1]]}}, "1 columns, but the model"),
    ],
)
def test_bad_input_fails_with_a_one_line_reason(content, message, tmp_path, production):
    path = write(tmp_path, content)

    with pytest.raises(CommandError) as failure:
        predict("--input", path)

    assert message in str(failure.value) and "\n" not in str(failure.value)
    assert_no_success_logged()


def test_a_file_that_is_not_text_fails_with_a_clear_reason(tmp_path, production):
    path = tmp_path / "rows.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")

    with pytest.raises(CommandError, match="the input is not valid JSON"):
        predict("--input", str(path))


def test_a_missing_file_fails_with_a_clear_reason(tmp_path, production):
    missing = tmp_path / "nowhere.json"

    with pytest.raises(CommandError, match=f"cannot read {missing}: No such file or directory"):
        predict("--input", str(missing))

    assert not PredictionLog.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--version", "4"], "model 'digits' has no version 4"),
        (["--alias", "canary"], "model 'digits' has no 'canary' alias"),
    ],
)
def test_an_unknown_version_or_alias_fails(args, message, tmp_path, production):
    path = write(tmp_path, [[0] * 64])

    with pytest.raises(CommandError, match=message):
        predict("--input", path, *args)

    assert not PredictionLog.objects.exists()


def test_an_unknown_model_fails(tmp_path, production):
    path = write(tmp_path, [[0] * 64])

    with pytest.raises(CommandError, match="there is no model named 'nope'"):
        call_command("predict", "nope", "--input", path, stdout=io.StringIO())


def test_a_model_without_production_fails(tmp_path, model_version):
    path = write(tmp_path, [[0] * 64])

    with pytest.raises(CommandError, match="has no 'production' alias: promote a version"):
        predict("--input", path)


def test_a_stored_model_that_was_altered_fails_with_a_clear_reason(tmp_path, production):
    default_storage.delete(production.artifact.name)
    default_storage.save(production.artifact.name, io.BytesIO(b"not the model"))
    path = write(tmp_path, [[0] * 64])

    with pytest.raises(CommandError, match="does not match"):
        predict("--input", path)

    assert not PredictionLog.objects.exists()


def test_input_and_stdin_are_exclusive(tmp_path, production):
    with pytest.raises(CommandError, match="not allowed with argument"):
        predict("--input", write(tmp_path, [[0] * 64]), "--stdin")


@pytest.mark.e2e  # a process of its own, on the bucket's root as this one
@pytest.mark.django_db(transaction=True)
def test_the_command_prints_no_tensorflow_start_up_lines(tmp_path, production, digits, worker_env):
    import subprocess
    import sys
    from pathlib import Path

    path = write(tmp_path, {"instances": digits[0][:3].tolist()})
    done = subprocess.run(
        [sys.executable, "manage.py", "predict", "digits", "--input", path],
        cwd=Path(__file__).resolve().parents[2],
        env=worker_env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["predictions"]) == 3
    assert done.stderr == ""  # no oneDNN, CUDA or absl lines
