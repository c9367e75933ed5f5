"""Loading CDS documents (``cds_import``): validation schema and the upserting loader."""
