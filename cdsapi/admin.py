"""Admin pieces shared by the data apps."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class ImportedDataAdmin(admin.ModelAdmin):
    """Read-only admin for data that ``cds_import`` owns.

    Edits would bypass the import's validation and its version history, so the admin shows
    the data and leaves changes to the import.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ImportedDataInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
