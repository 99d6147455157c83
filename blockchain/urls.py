from django.urls import path

from blockchain import views
from blockchain.api import views as api_views

urlpatterns = [
    path("verify/<int:trade_id>/", views.verify_trade, name="chain-verify"),
    path(
        "api/trades/<int:trade_id>/proof/", api_views.TradeProofView.as_view(), name="chain-proof"
    ),
]
