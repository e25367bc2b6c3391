from django.urls import path

app_name = "continuity"

urlpatterns: list = []
