from django.urls import path

from metering import views

urlpatterns = [
    path("", views.energy, name="energy"),
    path("csv/", views.energy_csv, name="energy-csv"),
    path("upload/", views.upload, name="energy-upload"),
]
