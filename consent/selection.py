"""What a customer may pick on the consent page, and what the request pre-ticks.

The choices are always the customer's own: the accounts they hold and what lies under them
(the same walk the policy makes, ``upstream_policy.resources_under``). Preselections only
tick boxes among those choices (CDS-WG3-01 §7.1); they never reach anyone else's objects.
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from accounts.models import Account, AccountVersion, MeterDevice, ServiceContract, ServicePoint
from cdsapi.grants.upstream import ACCOUNTS, CONTRACTS, METERS, POINTS, PRESELECTIONS
from cdsapi.grants.upstream_policy import (
    SELECTION_KINDS,
    preselected,
    preselected_under,
    resources_under,
)

ALL = "_all"
INCLUDE_FUTURE = "_include_future"


@dataclass(frozen=True)
class Choice:
    """One resource the customer may share: its cds id and how it reads to them."""

    id: str
    label: str
    detail: str = ""


@dataclass(frozen=True)
class Ticks:
    """What the request pre-ticks: ids, "include future", and whether it preselected at all."""

    ids: frozenset[str]
    include_future: bool
    asked: bool


def held_accounts(user: Any) -> frozenset[int]:
    return frozenset(Account.objects.filter(holders=user).values_list("pk", flat=True))


def choices(user: Any, selection_type: str) -> list[Choice]:
    """The customer's resources of the selection type's kind, in a stable order."""
    kind = SELECTION_KINDS[selection_type]
    pks = held_accounts(user)
    if kind == ACCOUNTS:
        versions = AccountVersion.objects.filter(account_id__in=pks).as_of(None)
        return [
            Choice(
                v.account.cds_account_id,
                f"Account {v.account_number or v.account.cds_account_id}",
                ", ".join(filter(None, [v.account_name, v.account_address])),
            )
            for v in versions.select_related("account").order_by("account__cds_account_id")
        ]
    universe = resources_under(pks, {})
    if kind == CONTRACTS:
        return [
            Choice(
                c.cds_servicecontract_id,
                f"Service contract {c.contract_number or c.cds_servicecontract_id}",
                ", ".join([*c.service_types, c.contract_address or ""]).strip(", "),
            )
            for c in ServiceContract.objects.filter(cds_servicecontract_id__in=universe.contracts)
        ]
    if kind == POINTS:
        return [
            Choice(
                p.cds_servicepoint_id,
                f"Service point {p.servicepoint_number or p.cds_servicepoint_id}",
                p.servicepoint_address or "",
            )
            for p in ServicePoint.objects.filter(cds_servicepoint_id__in=universe.points)
        ]
    return [
        Choice(
            m.cds_meterdevice_id,
            f"Meter {m.meter_number or m.cds_meterdevice_id}",
            ", ".join(m.meter_types),
        )
        for m in MeterDevice.objects.filter(cds_meterdevice_id__in=universe.meters)
    ]


def ticks(user: Any, selection_type: str, entries: list[dict[str, Any]]) -> Ticks:
    """The customer's resources the request's preselections match (WG3 §7.1: several
    preselections intersect; ``_all`` ticks everything, ``_include_future`` the "include
    future" box). A preselection at another level ticks what links to its matches."""
    kind = SELECTION_KINDS[selection_type]
    include_future = any(INCLUDE_FUTURE in (e.get(n) or ()) for e in entries for n in PRESELECTIONS)
    everything = any(ALL in (e.get(n) or ()) for e in entries for n in PRESELECTIONS)
    cleaned = [
        {n: [v for v in e[n] if v not in (ALL, INCLUDE_FUTURE)] for n in PRESELECTIONS if e.get(n)}
        for e in entries
    ]
    pres = {n: values for n, values in preselected(cleaned).items() if values}
    asked = bool(pres) or everything or include_future
    if not pres:
        ids = {c.id for c in choices(user, selection_type)} if everything else set()
        return Ticks(frozenset(ids), include_future, asked)
    universe = preselected_under(held_accounts(user), pres, None)
    lower = {PRESELECTIONS[n].kind for n in pres} - {ACCOUNTS}
    meters = universe.meters
    points = universe.points
    if METERS in lower:
        points = frozenset(
            ServicePoint.objects.filter(
                cds_servicepoint_id__in=points, current_meterdevices__cds_meterdevice_id__in=meters
            ).values_list("cds_servicepoint_id", flat=True)
        )
    contracts = universe.contracts
    if lower & {POINTS, METERS}:
        contracts = frozenset(
            ServiceContract.objects.filter(cds_servicecontract_id__in=contracts)
            .filter(
                Q(current_servicepoints__cds_servicepoint_id__in=points)
                | Q(previous_servicepoints__cds_servicepoint_id__in=points)
            )
            .values_list("cds_servicecontract_id", flat=True)
        )
    if kind == ACCOUNTS:
        accounts = Account.objects.filter(pk__in=universe.accounts)
        if lower:
            accounts = accounts.filter(contracts__cds_servicecontract_id__in=contracts)
        ids = frozenset(accounts.values_list("cds_account_id", flat=True))
    else:
        ids = {CONTRACTS: contracts, POINTS: points, METERS: meters}[kind]
    return Ticks(frozenset(ids), include_future, asked)


def accounts_for(user: Any, selection_type: str, ids: list[str]) -> list[Account]:
    """The customer's accounts a selection touches (the grant records them)."""
    kind = SELECTION_KINDS[selection_type]
    held = Account.objects.filter(holders=user)
    if kind == ACCOUNTS:
        found = held.filter(cds_account_id__in=ids)
    elif kind == CONTRACTS:
        found = held.filter(contracts__cds_servicecontract_id__in=ids)
    elif kind == POINTS:
        found = held.filter(
            Q(contracts__current_servicepoints__cds_servicepoint_id__in=ids)
            | Q(contracts__previous_servicepoints__cds_servicepoint_id__in=ids)
        )
    else:
        found = held.filter(
            contracts__current_servicepoints__current_meterdevices__cds_meterdevice_id__in=ids
        )
    return list(found.distinct())
