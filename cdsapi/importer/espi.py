"""Green Button (NAESB ESPI) Atom feeds converted into a CDS import document.

The feed is read with lxml ``iterparse`` (no DTD, no entities, no network, no huge text
nodes), element by element: each ``IntervalReading`` is reduced to a small tuple and cleared
as soon as it is read, each ``entry`` once its resource is taken. Resources are linked by
their normalized ``self``/``up``/``related`` hrefs, in any entry order. The result is the
same dict a JSON document parses into, so ``load_document`` checks and writes it whole or
not at all. The mapping is documented in ``docs/green-button.md``.

Nothing here touches the database.
"""

import bisect
import hashlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import IO, Any, BinaryIO
from urllib.parse import urljoin, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from lxml import etree

from cdsapi import exactjson
from cdsapi.exactjson import canonical
from cdsapi.importer.errors import DEFAULT_MAX_ERRORS, DocumentError
from cdsapi.importer.stream import StreamedDocument

ATOM = "http://www.w3.org/2005/Atom"
ESPI = "http://naesb.org/espi"
CUSTOMER = "http://naesb.org/espi/customer"

# Epoch seconds past this are milliseconds (the year 5138), never seconds.
MAX_EPOCH_SECONDS = 100_000_000_000
MIN_EPOCH_SECONDS = -30_610_224_000  # 1000-01-01T00:00:00Z: CDS instants are years 1000-8999
MAX_READING_SECONDS = 400 * 86_400
MAX_POWER = 12  # ESPI's multipliers: pico (-12) to tera (12)

SERVICE_KINDS = {
    # ServiceCategory.kind: (service type, service point type, meter type)
    0: ("electric", "electric", "electric_usage"),
    1: ("natural_gas", "natural_gas", "natural_gas_usage"),
    2: ("water", "water", "water_usage"),
    6: ("waste_water", "water", "water_usage"),
}
SERVICE_NAMES = {0: "electricity", 1: "gas", 2: "water", 3: "time", 4: "heat", 5: "refuse",
                 6: "sewerage", 7: "rates", 8: "tvLicence", 9: "internet"}  # fmt: skip

CURRENCIES = {
    840: "USD", 124: "CAD", 978: "EUR", 826: "GBP", 36: "AUD", 484: "MXN", 756: "CHF",
    392: "JPY", 156: "CNY", 356: "INR", 554: "NZD", 752: "SEK", 578: "NOK", 208: "DKK",
}  # fmt: skip

QUALITIES = {
    0: "valid", 17: "valid", 7: "manual", 8: "estimated", 9: "calculated", 12: "calculated",
    11: "raw", 14: "revenue", 19: "revenue",
}  # fmt: skip

DEMAND_TYPES = {8: "peak", 2: "average"}
FLOW_DIRECTIONS = {1: "forward", 19: "reverse", 4: "net"}
USAGE_ACCUMULATIONS = {4, 9}
NOT_USAGE_ACCUMULATIONS = {2: "cumulative", 3: "continuous cumulative", 6: "indicating",
                           12: "instantaneous"}  # fmt: skip
LINE_ITEM_KINDS = {1: "supply", 2: "distribution", 3: "usage_charge", 4: "fixed_charge", 5: "tax"}

# A unit ladder: (CDS value type, [(power of ten of the unit, CDS unit), ...] lowest first).
ELECTRIC_ENERGY = ("electric_usage", [(0, "Wh"), (3, "kWh"), (6, "MWh")])
ELECTRIC_DEMAND = ("electric_demand", [(0, "W"), (3, "kW"), (6, "MW")])
GAS_UNITS = {169: "therm", 132: "Btu", 120: "scf", 167: "Sm3"}
WATER_UNITS = {42: [(0, "m3")], 134: [(0, "L")], 128: [(0, "gal")],
               119: [(0, "ft3"), (2, "CCF"), (3, "MCF"), (6, "MMCF")]}  # fmt: skip
UNIT_NAMES = {
    42: "m³", 63: "var", 71: "VAh", 72: "Wh", 73: "VArh", 38: "W", 61: "VA", 119: "ft³",
    128: "US gal", 130: "imperial gal", 132: "Btu", 134: "L", 166: "m³ (compensated)",
    169: "therm", 120: "ft³ (compensated)", 167: "m³ (standard)",
}  # fmt: skip

# (tzOffset, dstOffset, dstStartRule, dstEndRule) → IANA zone. Rules in upper-case hex;
# None: no daylight saving time.
US_RULES = ("360E2000", "B40E2000")
KNOWN_ZONES = {
    (-18000, 3600, *US_RULES): "America/New_York",
    (-21600, 3600, *US_RULES): "America/Chicago",
    (-25200, 3600, *US_RULES): "America/Denver",
    (-28800, 3600, *US_RULES): "America/Los_Angeles",
    (-32400, 3600, *US_RULES): "America/Anchorage",
    (-25200, None, None, None): "America/Phoenix",
    (-36000, None, None, None): "Pacific/Honolulu",
    (-14400, None, None, None): "America/Puerto_Rico",
}
NO_DST = "FFFFFFFF"

SMALL_RESOURCES = {
    (ESPI, "UsagePoint"),
    (ESPI, "MeterReading"),
    (ESPI, "ReadingType"),
    (ESPI, "LocalTimeParameters"),
    (ESPI, "UsageSummary"),
    (ESPI, "ElectricPowerUsageSummary"),
    (CUSTOMER, "CustomerAccount"),
    (CUSTOMER, "Customer"),
    (CUSTOMER, "CustomerAgreement"),
    (CUSTOMER, "ServiceLocation"),
    (CUSTOMER, "Meter"),
}
CUSTOMER_KINDS = {
    "residential": "residential", "commercial": "commercial", "industrial": "industrial",
    "agricultural": "agriculture", "residentialAndCommercial": "commercial",
    "commercialIndustrial": "commercial", "internalUse": "internal",
}  # fmt: skip


def sniff_xml(head: bytes) -> bool:
    """Whether a document whose first bytes are ``head`` is XML: its first non-space character
    is ``<`` (in UTF-8, or in UTF-16 after its byte order mark, which lxml reads)."""
    for bom, encoding in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[2:].decode(encoding, errors="ignore").lstrip().startswith("<")
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return text.startswith(b"<")


@dataclass
class Reading:
    start: int
    duration: int
    value: int | None
    cost: int | None
    quality: int | None
    path: str


@dataclass
class Resource:
    """One small resource: its kind, element path, links and leaf fields."""

    kind: str
    path: str
    self_href: str
    up: str | None
    related: list[str]
    fields: dict[str, str]
    updated: datetime | None
    element: Any = None  # only for resources whose structure matters (summaries, customers)


@dataclass
class Block:
    """An IntervalBlock: its readings while it is read, then what the first reading of the
    feed keeps of them (the second reads them again, block by block)."""

    path: str
    self_href: str
    up: str | None
    readings: list[Reading] = field(default_factory=list)
    updated: datetime | None = None
    count: int = 0
    end: int = 0  # the latest end of a reading
    qualities: set[int | None] = field(default_factory=set)
    has_cost: bool = False

    def summarize(self) -> None:
        self.count = len(self.readings)
        self.end = max((r.start + r.duration for r in self.readings), default=0)
        self.qualities = {r.quality for r in self.readings}
        self.has_cost = any(r.cost for r in self.readings)
        self.readings = []


@dataclass
class Conversion:
    """A converted feed: the import document (as parsed JSON would be) and notes about what
    was skipped."""

    document: dict[str, Any]
    notes: list[str]


def short_id(prefix: str, kind: str, href: str, *extra: Any) -> str:
    digest = hashlib.sha256("\n".join([kind, href, *map(str, extra)]).encode()).hexdigest()
    return f"gb-{prefix}-{digest[:16]}"


def normalize_href(href: str, base: str | None) -> str:
    href = href.strip()
    if base:
        href = urljoin(base, href)
    parts = urlsplit(href)
    path = parts.path.rstrip("/") or "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def parent_href(href: str) -> str:
    return href.rsplit("/", 1)[0] if "/" in href else href


def _rfc3339(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _atom_time(text: str | None) -> datetime | None:
    """An Atom ``updated``/``published`` time; a missing zone means UTC; unreadable: None."""
    if not text or not text.strip():
        return None
    text = text.strip().replace("z", "Z")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).replace(microsecond=0)
    except (ValueError, OverflowError):
        return None


@lru_cache(maxsize=1024)
def _local(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        return ns, name
    return "", tag


class _Reader:
    """One pass over the feed with ``iterparse``: small resources kept whole (as leaf
    fields), interval readings as tuples, everything cleared as read."""

    def __init__(self, source: BinaryIO, on_block: Callable[[int, Block], None]) -> None:
        self.source = source
        self.on_block = on_block  # called as each block ends, with its readings
        self.resources: list[Resource] = []
        self.blocks: list[Block] = []
        self.feed_self: str | None = None
        self.feed_updated: datetime | None = None
        self.block_count = 0

    def read(self) -> None:
        parser = etree.iterparse(
            self.source,
            events=("start", "end"),
            huge_tree=False,
            no_network=True,
            resolve_entities=False,
            load_dtd=False,
            dtd_validation=False,
            remove_comments=True,
            remove_pis=True,
        )
        stack: list[str] = []  # the path of the current element, with indexes
        counts: list[dict[str, int]] = [{}]
        entry: dict[str, Any] | None = None
        block: Block | None = None
        checked_doctype = False
        inside = 0  # depth below the IntervalReading being read (its children: _reading's)
        try:
            for event, elem in parser:
                if inside:
                    inside += 1 if event == "start" else -1
                    if inside:
                        continue
                if not checked_doctype:
                    checked_doctype = True
                    docinfo = elem.getroottree().docinfo
                    if docinfo.doctype or docinfo.internalDTD is not None:
                        raise DocumentError(
                            "$", "a DOCTYPE is not accepted in a Green Button feed "
                            "(no DTDs or entities: they are a way to attack the parser)"
                        )  # fmt: skip
                ns, name = _local(elem.tag) if isinstance(elem.tag, str) else ("", "?")
                if event == "start":
                    n = counts[-1].get(name, 0) + 1
                    counts[-1][name] = n
                    if not stack and (ns, name) not in ((ATOM, "feed"), (ATOM, "entry")):
                        raise DocumentError(
                            name,
                            f"expected an Atom feed or entry ({{{ATOM}}}feed), got {{{ns}}}{name}",
                        )
                    indexed = n > 1 or name in ("entry", "IntervalReading")
                    stack.append(f"{name}[{n}]" if indexed else name)
                    counts.append({})
                    if ns == ESPI and name == "IntervalReading" and block is not None:
                        inside = 1
                    elif ns == ATOM and name == "entry":
                        entry = {"path": "/".join(stack), "links": [], "resources": []}
                    elif ns == ESPI and name == "IntervalBlock" and entry is not None:
                        block = Block(path="/".join(stack), self_href="", up=None)
                        entry["resources"].append(block)
                    continue
                path = "/".join(stack)
                stack.pop()
                counts.pop()
                if ns == ESPI and name == "IntervalReading" and block is not None:
                    block.readings.append(_reading(elem, path))
                    _drop(elem)
                elif ns == ESPI and name == "IntervalBlock":
                    if block is not None:
                        self.on_block(self.block_count, block)
                        self.block_count += 1
                    block = None
                    _drop(elem, keep=True)
                elif ns == ATOM and name == "link" and len(stack) <= 2:
                    link = (elem.get("rel") or "", elem.get("href") or "", path)
                    if entry is not None and stack[-1].startswith("entry"):
                        entry["links"].append(link)
                    elif len(stack) == 1 and link[0] == "self" and link[1].strip():
                        self.feed_self = link[1].strip()
                elif ns == ATOM and name in ("updated", "published") and entry is not None:
                    if name == "updated" or "updated" not in entry:
                        entry[name] = _atom_time(elem.text)
                elif ns == ATOM and name == "updated" and len(stack) == 1:
                    self.feed_updated = _atom_time(elem.text)
                elif (ns, name) in SMALL_RESOURCES and entry is not None and stack and (
                    stack[-1] == "content"
                ):  # fmt: skip
                    entry["resources"].append((name, path, elem))
                elif ns == ATOM and name == "entry" and entry is not None:
                    self._take_entry(entry)
                    entry = None
                    _drop(elem)
        except etree.XMLSyntaxError as exc:
            where = "/".join(stack) or "$"
            reason = str(exc.msg if hasattr(exc, "msg") else exc)
            if "huge" in reason.lower() or "too long" in reason.lower():
                reason += " (a text node over 10 MB is refused)"
            raise DocumentError(where, f"not well-formed or not accepted XML: {reason}") from None

    def _take_entry(self, entry: dict[str, Any]) -> None:
        self_href, up, related = "", None, []
        for rel, href, _path in entry["links"]:
            if not href.strip():
                continue
            if rel == "self":
                self_href = href
            elif rel == "up":
                up = href
            elif rel == "related":
                related.append(href)
        updated = entry.get("updated") or entry.get("published")
        for item in entry["resources"]:
            if isinstance(item, Block):
                item.self_href, item.up, item.updated = self_href, up, updated
                if not self_href and not up:
                    raise DocumentError(
                        entry["path"], "an IntervalBlock entry has no self or up link"
                    )
                self.blocks.append(item)
                continue
            name, path, elem = item
            if not self_href:
                raise DocumentError(entry["path"], f'the {name} entry has no link rel="self"')
            keep = name in ("UsageSummary", "ElectricPowerUsageSummary") or (name.startswith(
                ("Customer", "ServiceLocation", "Meter")
            ) and name != "MeterReading")  # fmt: skip
            self.resources.append(
                Resource(
                    kind=name,
                    path=path,
                    self_href=self_href,
                    up=up,
                    related=related,
                    fields=_leaves(elem),
                    updated=updated,
                    element=_copy(elem) if keep else None,
                )
            )


def _copy(elem: Any) -> Any:
    return etree.fromstring(etree.tostring(elem), etree.XMLParser(resolve_entities=False))


def _drop(elem: Any, keep: bool = False) -> None:
    """Free a parsed element (and its earlier siblings)."""
    if not keep:
        elem.clear(keep_tail=False)
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def _leaves(elem: Any) -> dict[str, str]:
    """The direct child leaf elements of a resource (and one level of nesting, such as
    ``ServiceCategory/kind``), by local name: ``{"uom": "72", "ServiceCategory/kind": "0"}``."""
    out: dict[str, str] = {}
    for child in elem:
        if not isinstance(child.tag, str):
            continue
        name = _local(child.tag)[1]
        if len(child):
            for grand in child:
                if isinstance(grand.tag, str) and not len(grand):
                    out.setdefault(f"{name}/{_local(grand.tag)[1]}", (grand.text or "").strip())
        else:
            out.setdefault(name, (child.text or "").strip())
    return out


_INTEGER = re.compile(r"[+-]?[0-9]+")  # ASCII digits only (\d takes other scripts' too)


def _int(text: str | None, path: str, what: str = "an integer") -> int | None:
    """An ESPI integer; an empty element is absent."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if not _INTEGER.fullmatch(text):
        raise DocumentError(path, f"expected {what}, got {text[:40]!r}")
    if len(text.lstrip("+-")) > 19:
        raise DocumentError(path, f"more digits than an ESPI integer (64 bits) has: {text[:40]}…")
    return int(text)


def _power(text: str | None, path: str) -> int:
    power = _int(text, path) or 0
    if abs(power) > MAX_POWER:
        raise DocumentError(
            path, f"{power} is not an ESPI power of ten (-{MAX_POWER} to {MAX_POWER})"
        )
    return power


def _time(text: str | None, path: str) -> int | None:
    seconds = _int(text, path, "epoch seconds (a whole number, UTC)")
    if seconds is not None and abs(seconds) >= MAX_EPOCH_SECONDS:
        raise DocumentError(path, f"{seconds} looks like milliseconds; ESPI times are seconds")
    if seconds is not None and seconds < MIN_EPOCH_SECONDS:
        raise DocumentError(path, f"{seconds} is before the year 1000")
    return seconds


def _reading(elem: Any, path: str) -> Reading:
    texts: dict[str, str | None] = {}
    quality = None
    for child in elem:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        ns, name = _local(tag)
        if ns != ESPI:
            continue
        if name == "timePeriod":
            for part in child:
                if isinstance(part.tag, str) and _local(part.tag)[0] == ESPI:
                    texts["timePeriod/" + _local(part.tag)[1]] = part.text
        elif name == "ReadingQuality":
            for part in child:
                if isinstance(part.tag, str) and _local(part.tag) == (ESPI, "quality"):
                    q = _int(part.text, f"{path}/ReadingQuality/quality")
                    quality = q if quality is None else quality
        elif name in ("value", "cost"):
            texts[name] = child.text

    def number(key: str) -> int | None:
        return _int(texts.get(key), f"{path}/{key}" if key in texts else path)

    start = _time(texts.get("timePeriod/start"), f"{path}/timePeriod/start")
    duration = number("timePeriod/duration")
    if start is None:
        raise DocumentError(f"{path}/timePeriod/start", "an IntervalReading needs its start")
    if duration is None or duration <= 0:
        raise DocumentError(f"{path}/timePeriod/duration", "a positive duration is required")
    if duration > MAX_READING_SECONDS:
        raise DocumentError(f"{path}/timePeriod/duration", f"{duration} s is longer than 400 days")
    return Reading(start, duration, number("value"), number("cost"), quality, path)


# -- conversion ----------------------------------------------------------------------------


@dataclass
class Format:
    """How one MeterReading's values become CDS value objects."""

    type: str
    key: str
    units: str
    power: int  # the power of ten to apply to an ESPI value to get the CDS unit
    negate: bool
    fmt: dict[str, Any]
    currency: str | None


def _value_format(rt: Resource, path: str, service: int) -> Format | str:
    """The CDS format of a ReadingType, or the reason its readings are skipped (a string).
    Units CDS cannot express raise."""
    f = rt.fields
    uom = _int(f.get("uom"), f"{rt.path}/uom")
    power = _power(f.get("powerOfTenMultiplier"), f"{rt.path}/powerOfTenMultiplier")
    kind = _int(f.get("kind"), f"{rt.path}/kind")
    accumulation = _int(f.get("accumulationBehaviour"), f"{rt.path}/accumulationBehaviour")
    flow = _int(f.get("flowDirection"), f"{rt.path}/flowDirection")
    qualifier = _int(f.get("dataQualifier"), f"{rt.path}/dataQualifier")
    currency_code = _int(f.get("currency"), f"{rt.path}/currency")
    if uom is None:
        raise DocumentError(f"{rt.path}/uom", "a ReadingType needs its unit of measure (uom)")
    if flow == 20:
        return "flowDirection 20 (|forward| + |reverse|) is neither a CDS direction nor net"
    if flow not in (None, 0, *FLOW_DIRECTIONS):
        raise DocumentError(f"{rt.path}/flowDirection", f"flowDirection {flow} is not supported "
                            "(1 forward, 19 reverse, 4 net)")  # fmt: skip
    demand = uom == 38 and kind == 8
    if not demand and accumulation in NOT_USAGE_ACCUMULATIONS:
        name = NOT_USAGE_ACCUMULATIONS[accumulation]
        return f"accumulationBehaviour {accumulation} ({name}) is not interval usage"
    register = accumulation == 1
    if uom == 72:
        vtype, ladder = ELECTRIC_ENERGY
    elif uom == 38:
        if not demand:
            return f"uom 38 (W) with kind {kind} is not demand (kind 8)"
        vtype, ladder = ELECTRIC_DEMAND
    elif uom in GAS_UNITS and service != 2:
        vtype, ladder = "natural_gas_usage", [(0, GAS_UNITS[uom])]
    elif uom in WATER_UNITS and service in (2, 6):
        vtype, ladder = "water_usage", WATER_UNITS[uom]
    else:
        unit = UNIT_NAMES.get(uom, "unknown")
        what = SERVICE_NAMES.get(service, f"service kind {service}")
        raise DocumentError(
            f"{rt.path}/uom",
            f"uom {uom} ({unit}) for {what} has no CDS unit: CDS expresses electricity in "
            "Wh/kWh/MWh and W/kW/MW, gas in therm/Btu/scf/Sm3, water in m3/L/gal/ft3/CCF/MCF/"
            "MMCF; convert the feed or leave this MeterReading out",
        )
    # The largest unit of the ladder not above the power of ten; the rest scales the value.
    unit_power, unit = ladder[0]
    for p, u in ladder:
        if p <= power:
            unit_power, unit = p, u
    fmt: dict[str, Any] = {"type": "meter_readings" if register else vtype, "units": unit}
    direction = FLOW_DIRECTIONS.get(flow) if flow else None
    if (direction and not register and vtype == "electric_usage") or (
        direction and vtype == "electric_demand"
    ):  # fmt: skip
        fmt["direction"] = direction
    if demand and not register:
        if qualifier not in DEMAND_TYPES:
            raise DocumentError(f"{rt.path}/dataQualifier",
                                "demand (kind 8, uom 38) needs dataQualifier 8 (maximum: peak) "
                                "or 2 (average)")  # fmt: skip
        fmt["demand_type"] = DEMAND_TYPES[qualifier]
    currency = None
    if currency_code is not None:
        if currency_code not in CURRENCIES:
            raise DocumentError(f"{rt.path}/currency", f"currency {currency_code} is not a "
                                "known ISO 4217 numeric code (0 'other' is refused)")  # fmt: skip
        currency = CURRENCIES[currency_code]
    key = "r" if register else {"electric_usage": "eu", "electric_demand": "ed",
                                "natural_gas_usage": "gu", "water_usage": "wu"}[vtype]  # fmt: skip
    return Format(fmt["type"], key, unit, power - unit_power, flow == 19, fmt, currency)


def _scaled(value: int, power: int, negate: bool = False) -> Decimal:
    """``value`` times 10^``power`` exactly, in plain notation (``0E-5`` is ``0.00000``)."""
    number = Decimal(-value if negate else value).scaleb(power)
    return canonical(Decimal(f"{number:f}"))


def _runs(readings: list[Reading], path: str) -> list[list[Reading]]:
    """Readings sorted, identical duplicates dropped, overlaps refused, split into runs of
    equal back-to-back durations."""
    readings.sort(key=lambda r: (r.start, r.duration))
    kept: list[Reading] = []
    for r in readings:
        if kept and kept[-1].start == r.start:
            prev = kept[-1]
            if (prev.duration, prev.value, prev.cost, prev.quality) == (
                r.duration, r.value, r.cost, r.quality
            ):  # fmt: skip
                continue
            raise DocumentError(r.path, f"conflicts with {prev.path}: same start "
                                f"{_rfc3339(r.start)}, different reading")  # fmt: skip
        if kept and r.start < kept[-1].start + kept[-1].duration:
            raise DocumentError(r.path, f"overlaps {kept[-1].path} (starts "
                                f"{_rfc3339(r.start)}, before that reading ends)")  # fmt: skip
        kept.append(r)
    runs: list[list[Reading]] = []
    for r in kept:
        last = runs[-1][-1] if runs else None
        if last and last.duration == r.duration and last.start + last.duration == r.start:
            runs[-1].append(r)
        else:
            runs.append([r])
    return runs


_DST_FIELDS = ("dstStartRule", "dstEndRule")


def decode_dst_rule(text: str) -> dict[str, int] | None:
    """An ESPI DstRuleType (hex) as its fields; None for ``FFFFFFFF`` (no DST)."""
    value = int(text, 16)
    if value == 0xFFFFFFFF:
        return None
    return {
        "seconds": value & 0xFFF,
        "hour": (value >> 12) & 0x1F,
        "weekday": (value >> 17) & 0x7,
        "day": (value >> 20) & 0x1F,
        "operator": (value >> 25) & 0x7,
        "month": (value >> 28) & 0xF,
    }


def zone_of(ltp: Resource) -> str | None:
    """The IANA zone of LocalTimeParameters, if its tuple is a known one."""
    f = ltp.fields
    tz = _int(f.get("tzOffset"), f"{ltp.path}/tzOffset")
    dst = _int(f.get("dstOffset"), f"{ltp.path}/dstOffset")
    rules = []
    for name in _DST_FIELDS:
        text = (f.get(name) or "").strip().upper().removeprefix("0X")
        if text and not re.fullmatch(r"[0-9A-F]{1,8}", text):
            raise DocumentError(f"{ltp.path}/{name}", f"expected 8 hex digits, got {text[:20]!r}")
        if text:
            rule = decode_dst_rule(text)
            if rule is not None and not 1 <= rule["month"] <= 12:
                return None  # undecodable (month 0): not a known zone
        rules.append(text.zfill(8) if text else None)
    if not dst or all(r in (None, NO_DST) for r in rules):
        key: tuple[Any, ...] = (tz, None, None, None)
    else:
        key = (tz, dst, *rules)
    return KNOWN_ZONES.get(key)


def convert(
    source: bytes | BinaryIO | Path | str,
    *,
    account: str | None = None,
    timezone: str | None = None,
) -> Conversion:
    """Convert an ESPI feed (bytes, a binary file or a path) into a CDS import document, in
    memory (for a small feed; ``convert_to`` writes any feed to a file)."""
    out = BytesIO()
    notes = convert_to(source, out, account=account, timezone=timezone)
    return Conversion(exactjson.loads(out.getvalue()), notes)


def convert_to(
    source: bytes | BinaryIO | Path | str,
    out: IO[bytes],
    *,
    account: str | None = None,
    timezone: str | None = None,
) -> list[str]:
    """Convert an ESPI feed into a CDS import document written to ``out`` as JSON, in
    memory that does not grow with the feed's readings: a first reading keeps the small
    resources and a summary of each IntervalBlock, a second turns each block's readings into
    segments as it goes. Returns notes on what was skipped."""
    if isinstance(source, bytes):
        source = BytesIO(source)
    if isinstance(source, str | Path):
        with open(source, "rb") as stream:
            return convert_to(stream, out, account=account, timezone=timezone)
    _refuse_doctype(source)
    reader = _Reader(source, on_block=lambda _n, block: block.summarize())
    reader.read()
    converter = _Converter(reader, account, timezone)
    converter.run()
    converter.write(source, out)
    return converter.notes


def _refuse_doctype(stream: BinaryIO) -> None:
    """Refuse a DOCTYPE before parsing at all (it is checked again while parsing)."""
    if not stream.seekable():
        return
    head = stream.read(65536)
    stream.seek(0)
    text = head.removeprefix(b"\xef\xbb\xbf")
    text = re.sub(rb"<\?.*?\?>|<!--.*?-->|\s+", b"", text, flags=re.S)
    if text[:9].upper() == b"<!DOCTYPE" or b"<!ENTITY" in head.upper():
        raise DocumentError(
            "$", "a DOCTYPE is not accepted in a Green Button feed "
            "(no DTDs or entities: they are a way to attack the parser)"
        )  # fmt: skip


@dataclass(eq=False)
class _Plan:
    """What the segments of one MeterReading's readings are made of."""

    mr: Resource
    fmt: "Format"
    formats: list[dict[str, Any]]
    with_cost: bool
    common: dict[str, Any]  # metadata and links of every segment
    run: list[Reading] = field(default_factory=list)  # the run being read
    written: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, path)


# A run of readings longer than this is cut into several segments (about 100 days of
# quarter-hours): a segment is written whole, so this bounds the memory a feed takes; and
# when the runs not yet written (of several MeterReadings) hold more than MAX_HELD readings,
# the longest is written.
MAX_RUN = 10_000
MAX_HELD = 30_000


def _start(reading: Reading) -> int:
    return reading.start


class _Segments:
    """Usage segments from each block's readings, in feed order: per MeterReading, runs of
    equal back-to-back durations across its blocks (so a DST day or a change of interval
    starts a new segment). A reading repeated identically is dropped; one that conflicts
    with another or overlaps it is refused."""

    def __init__(self, plans: dict[int, _Plan], emit: Callable[[dict[str, Any]], None]) -> None:
        self.plans = plans
        self.emit = emit
        self.open: dict[int, _Plan] = {}  # the plans with a run not yet written

    def block(self, position: int, block: Block) -> None:
        plan = self.plans.get(position)
        if plan is None:
            return
        for r in sorted(block.readings, key=lambda r: (r.start, r.duration)):
            if plan.fmt.negate and r.value is not None and r.value < 0:
                raise DocumentError(f"{r.path}/value", "a reverse-flow reading is negative: "
                                    "ESPI gives reverse flow as a positive value")  # fmt: skip
            run = plan.run
            last = run[-1] if run else None
            if last is not None and r.start < last.start + last.duration:
                at = bisect.bisect_left(run, r.start, key=_start)  # (a run is in time order)
                same = run[at] if at < len(run) and run[at].start == r.start else None
                if same is not None and (same.duration, same.value, same.cost, same.quality) == (
                    r.duration, r.value, r.cost, r.quality
                ):  # fmt: skip
                    continue
                if same is not None:
                    raise DocumentError(r.path, f"conflicts with {same.path}: same start "
                                        f"{_rfc3339(r.start)}, different reading")  # fmt: skip
                if r.start >= run[0].start:
                    raise DocumentError(
                        r.path,
                        f"overlaps {last.path} (starts {_rfc3339(r.start)}, before that "
                        "reading ends)",
                    )
            if (
                last is not None
                and last.duration == r.duration
                and last.start + last.duration == r.start
                and len(run) < MAX_RUN
            ):
                run.append(r)
                continue
            self._write(plan)
            plan.run = [r]
        block.readings = []
        self.open[id(plan)] = plan
        while sum(len(p.run) for p in self.open.values()) > MAX_HELD:
            self._write(max(self.open.values(), key=lambda p: len(p.run)))

    def finish(self) -> None:
        for plan in list(self.open.values()):
            self._write(plan)

    def _write(self, plan: _Plan) -> None:
        run, plan.run = plan.run, []
        self.open.pop(id(plan), None)
        if not run:
            return
        start, interval = run[0].start, run[0].duration
        end = start + interval * len(run)
        at = bisect.bisect_left(plan.written, (start,))
        for other in plan.written[max(0, at - 1) : at + 1]:
            if other[0] < end and start < other[1]:
                raise DocumentError(run[0].path, f"overlaps the readings from {other[2]} "
                                    f"({_rfc3339(other[0])} to {_rfc3339(other[1])})")  # fmt: skip
        bisect.insort(plan.written, (start, end, run[0].path))
        fmt = plan.fmt
        values = []
        for r in run:
            if r.value is None:
                obj = None
            elif fmt.key == "r":
                obj = {"r": str(_scaled(r.value, fmt.power, fmt.negate))}
            else:
                obj = {fmt.key: _scaled(r.value, fmt.power, fmt.negate)}
            row = [obj]
            if plan.with_cost:
                row.append(None if r.cost is None else {"c": _scaled(r.cost, -5)})
            values.append(row)
        self.emit(
            {
                "cds_usagesegment_id": short_id(
                    "us", "segment", plan.mr.self_href, start, plan.common["cds_account_id"]
                ),
                **plan.common,
                "segment_start": _rfc3339(start),
                "segment_end": _rfc3339(end),
                "interval": interval,
                "formats": plan.formats,
                "values": values,
            }
        )


class _Converter:
    def __init__(self, reader: _Reader, account: str | None, timezone: str | None) -> None:
        self.reader = reader
        self.account = account
        self.timezone = timezone
        self.base = reader.feed_self
        self.notes: list[str] = []
        self.claimed: set[int] = set()  # the blocks a MeterReading took (by id)
        self.plans: dict[int, _Plan] = {}  # by the block's position in the feed
        self.doc: dict[str, list[Any]] = {k: [] for k in (
            "accounts", "service_contracts", "service_points", "meter_devices",
            "bill_sections", "usage_segments", "customers")}  # fmt: skip
        for r in reader.resources:
            r.self_href = self.href(r.self_href)
            r.up = self.href(r.up) if r.up else None
            r.related = [self.href(h) for h in r.related]
        for b in reader.blocks:
            b.self_href = self.href(b.self_href) if b.self_href else ""
            b.up = self.href(b.up) if b.up else None

    def href(self, href: str) -> str:
        return normalize_href(href, self.base)

    def of_kind(self, *kinds: str) -> list[Resource]:
        return [r for r in self.reader.resources if r.kind in kinds]

    def children(self, parent: Resource, items: list[Any]) -> list[Any]:
        """The items linked below ``parent``: up is one of its related hrefs, or the item's
        self is, or (links missing) the item's up is a collection directly below parent."""
        related = set(parent.related)
        return [
            c
            for c in items
            if (c.up and c.up in related)
            or (c.self_href and c.self_href in related)
            or (c.up and parent_href(c.up) == parent.self_href)
        ]

    def stamp(self, *moments: datetime | None) -> str:
        known = [m for m in (*moments, self.reader.feed_updated) if m is not None]
        moment = max(known) if known else self.fallback
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def run(self) -> Conversion:
        points = self.of_kind("UsagePoint")
        if not points:
            raise DocumentError("feed", "no UsagePoint entry: nothing to import")
        ends = [b.end for b in self.reader.blocks if b.count]
        self.fallback = datetime.fromtimestamp(max(ends), UTC) if ends else datetime(
            1970, 1, 1, tzinfo=UTC)  # fmt: skip
        self._check_duplicates()
        account_id = self._account()
        for point in points:
            self._usage_point(point, account_id)
        for block in self.reader.blocks:
            if block.count and id(block) not in self.claimed:
                self.notes.append(f"{block.path}: linked to no MeterReading, skipped")

    def write(self, source: BinaryIO, out: IO[bytes]) -> None:
        """The document as JSON: the objects converted so far, then the usage segments of
        the readings, read again block by block."""
        out.write(b"{")
        for kind, objects in self.doc.items():
            if kind == "usage_segments":
                continue
            out.write(f'"{kind}":['.encode())
            out.write(",".join(exactjson.dumps(o) for o in objects).encode())
            out.write(b"],")
        out.write(b'"usage_segments":[')
        written = 0

        def emit(segment: dict[str, Any]) -> None:
            nonlocal written
            out.write((b"," if written else b"") + exactjson.dumps(segment).encode())
            written += 1

        for segment in self.doc["usage_segments"]:  # billing periods of usage summaries
            emit(segment)
        segments = _Segments(self.plans, emit)
        source.seek(0)
        _Reader(source, on_block=segments.block).read()
        segments.finish()
        out.write(b"]}")

    def _check_duplicates(self) -> None:
        seen: dict[tuple[str, str], Resource] = {}
        for r in self.reader.resources:
            prev = seen.get((r.kind, r.self_href))
            if prev is None:
                seen[(r.kind, r.self_href)] = r
            elif prev.fields != r.fields:
                raise DocumentError(r.path, f"conflicts with {prev.path}: same {r.kind} self "
                                    f"href {r.self_href}, different content")  # fmt: skip
        unique = {id(r) for r in seen.values()}
        self.reader.resources = [r for r in self.reader.resources if id(r) in unique]

    # -- customer resources -----------------------------------------------------------------

    def _account(self) -> str:
        accounts = self.of_kind("CustomerAccount")
        if self.account is not None:
            return self.account
        if not accounts:
            raise DocumentError(
                "feed", "this feed has no CustomerAccount: pass --account ID to attach its "
                "usage points to an existing account"
            )  # fmt: skip
        if len(accounts) > 1:
            raise DocumentError(accounts[1].path, "several CustomerAccounts in one feed: import "
                                "it with --account ID per customer feed")  # fmt: skip
        acc = accounts[0]
        ident = short_id("acc", "CustomerAccount", acc.self_href)
        number = acc.fields.get("accountId") or acc.fields.get("name") or None
        row: dict[str, Any] = {
            "cds_account_id": ident,
            **self.meta(acc.updated),
            "account_number": number,
            "account_status": "active",
            "account_types": ["customer"],
        }
        customers = self.of_kind("Customer")
        if len(customers) == 1:
            cust = customers[0]
            name = cust.fields.get("customerName") or cust.fields.get("name")
            if name:
                row["account_name"] = name
            kind = CUSTOMER_KINDS.get(cust.fields.get("kind", ""))
            if kind:
                row["account_types"].append(kind)
        self.doc["accounts"].append(row)
        return ident

    def meta(self, *moments: datetime | None) -> dict[str, str]:
        stamp = self.stamp(*moments)
        return {"cds_created": stamp, "cds_modified": stamp, "cds_synced": stamp}

    def _only(self, kind: str, point: Resource) -> Resource | None:
        """The customer resource of ``kind`` for a usage point: the one naming it, else the
        only one when the feed has a single usage point."""
        items = self.of_kind(kind)
        for item in items:
            if item.element is not None:
                named = {
                    self.href(t.text or "")
                    for t in item.element.iter()
                    if isinstance(t.tag, str) and _local(t.tag)[1] == "UsagePoint" and t.text
                }
                if point.self_href in named:
                    return item
        if len(items) == 1 and len(self.of_kind("UsagePoint")) == 1:
            return items[0]
        return None

    # -- usage points -----------------------------------------------------------------------

    def _usage_point(self, point: Resource, account_id: str) -> None:
        href = point.self_href
        kind = _int(point.fields.get("ServiceCategory/kind"), f"{point.path}/ServiceCategory/kind")
        if kind not in SERVICE_KINDS:
            what = SERVICE_NAMES.get(kind, "missing") if kind is not None else "missing"
            raise DocumentError(f"{point.path}/ServiceCategory/kind",
                                f"service kind {kind} ({what}) has no CDS service type; "
                                "electricity (0), gas (1), water (2) and sewerage (6) are "
                                "imported")  # fmt: skip
        service_type, point_type, meter_type = SERVICE_KINDS[kind]
        zone = self._zone(point)
        # Ids of the account's own (two customers' feeds may use the same hrefs).
        contract_id = short_id("sc", "contract", href, account_id)
        point_id = short_id("sp", "UsagePoint", href, account_id)
        meter_id = short_id("md", "meter", href, account_id)
        contract: dict[str, Any] = {
            "cds_servicecontract_id": contract_id,
            **self.meta(point.updated),
            "cds_account_id": account_id,
            "contract_types": ["utility_service"],
            "contract_status": "active",
            "service_types": [service_type],
        }
        agreement = self._only("CustomerAgreement", point)
        if agreement is not None:
            number = agreement.fields.get("agreementId") or agreement.fields.get("name")
            if number:
                contract["contract_number"] = number
            start = _time(agreement.fields.get("validityInterval/start"), agreement.path)
            span = _int(agreement.fields.get("validityInterval/duration"), agreement.path)
            if start is not None:
                contract["contract_start"] = self._date(start, zone)
                if span:
                    contract["contract_end"] = self._date(start + span - 1, zone)
        sp: dict[str, Any] = {
            "cds_servicepoint_id": point_id,
            **self.meta(point.updated),
            "servicepoint_types": [point_type],
            "current_servicecontracts": [contract_id],
            "timezone": zone,
        }
        location = self._only("ServiceLocation", point)
        if location is not None and location.element is not None:
            address = _address(location.element)
            if address:
                sp["servicepoint_address"] = address
        meter: dict[str, Any] = {
            "cds_meterdevice_id": meter_id,
            **self.meta(point.updated),
            "meter_types": [meter_type],
            "current_servicepoints": [point_id],
        }
        device = self._only("Meter", point)
        if device is not None:
            serial = device.fields.get("serialNumber") or device.fields.get("name")
            if serial:
                meter["meter_number"] = serial
            if (device.fields.get("isVirtual") or "").lower() == "true":
                meter["meter_types"].append("virtual_meter")
        self.doc["service_contracts"].append(contract)
        self.doc["service_points"].append(sp)
        self.doc["meter_devices"].append(meter)
        links = {
            "cds_account_id": account_id,
            "cds_meterdevice_id": meter_id,
            "related_accounts": [account_id],
            "related_servicecontracts": [contract_id],
            "related_servicepoints": [point_id],
            "related_meterdevices": [meter_id],
        }
        readings = self.children(point, self.of_kind("MeterReading"))
        if not readings:
            self.notes.append(f"{point.path}: a UsagePoint without MeterReadings")
        for mr in readings:
            self._meter_reading(mr, kind, links)
        summaries = self.of_kind("UsageSummary", "ElectricPowerUsageSummary")
        for summary in self.children(point, summaries):
            self._summary(summary, kind, zone, links)

    def _zone(self, point: Resource) -> str | None:
        params = self.children(point, self.of_kind("LocalTimeParameters"))
        if not params:
            return self.timezone
        zone = zone_of(params[0])
        if zone is None and self.timezone is None:
            f = params[0].fields
            raise DocumentError(
                params[0].path,
                f"LocalTimeParameters (tzOffset {f.get('tzOffset')}, dstOffset "
                f"{f.get('dstOffset')}, rules {f.get('dstStartRule')}/{f.get('dstEndRule')}) "
                "match no known IANA timezone; pass --timezone (e.g. America/Chicago)",
            )
        return zone or self.timezone

    @staticmethod
    def _date(seconds: int, zone: str | None) -> str:
        moment = datetime.fromtimestamp(seconds, UTC)
        if zone:
            moment = moment.astimezone(ZoneInfo(zone))
        return moment.date().isoformat()

    # -- meter readings ---------------------------------------------------------------------

    def _meter_reading(self, mr: Resource, service: int, links: dict[str, Any]) -> None:
        types = [r for r in self.of_kind("ReadingType") if r.self_href in set(mr.related)]
        if not types:
            raise DocumentError(mr.path, "no ReadingType linked (rel=\"related\") to this "
                                "MeterReading")  # fmt: skip
        if len({tuple(sorted(t.fields.items())) for t in types}) > 1:
            raise DocumentError(types[1].path, "conflicting ReadingTypes for one MeterReading")
        rt = types[0]
        fmt = _value_format(rt, mr.path, service)
        blocks = [b for b in self.children(mr, self.reader.blocks) if id(b) not in self.claimed]
        self.claimed.update(id(b) for b in blocks)
        if isinstance(fmt, str):
            self.notes.append(f"{mr.path}: skipped ({fmt})")
            return
        if not any(b.count for b in blocks):
            return
        tag = hashlib.sha256(f"MeterReading\n{mr.self_href}".encode()).hexdigest()[:10]
        value_format = {"id": f"gb-{fmt.key}-{tag}", **fmt.fmt}
        if fmt.type == "meter_readings":
            value_format["related_meterdevice"] = links["cds_meterdevice_id"]
            value_format["register"] = None
        default_quality = _int(rt.fields.get("defaultQuality"), f"{rt.path}/defaultQuality")
        qualities = {q if q is not None else default_quality for b in blocks for q in b.qualities}
        if len(qualities) == 1 and next(iter(qualities)) in QUALITIES:
            value_format["quality"] = QUALITIES[next(iter(qualities))]
        with_cost = any(b.has_cost for b in blocks)
        formats = [value_format]
        if with_cost:
            if fmt.currency is None:
                raise DocumentError(f"{rt.path}/currency", "readings carry cost but the "
                                    "ReadingType has no currency")  # fmt: skip
            formats.append({"id": f"gb-c-{tag}", "type": "cost", "currency": fmt.currency,
                            "indexes": [0]})  # fmt: skip
        stamp = max((b.updated for b in blocks if b.updated), default=None)
        plan = _Plan(mr, fmt, formats, with_cost, {**self.meta(stamp, mr.updated), **links})
        position = {id(b): n for n, b in enumerate(self.reader.blocks)}
        for b in blocks:
            self.plans[position[id(b)]] = plan

    # -- usage summaries --------------------------------------------------------------------

    def _summary(self, summary: Resource, service: int, zone: str | None,
                 links: dict[str, Any]) -> None:  # fmt: skip
        service_type = SERVICE_KINDS[service][0]
        f = summary.fields
        path = summary.path
        start = _time(f.get("billingPeriod/start"), f"{path}/billingPeriod/start")
        duration = _int(f.get("billingPeriod/duration"), f"{path}/billingPeriod/duration")
        if start is None or not duration or duration <= 0:
            raise DocumentError(f"{path}/billingPeriod", "a UsageSummary needs its billing "
                                "period (start and a positive duration)")  # fmt: skip
        code = _int(f.get("currency"), f"{path}/currency")
        if code not in CURRENCIES:
            raise DocumentError(f"{path}/currency", f"currency {code} is not a known ISO 4217 "
                                "numeric code (a bill section needs its currency)")  # fmt: skip
        currency = CURRENCIES[code]
        first, last = self._date(start, zone), self._date(start + duration - 1, zone)
        section_id = short_id("bsec", summary.kind, summary.self_href, links["cds_account_id"])
        usage_details, cost_details, line_items = [], [], []
        consumption = _measurement(summary.element, "overallConsumptionLastPeriod", path, service)
        if consumption is not None:
            vtype, units, value = consumption
            usage_details.append({"id": f"{section_id}-ud1", "name": "Overall consumption",
                                  "types": [vtype], "value": value, "units": units,
                                  "start_date": first, "end_date": last})  # fmt: skip
        peak = _measurement(summary.element, "peakDemand", path, service, demand=True)
        if peak is not None:
            vtype, units, value = peak
            usage_details.append({"id": f"{section_id}-ud2", "name": "Peak demand",
                                  "types": [vtype], "value": value, "units": units,
                                  "demand_type": "peak", "start_date": first,
                                  "end_date": last})  # fmt: skip
        bill = _int(f.get("billLastPeriod"), f"{path}/billLastPeriod")
        if bill is not None:
            cost_details.append({"id": f"{section_id}-cd1", "name": "Bill last period",
                                 "types": ["overall_total"],
                                 "cost": _scaled(bill, -5)})  # fmt: skip
        n = 0
        for item in summary.element:
            if (
                not isinstance(item.tag, str)
                or _local(item.tag)[1] != "costAdditionalDetailLastPeriod"
            ):
                continue
            n += 1
            leaves = {
                _local(c.tag)[1]: (c.text or "").strip() for c in item if isinstance(c.tag, str)
            }
            amount = _int(
                leaves.get("amount"), f"{path}/costAdditionalDetailLastPeriod[{n}]/amount"
            )
            if amount is None:
                continue  # a measurement without an amount is usage detail, not a charge
            kind = _int(
                leaves.get("itemKind"), f"{path}/costAdditionalDetailLastPeriod[{n}]/itemKind"
            )
            line_items.append({
                "id": f"{section_id}-li{n}", "name": leaves.get("note") or "Line item",
                "types": [LINE_ITEM_KINDS.get(kind or 0, "other")], "start_date": first,
                "end_date": last, "cost": _scaled(amount, -5), "value": None,
                "rate": None, "related_usage_details": [], "related_cost_details": [],
            })  # fmt: skip
        section: dict[str, Any] = {
            "cds_billsection_id": section_id,
            **self.meta(summary.updated),
            "cds_billstatement_id": None,
            "cds_account_id": links["cds_account_id"],
            "section_types": ["service_contract", service_type]
            if service_type in ("electric", "water", "natural_gas")
            else ["service_contract"],
            "start_date": first,
            "end_date": last,
            "currency": currency,
            "distribution_entity": None,
            "supply_entity": None,
            "related_servicecontracts": links["related_servicecontracts"],
            "related_servicepoints": links["related_servicepoints"],
            "related_meterdevices": links["related_meterdevices"],
            "usage_details": usage_details,
            "cost_details": cost_details,
        }
        if line_items:
            section["line_items"] = line_items
        self.doc["bill_sections"].append(section)
        if consumption is not None or bill is not None:
            tag = hashlib.sha256(f"{summary.kind}\n{summary.self_href}".encode()).hexdigest()[:10]
            formats, row = [], []
            if consumption is not None:
                vtype, units, value = consumption
                formats.append({"id": f"gb-bp-{tag}", "type": vtype, "units": units})
                row.append({_KEYS[vtype]: value})
            if bill is not None:
                formats.append({"id": f"gb-bpc-{tag}", "type": "cost", "currency": currency,
                                "indexes": [0] if consumption is not None else []})  # fmt: skip
                row.append({"c": _scaled(bill, -5)})
            self.doc["usage_segments"].append({
                "cds_usagesegment_id": short_id(
                    "us", "billing-period", summary.self_href, links["cds_account_id"]
                ),
                **self.meta(summary.updated),
                **links,
                "related_billsections": [section_id],
                "segment_start": _rfc3339(start),
                "segment_end": _rfc3339(start + duration),
                "interval": duration,
                "formats": formats,
                "values": [row],
            })  # fmt: skip


_KEYS = {"electric_usage": "eu", "electric_demand": "ed", "natural_gas_usage": "gu",
         "water_usage": "wu"}  # fmt: skip


def _measurement(
    elem: Any, name: str, path: str, service: int, demand: bool = False
) -> tuple[str, str, Decimal] | None:
    """A SummaryMeasurement as (CDS type, unit, exact value), or None when absent."""
    for child in elem:
        if isinstance(child.tag, str) and _local(child.tag)[1] == name:
            leaves = {
                _local(c.tag)[1]: (c.text or "").strip() for c in child if isinstance(c.tag, str)
            }
            value = _int(leaves.get("value"), f"{path}/{name}/value")
            if value is None:
                return None
            uom = _int(leaves.get("uom"), f"{path}/{name}/uom")
            power = _power(
                leaves.get("powerOfTenMultiplier"), f"{path}/{name}/powerOfTenMultiplier"
            )
            fields = {"uom": str(uom), "powerOfTenMultiplier": str(power)}
            if demand:
                fields.update(kind="8", dataQualifier="8")
            rt = Resource("ReadingType", f"{path}/{name}", "", None, [], fields, None)
            fmt = _value_format(rt, path, service)
            if isinstance(fmt, str):
                return None
            return fmt.type, fmt.units, _scaled(value, fmt.power, False)
    return None


def _address(elem: Any) -> str | None:
    """A ServiceLocation's mainAddress as lines of text."""
    for child in elem.iter():
        if isinstance(child.tag, str) and _local(child.tag)[1] == "mainAddress":
            parts = [
                (t.text or "").strip()
                for t in child.iter()
                if isinstance(t.tag, str) and not len(t) and (t.text or "").strip()
            ]
            return ", ".join(parts) or None
    return None


def parse_feed(
    source: bytes | BinaryIO | Path | str,
    *,
    account: str | None = None,
    timezone: str | None = None,
    max_errors: int = DEFAULT_MAX_ERRORS,
) -> tuple[StreamedDocument, list[str]]:
    """Convert and validate a feed: the import document the loader takes (in a temporary
    file, read as any JSON document is), and notes."""
    from cdsapi.importer.loader import read_document  # (Django's models: not at import)

    out = tempfile.TemporaryFile()  # noqa: SIM115 (the document reads it until loaded)
    notes = convert_to(source, out, account=account, timezone=timezone)
    return read_document(out, max_errors=max_errors), notes
