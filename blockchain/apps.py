from django.apps import AppConfig
from django.core import checks


class BlockchainConfig(AppConfig):
    name = "blockchain"

    def ready(self) -> None:
        from blockchain.checks import chain_key_check

        checks.register(chain_key_check, checks.Tags.security, deploy=True)
