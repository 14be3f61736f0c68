"""The errors the datasets app's services raise; the API answers each with its status."""

from hpml_portal.errors import Conflict, InvalidRequest


class DatasetError(InvalidRequest):
    """A request about datasets that cannot be carried out; the message says why."""


class VersionConflict(Conflict):
    """The version's state does not allow the request (HTTP 409); the message says why."""
