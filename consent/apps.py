from django.apps import AppConfig


class ConsentConfig(AppConfig):
    """Customers saying yes: the authorization endpoint, consent page, receipts and the
    customer's own list of grants (CDS-WG3-01 §9)."""

    name = "consent"
    default_auto_field = "django.db.models.BigAutoField"
