"""Rows for tests, made the way the services make them (or directly where a test needs a
state no service reaches quickly, such as a READY version without a worker)."""

import hashlib

import factory
from django.contrib.auth import get_user_model

from accounts.models import Membership, Team
from datasets.models import Dataset, DatasetVersion
from experiments.models import Experiment, Sweep, TrainingRun
from models_registry.models import ModelVersion, RegisteredModel


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"team-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-test-123")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = "scientist"


def member(team: Team, role: str, username: str | None = None):
    """A user with ``role`` in ``team``."""
    user = UserFactory(username=username) if username else UserFactory()
    MembershipFactory(team=team, user=user, role=role)
    return user


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"data-{n}")


class DatasetVersionFactory(factory.django.DjangoModelFactory):
    """A READY version whose file key is never read."""

    class Meta:
        model = DatasetVersion

    dataset = factory.SubFactory(DatasetFactory)
    version = factory.Sequence(lambda n: n + 1)
    status = DatasetVersion.Status.READY
    format = DatasetVersion.Format.NPZ
    sha256 = factory.LazyAttribute(lambda o: hashlib.sha256(f"{o.version}".encode()).hexdigest())
    file = factory.LazyAttribute(lambda o: f"datasets/{o.sha256}.npz")
    source = "upload:test.npz"
    schema = factory.LazyFunction(
        lambda: {
            "samples": 90,
            "feature_shape": [8],
            "dtype": "float32",
            "classes": [0, 1, 2],
            "num_classes": 3,
            "class_counts": {"0": 30, "1": 30, "2": 30},
        }
    )


class ExperimentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Experiment

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"exp-{n}")


class TrainingRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingRun

    experiment = factory.SubFactory(ExperimentFactory)
    dataset_version = factory.SubFactory(
        DatasetVersionFactory, dataset__team=factory.SelfAttribute("...experiment.team")
    )
    architecture = "mlp"
    hyperparameters = factory.LazyFunction(lambda: {"epochs": 2})
    model_name = "m"


class SweepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sweep

    experiment = factory.SubFactory(ExperimentFactory)
    dataset_version = factory.SubFactory(
        DatasetVersionFactory, dataset__team=factory.SelfAttribute("...experiment.team")
    )
    architecture = "mlp"
    model_name = "m"
    space = factory.LazyFunction(lambda: {"epochs": [1, 2]})


class RegisteredModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RegisteredModel

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"model-{n}")
    mlflow_name = factory.LazyAttribute(lambda o: f"{o.team.slug}.{o.name}")


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A version whose artifact key is never read (use the conftest's trained model to
    predict)."""

    class Meta:
        model = ModelVersion

    model = factory.SubFactory(RegisteredModelFactory)
    version = factory.Sequence(lambda n: n + 1)
    sha256 = factory.Sequence(lambda n: hashlib.sha256(f"mv{n}".encode()).hexdigest())
    artifact = factory.LazyAttribute(lambda o: f"models/{o.sha256}.keras")
    size_bytes = 1
    signature = factory.LazyFunction(
        lambda: {"input_shape": [4], "input_dtype": "float32", "classes": [0, 1]}
    )
    metrics = factory.LazyFunction(lambda: {"test_accuracy": 0.9})
