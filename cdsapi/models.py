"""Pieces shared by the CDS object models of every app."""

from django.db import models


class CdsObject(models.Model):
    """The metadata every CDS top-level object carries (CDS-WG3-01 §10, common fields)."""

    cds_created = models.DateTimeField()
    cds_modified = models.DateTimeField()
    cds_synced = models.DateTimeField()

    class Meta:
        abstract = True
