"""Baseline for ci/bench.sh: the keysend scenario written with pyln-testing
(bitcoind, line_graph(2), 3 keysends, teardown). Needs `pip install
pyln-testing` and lightningd/bitcoind on PATH (bench.sh sets PATH)."""
from pyln.testing.fixtures import *  # noqa: F401,F403


def test_keysend(node_factory):
    l1, l2 = node_factory.line_graph(2)
    method = "xkeysend" if "xkeysend" in [c["command"].split()[0] for c in l1.rpc.help()["help"]] else "keysend"
    for _ in range(3):
        l1.rpc.call(method, {"destination": l2.info["id"], "amount_msat": 10000})
