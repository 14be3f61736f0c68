"""Promoting a model version from its own admin page: what will change, a comment, the roles
that may move each alias, and the list's promote actions still beside it."""

import pytest
from django.contrib.messages import get_messages

from models_registry import services
from models_registry.models import AliasEvent, ModelAlias
from tests.factories import TeamFactory, member

VERSIONS = "/admin/models_registry/modelversion"


def promote_url(version) -> str:
    return f"{VERSIONS}/{version.pk}/promote/"


def signed_in(client, person):
    client.force_login(person)
    return client


@pytest.fixture
def alice(client, user):
    """The approver of the default team, signed in."""
    return signed_in(client, user)


def aliases() -> dict[str, int]:
    return {a.alias: a.version.version for a in ModelAlias.objects.select_related("version")}


def test_the_version_page_offers_promote_to_those_who_may_set_aliases(client, team, production):
    page = signed_in(client, member(team, "scientist")).get(f"{VERSIONS}/{production.pk}/change/")
    viewer_page = signed_in(client, member(team, "viewer")).get(
        f"{VERSIONS}/{production.pk}/change/"
    )

    assert page.status_code == 200 and f'href="{promote_url(production)}"' in page.content.decode()
    assert viewer_page.status_code == 200
    assert promote_url(production) not in viewer_page.content.decode()


def test_the_promote_page_says_which_version_production_moves_from_and_to(
    alice, production, second_version
):
    services.model_alias_set(model_version=second_version, alias="staging")

    page = alice.get(promote_url(second_version))
    html = page.content.decode()

    assert page.status_code == 200
    assert "production moves from v1 to v2" in html
    assert "staging already points at v2: nothing changes" in html
    assert '<label for="id_alias"' in html and '<label for="id_comment"' in html


def test_promoting_from_the_page_moves_the_alias_and_records_who_and_why(
    alice, user, production, second_version
):
    response = alice.post(
        promote_url(second_version), {"alias": "production", "comment": "better on new data"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"{VERSIONS}/{second_version.pk}/change/"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "digits@production moved from v1 to v2."
    ]
    assert aliases() == {"production": 2}
    event = AliasEvent.objects.order_by("-pk").first()
    assert (event.from_version, event.to_version) == (production, second_version)
    assert event.user == user and event.comment == "better on new data"


def test_another_alias_name_is_created_with_its_comment(alice, production):
    response = alice.post(promote_url(production), {"alias": "canary-eu", "comment": "try it"})

    assert response.status_code == 302
    assert aliases() == {"production": 1, "canary-eu": 1}
    assert AliasEvent.objects.get(alias="canary-eu").comment == "try it"


def test_a_missing_comment_is_refused_with_the_input_kept_and_nothing_changes(
    alice, production, second_version
):
    response = alice.post(promote_url(second_version), {"alias": "staging", "comment": "  "})
    html = response.content.decode()

    assert response.status_code == 200
    assert "This field is required." in html and 'value="staging"' in html
    assert aliases() == {"production": 1} and AliasEvent.objects.count() == 1


def test_a_bad_alias_is_refused_with_the_input_kept_and_nothing_changes(
    alice, production, second_version
):
    response = alice.post(promote_url(second_version), {"alias": "Prod 2", "comment": "why not"})
    html = response.content.decode()

    assert response.status_code == 200
    assert "an alias starts with a lowercase letter" in html
    assert 'value="Prod 2"' in html and "why not</textarea>" in html
    assert aliases() == {"production": 1} and AliasEvent.objects.count() == 1


def test_a_scientist_cannot_move_production_but_sets_staging(
    client, team, production, second_version
):
    signed_in(client, member(team, "scientist"))

    page = client.get(promote_url(second_version))
    refused = client.post(promote_url(second_version), {"alias": "production", "comment": "go"})
    staged = client.post(promote_url(second_version), {"alias": "staging", "comment": "try"})

    assert page.status_code == 200 and 'value="staging"' in page.content.decode()
    assert refused.status_code == 200 and "you need the approver role" in refused.content.decode()
    assert staged.status_code == 302
    assert aliases() == {"production": 1, "staging": 2}


def test_a_viewer_gets_403(client, team, production):
    signed_in(client, member(team, "viewer"))

    page = client.get(promote_url(production))
    post = client.post(promote_url(production), {"alias": "staging", "comment": "x"})

    assert (page.status_code, post.status_code) == (403, 403)
    assert aliases() == {"production": 1}


def test_a_person_of_another_team_gets_404(client, production):
    signed_in(client, member(TeamFactory(slug="elsewhere"), "approver"))

    page = client.get(promote_url(production))
    post = client.post(promote_url(production), {"alias": "staging", "comment": "x"})

    assert (page.status_code, post.status_code) == (404, 404)
    assert "digits" not in page.content.decode()
    assert aliases() == {"production": 1}


def test_an_archived_version_is_refused_with_the_reason(alice, production, second_version):
    services.model_version_archive(model_version=second_version)

    page = alice.get(promote_url(second_version))
    response = alice.post(
        promote_url(second_version), {"alias": "production", "comment": "roll back"}
    )

    assert "v2 is archived" in page.content.decode()
    assert response.status_code == 200
    assert "is archived: restore it before pointing an alias at it" in response.content.decode()
    assert aliases() == {"production": 1}


def test_writes_from_the_page_count_against_the_submit_rate(settings, alice, production):
    settings.THROTTLE_RATES = {"submit": "1/day", "predict": "off"}

    first = alice.post(promote_url(production), {"alias": "staging", "comment": "one"})
    second = alice.post(promote_url(production), {"alias": "canary", "comment": "two"})

    assert (first.status_code, second.status_code) == (302, 429)
    assert aliases() == {"production": 1, "staging": 1}


def test_the_list_actions_still_promote(alice, production, second_version):
    response = alice.post(
        f"{VERSIONS}/",
        {"action": "promote_staging", "_selected_action": [second_version.pk]},
    )

    assert response.status_code == 302
    assert aliases() == {"production": 1, "staging": 2}


def test_the_alias_history_on_the_model_page_shows_version_numbers(
    alice, production, second_version
):
    services.model_alias_set(model_version=second_version, alias="production", comment="newer")

    html = alice.get(f"/admin/models_registry/registeredmodel/{production.model_id}/change/")

    assert "v1 → v2" in html.content.decode() and "nothing → v1" in html.content.decode()


def unalias_url(version) -> str:
    return f"{VERSIONS}/{version.pk}/unalias/"


def test_the_promote_page_offers_to_remove_the_aliases_of_the_version(alice, production):
    page = alice.get(promote_url(production)).content.decode()

    assert f'action="{unalias_url(production)}"' in page
    assert '<option value="production">production</option>' in page


def test_removing_an_alias_deletes_it_and_records_who_and_why(alice, user, production):
    answer = alice.post(
        unalias_url(production), {"remove-alias": "production", "remove-comment": "pulled"}
    )

    assert answer.status_code == 302 and answer.url == f"{VERSIONS}/{production.pk}/change/"
    assert aliases() == {}
    event = AliasEvent.objects.latest("pk")
    assert (event.from_version_id, event.to_version_id) == (production.pk, None)
    assert event.user == user and event.comment == "pulled" and str(event).endswith("v1 -> nothing")
    said = [m.message for m in get_messages(answer.wsgi_request)]
    assert said == ["digits@production removed: it pointed at digits v1."]


@pytest.mark.parametrize(
    "data",
    [
        {"remove-alias": "production"},  # no comment
        {"remove-alias": "staging", "remove-comment": "x"},  # not this version's
        {"remove-alias": "", "remove-comment": "x"},
    ],
)
def test_a_bad_removal_is_refused_on_the_page_and_nothing_changes(alice, production, data):
    answer = alice.post(unalias_url(production), data)

    assert answer.status_code == 200 and "errorlist" in answer.content.decode()
    assert aliases() == {"production": 1}


def test_a_scientist_cannot_remove_production(client, team, production):
    scientist = signed_in(client, member(team, "scientist"))

    answer = scientist.post(
        unalias_url(production), {"remove-alias": "production", "remove-comment": "x"}
    )

    assert answer.status_code == 200 and "approver" in answer.content.decode()
    assert aliases() == {"production": 1}


def test_a_viewer_and_another_team_cannot_remove_aliases(client, team, production):
    data = {"remove-alias": "production", "remove-comment": "x"}
    viewer = signed_in(client, member(team, "viewer")).post(unalias_url(production), data)
    outsider = signed_in(client, member(TeamFactory(slug="far"), "approver")).post(
        unalias_url(production), data
    )

    assert (viewer.status_code, outsider.status_code) == (403, 404)
    assert aliases() == {"production": 1}


def test_the_service_removes_nothing_when_there_is_no_such_alias(user, production):
    assert services.model_alias_delete(model=production.model, alias="staging", user=user) is None
    assert aliases() == {"production": 1}
