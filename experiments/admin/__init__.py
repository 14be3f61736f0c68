"""The experiments app's admin pages; importing the modules registers them."""

from . import dataset_versions, runs, sweeps  # noqa: F401
