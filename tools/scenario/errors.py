"""Errors of the scenario generator."""


class ScenarioError(Exception):
    """A scenario cannot be generated: a bad option value or an unusable output path."""
