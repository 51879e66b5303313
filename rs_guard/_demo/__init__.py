"""The demo's API when the repository's ``examples/`` is not next to the package."""
