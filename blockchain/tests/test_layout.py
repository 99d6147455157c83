"""The shape of the app: reads below writes, models that queue no tasks,
the settled-period receiver connected once from ready(), and packages that re-export nothing."""

from pathlib import Path

import grimp

from blockchain.receivers import COMMIT_SETTLED_PERIOD
from trading.signals import period_settled

APP = Path(__file__).resolve().parents[1]


def test_reads_sit_below_writes():
    # import-linter's acyclic contract finds cycles; this is the direction within the app.
    graph = grimp.build_graph("blockchain")
    assert not graph.chain_exists("blockchain.selectors", "blockchain.services", as_packages=True)
    assert not graph.chain_exists("blockchain.models", "blockchain.tasks")


def test_services_and_selectors_are_imported_from_their_modules():
    graph = grimp.build_graph("blockchain")
    for package in ("blockchain.services", "blockchain.selectors"):
        assert graph.find_modules_directly_imported_by(package) == set(), package


def test_each_module_stays_small():
    for module in [*APP.glob("services/*.py"), *APP.glob("selectors/*.py")]:
        assert len(module.read_text().splitlines()) < 400, module.name


def test_the_commit_receiver_is_connected_once():
    uids = [receiver[0][0] for receiver in period_settled.receivers]
    assert uids.count(COMMIT_SETTLED_PERIOD) == 1
