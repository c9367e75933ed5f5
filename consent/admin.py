from django.contrib import admin

from consent.models import Receipt


@admin.register(Receipt)
class ReceiptAdmin(admin.ModelAdmin):
    """Receipts are what a customer approved: readable, never edited."""

    list_display = ("confirmation", "client_name", "grant", "created")
    search_fields = ("confirmation", "grant__id", "client_name")
    list_select_related = ("grant",)
    readonly_fields = [f.name for f in Receipt._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
