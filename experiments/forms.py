import json

from django import forms

from .training.hyperparameters import ARCHITECTURES
from .training.sweep_space import DEFAULT_METRIC, METRICS


class TrainForm(forms.Form):
    experiment = forms.SlugField(max_length=100, help_text="Made on first use.")
    model_name = forms.SlugField(
        max_length=100, help_text="The registered model that gets the new version."
    )
    architecture = forms.ChoiceField(choices=[(a, a) for a in sorted(ARCHITECTURES)])
    hyperparameters = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text='JSON, e.g. {"epochs": 30, "learning_rate": 0.001}; defaults fill the rest.',
    )

    def clean_hyperparameters(self) -> dict:
        return _json_object(self.cleaned_data["hyperparameters"])


class SweepForm(forms.Form):
    experiment = forms.SlugField(max_length=100, help_text="Made on first use.")
    model_name = forms.SlugField(
        max_length=100, help_text="The registered model that the best run is registered into."
    )
    architecture = forms.ChoiceField(choices=[(a, a) for a in sorted(ARCHITECTURES)])
    space = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="JSON: hyperparameter: [values to try], crossed into a grid; a single value "
        'is kept for every run. E.g. {"learning_rate": [0.001, 0.01], "hidden_units": [64, '
        '128], "epochs": 20}',
    )
    random = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="Run this many distinct points drawn from the grid; empty: the whole grid.",
    )
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        help_text="With random: seed of the draw (empty: drawn, and recorded).",
    )
    metric = forms.ChoiceField(
        choices=[(m, m) for m in METRICS],
        initial=DEFAULT_METRIC,
        help_text="Ranks the runs: the best run has the highest (the lowest for a loss).",
    )

    def clean_space(self) -> dict:
        space = _json_object(self.cleaned_data["space"])
        if not space:
            raise forms.ValidationError("name at least one hyperparameter to sweep")
        return space


def _json_object(text: str) -> dict:
    text = text.strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise forms.ValidationError("give an object of name: value")
    return value
