from django.urls import path
from rest_framework.routers import DefaultRouter

from trading.api import views

router = DefaultRouter()
router.register("periods", views.PeriodViewSet, basename="period")
router.register("orders", views.OrderViewSet, basename="order")
router.register("standing-orders", views.StandingOrderViewSet, basename="standing-order")
router.register("trades", views.TradeViewSet, basename="trade")

urlpatterns = [
    *router.urls,
    path("statements/<str:month>/", views.StatementView.as_view(), name="api-statement"),
]
