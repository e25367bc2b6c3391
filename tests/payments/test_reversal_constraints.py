"""The database guards of refunds and voids, whatever code writes the rows."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from payments.models import Payment
from tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db


def reversal(sale, *, operation="refund", status="pending", key, amount=Decimal("5.00")):
    return Payment(
        sales_order=sale.sales_order,
        customer=sale.customer,
        method=sale.method,
        card=sale.card,
        original=sale,
        operation=operation,
        status=status,
        amount=amount,
        currency=sale.currency,
        idempotency_key=key,
        decline_code="gateway_error" if status == "declined" else "",
    )


def refused(payment, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        payment.save()


def test_only_one_refund_or_void_of_a_sale_can_be_unanswered_at_a_time():
    sale = PaymentFactory()
    reversal(sale, status="unknown", key="r-1").save()

    refused(reversal(sale, key="r-2"), "payment_one_unanswered_reversal_per_sale")
    refused(reversal(sale, operation="void", key="v-1"), "payment_one_unanswered_reversal_per_sale")
    # Answered ones do not count: another refund may follow an approved or declined one.
    reversal(PaymentFactory(), status="approved", key="r-3").save()
    other = PaymentFactory()
    reversal(other, status="approved", key="r-4").save()
    reversal(other, status="declined", key="r-5").save()
    reversal(other, status="pending", key="r-6").save()
    assert Payment.objects.filter(original=other).count() == 3


def test_a_sale_is_voided_at_most_once():
    sale = PaymentFactory()
    reversal(sale, operation="void", status="approved", key="v-1").save()

    refused(reversal(sale, operation="void", status="approved", key="v-2"), "one_live_void")


def test_a_refund_is_never_refunded_and_a_sale_has_no_original():
    sale = PaymentFactory()

    refused(reversal(sale, status="refunded", key="r-1"), "payment_reversal_not_reversed")
    refused(
        reversal(sale, operation="sale", status="declined", key="s-1"),
        "payment_sale_has_no_original",
    )
