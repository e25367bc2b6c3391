"""What payments shows on the customer page (customers.page_sections): the customer's
active cards, and what the timeline calls a payment or a card. Adding a card is
payments.apis.CustomerCardAddApi."""

from functools import partial

from customers.page_sections import CustomerPageRegion, CustomerPageSection
from payments.selectors import card_labels, customer_card_list_active, payment_labels
from payments.serializers import CardSerializer

CARDS_SECTION = CustomerPageSection(
    name="cards",
    order=10,
    region=CustomerPageRegion.FACTS,
    load=customer_card_list_active,
    template="payments/partials/customer_cards.html",
    api_field=partial(CardSerializer, many=True),
    timeline_labels={"payments.payment": payment_labels, "payments.card": card_labels},
)
