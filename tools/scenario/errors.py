"""Errors of the scenario generator."""

from stack.errors import L4Error


class ScenarioError(L4Error):
    """A scenario cannot be generated: a bad option value or an unusable output path."""
