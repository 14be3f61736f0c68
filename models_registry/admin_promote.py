"""Promotion from a model version's own admin page: point an alias at the version, with a
comment, after reading what will change. The list's promote actions stay for quick moves."""

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path

from accounts import access
from accounts.access import Capability
from accounts.throttles import throttled_response
from hpml_portal.errors import ServiceError

from . import services
from .models import ModelAlias, ModelVersion, alias_validator
from .selectors import DEFAULT_ALIAS

SUGGESTED = (DEFAULT_ALIAS, "staging")
TEMPLATES = "admin/models_registry/modelversion"


class PromoteForm(forms.Form):
    alias = forms.CharField(
        max_length=64,
        validators=[alias_validator],
        help_text="production, staging, or another name: lowercase letters, digits, - and _, "
        "starting with a letter.",
        widget=forms.TextInput(
            attrs={"list": "hpml-promote-aliases", "autocomplete": "off", "spellcheck": "false"}
        ),
    )
    comment = forms.CharField(
        max_length=2000,
        help_text="Why: kept in the alias history and the audit log.",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


class UnaliasForm(forms.Form):
    """Take one of the aliases that point at this version off the model."""

    alias = forms.ChoiceField(label="alias to remove", choices=())
    comment = forms.CharField(
        max_length=2000,
        label="why",
        help_text="Kept in the alias history and the audit log.",
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )

    def __init__(self, *args, held: list[str], **kwargs):
        super().__init__(*args, prefix="remove", **kwargs)
        self.fields["alias"].choices = [(alias, alias) for alias in held]


def alias_change(alias: str, version: ModelVersion, current: dict[str, ModelVersion]) -> str:
    """What pointing ``alias`` at ``version`` would do, in words."""
    before = current.get(alias)
    if before is None:
        return f"{alias} is set to v{version.version} (it points nowhere now)"
    if before.pk == version.pk:
        return f"{alias} already points at v{version.version}: nothing changes"
    return f"{alias} moves from v{before.version} to v{version.version}"


def alias_changes(version: ModelVersion, current: dict[str, ModelVersion]) -> dict[str, str]:
    """The change for production, staging and every alias the model has, in that order."""
    names = [*SUGGESTED, *sorted(set(current) - set(SUGGESTED))]
    return {name: alias_change(name, version, current) for name in names}


class PromoteAdminMixin:
    """The "Promote…" button on a version's page and the page it leads to."""

    def promote_urls(self) -> list:
        def view(route, func, name):
            return path(
                route, self.admin_site.admin_view(func), name=f"models_registry_modelversion_{name}"
            )

        return [
            view("<path:object_id>/promote/", self.promote_view, "promote"),
            view("<path:object_id>/unalias/", self.unalias_view, "unalias"),
        ]

    def may_set_aliases(self, request, version: ModelVersion) -> bool:
        # Scientists may set every alias but production; the service checks which.
        return access.can(request.user, version.model.team_id, Capability.WRITE)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_promote"] = obj is not None and self.may_set_aliases(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def promote_view(self, request, object_id):
        version = self.get_object(request, object_id)
        if not self.may_set_aliases(request, version):
            raise PermissionDenied("setting aliases needs the scientist role in the model's team")
        refused = throttled_response(request)
        if refused is not None:
            return refused
        may_move_production = access.can(request.user, version.model.team_id, Capability.PROMOTE)
        default = DEFAULT_ALIAS if may_move_production else "staging"
        form = PromoteForm(
            request.POST or None, initial={"alias": request.GET.get("alias", default)}
        )
        if request.method == "POST" and form.is_valid():
            try:
                event = services.model_alias_set(
                    model_version=version,
                    alias=form.cleaned_data["alias"],
                    user=request.user,
                    comment=form.cleaned_data["comment"],
                )
            except ServiceError as exc:
                form.add_error(None, str(exc))
            else:
                self._report_promotion(request, version, form.cleaned_data["alias"], event)
                return redirect("admin:models_registry_modelversion_change", version.pk)
        return self._promote_page(request, version, form, may_move_production)

    def unalias_view(self, request, object_id):
        """Remove an alias that points at this version (POST from the promote page)."""
        version = self.get_object(request, object_id)
        if request.method != "POST":
            return redirect("admin:models_registry_modelversion_promote", version.pk)
        if not self.may_set_aliases(request, version):
            raise PermissionDenied("removing aliases needs the scientist role in the model's team")
        refused = throttled_response(request)
        if refused is not None:
            return refused
        held = sorted(version.aliases.values_list("alias", flat=True))
        form = UnaliasForm(request.POST, held=held)
        if form.is_valid():
            alias = form.cleaned_data["alias"]
            try:
                services.model_alias_delete(
                    model=version.model,
                    alias=alias,
                    user=request.user,
                    comment=form.cleaned_data["comment"],
                )
            except ServiceError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(
                    request, f"{version.model.name}@{alias} removed: it pointed at {version}."
                )
                return redirect("admin:models_registry_modelversion_change", version.pk)
        may_move_production = access.can(request.user, version.model.team_id, Capability.PROMOTE)
        form_promote = PromoteForm(initial={"alias": "staging"})
        return self._promote_page(request, version, form_promote, may_move_production, form)

    def _report_promotion(self, request, version, alias: str, event) -> None:
        name = f"{version.model.name}@{alias}"
        if event is None:
            self.message_user(request, f"{name} already is v{version.version}: nothing changed.")
        elif event.from_version is None:
            self.message_user(request, f"{name} → v{version.version}.")
        else:
            self.message_user(
                request, f"{name} moved from v{event.from_version.version} to v{version.version}."
            )

    def _promote_page(self, request, version, form, may_move_production: bool, unalias=None):
        current = {
            a.alias: a.version
            for a in ModelAlias.objects.filter(model_id=version.model_id).select_related("version")
        }
        held = sorted(alias for alias, held_by in current.items() if held_by.pk == version.pk)
        changes = alias_changes(version, current)
        chosen = (form["alias"].value() or "").strip()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Promote {version}",
            "version": version,
            "form": form,
            "changes": changes,
            "change": changes.get(chosen) or (chosen and alias_change(chosen, version, current)),
            "new_alias_change": f"is set to v{version.version} (a new alias)",
            "held": held,
            "unalias": unalias or (UnaliasForm(held=held) if held else None),
            "may_move_production": may_move_production,
        }
        return TemplateResponse(request, f"{TEMPLATES}/promote.html", context)
