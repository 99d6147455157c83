"""Two deployments on one Redis server hear only their own pushes (issue 10, item 6)."""

import asyncio
import os
import subprocess
import sys

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings


def _layer(prefix: str) -> RedisPubSubChannelLayer:
    return RedisPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix)


def test_a_push_under_one_prefix_never_reaches_another():
    async def scenario():
        production, staging = _layer("hapori-prod"), _layer("hapori-staging")
        prod_channel = await production.new_channel()
        staging_channel = await staging.new_channel()
        await production.group_add("member-7", prod_channel)
        await staging.group_add("member-7", staging_channel)
        await staging.group_send("member-7", {"type": "push", "kind": "power", "data": 6.2})
        heard = await asyncio.wait_for(staging.receive(staging_channel), timeout=5)
        assert heard["data"] == 6.2
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(production.receive(prod_channel), timeout=0.5)
        await production.flush()
        await staging.flush()

    asyncio.run(scenario())


def _prefix_under(module: str, **env: str) -> str:
    base = {
        "DJANGO_SETTINGS_MODULE": module,
        "DJANGO_SECRET_KEY": "x" * 60,
        "DJANGO_ALLOWED_HOSTS": "coop.example.nz",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "CHAIN_RPC_URL": "",
    }
    script = (
        "import django; from django.conf import settings; django.setup(); "
        "print(settings.CHANNEL_LAYERS['default']['CONFIG']['prefix'])"
    )
    environ = {k: v for k, v in os.environ.items() if k != "CHANNEL_PREFIX"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**environ, **base, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def test_every_settings_module_takes_the_prefix_from_the_environment():
    pg = "postgres://hapori@127.0.0.1:5432/"
    assert _prefix_under("config.settings.dev", CHANNEL_PREFIX="staging") == "staging"
    assert _prefix_under("config.settings.test", CHANNEL_PREFIX="ci").startswith("ci-test")
    production = "config.settings.production"
    assert _prefix_under(production, DATABASE_URL=pg + "prod", CHANNEL_PREFIX="p") == "p"
    # Unset, two production sites on two databases still get two prefixes.
    assert _prefix_under(production, DATABASE_URL=pg + "coop_a") == "hapori-coop_a"
    assert _prefix_under(production, DATABASE_URL=pg + "coop_b") == "hapori-coop_b"
