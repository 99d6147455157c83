from django.urls import path

from blockchain.api import views as api_views

urlpatterns = [
    path(
        "api/trades/<int:trade_id>/proof/", api_views.TradeProofView.as_view(), name="chain-proof"
    ),
    path("api/proofs/<str:month>/", api_views.MonthProofsView.as_view(), name="chain-month-proofs"),
]
