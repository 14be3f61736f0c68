from django import forms

from .formats import FORMATS


class DatasetUploadForm(forms.Form):
    dataset = forms.SlugField(
        max_length=100, help_text="An existing dataset name, or a new one to create."
    )
    file = forms.FileField(help_text=f"One of {', '.join(FORMATS)}. An .npz holds arrays x and y.")
    label_column = forms.CharField(
        required=False,
        max_length=100,
        help_text="For .csv/.parquet: the label column (default label).",
    )
