"""Bounds the API's schema states and its checks enforce (no DRF imports: the filters that
DRF's settings name import this)."""

# Names (teams, datasets, experiments, models): what ``hpml_portal.validation.check_name``
# takes. In JSON Schema "$" ends the text, as the servers' \Z does (Python's "$" would let a
# trailing newline through).
SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"
# A database id (PostgreSQL bigint) and a version number (integer column).
MAX_ID = 2**63 - 1
MAX_VERSION = 2**31 - 1
