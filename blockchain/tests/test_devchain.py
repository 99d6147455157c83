"""The dev chains from npm stop whole: a restart on the same port must meet a new chain."""

from __future__ import annotations

import os

import pytest

from blockchain.chain.devchain import DevChain, rpc_answers


@pytest.mark.parametrize("kind", ["ganache", "anvil"])
def test_a_stopped_chain_has_no_process_left_and_no_longer_answers(kind, tmp_path):
    chain = DevChain(kind, tmp_path).start()
    url, group = chain.url, chain.process.pid
    chain.stop()
    # At once, not eventually: the chain-reset test restarts on this port straight away.
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)  # npm's anvil wrapper exits before the binary it started
    assert not rpc_answers(url)
    assert any(tmp_path.iterdir())  # the state was written before the process went
    chain.stop()  # stopping twice is harmless
