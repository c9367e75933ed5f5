"""The upstream vocabulary (CDS-WG3-01 §6-7) as data: what each ``include_*`` field unlocks,
what each preselection matches, and the consent and direct-access scopes offered with them.

The scope table follows WG3 §6.1/§6.2 (digested in ``shared/reference/digest-auth.md`` §3):
each scope's implied ``include_*`` fields, the ones it may offer, its preselections, windows
and selection types. "Required" there means "advertised", never "must be sent"; every field
of a consent scope has ``is_required: false`` (WG3 §7). Aggregations, EACs and address
preselections are not offered: this server has no aggregation objects, no EACs and no
address normalisation rules.
"""

from dataclasses import dataclass

from cdsapi import enums
from cdsapi.grants.scopes import INFINITE, Choice, Field, ScopeDescription

# -- what the include_* fields unlock ----------------------------------------------------------

ACCOUNTS, CONTRACTS, POINTS, METERS = "accounts", "contracts", "points", "meters"
STATEMENTS, SECTIONS, SEGMENTS = "statements", "sections", "segments"

# The object-level fields: each makes one kind of object visible (WG3 §7.2).
OBJECT_INCLUDES = {
    "include_accounts": ACCOUNTS,
    "include_service_contracts": CONTRACTS,
    "include_service_points": POINTS,
    "include_meter_devices": METERS,
    "include_bill_statements": STATEMENTS,
    "include_bill_sections": SECTIONS,
    "include_usage_segments": SEGMENTS,
}

# The field-level ones: the OPTIONAL object fields each shows (WG3 §7.2.x).
FIELD_INCLUDES: dict[str, dict[str, frozenset[str]]] = {
    "include_account_numbers": {
        ACCOUNTS: frozenset({"customer_number", "account_number", "account_entity"}),
        CONTRACTS: frozenset({"account_number"}),
        STATEMENTS: frozenset({"account_number"}),
        SECTIONS: frozenset({"account_number"}),
    },
    "include_account_details": {
        ACCOUNTS: frozenset(
            {"account_name", "account_address", "account_types", "account_status"}
            | {"account_contacts"}
        )
    },
    "include_account_programs": {ACCOUNTS: frozenset({"account_programs"})},
    "include_contract_numbers": {CONTRACTS: frozenset({"contract_number", "contract_entity"})},
    "include_rate_plans": {CONTRACTS: frozenset({"rateplan_code", "rateplan_name"})},
    "include_service_contract_details": {
        CONTRACTS: frozenset({"contract_address", "contract_start", "contract_end"})
    },
    "include_service_programs": {CONTRACTS: frozenset({"service_programs"})},
    "include_premises": {POINTS: frozenset({"premises"})},
    "include_service_point_addresses": {POINTS: frozenset({"servicepoint_address"})},
    "include_coordinates": {POINTS: frozenset({"latitude", "longitude"})},
    "include_meter_numbers": {METERS: frozenset({"meter_number"})},
    "include_meter_apps": {METERS: frozenset({"meter_apps"})},
    "include_bill_statement_files": {STATEMENTS: frozenset({"file_uri", "file_mimetype"})},
    "include_bill_statement_charges": {
        STATEMENTS: frozenset(
            {"previous_balance_amount", "previous_balance_paid", "previous_balance_unpaid"}
            | {"new_charges_amount", "new_charges", "new_balance_amount"}
        )
    },
    "include_bill_statement_programs": {STATEMENTS: frozenset({"account_programs"})},
    "include_bill_section_line_items": {SECTIONS: frozenset({"line_items"})},
}

_META = frozenset({"cds_created", "cds_modified", "cds_synced"})
# REQUIRED fields: always present on a visible object (WG3 §10.x.1).
ALWAYS: dict[str, frozenset[str]] = {
    ACCOUNTS: _META | {"cds_account_id", "cds_account_parent"},
    CONTRACTS: _META
    | {"cds_servicecontract_id", "cds_account_id", "contract_types", "contract_status"}
    | {"service_types"},
    POINTS: _META
    | {"cds_servicepoint_id", "servicepoint_number", "servicepoint_types"}
    | {"current_servicecontracts", "previous_servicecontracts"},
    METERS: _META
    | {"cds_meterdevice_id", "meter_types", "current_servicepoints", "previous_servicepoints"},
    STATEMENTS: _META
    | {"cds_billstatement_id", "cds_account_id", "statement_date", "currency", "amount_due"}
    | {"amount_due_date", "shutoff_prevention_minimum_due", "shutoff_prevention_date"},
    SECTIONS: _META
    | {"cds_billsection_id", "cds_billstatement_id", "cds_account_id", "section_types"}
    | {"start_date", "end_date", "currency", "distribution_entity", "supply_entity"}
    | {"related_servicecontracts", "related_servicepoints", "related_meterdevices"}
    | {"related_billsections", "usage_details", "cost_details"},
}

VALUE_TYPES = "include_usage_segment_value_types"

# -- what the preselections match (WG3 §7.1) ---------------------------------------------------


@dataclass(frozen=True)
class Preselection:
    """A preselection field: the kind of object it matches, the object field compared, and
    whether that field is a list (match any) or a program list (match ``program_number``)."""

    kind: str
    field: str
    many: str = ""  # "" one value, "list" any of a list, "programs" a program_number


PRESELECTIONS = {
    "account_numbers": Preselection(ACCOUNTS, "account_number"),
    "account_programs": Preselection(ACCOUNTS, "account_programs", "programs"),
    "contract_numbers": Preselection(CONTRACTS, "contract_number"),
    "service_types": Preselection(CONTRACTS, "service_types", "list"),
    "service_programs": Preselection(CONTRACTS, "service_programs", "programs"),
    "servicepoint_numbers": Preselection(POINTS, "servicepoint_number"),
    "servicepoint_types": Preselection(POINTS, "servicepoint_types", "list"),
    "premise_numbers": Preselection(POINTS, "premises", "premises"),
    "meter_numbers": Preselection(METERS, "meter_number"),
    "meter_types": Preselection(METERS, "meter_types", "list"),
}
PROGRAM_LISTS = ("account_programs", "service_programs")
_CHOICES = {
    "service_types": enums.SERVICE_TYPES,
    "servicepoint_types": enums.SERVICEPOINT_TYPES,
    "meter_types": enums.METER_TYPES,
}
# "_all" pre-ticks everything; "_include_future" also what the customer gets later (§7.1).
_SENTINELS = {
    "account_numbers": ("_all", "_include_future"),
    "contract_numbers": ("_all", "_include_future"),
    "servicepoint_numbers": ("_all",),
    "meter_numbers": ("_all",),
}

# Fields that steer the consent page rather than say what is shared.
CONSENT_FORM_FIELDS = frozenset(
    {
        "authorization_form_selection_type",
        "merge_selection_with",
        "error_if_no_preselections",
        "allow_scope_modifications",
        "purpose",
    }
)
SELECTION_TYPES = (
    "account_selection",
    "service_contract_selection",
    "servicepoint_selection",
    "meter_device_selection",
)

# -- the scope table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One upstream scope type: ``implied`` include fields (always on), ``offered`` ones (off
    unless asked for), ``preselections``, ``windows`` (statements, sections, segments) and,
    for consent scopes, the selection types its form offers (the first is the default)."""

    type: str
    name: str
    description: str
    implied: tuple[str, ...]
    offered: tuple[str, ...] = ()
    preselections: tuple[str, ...] = ()
    windows: tuple[str, ...] = ()
    selections: tuple[str, ...] = ()
    value_types: bool = False


_ACCOUNT_FIELDS = ("include_account_numbers", "include_account_details", "include_account_programs")
_CONTRACT_FIELDS = (
    "include_contract_numbers",
    "include_rate_plans",
    "include_service_contract_details",
    "include_service_programs",
)
_POINT_FIELDS = ("include_premises", "include_service_point_addresses", "include_coordinates")
_STATEMENT_FIELDS = (
    "include_bill_statement_files",
    "include_bill_statement_charges",
    "include_bill_statement_programs",
)

CONSENT = (
    Spec(
        "cds_rate_plan",
        "Rate plan",
        "The rate plan of the selected service contracts.",
        ("include_service_contracts", "include_rate_plans"),
        (
            "include_contract_numbers",
            "include_accounts",
            "include_account_numbers",
            "include_meter_devices",
            "include_meter_numbers",
        ),
        ("contract_numbers", "service_types", "account_numbers", "meter_numbers"),
        selections=("service_contract_selection",),
    ),
    Spec(
        "cds_account_programs",
        "Account programs",
        "The selected accounts with the programs they take part in.",
        ("include_accounts", "include_account_programs"),
        ("include_account_numbers",),
        ("account_numbers", "account_programs"),
        selections=("account_selection",),
    ),
    Spec(
        "cds_service_programs",
        "Service programs",
        "The selected service contracts with the programs they take part in.",
        ("include_service_contracts", "include_service_programs"),
        (
            "include_contract_numbers",
            "include_accounts",
            "include_account_numbers",
            "include_rate_plans",
            "include_meter_devices",
            "include_meter_numbers",
        ),
        (
            "contract_numbers",
            "service_programs",
            "service_types",
            "account_numbers",
            "meter_numbers",
        ),
        selections=("service_contract_selection",),
    ),
    Spec(
        "cds_accounts",
        "Accounts",
        "The selected accounts.",
        ("include_accounts",),
        _ACCOUNT_FIELDS,
        ("account_numbers",),
        selections=("account_selection",),
    ),
    Spec(
        "cds_service_contracts",
        "Service contracts",
        "The selected service contracts and their accounts.",
        ("include_accounts", "include_service_contracts"),
        (
            "include_contract_numbers",
            *_ACCOUNT_FIELDS,
            *_CONTRACT_FIELDS[1:],
            "include_meter_devices",
            "include_meter_numbers",
            "include_meter_apps",
        ),
        ("contract_numbers", "service_types", "account_numbers", "meter_numbers"),
        selections=("service_contract_selection", "account_selection"),
    ),
    Spec(
        "cds_meters",
        "Meters",
        "The selected meters.",
        ("include_meter_devices",),
        (
            "include_meter_numbers",
            "include_accounts",
            *_ACCOUNT_FIELDS,
            "include_service_contracts",
            *_CONTRACT_FIELDS,
            "include_service_points",
            *_POINT_FIELDS,
            "include_meter_apps",
        ),
        (
            "meter_numbers",
            "meter_types",
            "account_numbers",
            "contract_numbers",
            "service_types",
            "servicepoint_numbers",
            "servicepoint_types",
            "premise_numbers",
        ),
        selections=(
            "meter_device_selection",
            "service_contract_selection",
            "account_selection",
            "servicepoint_selection",
        ),
    ),
    Spec(
        "cds_bill_statements",
        "Bill statements",
        "Bill statements of the selected accounts, by statement date.",
        ("include_bill_statements", "include_accounts", "include_account_numbers"),
        _STATEMENT_FIELDS,
        ("account_numbers", "contract_numbers", "meter_numbers"),
        windows=(STATEMENTS,),
        selections=("account_selection",),
    ),
    Spec(
        "cds_service_bills",
        "Service bills",
        "Bill sections of the selected service contracts, by service period.",
        (
            "include_bill_sections",
            "include_accounts",
            "include_account_numbers",
            "include_service_contracts",
            "include_contract_numbers",
        ),
        (
            "include_bill_statements",
            *_STATEMENT_FIELDS,
            "include_bill_section_line_items",
            "include_service_points",
            "include_meter_devices",
            "include_meter_numbers",
        ),
        ("contract_numbers", "service_types", "account_numbers", "meter_numbers"),
        windows=(SECTIONS, STATEMENTS),
        selections=("service_contract_selection", "account_selection"),
    ),
    Spec(
        "cds_usage",
        "Usage",
        "Usage segments of the selected accounts, service contracts, points or meters.",
        ("include_usage_segments",),
        (
            "include_meter_devices",
            "include_meter_numbers",
            "include_accounts",
            "include_account_numbers",
            "include_service_contracts",
            "include_contract_numbers",
            "include_service_points",
            *_POINT_FIELDS,
        ),
        (
            "account_numbers",
            "contract_numbers",
            "servicepoint_numbers",
            "premise_numbers",
            "meter_numbers",
            "service_types",
            "servicepoint_types",
            "meter_types",
        ),
        windows=(SEGMENTS,),
        selections=SELECTION_TYPES,
        value_types=True,
    ),
)

DIRECT = (
    Spec(
        "cds_query_accounts",
        "Query accounts",
        "Accounts this client may query, narrowed by its preselections.",
        ("include_accounts",),
        _ACCOUNT_FIELDS,
        ("account_numbers", "account_programs"),
    ),
    Spec(
        "cds_query_service_contracts",
        "Query service contracts",
        "Service contracts this client may query, narrowed by its preselections.",
        ("include_accounts", "include_service_contracts"),
        (*_ACCOUNT_FIELDS, *_CONTRACT_FIELDS),
        ("account_numbers", "contract_numbers", "service_types", "service_programs"),
    ),
    Spec(
        "cds_query_service_points",
        "Query service points",
        "Service points this client may query, narrowed by its preselections.",
        ("include_service_points",),
        _POINT_FIELDS,
        (
            "account_numbers",
            "contract_numbers",
            "servicepoint_numbers",
            "servicepoint_types",
            "premise_numbers",
        ),
    ),
    Spec(
        "cds_query_meter_devices",
        "Query meter devices",
        "Meter devices this client may query, narrowed by its preselections.",
        ("include_meter_devices",),
        ("include_meter_numbers", "include_meter_apps"),
        (
            "account_numbers",
            "contract_numbers",
            "servicepoint_numbers",
            "meter_numbers",
            "meter_types",
        ),
    ),
    Spec(
        "cds_query_bill_statements",
        "Query bill statements",
        "Bill statements this client may query, by statement date.",
        ("include_bill_statements",),
        ("include_account_numbers", *_STATEMENT_FIELDS),
        ("account_numbers",),
        windows=(STATEMENTS,),
    ),
    Spec(
        "cds_query_bill_sections",
        "Query bill sections",
        "Bill sections this client may query, by service period.",
        ("include_bill_sections",),
        ("include_account_numbers", "include_bill_section_line_items"),
        ("account_numbers", "contract_numbers", "service_types"),
        windows=(SECTIONS,),
    ),
    Spec(
        "cds_query_usage",
        "Query usage",
        "Usage segments this client may query, inside a time window.",
        ("include_usage_segments",),
        (),
        ("account_numbers", "contract_numbers", "servicepoint_numbers", "meter_numbers"),
        windows=(SEGMENTS,),
        value_types=True,
    ),
)

GRANT_ADMIN_TYPE = "cds_grant_admin"
GRANT_ADMIN_ID = "cds_grant_admin_1"

# -- building scope descriptions ---------------------------------------------------------------

_WINDOW_FIELDS = {
    STATEMENTS: ("statement_date_start", "statement_date_end", "date", "statement date"),
    SECTIONS: ("start_date", "end_date", "date", "bill section service period"),
    SEGMENTS: ("segment_start", "segment_end", "datetime", "usage"),
}


# Where the field's name alone would say less than it shares (WG3 §7.2.1: an included
# account brings in the parent accounts it names).
_NAMES = {"include_accounts": "accounts, with the parent accounts they belong to"}


def _words(field_id: str) -> str:
    return _NAMES.get(field_id) or field_id.removeprefix("include_").replace("_", " ")


def _fields(spec: Spec, scope_id: str, direct: bool) -> tuple[Field, ...]:
    types = (scope_id,)
    found = [
        Field(
            "sync_until",
            "Data as of",
            "Data is shown only as it was valid up to this instant, then frozen (a duration "
            "forward from now, or infinite: kept up to date).",
            "relative_or_absolute_datetime",
            types,
            default=INFINITE,
        )
    ]
    for window in spec.windows:
        start, end, kind, what = _WINDOW_FIELDS[window]
        fmt = f"relative_or_absolute_{kind}"
        found += [
            Field(
                start, f"{what} from", f"The earliest {what} shown.", fmt, types, default=INFINITE
            )
            | {"looks": "back"},
            Field(end, f"{what} until", f"The latest {what} shown.", fmt, types, default=INFINITE),
        ]
    for include in spec.implied:
        found.append(
            Field(include, _words(include), "Always included by this scope.", "boolean", types)
            | {"default": True, "implied": True}
        )
    for include in spec.offered:
        found.append(
            Field(
                include,
                _words(include),
                f"Include {_words(include)}.",
                "boolean",
                types,
                default=False,
            )
        )
    if spec.value_types:
        choices = tuple(Choice(t, t.replace("_", " ")) for t in enums.VALUE_KEYS)
        found.append(
            Field(
                VALUE_TYPES,
                "Value types",
                "Which value types usage segments carry (null: none, only their times).",
                "choice_list_or_null",
                types,
                default=[c.id for c in choices],
                choices=choices,
            )
        )
    for name in spec.preselections:
        program = not direct and name in PROGRAM_LISTS
        choices = tuple(Choice(c, c.replace("_", " ")) for c in _CHOICES.get(name, ()))
        found.append(
            Field(
                name,
                _words(name),
                "Limits responses to matching objects (null: no limit)."
                if direct
                else "Pre-ticks matching resources on the consent form; not kept in the grant.",
                "choice_list_or_null" if choices else "string_list_or_null",
                types,
                default=None,
                choices=choices,
                kept=direct or program,
                nullable=not program,
                sentinels=() if direct else _SENTINELS.get(name, ()),
            )
        )
    found.append(
        Field(
            "error_if_no_preselections",
            "Error if no preselections",
            "Refuse the request when the preselections match nothing.",
            "boolean",
            types,
            default=False,
        )
    )
    if not direct:
        found += [
            Field(
                "authorization_form_selection_type",
                "Selection type",
                "How the customer picks what to share.",
                "choice",
                types,
                default=spec.selections[0],
                choices=tuple(Choice(s, s.replace("_", " ")) for s in spec.selections),
            ),
            Field(
                "merge_selection_with",
                "Merge selection with",
                "Another scope id of the same request that shares this scope's selection.",
                "string_or_null",
                types,
                default=None,
            ),
            Field(
                "allow_scope_modifications",
                "Allow scope modifications",
                "Whether the customer may change what is shared on the consent form.",
                "boolean",
                types,
                default=False,
            ),
            Field(
                "purpose",
                "Purpose",
                "One of the client's registered purposes (this server registers none yet).",
                "choice_or_null",
                types,
                default=None,
            ),
        ]
    found += [
        Field(
            "jwk",
            "Encryption key",
            "A public key (use: enc; EC P-256, P-384, P-521 or RSA ≥ 2048 bits): every "
            "response body is then a JWE encrypted to it.",
            "jwk_or_null",
            types,
            default=None,
        ),
        Field(
            "expires",
            "Access until",
            "When access ends (a duration forward from now, or infinite).",
            "relative_or_absolute_datetime",
            types,
            default=INFINITE,
        ),
    ]
    return tuple(found)


def _windows(spec: Spec) -> tuple[tuple[str, str, bool], ...]:
    return tuple((_WINDOW_FIELDS[w][0], _WINDOW_FIELDS[w][1], w == SEGMENTS) for w in spec.windows)


def _scope(spec: Spec, direct: bool) -> ScopeDescription:
    scope_id = f"{spec.type}_1"
    consent_only = {"grant_types_supported": ("authorization_code", "refresh_token")}
    return ScopeDescription(
        id=scope_id,
        type=spec.type,
        name=spec.name,
        description=spec.description,
        fields=_fields(spec, scope_id, direct),
        windows=_windows(spec),
        family="direct" if direct else "consent",
        grant_admin_scope=None if direct else GRANT_ADMIN_ID,
        **({} if direct else consent_only),
        response_types_supported=() if direct else ("code",),
        code_challenge_methods_supported=() if direct else ("S256",),
        # A public client (no secret) proves itself with PKCE on consent scopes (WG1-02 §3.4).
        token_endpoint_auth_methods_supported=(
            ("client_secret_basic", "client_secret_post")
            if direct
            else ("client_secret_basic", "client_secret_post", "none")
        ),
    )


GRANT_ADMIN = ScopeDescription(
    id=GRANT_ADMIN_ID,
    type=GRANT_ADMIN_TYPE,
    name="Grant admin",
    description="A token to administer, and read through, one of the client's own grants.",
    fields=(
        Field(
            "client_id",
            "Client",
            "The client's own client_id.",
            "string",
            (GRANT_ADMIN_ID,),
            is_required=True,
        ),
        Field(
            "grant_id",
            "Grant",
            "The id of the grant to administer.",
            "string",
            (GRANT_ADMIN_ID,),
            is_required=True,
        ),
    ),
    family="grant_admin",
)

CLIENT_ADMIN = ScopeDescription(
    id="cds_client_admin",
    type="cds_client_admin",
    name="Client admin",
    description="A token for the client's own registration: its grants (the Grants API).",
    fields=(),
    types=(),
    family="client_admin",
)

UPSTREAM_SCOPES: tuple[ScopeDescription, ...] = (
    *(_scope(spec, direct=False) for spec in CONSENT),
    *(_scope(spec, direct=True) for spec in DIRECT),
    GRANT_ADMIN,
    CLIENT_ADMIN,
)
