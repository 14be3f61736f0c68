"""What a model's admin page shows beyond its fields: its versions side by side with their
aliases, test metrics and live numbers, and a form to try a prediction."""

from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from hpml_portal import charts
from hpml_portal.admin_utils import admin_link

from .models import ModelVersion

SHOWN = 20  # the newest versions


def versions_table(model) -> str:
    versions = list(
        ModelVersion.objects.filter(model=model)
        .prefetch_related("aliases")
        .order_by("-version")[:SHOWN]
    )
    if not versions:
        return "-"
    accuracy, requests = _live(model, versions)
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                admin_link(v, f"v{v.version}"),
                ", ".join(sorted(a.alias for a in v.aliases.all())) or "-",
                charts.readable(v.metrics.get("test_accuracy")),
                charts.readable(v.metrics.get("macro_f1")),
                charts.readable(accuracy.get(v.pk)),
                requests.get(v.version, 0),
                "archived" if v.archived_at else "",
            )
            for v in versions
        ),
    )
    return format_html(
        "<table><thead><tr><th>version</th><th>aliases</th><th>test accuracy</th>"
        "<th>macro F1</th><th>accuracy from feedback (1 day)</th><th>requests (1 hour)</th>"
        "<th></th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )


def _live(model, versions) -> tuple[dict, dict]:
    from inference.models import ServingCount
    from inference.selectors import feedback_accuracy

    now = timezone.now()
    counted = (
        ServingCount.objects.filter(
            team_key=model.team_id, model_name=model.name, minute__gte=now - timedelta(hours=1)
        )
        .values("version")
        .annotate(n=Sum("requests"))
    )
    accuracy = feedback_accuracy([v.pk for v in versions], since=now - timedelta(days=1))
    return accuracy, {row["version"]: row["n"] for row in counted}


def try_it(model) -> str:
    """A form that asks the model a question through the API, signed in as the person: GET
    on the predict URL fills in an example body, POST sends it (hpml/tryit.js)."""
    url = f"/api/v1/models/{model.name}/predict/?team={model.team.slug}"
    return format_html(
        '<div class="hpml-tryit" data-url="{}">'
        '<label for="hpml-tryit-alias">alias</label> '
        '<input id="hpml-tryit-alias" value="production" size="12"> '
        '<label for="hpml-tryit-body">request body (JSON)</label>'
        '<textarea id="hpml-tryit-body" rows="6" cols="80" spellcheck="false"></textarea>'
        '<p><button type="button" class="button" id="hpml-tryit-send">Predict</button> '
        '<span id="hpml-tryit-status" role="status"></span></p>'
        '<pre id="hpml-tryit-answer" aria-live="polite"></pre></div>',
        url,
    )
