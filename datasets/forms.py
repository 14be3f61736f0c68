from django import forms

from accounts import selectors as team_selectors
from accounts.access import Capability

from .formats import FORMATS


class DatasetUploadForm(forms.Form):
    team = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label=None,
        help_text="The team the dataset belongs to (yours, when you are in one).",
    )
    dataset = forms.SlugField(
        max_length=100, help_text="An existing dataset name, or a new one to create."
    )
    file = forms.FileField(help_text=f"One of {', '.join(FORMATS)}. An .npz holds arrays x and y.")
    label_column = forms.CharField(
        required=False,
        max_length=100,
        help_text="For .csv/.parquet: the label column (default label).",
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        # Only teams where this person may ingest are offered (or accepted).
        self.fields["team"].queryset = team_selectors.team_list(
            user=user, capability=Capability.WRITE
        )

    def clean_team(self):
        team = self.cleaned_data["team"]
        if team is None:
            teams = list(self.fields["team"].queryset[:2])
            if len(teams) != 1:
                raise forms.ValidationError("choose the team")
            team = teams[0]
        return team
