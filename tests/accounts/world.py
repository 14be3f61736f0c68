"""Two teams, each with a dataset, an experiment, a run and a model of the same names, every
role of team A, a predict-only token, a signed-on (JWT) user and a member of team B: the world
the access matrix asks its questions of.

Built once per module and committed (each test then runs in a transaction that is rolled
back), because the matrix has a thousand cells and each needs the same world.
"""

import time
import uuid
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.models import AuditEvent, Team
from accounts.services import api_token_create
from datasets.models import Dataset, DatasetVersion
from experiments.models import Experiment, Sweep, TrainingRun
from hpml_portal.storage import delete_quietly, save_content_addressed, sha256_file
from inference.models import PredictionLog
from models_registry.models import AliasEvent, ModelAlias, ModelVersion, RegisteredModel
from models_registry.services import model_alias_set
from tests.accounts.jwks_server import SigningKey, make_rsa_key
from tests.factories import (
    DatasetFactory,
    DatasetVersionFactory,
    ExperimentFactory,
    MembershipFactory,
    ModelVersionFactory,
    RegisteredModelFactory,
    SweepFactory,
    TeamFactory,
    TrainingRunFactory,
    UserFactory,
)

ROLES = ("viewer", "scientist", "approver", "predictor")
JWT_ISSUER, JWT_AUDIENCE = "https://id.example.org", "hpml-portal"
JWT_USERNAME = "jwt-scientist"


@dataclass
class TeamObjects:
    team: Team
    dataset: Dataset
    version: DatasetVersion
    experiment: Experiment
    run: TrainingRun
    sweep: Sweep
    model: RegisteredModel
    model_version: ModelVersion
    markers: list[str] = field(default_factory=list)


@dataclass
class World:
    a: TeamObjects
    b: TeamObjects
    other_model: RegisteredModel  # a second model of team A, outside the predict-only token
    users: dict  # identity -> user
    keys: dict  # identity -> API token key
    tokens: dict  # identity -> ApiToken
    jwt_key: SigningKey
    audit_event: AuditEvent
    stored: list[str]

    def api_client(self, identity: str) -> APIClient:
        client = APIClient()
        if identity == "jwt":
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.jwt_token()}")
        elif identity in self.keys:
            client.credentials(HTTP_AUTHORIZATION=f"Token {self.keys[identity]}")
        return client

    def jwt_token(self) -> str:
        now = int(time.time())
        claims = {
            "iss": JWT_ISSUER,
            "aud": JWT_AUDIENCE,
            "sub": JWT_USERNAME,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,  # every token new: each one is a first sign-on
            "hpml_roles": [f"{self.a.team.slug}:scientist"],
        }
        return self.jwt_key.sign(claims)


def _team_objects(slug: str, marker: str, model_file) -> TeamObjects:
    team = TeamFactory(slug=slug)
    dataset = DatasetFactory(team=team, name="digits", description=f"{marker}-dataset")
    version = DatasetVersionFactory(dataset=dataset, version=1, sha256=marker[:2] * 32)
    experiment = ExperimentFactory(team=team, name="baseline", description=f"{marker}-experiment")
    run = TrainingRunFactory(experiment=experiment, dataset_version=version)
    sweep = SweepFactory(
        experiment=experiment,
        dataset_version=version,
        model_name="digits",
        space={"epochs": [1, 2], "marker": f"{marker}-sweep"},
    )
    TrainingRunFactory(experiment=experiment, dataset_version=version, sweep=sweep)
    model = RegisteredModelFactory(team=team, name="digits", description=f"{marker}-model")
    model_version = ModelVersionFactory(model=model, version=1, **model_file)
    model_alias_set(model_version=model_version, alias="production")
    markers = [f"{marker}-dataset", f"{marker}-experiment", f"{marker}-model", version.sha256]
    markers.append(f"{marker}-sweep")
    return TeamObjects(
        team, dataset, version, experiment, run, sweep, model, model_version, markers
    )


def build(trained_model_file) -> World:
    from inference.loading import model_runtime_get

    path, result = trained_model_file
    stored = save_content_addressed(
        path, sha256=sha256_file(path), prefix="models/matrix", suffix=".keras"
    )
    model_file = {
        "artifact": stored.name,
        "sha256": stored.sha256,
        "size_bytes": stored.size,
        "signature": {
            "input_shape": result.input_shape,
            "input_dtype": "float32",
            "classes": result.classes,
        },
    }
    a = _team_objects("team-a", "alpha-marker", model_file)
    b = _team_objects("team-b", "bravo-marker", model_file)
    other = RegisteredModelFactory(team=a.team, name="other")
    other_version = ModelVersionFactory(model=other, version=1, **model_file)
    model_alias_set(model_version=other_version, alias="production")
    # Loaded now, while the model file is where it was stored: each test reads storage under
    # a prefix of its own, and the per-process model cache serves the rest.
    for version in (a.model_version, other_version):
        model_runtime_get(version)

    users = {"staff": UserFactory(username="matrix-staff", is_staff=True, is_superuser=True)}
    for role in ROLES:
        users[role] = UserFactory(username=f"matrix-{role}")
        MembershipFactory(team=a.team, user=users[role], role=role)
    users["other"] = UserFactory(username="matrix-other")
    MembershipFactory(team=b.team, user=users["other"], role="scientist")
    tokens, keys = {}, {}
    for name, user in users.items():
        tokens[name], keys[name] = api_token_create(user=user)
    tokens["token"], keys["token"] = api_token_create(
        user=users["scientist"], predict_models=[f"{a.team.slug}/digits"]
    )
    users["token"] = users["scientist"]
    return World(
        a=a,
        b=b,
        other_model=other,
        users=users,
        keys=keys,
        tokens=tokens,
        jwt_key=make_rsa_key("matrix-key"),
        audit_event=AuditEvent.objects.order_by("pk").first(),
        stored=[stored.name],
    )


def tear_down(world: World) -> None:
    teams = [world.a.team, world.b.team]
    PredictionLog.objects.filter(model_version__model__team__in=teams).delete()
    AliasEvent.objects.filter(model__team__in=teams).delete()
    ModelAlias.objects.filter(model__team__in=teams).delete()
    ModelVersion.objects.filter(model__team__in=teams).delete()
    RegisteredModel.objects.filter(team__in=teams).delete()
    TrainingRun.objects.filter(experiment__team__in=teams).delete()
    Sweep.objects.filter(experiment__team__in=teams).delete()
    Experiment.objects.filter(team__in=teams).delete()
    DatasetVersion.objects.filter(dataset__team__in=teams).delete()
    Dataset.objects.filter(team__in=teams).delete()
    AuditEvent.objects.all().delete()
    get_user_model().objects.filter(username__startswith="matrix-").delete()
    Team.objects.filter(pk__in=[t.pk for t in teams]).delete()
    for name in world.stored:
        delete_quietly(name)
