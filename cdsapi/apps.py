from django.apps import AppConfig


class CdsapiConfig(AppConfig):
    name = "cdsapi"
    verbose_name = "CDS API core"
