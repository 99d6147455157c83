from django.urls import path

from coop import views

urlpatterns = [
    path("", views.home, name="home"),
    path("icps/<str:identifier>/", views.icp_detail, name="icp-detail"),
]
