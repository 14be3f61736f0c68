from django import forms
from django.conf import settings

from accounts import selectors as team_selectors
from accounts.access import Capability

from .formats import FORMATS
from .sourcing import BUILTIN_DATASETS, IngestSource


class DatasetSourceForm(forms.Form):
    """A new version from one source: a file, a URL, a query or a built-in data set."""

    team = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label=None,
        help_text="The team the dataset belongs to (yours, when you are in one).",
    )
    dataset = forms.SlugField(
        max_length=100, help_text="An existing dataset name, or a new one to create."
    )
    file = forms.FileField(
        required=False, help_text=f"One of {', '.join(FORMATS)}. An .npz holds arrays x and y."
    )
    url = forms.CharField(
        required=False,
        max_length=2000,
        label="URL",
        help_text="Or: http(s):// or s3://bucket/key of such a file, fetched by a worker.",
    )
    sql = forms.CharField(
        required=False,
        max_length=100_000,
        label="SQL",
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
        help_text="Or: one SELECT against the read-only SQL source.",
    )
    builtin = forms.ChoiceField(
        required=False,
        choices=[("", "---------"), *((name, name) for name in BUILTIN_DATASETS)],
        help_text="Or: a data set shipped with the platform.",
    )
    label_column = forms.CharField(
        required=False,
        max_length=100,
        help_text="For .csv/.parquet files and queries: the label column (default label).",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only teams where this person may ingest are offered (or accepted).
        self.fields["team"].queryset = team_selectors.team_list(
            user=user, capability=Capability.WRITE
        )
        if not settings.SQL_SOURCE_URL:
            del self.fields["sql"]

    def clean_team(self):
        team = self.cleaned_data["team"]
        if team is None:
            teams = list(self.fields["team"].queryset[:2])
            if len(teams) != 1:
                raise forms.ValidationError("choose the team")
            team = teams[0]
        return team

    def clean(self):
        data = super().clean()
        given = [key for key in ("file", "url", "sql", "builtin") if data.get(key)]
        if len(given) != 1:
            raise forms.ValidationError("give exactly one source: a file, a URL, SQL or built-in")
        return data

    def ingest_source(self) -> IngestSource:
        """The checked source (raises the service's error when it is refused)."""
        data, label = self.cleaned_data, self.cleaned_data["label_column"]
        if data.get("file"):
            return IngestSource.upload(data["file"], data["file"].name, label)
        if data.get("url"):
            return IngestSource.url(data["url"], label)
        if data.get("sql"):
            return IngestSource.sql(data["sql"], label)
        return IngestSource.builtin(data["builtin"])


def _numbers(kind: type, text: str) -> list:
    try:
        return [kind(part) for part in text.replace(" ", "").split(",")]
    except ValueError:
        raise forms.ValidationError(f"comma-separated numbers, got {text!r}") from None


class RecipeForm(forms.Form):
    normalize = forms.ChoiceField(
        required=False,
        choices=[("", "no"), ("minmax", "min-max to 0..1"), ("standard", "mean 0, std 1")],
        help_text="Fitted on the training split when the recipe also splits.",
    )
    split = forms.CharField(
        required=False,
        help_text="train, validation, test fractions summing to 1, e.g. 0.7,0.15,0.15",
    )
    seed = forms.IntegerField(required=False, min_value=0, max_value=2**32 - 1, initial=0)
    stratify = forms.BooleanField(
        required=False, initial=True, help_text="Keep each class in the same proportions."
    )
    reshape = forms.CharField(required=False, help_text="new feature shape, e.g. 8,8,1")

    def clean_split(self):
        text = self.cleaned_data["split"]
        return _numbers(float, text) if text else None

    def clean_reshape(self):
        text = self.cleaned_data["reshape"]
        return _numbers(int, text) if text else None

    def spec(self) -> dict:
        data = self.cleaned_data
        spec: dict = {}
        if data["normalize"]:
            spec["normalize"] = data["normalize"]
        if data["split"]:
            spec |= {"split": data["split"], "stratify": data["stratify"]}
        if data["seed"] is not None:
            spec["seed"] = data["seed"]
        if data["reshape"]:
            spec["reshape"] = data["reshape"]
        return spec
