from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.actors import Actor
from core.roles import can_take_orders, role_required
from customers.forms import CustomerSearchForm
from customers.models import Customer
from customers.selectors import customer_page_get, customer_search, customer_timeline
from orders.services import sales_order_create


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
    return render(
        request,
        "customers/detail.html",
        {"customer": customer, "timeline": customer_timeline(customer)},
    )


@require_POST
@role_required(can_take_orders)
def customer_order_new(request, account_number):
    customer = Customer.objects.filter(account_number=account_number).first()
    if customer is None:
        raise Http404
    try:
        order = sales_order_create(customer=customer, actor=Actor.of_user(request.user))
    except ValidationError as exc:
        customer = customer_page_get(account_number=account_number)
        return render(
            request,
            "customers/detail.html",
            {"customer": customer, "order_error": " ".join(exc.messages)},
            status=400,
        )
    return redirect("orders:detail", number=order.number)
