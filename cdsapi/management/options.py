"""Checks every command takes its text options through before they reach the database."""

from typing import Any

from django.core.management.base import CommandError

from cdsapi.text import has_control_characters


def refuse_control_characters(options: dict[str, Any]) -> None:
    """A NUL byte is an error PostgreSQL raises deep inside a query; say so up front instead."""
    for name, value in options.items():
        if isinstance(value, str) and has_control_characters(value):
            option = "--" + name.replace("_", "-")
            raise CommandError(f"{option}: control characters (such as NUL) are not allowed")
