"""manage.py export_model: the stored file, checked, and its signature."""

import json
from io import StringIO

import keras
import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from hpml_portal.storage import sha256_file
from tests.factories import ModelVersionFactory

pytestmark = pytest.mark.django_db


def export(*args) -> list[str]:
    out = StringIO()
    call_command("export_model", *args, stdout=out)
    return out.getvalue().splitlines()


def test_a_version_is_written_with_its_signature_and_loads(model_version, tmp_path):
    from sklearn.datasets import load_digits

    folder = tmp_path / "out" / "digits-1"

    lines = export("digits", "1", "--out", str(folder))

    assert lines == [str(folder / "model.keras"), str(folder / "signature.json")]
    assert sha256_file(folder / "model.keras") == model_version.sha256
    described = json.loads((folder / "signature.json").read_text())
    assert described["model"] == "digits" and described["version"] == 1
    assert described["sha256"] == model_version.sha256
    assert described["input_shape"] == [64] and described["classes"] == list(range(10))
    loaded = keras.saving.load_model(folder / "model.keras", safe_mode=True, compile=False)
    assert np.asarray(loaded(load_digits().data[:2].astype(np.float32))).shape == (2, 10)


def test_nothing_is_overwritten_and_nothing_is_left_half_written(model_version, tmp_path):
    (tmp_path / "signature.json").write_text("mine")

    with pytest.raises(CommandError, match="already holds signature.json"):
        export("digits", "1", "--out", str(tmp_path))

    assert (tmp_path / "signature.json").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["signature.json"]


def test_a_stored_file_that_fails_its_sha256_is_not_exported(team, tmp_path):
    name = default_storage.save("models/tampered.keras", ContentFile(b"not the model"))
    ModelVersionFactory(model__team=team, model__name="tampered", version=1, artifact=name)

    with pytest.raises(CommandError, match="does not match its sha256"):
        export("tampered", "1", "--out", str(tmp_path))

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "1"], "no model named 'nope'"),
        (["digits", "9"], "has no version 9"),
    ],
)
def test_an_unknown_model_or_version_is_one_line(model_version, tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        export(*args, "--out", str(tmp_path / "x"))

    assert not (tmp_path / "x").exists()


def test_another_teams_model_reads_as_missing(model_version, tmp_path):
    from tests.factories import MembershipFactory, TeamFactory, UserFactory

    outsider = UserFactory(username="outsider")
    MembershipFactory(team=TeamFactory(), user=outsider, role="scientist")

    with pytest.raises(CommandError, match="no model named 'digits'"):
        export("digits", "1", "--out", str(tmp_path / "x"), "--user", "outsider")
