"""The Customer Data API framework every endpoint shares: the base view, filters, paging,
rendering, errors, authentication and serializer pieces."""
