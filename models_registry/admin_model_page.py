"""What a model's admin page shows beyond its fields: its versions side by side with their
aliases, test metrics and live numbers, and a form to try a prediction."""

import math
from datetime import timedelta

from django.db.models import Sum
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from hpml_portal import charts
from hpml_portal.admin_utils import admin_link

from . import admin_tryit
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
    on the predict URL fills in an example body, POST sends it (hpml/tryit.js). Rows of the
    team's datasets fill it too, and models whose input is an image get a pad to draw one
    (hpml/tryit-pad.js)."""
    version = admin_tryit.reference_version(model)
    features = math.prod(version.signature.get("input_shape") or [0]) if version else 0
    image = admin_tryit.input_image(version)
    context = {
        "predict_url": f"/api/v1/models/{model.name}/predict/?team={model.team.slug}",
        "example_url": reverse("admin:models_registry_registeredmodel_example", args=[model.pk]),
        "sources": admin_tryit.example_sources(model, features) if features else [],
        "image": image,
    }
    if image is not None:
        context["pad"] = _pad_size(image)
    return render_to_string("admin/models_registry/registeredmodel/try_it.html", context)


PAD_PIXELS = 224  # the drawing pad's longer side
PREVIEW_PIXELS = 96  # the preview's longer side, at most


def _pad_size(image) -> dict:
    longer = max(image.height, image.width)
    cell = max(2, PREVIEW_PIXELS // longer)
    return {
        "width": round(PAD_PIXELS * image.width / longer),
        "height": round(PAD_PIXELS * image.height / longer),
        "preview_width": cell * image.width,
        "preview_height": cell * image.height,
    }


def lineage(version: ModelVersion) -> str:
    """The run that made the version, and the data it learnt from down to the raw upload, each
    dataset version with its sha256."""
    from datasets.selectors import dataset_version_ancestors

    data = version.dataset_version
    if data is None:
        return format_html("{}", admin_link(version.run, f"run {version.run_id}"))
    chain = [data, *dataset_version_ancestors(data)]
    steps = format_html_join(
        "",
        "<li>{} <code>sha256 {}</code></li>",
        ((admin_link(v, v.ref), v.sha256) for v in chain),
    )
    run = admin_link(version.run, f"run {version.run_id}") if version.run_id else "no run"
    return format_html("<p>{}, trained on</p><ul>{}</ul>", run, steps)
