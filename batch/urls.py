from django.urls import path

from batch import views

app_name = "batch"

urlpatterns = [
    path("runs/", views.batch_run_history, name="history"),
    path("runs/<int:run_id>/", views.batch_run_detail, name="run"),
    path("runs/<int:run_id>/progress/", views.batch_run_progress, name="progress"),
    path("runs/<int:run_id>/resume/", views.batch_run_resume_view, name="resume"),
    path("<str:job>/", views.batch_run_new, name="new"),
]
