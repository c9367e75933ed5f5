"""The grant core: what a grant may say (``details``, ``scopes``), how grants are made and
ended (``lifecycle``), how tokens carry them (``oauth``, ``oauth_views``), and what a grant
lets a request see (``policy``)."""
