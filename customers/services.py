from django.core.exceptions import ValidationError
from django.db import transaction

from core.actors import Actor
from core.services import audit_record
from customers.models import Address, AddressKind, Customer


@transaction.atomic
def address_add(
    *,
    customer: Customer,
    kind: str,
    street: str,
    city: str,
    postal_code: str,
    state: str = "",
    country: str = "US",
    name: str = "",
    is_default: bool = True,
    actor: Actor,
) -> Address:
    if kind not in AddressKind.values:
        raise ValidationError({"kind": f"Unknown address kind {kind!r}."})
    if is_default:
        customer.addresses.filter(kind=kind, is_default=True).update(is_default=False)
    address = Address(
        customer=customer,
        kind=kind,
        name=name or customer.full_name,
        street=street,
        city=city,
        state=state,
        postal_code=postal_code,
        country=country,
        is_default=is_default,
    )
    address.full_clean()
    address.save()
    audit_record(
        actor=actor,
        action="address_added",
        obj=address,
        customer_id=customer.pk,
        details={"kind": kind},
    )
    return address
