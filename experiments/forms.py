import json

from django import forms

from .training.hyperparameters import ARCHITECTURES


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
        text = self.cleaned_data["hyperparameters"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("give an object of name: value")
        return value
