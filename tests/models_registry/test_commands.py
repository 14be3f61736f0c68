import io

import pytest
from django.core.management import CommandError, call_command

from models_registry.models import AliasEvent, ModelAlias


def promote(*args) -> str:
    out = io.StringIO()
    call_command("promote", *args, stdout=out)
    return out.getvalue()


def test_promote_points_production_at_the_version_and_says_so(v1):
    assert promote("digits", "1") == "digits@production: nothing -> version 1\n"

    assert ModelAlias.objects.get(alias="production").version == v1
    event = AliasEvent.objects.get()
    assert event.from_version is None and event.to_version == v1 and event.user is None


def test_promote_says_which_version_the_alias_left(v1, v2):
    promote("digits", "1")

    assert promote("digits", "2") == "digits@production: version 1 -> version 2\n"
    assert ModelAlias.objects.get(alias="production").version == v2


def test_promote_records_the_alias_user_and_comment(v1, user):
    output = promote("digits", "1", "--alias", "staging", "--comment", "try it", "--user", "alice")

    assert output == "digits@staging: nothing -> version 1\n"
    event = AliasEvent.objects.get()
    assert (event.alias, event.user, event.comment) == ("staging", user, "try it")


def test_promoting_the_version_already_there_changes_nothing(v1):
    promote("digits", "1")

    assert promote("digits", "1") == "digits@production already points at version 1\n"
    assert AliasEvent.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "1"], "there is no model named 'nope'"),
        (["digits", "7"], "model 'digits' has no version 7"),
        (["digits", "1", "--alias", "Prod!"], "invalid alias 'Prod!'"),
        (["digits", "1", "--alias", "1"], "invalid alias '1'"),
        (["digits", "1", "--user", "bob"], "there is no user 'bob'"),
        (["digits", "one"], "invalid int value: 'one'"),
    ],
)
def test_promote_fails_with_a_one_line_reason_and_changes_nothing(args, message, v1, user):
    with pytest.raises(CommandError) as failure:
        promote(*args)

    assert message in str(failure.value) and "\n" not in str(failure.value)
    assert not ModelAlias.objects.exists() and not AliasEvent.objects.exists()
