from django.apps import AppConfig
from django.core import checks

from blockchain.checks import chain_key_check
from blockchain.receivers import COMMIT_SETTLED_PERIOD, commit_when_settled
from trading.signals import period_settled


class BlockchainConfig(AppConfig):
    name = "blockchain"

    def ready(self) -> None:
        checks.register(chain_key_check, checks.Tags.security, deploy=True)
        period_settled.connect(commit_when_settled, dispatch_uid=COMMIT_SETTLED_PERIOD)
