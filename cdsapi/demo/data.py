"""A deterministic demo data set for a fictional utility, Cascade Valley Power & Gas.

Three customers hold six accounts (residential and commercial, one parent with two children),
with electric and gas service, monthly bills whose line items add up, and interval data:
15-minute electric (one meter net-metered with rooftop solar), hourly electric and hourly gas,
stored as one segment per local calendar day. The same arguments always give the same bytes.
"""

import math
import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from cdsapi.importer.loader import KINDS

TIMEZONE = ZoneInfo("America/Los_Angeles")
# The first day after the demo's data (and the sample's).
DEMO_END = date(2026, 11, 1)
SYNCED = "2026-11-02T06:00:00Z"
CENT = Decimal("0.01")

ENTITY = {
    "id": "ent-cvpg",
    "types": ["distributor", "supplier", "iou"],
    "entity_number": "US-XX-IOU-CVPG",
    "entity_name": "Cascade Valley Power & Gas",
    "entity_abbreviation": "CVPG",
}


@dataclass(frozen=True)
class Service:
    """One metered service of an account: a contract, a service point and a meter."""

    key: str
    kind: str  # "electric" | "gas"
    interval: int  # seconds per value set
    profile: str  # "home" | "solar_home" | "office" | "store" | "gas_home" | "gas_commercial"
    rateplan: tuple[str, str]
    fixed_charge: Decimal
    rate: Decimal


@dataclass(frozen=True)
class AccountSpec:
    key: str
    number: str
    name: str
    address: str
    types: tuple[str, ...]
    holder: str
    services: tuple[Service, ...]
    parent: str | None = None
    renamed: tuple[str, str] | None = None  # (date of change, new name)


E_RES = ("E-TOU-C", "Residential Time-of-Use")
E_NEM = ("E-TOU-NEM", "Residential Time-of-Use, Net Energy Metering")
E_COM = ("B-10", "Small Commercial Service")
G_RES = ("G-1", "Residential Gas Service")
G_COM = ("G-NR1", "Commercial Gas Service")

ACCOUNTS = (
    AccountSpec(
        "r1",
        "1001-4410-7",
        "Alice Okafor",
        "Alice Okafor\n18 Larch Lane\nFernridge, XX 90001",
        ("customer", "residential", "billed_monthly"),
        "alice",
        (
            Service(
                "r1e", "electric", 900, "solar_home", E_NEM, Decimal("12.50"), Decimal("0.3120")
            ),
            Service("r1g", "gas", 3600, "gas_home", G_RES, Decimal("6.80"), Decimal("1.8450")),
        ),
    ),
    AccountSpec(
        "r2",
        "1001-5523-2",
        "Bob Lindqvist",
        "Bob Lindqvist\n402 Osprey Court\nFernridge, XX 90003",
        ("customer", "residential", "billed_monthly"),
        "bob",
        (Service("r2e", "electric", 3600, "home", E_RES, Decimal("12.50"), Decimal("0.2980")),),
        renamed=("2025-06-15", "Bob and Dana Lindqvist"),
    ),
    AccountSpec(
        "r3",
        "1001-6637-9",
        "Bob Lindqvist",
        "Bob Lindqvist\n7 Summit Road\nHighpine, XX 90110",
        ("customer", "residential", "billed_monthly"),
        "bob",
        (Service("r3g", "gas", 3600, "gas_home", G_RES, Decimal("6.80"), Decimal("1.8450")),),
    ),
    AccountSpec(
        "c0",
        "2002-1000-0",
        "Juniper Bakery Co.",
        "Juniper Bakery Co.\n1 Mill Street\nFernridge, XX 90002",
        ("customer", "commercial", "parent", "billed_monthly"),
        "carol",
        (Service("c0e", "electric", 900, "office", E_COM, Decimal("24.00"), Decimal("0.2410")),),
    ),
    AccountSpec(
        "c1",
        "2002-1000-1",
        "Juniper Bakery - Riverside",
        "Juniper Bakery\n55 River Road\nFernridge, XX 90004",
        ("customer", "commercial", "child", "billed_monthly"),
        "carol",
        (Service("c1e", "electric", 3600, "store", E_COM, Decimal("24.00"), Decimal("0.2410")),),
        parent="c0",
    ),
    AccountSpec(
        "c2",
        "2002-1000-2",
        "Juniper Bakery - Ovens",
        "Juniper Bakery\n57 River Road\nFernridge, XX 90004",
        ("customer", "commercial", "child", "billed_monthly"),
        "carol",
        (
            Service(
                "c2g", "gas", 3600, "gas_commercial", G_COM, Decimal("18.00"), Decimal("1.5120")
            ),
        ),
        parent="c0",
    ),
)

CUSTOMERS = (
    ("alice", "alice@example.com"),
    ("bob", "bob@example.com"),
    ("carol", "carol@juniper-bakery.example"),
)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local_midnight(day: date) -> datetime:
    """Local midnight of ``day`` as a UTC instant (so that subtraction counts real seconds)."""
    return datetime.combine(day, time(0), tzinfo=TIMEZONE).astimezone(UTC)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, 1)


def _thousandths(value: float) -> Decimal:
    return Decimal(round(value * 1000)).scaleb(-3)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _season(moment: datetime) -> float:
    """1.0 at midwinter, -1.0 at midsummer."""
    return math.cos(2 * math.pi * (moment.timetuple().tm_yday - 15) / 365.25)


def _demand(profile: str, local: datetime, rng: random.Random) -> float:
    """Average power in kW (electric) or therm per hour (gas) at a local instant."""
    hour = local.hour + local.minute / 60
    season = _season(local)
    weekday = local.weekday() < 5
    noise = rng.uniform(0.85, 1.15)
    if profile in ("home", "solar_home"):
        base = (
            0.35
            + 0.9 * math.exp(-((hour - 7.5) ** 2) / 2)
            + 1.6 * math.exp(-((hour - 19) ** 2) / 5)
        )
        cooling = max(0.0, -season) * 1.8 * math.exp(-((hour - 16) ** 2) / 12)
        return (base + cooling) * noise
    if profile in ("office", "store"):
        open_hours = 6 <= hour < 18 if profile == "office" else 7 <= hour < 21
        level = (14.0 if weekday or profile == "store" else 4.0) if open_hours else 3.0
        cooling = max(0.0, -season) * (6.0 if open_hours else 1.0)
        return (level + cooling) * noise
    if profile == "gas_home":
        heating = max(0.0, season + 0.2) * (0.25 + 0.35 * math.exp(-((hour - 7) ** 2) / 3))
        return (0.02 + heating + 0.05 * math.exp(-((hour - 19) ** 2) / 2)) * noise
    # gas_commercial: bakery ovens from 3 am, plus space heating
    ovens = 3.2 if 3 <= hour < 13 else 0.3
    return (ovens + max(0.0, season) * 0.8) * noise


def _solar(local: datetime, rng: random.Random) -> float:
    """Rooftop PV output in kW: a daylight arc, longer and stronger in summer, some clouds."""
    hour = local.hour + local.minute / 60
    half_day = 4.5 - 1.8 * _season(local)
    arc = math.cos(math.pi * (hour - 12.5) / (2 * half_day)) if abs(hour - 12.5) < half_day else 0
    return 5.2 * (0.9 - 0.25 * _season(local)) * arc * rng.uniform(0.55, 1.0)


def _formats(service: Service) -> list[dict[str, Any]]:
    suffix = "15m" if service.interval == 900 else "1h"
    if service.kind == "gas":
        return [
            {
                "id": f"gas-{suffix}",
                "type": "natural_gas_usage",
                "units": "therm",
                "quality": "revenue",
            }
        ]
    if service.profile == "solar_home":
        return [
            {
                "id": f"elec-net-{suffix}",
                "type": "electric_usage",
                "units": "kWh",
                "direction": "net",
                "quality": "revenue",
            },
            {
                "id": f"elec-fwd-{suffix}",
                "type": "electric_usage",
                "units": "kWh",
                "direction": "forward",
                "quality": "revenue",
            },
            {
                "id": f"elec-rev-{suffix}",
                "type": "electric_usage",
                "units": "kWh",
                "direction": "reverse",
                "quality": "revenue",
            },
        ]
    return [
        {
            "id": f"elec-fwd-{suffix}",
            "type": "electric_usage",
            "units": "kWh",
            "direction": "forward",
            "quality": "revenue",
        }
    ]


def _day_values(service: Service, day: date, rng: random.Random) -> list[list[dict | None]]:
    start = _local_midnight(day)
    seconds = (_local_midnight(day + timedelta(days=1)) - start).total_seconds()
    count = int(seconds) // service.interval
    hours = service.interval / 3600
    key = "gu" if service.kind == "gas" else "eu"
    rows = []
    for i in range(count):
        local = (start + timedelta(seconds=i * service.interval)).astimezone(TIMEZONE)
        if rng.random() < 0.0005:  # the odd missing reading
            rows.append([None] * (3 if service.profile == "solar_home" else 1))
            continue
        use = _demand(service.profile, local, rng) * hours
        if service.profile != "solar_home":
            rows.append([{key: _thousandths(use)}])
            continue
        net = _thousandths(use) - _thousandths(_solar(local, rng) * hours)
        forward, reverse = (net, Decimal("0.000")) if net >= 0 else (Decimal("0.000"), net)
        rows.append([{"eu": net}, {"eu": forward}, {"eu": reverse}])
    return rows


class DemoBuilder:
    """Builds the document; ``end`` is the first day after the data."""

    def __init__(self, end: date, usage_days: int, bill_months: int, seed: int) -> None:
        self.end = end
        self.usage_days = usage_days
        self.bill_months = bill_months
        self.seed = seed
        self.doc: dict[str, list] = {kind: [] for kind in KINDS}
        self.monthly_usage: dict[tuple[str, date], Decimal] = {}

    def build(self) -> dict[str, list]:
        created = _utc(_local_midnight(_add_months(self.end, -self.bill_months - 1)))
        for spec in ACCOUNTS:
            self._account(spec, created)
            for service in spec.services:
                self._service(spec, service, created)
        for spec in ACCOUNTS:
            self._bills(spec)
        for username, email in CUSTOMERS:
            owned = [f"acc-{a.key}" for a in ACCOUNTS if a.holder == username]
            self.doc["customers"].append({"username": username, "email": email, "accounts": owned})
        return self.doc

    def _account(self, spec: AccountSpec, created: str) -> None:
        version = {
            "cds_account_id": f"acc-{spec.key}",
            "cds_created": created,
            "cds_modified": created,
            "cds_synced": SYNCED,
            "cds_account_parent": f"acc-{spec.parent}" if spec.parent else None,
            "customer_number": f"CUST-{spec.holder.upper()}",
            "account_number": spec.number,
            "account_entity": ENTITY,
            "account_name": spec.name,
            "account_address": spec.address,
            "account_types": list(spec.types),
            "account_status": "active",
            "account_contacts": [
                {
                    "id": f"ct-{spec.key}-1",
                    "types": ["email", "primary"],
                    "value": dict(CUSTOMERS)[spec.holder],
                },
            ],
            "account_programs": [],
        }
        self.doc["accounts"].append(version)
        if spec.renamed:
            changed_on, new_name = spec.renamed
            changed = _utc(_local_midnight(date.fromisoformat(changed_on)))
            address = spec.address.replace(spec.name, new_name, 1)
            self.doc["accounts"].append(
                {
                    **version,
                    "cds_modified": changed,
                    "account_name": new_name,
                    "account_address": address,
                }
            )

    def _service(self, spec: AccountSpec, service: Service, created: str) -> None:
        meta = {"cds_created": created, "cds_modified": created, "cds_synced": SYNCED}
        electric = service.kind == "electric"
        suffix = service.key[-1].upper()
        self.doc["service_contracts"].append(
            {
                "cds_servicecontract_id": f"sc-{service.key}",
                **meta,
                "cds_account_id": f"acc-{spec.key}",
                "contract_number": f"SA-{spec.number.replace('-', '')}-{service.key[-1].upper()}",
                "contract_address": spec.address.split("\n", 1)[1],
                "contract_types": ["utility_service", "billed_monthly"],
                "contract_entity": ENTITY,
                "contract_status": "active",
                "contract_start": "2019-04-01",
                "contract_end": None,
                "service_types": [
                    "electric" if electric else "natural_gas",
                    "commercial" if "commercial" in spec.types else "residential",
                    "metered",
                    "distribution",
                    "supply",
                ],
                "rateplan_code": service.rateplan[0],
                "rateplan_name": service.rateplan[1],
                "service_programs": [],
            }
        )
        self.doc["service_points"].append(
            {
                "cds_servicepoint_id": f"sp-{service.key}",
                **meta,
                "servicepoint_number": f"SP-{spec.number[-6:].replace('-', '')}{suffix}",
                "servicepoint_types": [
                    "electric" if electric else "natural_gas",
                    "single_service",
                    "physical",
                    "edge",
                ],
                "servicepoint_address": spec.address.split("\n", 1)[1],
                "latitude": Decimal("45.5") + Decimal(ACCOUNTS.index(spec)) / 100,
                "longitude": Decimal("-122.6") - Decimal(ACCOUNTS.index(spec)) / 100,
                "current_servicecontracts": [f"sc-{service.key}"],
                "previous_servicecontracts": [],
                "premises": [],
                "timezone": "America/Los_Angeles",
            }
        )
        meter_types = (
            ["electric_usage", "physical_meter", "ami_meter"]
            if electric
            else ["natural_gas_usage", "physical_meter", "amr_meter"]
        )
        if service.profile == "solar_home":
            meter_types.insert(1, "bidirectional")
        elif electric:
            meter_types.insert(1, "forward_only")
        self.doc["meter_devices"].append(
            {
                "cds_meterdevice_id": f"md-{service.key}",
                **meta,
                "meter_number": f"M{spec.number.replace('-', '')}{service.key[-1].upper()}",
                "meter_types": meter_types,
                "current_servicepoints": [f"sp-{service.key}"],
                "previous_servicepoints": [],
                "meter_apps": [],
            }
        )
        self._usage(spec, service)

    def _usage(self, spec: AccountSpec, service: Service) -> None:
        rng = random.Random(f"{self.seed}-{service.key}")
        formats = _formats(service)
        first = self.end - timedelta(days=self.usage_days)
        for n in range(self.usage_days):
            day = first + timedelta(days=n)
            values = _day_values(service, day, rng)
            start, end = _local_midnight(day), _local_midnight(day + timedelta(days=1))
            written = _utc(end + timedelta(hours=3))
            self.doc["usage_segments"].append(
                {
                    "cds_usagesegment_id": f"us-{service.key}-{day.isoformat()}",
                    "cds_created": written,
                    "cds_modified": written,
                    "cds_synced": SYNCED,
                    "cds_account_id": f"acc-{spec.key}",
                    "cds_meterdevice_id": f"md-{service.key}",
                    "related_aggregations": [],
                    "related_accounts": [f"acc-{spec.key}"],
                    "related_servicecontracts": [f"sc-{service.key}"],
                    "related_servicepoints": [f"sp-{service.key}"],
                    "related_meterdevices": [f"md-{service.key}"],
                    "related_billsections": [],
                    "segment_start": _utc(start),
                    "segment_end": _utc(end),
                    "interval": service.interval,
                    "formats": formats,
                    "values": values,
                }
            )
            month = day.replace(day=1)
            total = sum(
                (
                    row[0]["gu" if service.kind == "gas" else "eu"]
                    for row in values
                    if row[0] is not None
                ),
                Decimal("0.000"),
            )
            key = (service.key, month)
            self.monthly_usage[key] = self.monthly_usage.get(key, Decimal("0.000")) + total

    def _monthly_usage(self, service: Service, month: date) -> Decimal:
        """Metered total for the month, or a plausible estimate before interval data starts."""
        if (service.key, month) in self.monthly_usage and month >= (
            self.end - timedelta(days=self.usage_days)
        ):
            return self.monthly_usage[(service.key, month)]
        rng = random.Random(f"{self.seed}-{service.key}-{month.isoformat()}")
        midday = datetime.combine(month.replace(day=15), time(0), tzinfo=TIMEZONE)
        hours = [midday.replace(hour=h) for h in range(24)]
        per_hour = sum(_demand(service.profile, h, rng) for h in hours) / 24
        if service.profile == "solar_home":
            per_hour -= sum(_solar(h, rng) for h in hours) / 24
        days = (_add_months(month, 1) - month).days
        return _thousandths(per_hour * 24 * days)

    def _bills(self, spec: AccountSpec) -> None:
        first_month = _add_months(self.end.replace(day=1), -self.bill_months)
        previous_due = Decimal("0.00")
        for n in range(self.bill_months):
            month = _add_months(first_month, n)
            next_month = _add_months(month, 1)
            statement_date = next_month.replace(day=5)
            stamp = _utc(_local_midnight(statement_date) + timedelta(hours=6))
            meta = {"cds_created": stamp, "cds_modified": stamp, "cds_synced": SYNCED}
            statement_id = f"bst-{spec.key}-{month:%Y-%m}"
            charges = []
            for service in spec.services:
                section, total = self._section(spec, service, month, next_month, statement_id, meta)
                self.doc["bill_sections"].append(section)
                charges.append(
                    {
                        "id": f"nc-{service.key}-{month:%Y-%m}",
                        "name": "Electric Service Charges"
                        if service.kind == "electric"
                        else "Gas Service Charges",
                        "types": [
                            "electric_total" if service.kind == "electric" else "natural_gas_total"
                        ],
                        "amount": total,
                        "included_in_amount_due": True,
                        "related_billsections": [section["cds_billsection_id"]],
                    }
                )
            new_charges = sum((c["amount"] for c in charges), Decimal("0.00"))
            self.doc["bill_statements"].append(
                {
                    "cds_billstatement_id": statement_id,
                    **meta,
                    "cds_account_id": f"acc-{spec.key}",
                    "statement_date": statement_date.isoformat(),
                    "currency": "USD",
                    "file_uri": None,
                    "previous_balance_amount": previous_due,
                    "previous_balance_paid": previous_due,
                    "previous_balance_unpaid": Decimal("0.00"),
                    "new_charges_amount": new_charges,
                    "new_charges": charges,
                    "new_balance_amount": new_charges,
                    "amount_due": new_charges,
                    "amount_due_date": (statement_date + timedelta(days=21)).isoformat(),
                    "shutoff_prevention_minimum_due": None,
                    "shutoff_prevention_date": None,
                    "account_programs": [],
                }
            )
            previous_due = new_charges

    def _section(
        self,
        spec: AccountSpec,
        service: Service,
        month: date,
        next_month: date,
        statement_id: str,
        meta: dict[str, str],
    ) -> tuple[dict[str, Any], Decimal]:
        usage = self._monthly_usage(service, month)
        electric = service.kind == "electric"
        units = "kWh" if electric else "therm"
        start, end = month.isoformat(), (next_month - timedelta(days=1)).isoformat()
        key = f"{service.key}-{month:%Y-%m}"
        fixed = service.fixed_charge
        energy = _money(usage * service.rate)
        tax = _money((fixed + energy) * Decimal("0.0425"))
        total = fixed + energy + tax
        line_items = [
            {
                "id": f"li-{key}-1",
                "name": "Customer Charge",
                "types": ["fixed_charge", "distribution"],
                "start_date": start,
                "end_date": end,
                "cost": fixed,
                "value": None,
                "rate": None,
                "related_usage_details": [],
                "related_cost_details": [f"cd-{key}-1", f"cd-{key}-2"],
            },
            {
                "id": f"li-{key}-2",
                "name": "Energy Charge" if electric else "Gas Commodity Charge",
                "types": ["usage_charge", "supply"],
                "start_date": start,
                "end_date": end,
                "cost": energy,
                "value": usage,
                "units": units,
                "rate": service.rate,
                "related_usage_details": [f"ud-{key}-1"],
                "related_cost_details": [f"cd-{key}-1", f"cd-{key}-2"],
            },
            {
                "id": f"li-{key}-3",
                "name": "Utility Users Tax",
                "types": ["tax"],
                "start_date": start,
                "end_date": end,
                "cost": tax,
                "value": None,
                "rate": None,
                "related_usage_details": [],
                "related_cost_details": [f"cd-{key}-1", f"cd-{key}-3"],
            },
        ]
        section = {
            "cds_billsection_id": f"bsec-{key}",
            **meta,
            "cds_billstatement_id": statement_id,
            "cds_account_id": f"acc-{spec.key}",
            "section_types": [
                "service_contract",
                "electric" if electric else "natural_gas",
                "distribution",
                "supply",
            ],
            "start_date": start,
            "end_date": end,
            "currency": "USD",
            "distribution_entity": ENTITY,
            "supply_entity": ENTITY,
            "related_servicecontracts": [f"sc-{service.key}"],
            "related_servicepoints": [f"sp-{service.key}"],
            "related_meterdevices": [f"md-{service.key}"],
            "related_billsections": [],
            "usage_details": [
                {
                    "id": f"ud-{key}-1",
                    "name": "Total kWh" if electric else "Total therms",
                    "types": ["electric_usage" if electric else "natural_gas_usage", "ami_reading"],
                    "value": usage,
                    "units": units,
                    "start_date": start,
                    "end_date": end,
                }
            ],
            "cost_details": [
                {
                    "id": f"cd-{key}-1",
                    "name": "Total Charges",
                    "types": ["overall_total"],
                    "cost": total,
                },
                {
                    "id": f"cd-{key}-2",
                    "name": "Service Charges",
                    "types": ["subtotal"],
                    "cost": fixed + energy,
                },
                {"id": f"cd-{key}-3", "name": "Taxes", "types": ["taxes"], "cost": tax},
            ],
            "line_items": line_items,
        }
        return section, total


def build_demo(
    end: date, usage_days: int, bill_months: int, seed: int = 2026, id_tag: str = ""
) -> dict[str, list]:
    """The demo document: `usage_days` of intervals and `bill_months` of bills before `end`.
    With `id_tag`, every id carries it after its kind (`acc-sample-r1`), so that the document
    can be imported beside the demo's own without touching it."""
    doc = DemoBuilder(end, usage_days, bill_months, seed).build()
    return _tagged(doc, _id_pattern(), id_tag) if id_tag else doc


def _id_pattern() -> re.Pattern[str]:
    """The ids this generator writes: a kind, then an account's or a service's key."""
    keys = {a.key for a in ACCOUNTS} | {s.key for a in ACCOUNTS for s in a.services}
    alternatives = "|".join(sorted(keys, key=len, reverse=True))
    return re.compile(rf"^([a-z]+)-({alternatives})(?=-|$)")


def _tagged(value: Any, pattern: re.Pattern[str], tag: str) -> Any:
    if isinstance(value, str):
        return pattern.sub(rf"\1-{tag}\2", value)
    if isinstance(value, list):
        return [_tagged(v, pattern, tag) for v in value]
    if isinstance(value, dict):
        return {k: _tagged(v, pattern, tag) for k, v in value.items()}
    return value
