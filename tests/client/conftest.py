"""The client tests use the CLI tests' isolated environment and fake daemon."""

from tests.cli.conftest import env, fake  # noqa: F401  (pytest fixtures)
