"""The admin: grants (``grants``), clients (``clients``), and the pieces the data apps'
admins share (``base``)."""

from cdsapi.admin import clients, grants
from cdsapi.admin.base import (
    ImportedDataAdmin,
    ImportedDataInline,
    ReadOnlyAdmin,
    column,
    input_filter,
)

__all__ = [
    "ImportedDataAdmin",
    "ImportedDataInline",
    "ReadOnlyAdmin",
    "clients",
    "column",
    "grants",
    "input_filter",
]
