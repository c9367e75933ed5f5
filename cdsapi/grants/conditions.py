"""Combining query conditions the way a grant means them."""

from collections.abc import Iterable
from functools import reduce
from operator import or_

from django.db.models import Q


def any_of(conditions: Iterable[Q]) -> Q:
    """Rows any of the conditions admit (none: no rows). An empty ``Q`` admits everything;
    Django's ``|`` would instead drop it (``Q(x) | Q()`` is ``Q(x)``), so it is handled here."""
    conditions = list(conditions)
    if not conditions:
        return Q(pk__in=[])
    if any(not q for q in conditions):
        return Q()
    return reduce(or_, conditions)
