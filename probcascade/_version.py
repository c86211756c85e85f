"""The package version (kept apart so that the CLI can print it without importing JAX)."""

__version__ = "0.1.0"
