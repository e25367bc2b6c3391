from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from core.roles import can_take_orders, role_required
from customers.forms import CustomerSearchForm
from customers.models import Customer
from customers.page_sections import CustomerPageRegion, customer_page_sections
from customers.selectors import customer_page_get, customer_search, customer_timeline


def _is_fragment(request) -> bool:
    """The page's script asks for the results dialog alone; without JavaScript the whole
    page comes back with the dialog open."""
    return request.headers.get("X-Requested-With") == "fetch"


@require_GET
@role_required(can_take_orders)
def customer_service(request):
    """The agent's starting page: Search, and the results dialog."""
    form = CustomerSearchForm(request.GET or None)
    results = None
    error = None
    query = ""
    if form.is_valid() and "q" in request.GET:
        query = form.cleaned_data["q"]
        try:
            results = customer_search(query=query)
        except ValidationError as exc:
            error = exc.message_dict["search"][0]
    context = {
        "form": form,
        "results": results,
        "error": error,
        "query": query,
        "search_limit": settings.CUSTOMER_SEARCH_LIMIT,
    }
    if _is_fragment(request):
        return render(
            request, "customers/partials/search_results.html", context, status=400 if error else 200
        )
    return render(request, "customers/service.html", context)


@require_GET
@role_required(can_take_orders)
def customer_select(request):
    account = request.GET.get("account", "")
    if not account:
        return redirect("customers:service")
    return redirect("customers:detail", account_number=account)


@require_GET
@role_required(can_take_orders)
def customer_detail(request, account_number):
    try:
        customer = customer_page_get(account_number=account_number)
    except Customer.DoesNotExist:
        raise Http404 from None
    return customer_page_render(request, customer)


def customer_page_render(request, customer: Customer, *, error: str = "", status: int = 200):
    """The customer page of `customer`, as customer_page_get read it. An action of a
    section that fails (a sales order refused) shows the page again with its `error`."""
    sections = customer_page_sections()
    regions = {region: [] for region in CustomerPageRegion}
    for section in sections:
        regions[section.region].append((section, customer.page_sections[section.name]))
    context = {
        "customer": customer,
        "timeline": customer_timeline(customer),
        "actions": [section.actions_template for section in sections if section.actions_template],
        "facts": regions[CustomerPageRegion.FACTS],
        "main": regions[CustomerPageRegion.MAIN],
        "history": regions[CustomerPageRegion.HISTORY],
        "page_error": error,
    }
    return render(request, "customers/detail.html", context, status=status)
