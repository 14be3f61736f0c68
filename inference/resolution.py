"""Which version serves a request, kept in this process's memory for SERVE_CACHE_SECONDS.

The first request of a caller for a model (per token, team, alias or version) reads the
database: the model among the caller's teams, the caller's role there, the version. Later ones
in that delay reuse the answer. When an alias has moved to a version this process has not
loaded yet, the version it named before keeps answering while the new one loads in the
background; the switch comes when it is loaded (or has failed to load, which its requests
then answer), so no request waits for a model load after a promotion.
"""

import threading
from dataclasses import dataclass, field

from django.conf import settings

from accounts import access
from accounts.access import Capability
from accounts.models import ApiToken
from accounts.selectors import AmbiguousName
from hpml_portal.ttl_cache import TTLCache
from models_registry.models import ModelVersion
from models_registry.selectors import ModelNotFound, model_version_resolve, registered_model_get

from .loading import is_loaded, load_in_background

_resolved = TTLCache("resolutions")


@dataclass
class _Choice:
    version: ModelVersion
    pending: ModelVersion | None = None  # where the alias points now, loading
    ready: threading.Event = field(default_factory=threading.Event)

    def current(self) -> ModelVersion:
        if self.pending is not None and self.ready.is_set():
            self.version, self.pending = self.pending, None
        return self.version


def resolve_cached(model_name, version, alias, team, user, token, served=None) -> ModelVersion:
    """:func:`resolve`, answered from memory when it was asked in the last few seconds."""
    limited = token.pk if token is not None and token.predict_only else None
    key = (getattr(user, "pk", None), limited, model_name, version, alias, team)
    choice, fresh = _resolved.lookup(key)
    if not fresh:
        found = resolve(model_name, version, alias, team, user, token, served)
        choice = _next_choice(choice, found, by_alias=version is None)
        _resolved.put(key, choice, settings.SERVE_CACHE_SECONDS)
    return choice.current()


def _next_choice(previous: _Choice | None, found: ModelVersion, *, by_alias: bool) -> _Choice:
    if previous is None or not by_alias or is_loaded(found):
        return _Choice(found)
    if previous.current().pk == found.pk:
        return _Choice(found)
    if previous.pending is not None and previous.pending.pk == found.pk:
        return previous  # still loading
    choice = _Choice(previous.current(), pending=found)
    load_in_background(found, choice.ready.set)
    return choice


def resolve(model_name, version, alias, team, user, token, served=None) -> ModelVersion:
    """The version a request names, once the caller (and its token) may predict with it.
    ``served`` (``logbook.Served``) learns the model's team as soon as the model is found."""
    if token is not None and token.predict_only:
        team = _team_the_token_allows(token, model_name, team)
    model = registered_model_get(user=user, name=model_name, team=team)
    if served is not None:
        served.team_key = model.team_id
    access.require(user, model.team, Capability.PREDICT, "predict")
    return model_version_resolve(model, version=version, alias=alias)


def _team_the_token_allows(token: ApiToken, model_name: str, team: str | None) -> str:
    """The team of ``model_name`` among the models a predict-only token names. Any other model
    reads as missing, so the token tells nothing of the rest of its user's models or teams."""
    teams = [
        ref.partition("/")[0] for ref in token.predict_models if ref.endswith(f"/{model_name}")
    ]
    if team is not None:
        teams = [t for t in teams if t == team]
    if len(teams) != 1:
        if not teams:
            raise ModelNotFound(f"there is no model named {model_name!r}")
        raise AmbiguousName(
            f"this token may predict with {model_name!r} in several teams ({', '.join(teams)}): "
            "say which with ?team="
        )
    return teams[0]
