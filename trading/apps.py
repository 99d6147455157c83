from django.apps import AppConfig


class TradingConfig(AppConfig):
    name = "trading"

    def ready(self) -> None:
        # Imported once the apps are loaded: the receivers use the models.
        from metering.signals import readings_corrected
        from trading.receivers import RESETTLE_CORRECTED, resettle_corrected_periods

        # A settled period's readings corrected: it is settled again as an amendment.
        readings_corrected.connect(resettle_corrected_periods, dispatch_uid=RESETTLE_CORRECTED)
