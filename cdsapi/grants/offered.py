"""Every scope this server offers by default (the ``CDS_SCOPES`` setting): the seed
vocabulary and the upstream one, side by side in one registry."""

from cdsapi.grants.scopes import SEED_SCOPES, ScopeDescription
from cdsapi.grants.upstream import UPSTREAM_SCOPES

SCOPES: tuple[ScopeDescription, ...] = (*SEED_SCOPES, *UPSTREAM_SCOPES)
