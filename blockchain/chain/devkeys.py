"""Private keys anyone can look up: accounts 0-9 of the public dev-chain mnemonics.

Anvil and Hardhat default to "test test ... junk" (our dev chains use it too), Ganache's
`--deterministic` to "myth like bonus ... collect". Signing with one of these on a shared chain
lets anyone sign as the co-op operator, so production refuses them (config.settings.production)
and `manage.py check --deploy` reports them (blockchain.checks). Pure: no Django, no web3, so
settings can import it; a test derives the list again from the mnemonics.
"""

from __future__ import annotations

DEV_MNEMONICS = (
    "test test test test test test test test test test test junk",
    "myth like bonus scare over problem client lizard pioneer submit female collect",
)
ACCOUNTS_PER_MNEMONIC = 10  # m/44'/60'/0'/0/0 to /9: what the dev chains fund

WELL_KNOWN_KEYS = frozenset(
    {
        # test test ... junk
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
        "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
        "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
        "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
        "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
        "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
        "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
        # myth like bonus ... collect
        "4f3edf983ac636a65a842ce7c78d9aa706d3b113bce9c46f30d7d21715b23b1d",
        "6cbed15c793ce57650b9877cf6fa156fbef513c4e6134f022a85b1ffdd59b2a1",
        "6370fd033278c143179d81c5526140625662b8daa446c22ee2d73db3707e620c",
        "646f1ce2fdad0e6deeeb5c7e8e5543bdde65e86029e2fd9fc169899c440a7913",
        "add53f9a7e588d003326d1cbf9e4a43c061aadd9bc938c843a79e7b4fd2ad743",
        "395df67f0c2d2d9fe1ad08d1bc8b6627011959b79c53d7dd6a3536a33ab8a4fd",
        "e485d098507f54e7733a205420dfddbe58db035fa577fc294ebd14db90767a52",
        "a453611d9419d0e56f499079478fd72c37b251a94bfde4d19872c44cf65386e3",
        "829e924fdf021ba3dbbc4225edfece9aca04b929d6e75613329ca6f1d31c0bb4",
        "b0057716d5917badaf911b193b12b910811c1497b5bada8d7711f758981c3773",
    }
)


def normalise_key(key: str) -> str:
    """Lower-case hex without the 0x prefix, however the key was written."""
    key = key.strip().lower()
    return key[2:] if key.startswith("0x") else key


def is_well_known_key(key: str) -> bool:
    return normalise_key(key) in WELL_KNOWN_KEYS
