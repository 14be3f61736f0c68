"""What an object's admin page adds to Django's: buttons that run one of the admin's actions on
this object alone, links to the object's own forms, and parts of the page that refresh in place
while the object's job runs (hpml/live.js polls ``<id>/live.json`` for them)."""

from dataclasses import dataclass

from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html

from accounts import access
from accounts.access import Capability

CHANGE_FORM = "admin/hpml/change_form.html"


@dataclass(frozen=True)
class Tool:
    """A button or link above an object's page."""

    label: str
    url: str
    post: bool  # a button that POSTs (an action), else a link to a form


class ObjectPageAdmin:
    """Mixed into a TeamScopedAdmin. ``object_buttons`` names actions (with their button
    label) that the page offers for this object when the person may write in its team;
    ``object_links(request, obj)`` adds links to the object's own forms; ``live_parts`` names
    display methods that ``live.json`` renders again, each wrapped by ``live()``."""

    object_buttons: tuple[tuple[str, str], ...] = ()
    live_parts: tuple[str, ...] = ()
    change_form_template = CHANGE_FORM

    def live_done(self, obj) -> bool:
        """When the page stops asking: the object's job has ended."""
        return True

    @staticmethod
    def live(name: str, html) -> str:
        return format_html('<div id="hpml-live-{}" class="hpml-live">{}</div>', name, html)

    def object_links(self, request, obj) -> list[Tool]:
        return []

    def button_offered(self, obj, action: str) -> bool:
        """Whether the object's state makes the button worth showing (cancel while running)."""
        return True

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        urls = [
            path(
                "<path:object_id>/do/<str:action>/",
                self.admin_site.admin_view(self.button_view),
                name=f"{info}_button",
            )
        ]
        if self.live_parts:
            urls.append(
                path(
                    "<path:object_id>/live.json",
                    self.admin_site.admin_view(self.live_view),
                    name=f"{info}_live",
                )
            )
        return [*urls, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = {**(extra_context or {})}
        if obj is not None:
            extra["object_tools"] = self._tools(request, obj)
            if self.live_parts and not self.live_done(obj):
                extra["live_url"] = self._url("live", obj.pk)
        return super().change_view(request, object_id, form_url, extra)

    def _tools(self, request, obj) -> list[Tool]:
        tools = list(self.object_links(request, obj))
        if self.object_buttons and access.can(request.user, self.team_id_of(obj), Capability.WRITE):
            allowed = self.get_actions(request)
            tools += [
                Tool(label, self._url("button", obj.pk, action), post=True)
                for action, label in self.object_buttons
                if action in allowed and self.button_offered(obj, action)
            ]
        return tools

    def _url(self, name: str, *args) -> str:
        return reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_{name}",
            args=args,
        )

    def button_view(self, request, object_id, action):
        """One of the admin's actions on this object alone, then back to its page. The action
        checks its own permission and its service the person's role in the object's team."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, object_id)
        allowed = self.get_actions(request)
        if obj is None or action not in dict(self.object_buttons) or action not in allowed:
            raise Http404("no such button here")
        func = allowed[action][0]
        response = func(self, request, self.get_queryset(request).filter(pk=obj.pk))
        if response is not None:
            return response
        return redirect(self._url("change", obj.pk))

    def live_view(self, request, object_id):
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404("no such object")
        parts = {name: str(getattr(self, name)(obj)) for name in self.live_parts}
        return JsonResponse({"done": self.live_done(obj), "parts": parts})
