from django.urls import include, path

from customers import views
from customers.page_sections import customer_page_section_urlpatterns

app_name = "customers"

urlpatterns = [
    path("", views.customer_service, name="service"),
    path("customers/select/", views.customer_select, name="select"),
    path("customers/<str:account_number>/", views.customer_detail, name="detail"),
    # The actions the page's sections add (customers.page_sections), such as
    # "orders/new/" (customers:order_new) from orders.
    path("customers/<str:account_number>/", include(customer_page_section_urlpatterns())),
]
