from django.conf import settings
from django.db import models


class NamedEntity(models.Model):
    """What datasets, experiments and registered models share: a team that owns them, a slug
    name unique within that team, a description, and who made it when."""

    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+")
    name = models.SlugField(max_length=100)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # The path from a row to its team, for querysets (``team``) and objects (``team``).
    TEAM_PATH = "team"

    class Meta:
        abstract = True
        ordering = ["team__slug", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"], name="%(app_label)s_%(class)s_name_unique_per_team"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def ref(self) -> str:
        """``team/name``: how people and MLflow tell apart two teams' objects of one name."""
        return f"{self.team.slug}/{self.name}"


def team_of(obj):
    """The Team that owns ``obj``, following its ``TEAM_PATH`` (``dataset__team``...); a team
    (whose path is empty) owns itself."""
    path = type(obj).TEAM_PATH
    for attribute in path.split("__") if path else ():
        obj = getattr(obj, attribute)
    return obj
