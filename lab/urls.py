from django.urls import path

from lab import views

urlpatterns = [
    path("", views.lab_home, name="lab"),
    path("scenarios/new/", views.scenario_edit, name="lab-scenario-new"),
    path("scenarios/<int:pk>/", views.scenario_edit, name="lab-scenario"),
    path("scenarios/<int:pk>/run/", views.scenario_run, name="lab-scenario-run"),
    path("scenarios/<int:pk>/sweep/", views.scenario_sweep, name="lab-scenario-sweep"),
    path("runs/<int:pk>/", views.run_detail, name="lab-run"),
    path("runs/<int:pk>/progress/", views.run_progress, name="lab-run-progress"),
    path("runs/<int:pk>/files/<str:name>", views.run_file, name="lab-run-file"),
]
