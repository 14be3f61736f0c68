"""Teams, memberships (one role per team), API tokens and the audit log."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class Role(models.TextChoices):
    VIEWER = "viewer"
    SCIENTIST = "scientist"
    APPROVER = "approver"
    PREDICTOR = "predictor"


class Team(models.Model):
    """Owns datasets, experiments and registered models; everything under them follows."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    DEFAULT = "default"
    TEAM_PATH = ""  # a team owns itself (see hpml_portal.models.team_of)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team__slug", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_one_role_per_team"),
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in Role]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class ApiToken(models.Model):
    """A secret for `Authorization: Token <key>`. Only the key's sha256 is kept: the key is
    shown once, when the token is made. A token that names models may only predict with them."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, help_text="The key's first characters, to tell it.")
    key_hash = models.CharField(max_length=64, unique=True)
    predict_models = models.JSONField(
        default=list,
        blank=True,
        help_text='"team/model" names this token may predict with; empty: the user\'s full access.',
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def predict_only(self) -> bool:
        return bool(self.predict_models)


class AuditEvent(models.Model):
    """Who did what to access and promotion, and when. Written by services, never edited."""

    class Action(models.TextChoices):
        LOGIN = "login"
        LOGIN_FAILED = "login.failed"
        LOGIN_JWT = "login.jwt"
        TOKEN_CREATED = "token.created"
        TOKEN_REVOKED = "token.revoked"
        TEAM_CREATED = "team.created"
        TEAM_RENAMED = "team.renamed"
        MEMBERSHIP_ADDED = "membership.added"
        MEMBERSHIP_CHANGED = "membership.changed"
        MEMBERSHIP_REMOVED = "membership.removed"
        ALIAS_MOVED = "alias.moved"
        VERSION_ARCHIVED = "version.archived"
        VERSION_RESTORED = "version.restored"

    action = models.CharField(max_length=32, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(
        max_length=150, help_text="The actor's username then, or 'operator' for a command."
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    target = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["action", "created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.target}"
