from django.urls import path

from customers import views

app_name = "customers"

urlpatterns = [
    path("", views.customer_service, name="service"),
    path("customers/select/", views.customer_select, name="select"),
    path("customers/<str:account_number>/", views.customer_detail, name="detail"),
    path("customers/<str:account_number>/orders/new/", views.customer_order_new, name="order_new"),
]
