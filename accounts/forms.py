from django import forms
from django.contrib.auth import get_user_model

from . import access


class ApiTokenCreateForm(forms.Form):
    user = forms.ModelChoiceField(queryset=get_user_model().objects.none())
    name = forms.CharField(max_length=100, required=False, help_text="What the token is for.")
    predict_models = forms.CharField(
        required=False,
        help_text="team/model names, separated by commas: the token may then only predict with "
        "these models. Empty: the token acts with all of the user's roles.",
    )
    expires_at = forms.DateTimeField(required=False, help_text="Optional, e.g. 2027-12-31 00:00")

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True).order_by("username")
        if not access.is_operator(request.user):  # people make tokens for themselves only
            users = users.filter(pk=request.user.pk)
        self.fields["user"].queryset = users
        self.fields["user"].initial = request.user.pk

    def clean_predict_models(self) -> list[str]:
        text = self.cleaned_data["predict_models"]
        return [name.strip() for name in text.split(",") if name.strip()]
