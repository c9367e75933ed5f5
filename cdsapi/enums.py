"""CDS-WG3-01 enumerations (object formats, §10), spelled exactly as the spec spells them."""

ACCOUNT_TYPES = (
    "customer",
    "thirdparty",
    "internal",
    "parent",
    "child",
    "test",
    "residential",
    "commercial",
    "industrial",
    "agriculture",
    "municipal",
    "billed_monthly",
    "billed_quarterly",
)
ACCOUNT_STATUSES = ("active", "suspended", "closed", "unknown")
ENTITY_TYPES = (
    "distributor",
    "supplier",
    "iou",
    "muni",
    "cca",
    "retailer",
    "generator",
    "dso",
    "tso",
    "iso",
)
CONTACT_TYPES = (
    "phone_number",
    "email",
    "home",
    "work",
    "mobile",
    "preferred",
    "primary",
    "secondary",
)
ACCOUNT_PROGRAM_TYPES = (
    "active",
    "inactive",
    "eligible",
    "ineligible",
    "low_income",
    "flat_rate",
    "payment_plan",
    "protected",
    "survey",
    "pilot",
    "rebate",
    "credit_bank",
)
SERVICE_PROGRAM_TYPES = (
    "active",
    "inactive",
    "eligible",
    "ineligible",
    "low_income",
    "protected",
    "survey",
    "pilot",
    "rebate",
    "credit_bank",
    "demand_response",
    "ev",
    "thermostat",
)
CONTRACT_TYPES = ("utility_service", "project", "billed_monthly", "billed_quarterly")
CONTRACT_STATUSES = ("active", "paused", "stopped", "closed", "unknown")
SERVICE_TYPES = (
    "electric",
    "water",
    "natural_gas",
    "fuel_oil",
    "waste_water",
    "solid_waste",
    "residential",
    "commercial",
    "industrial",
    "agriculture",
    "metered",
    "unmetered",
    "distribution",
    "supply",
    "generation",
)
SERVICEPOINT_TYPES = (
    "electric",
    "water",
    "natural_gas",
    "fuel_oil",
    "single_service",
    "multi_service",
    "physical",
    "virtual",
    "edge",
    "internal",
)
PREMISE_TYPES = ("service_group", "building", "land", "zone")
METER_TYPES = (
    "electric_usage",
    "water_usage",
    "natural_gas_usage",
    "fuel_oil_usage",
    "forward_only",
    "reverse_only",
    "bidirectional",
    "physical_meter",
    "virtual_meter",
    "electric_demand",
    "ami_meter",
    "amr_meter",
    "analog_meter",
    "wifi_capable",
    "wifi_enabled",
    "wifi_configured",
    "zigbee_capable",
    "zigbee_enabled",
    "zigbee_configured",
    "central_apps_capable",
    "customer_apps_capable",
)
METER_APP_TYPES = (
    "installed",
    "uninstalled",
    "compatible",
    "incompatible",
    "customer_installable",
    "central_installable",
)
NEW_CHARGE_TYPES = (
    "electric_total",
    "water_total",
    "natural_gas_total",
    "fuel_oil_total",
    "waste_water_total",
    "solid_waste_total",
    "tax",
    "fixed_fee",
    "flat_rate",
    "interest",
    "deposit",
    "differed",
    "credit_bank",
    "program",
    "adhoc",
    "amount_due_sum_difference",
)
BILL_SECTION_TYPES = (
    "service_contract",
    "sub_account",
    "other_section",
    "electric",
    "water",
    "natural_gas",
    "fuel_oil",
    "distribution",
    "supply",
)
USAGE_DETAIL_TYPES = (
    "electric_usage",
    "water_usage",
    "natural_gas_usage",
    "fuel_oil_usage",
    "electric_demand",
    "time_of_use",
    "tiered",
    "directional",
    "seasonal",
    "ami_reading",
    "amr_reading",
    "analog_meter",
    "customer_provided",
    "estimated",
)
COST_DETAIL_TYPES = (
    "overall_total",
    "subtotal",
    "fixed_charges",
    "usage_charges",
    "taxes",
    "distribution",
    "supply",
    "transmission",
    "other",
)
LINE_ITEM_TYPES = (
    "fixed_charge",
    "usage_charge",
    "tax",
    "distribution",
    "supply",
    "transmission",
    "other",
)
UNIT_TYPES = (
    "Wh",
    "kWh",
    "MWh",
    "W",
    "kW",
    "MW",
    "m3",
    "ft3",
    "CCF",
    "MCF",
    "MMCF",
    "MMCFD",
    "L",
    "gal",
    "Btu",
    "therm",
    "Sm3",
    "scf",
    "SCFM",
    "C",
    "F",
    "var",
    "kvar",
    "varh",
    "kvarh",
    "years",
    "months",
    "days",
    "hours",
    "minutes",
    "seconds",
    "money",
    "count",
    "percent",
)
DIRECTION_TYPES = ("net", "forward", "reverse")
TOU_TYPES = ("super_peak", "peak", "partial_peak", "off_peak", "super_off_peak")
TIER_TYPES = ("baseline", "overage", *(f"tier_{n}" for n in range(1, 10)))
SEASON_TYPES = ("spring", "summer", "fall", "winter")
READING_QUALITY_TYPES = (
    "raw",
    "manual",
    "valid",
    "revenue",
    "estimated",
    "calculated",
    "corrected",
    "website",
)
DEMAND_TYPES = ("peak", "average", "starting", "ending")
SUPPLY_ATTRIBUTION_TYPES = ("base", "individual", "residual")
SUPPLY_TYPES = (
    "general",
    "carbonfree",
    "peaker",
    "solar",
    "wind",
    "hydro",
    "geothermal",
    "biomass",
    "nuclear",
    "storage",
    "demand_management",
    "distributed",
    "natural_gas",
    "coal",
    "oil",
)

# Usage segment value types and the key their value objects carry.
VALUE_KEYS = {
    "electric_usage": "eu",
    "electric_demand": "ed",
    "electric_supply_mix": "sm",
    "water_usage": "wu",
    "natural_gas_usage": "gu",
    "fuel_oil_usage": "fu",
    "cost": "c",
    "meter_readings": "r",
}
ELECTRIC_ENERGY_UNITS = ("Wh", "kWh", "MWh")
ELECTRIC_DEMAND_UNITS = ("W", "kW", "MW")
WATER_UNITS = ("m3", "L", "gal", "ft3", "CCF", "MCF", "MMCF")
GAS_UNITS = ("Btu", "therm", "Sm3", "scf")
FUEL_OIL_UNITS = ("L", "gal")

# The units a usage format of each value type may use (the others have no unit of their own).
UNITS_BY_VALUE_TYPE = {
    "electric_usage": ELECTRIC_ENERGY_UNITS,
    "electric_demand": ELECTRIC_DEMAND_UNITS,
    "water_usage": WATER_UNITS,
    "natural_gas_usage": GAS_UNITS,
    "fuel_oil_usage": FUEL_OIL_UNITS,
    "meter_readings": UNIT_TYPES,
}
