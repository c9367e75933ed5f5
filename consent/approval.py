"""What approving does (CDS-WG3-01 §9.4): the grant is created (or updated) synchronously with
absolute details and the customer's selection, a receipt is made, and the customer is sent
it; all or nothing."""

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse

from cdsapi.grants import lifecycle
from cdsapi.grants.scopes import scope_of_type
from cdsapi.models import Grant
from consent.authorization import AuthorizationRequest
from consent.models import PushedRequest, Receipt
from consent.selection import Choice, accounts_for, choices


class SelectionError(ValueError):
    """The submitted form does not describe a selection of the customer's own resources."""


class AlreadyUsed(ValueError):
    """The pushed request was approved or declined already."""


def approve(
    request: AuthorizationRequest,
    user: Any,
    picked: list[str],
    include_future: bool,
    scopes: list[str],
) -> tuple[Grant, Receipt]:
    """The customer approved ``scopes`` of the request for the resources ``picked`` (cds
    ids among their own choices), with or without what becomes theirs later."""
    offered = {c.id: c for c in choices(user, request.selection_type)}
    foreign = [i for i in picked if i not in offered]
    if foreign:
        raise SelectionError("the form named a resource that is not yours")
    ids = list(dict.fromkeys(picked))
    if not ids:
        raise SelectionError("pick at least one to share, or decline")
    entries = [e for e in request.details if scope_of_type(e["type"]).id in scopes]
    accounts = [a.cds_account_id for a in accounts_for(user, request.selection_type, ids)]
    selection = {"type": request.selection_type, "ids": ids, "include_future": include_future}
    if include_future:
        # What is already the customer's and not picked stays out; only what comes later
        # joins (Grant.selection, upstream_policy.consent_universe).
        selection["seen"] = list(offered)
    with transaction.atomic():
        if request.pushed is not None:
            # Used once: of two approvals of one pushed request (a double click), one wins.
            used, _ = PushedRequest.objects.filter(pk=request.pushed.pk).delete()
            if not used:
                raise AlreadyUsed(
                    "this request was already answered; the application must ask again"
                )
        if request.grant is not None:
            grant = lifecycle.reauthorize(
                request.grant, accounts, entries, " ".join(scopes), selection
            )
        else:
            grant = lifecycle.create_grant(
                request.client,
                accounts,
                entries,
                " ".join(scopes),
                customer=user,
                selection=selection,
            )
        receipt = make_receipt(grant, [offered[i] for i in ids], include_future)
    transaction.on_commit(lambda: send_receipt(receipt, user))
    return grant, receipt


def make_receipt(grant: Grant, picked: list[Choice], include_future: bool) -> Receipt:
    """A new receipt for the grant as it stands; the one before it is superseded."""
    previous = grant.receipts.filter(superseded_by=None).first()
    receipt = Receipt.objects.create(
        grant=grant,
        client_name=grant.client.name,
        client_uri=grant.client.client_uri,
        scope=grant.scope,
        authorization_details=grant.authorization_details,
        selection={
            "type": (grant.selection or {}).get("type", ""),
            "include_future": include_future,
            "items": [{"id": c.id, "label": c.label, "detail": c.detail} for c in picked],
        },
        terms_uri=settings.CDS_OP_TOS_URI,
    )
    if previous is not None:
        previous.superseded_by = receipt
        previous.save(update_fields=["superseded_by"])
    return receipt


def receipt_url(receipt: Receipt) -> str:
    return f"{settings.CDS_ISSUER}{reverse('consent-receipt', args=[receipt.key])}"


def send_receipt(receipt: Receipt, user: Any) -> None:
    """The receipt by email when the customer's address is known (Django's email backend)."""
    if not getattr(user, "email", ""):
        return
    send_mail(
        f"{settings.CDS_SERVER_NAME}: you shared data with {receipt.client_name} "
        f"({receipt.confirmation})",
        f"You approved sharing data with {receipt.client_name}.\n\n"
        f"Confirmation number: {receipt.confirmation}\n"
        f"Receipt (and a button to revoke at any time): {receipt_url(receipt)}\n\n"
        f"{settings.CDS_SERVER_NAME}\n",
        None,
        [user.email],
        fail_silently=True,
    )
