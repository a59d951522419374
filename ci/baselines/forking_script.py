#!/usr/bin/env python3
"""Baseline for ci/bench.sh: what a hand-rolled script does for the keysend
scenario, forking `lightning-cli`/`bitcoin-cli` for every call: bitcoind, two
nodes, fund, channel, 3 keysends, teardown. Usage:
  forking_script.py LIGHTNINGD_BIN_DIR BITCOIN_BIN_DIR
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

LBIN, BBIN = sys.argv[1], sys.argv[2]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    root = tempfile.mkdtemp(prefix="bench-fork-")
    procs = []
    try:
        bdir = os.path.join(root, "bitcoind")
        os.makedirs(bdir)
        rpcport = free_port()
        bargs = [f"-datadir={bdir}", "-regtest", f"-rpcport={rpcport}", "-rpcuser=u", "-rpcpassword=p", "-fallbackfee=0.0001", "-listen=0"]
        procs.append(subprocess.Popen([os.path.join(BBIN, "bitcoind")] + bargs, stdout=subprocess.DEVNULL))
        bcli = [os.path.join(BBIN, "bitcoin-cli")] + bargs[:5]

        def btc(*a):
            return subprocess.run(bcli + list(a), capture_output=True, text=True).stdout.strip()

        while subprocess.run(bcli + ["getblockcount"], capture_output=True).returncode != 0:
            time.sleep(0.05)
        nodes = {}
        for name in ("alice", "bob"):
            d = os.path.join(root, name)
            os.makedirs(os.path.join(d, "regtest"))
            with open(os.path.join(d, "regtest", "hsm_secret"), "wb") as f:
                f.write(name.encode().ljust(32, b"\0"))
            port = free_port()
            args = ["--developer", f"--lightning-dir={d}", "--network=regtest", f"--addr=127.0.0.1:{port}",
                    f"--bitcoin-rpcport={rpcport}", "--bitcoin-rpcuser=u", "--bitcoin-rpcpassword=p",
                    f"--bitcoin-cli={bcli[0]}", f"--bitcoin-datadir={bdir}", "--dev-bitcoind-poll=1",
                    "--dev-fast-gossip", "--log-file=" + os.path.join(d, "log")]
            procs.append(subprocess.Popen([os.path.join(LBIN, "lightningd")] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            nodes[name] = (d, port)

        def cli(name, *a):
            d, _ = nodes[name]
            out = subprocess.run([os.path.join(LBIN, "lightning-cli"), f"--lightning-dir={d}", "--network=regtest"] + list(a),
                                 capture_output=True, text=True).stdout
            return json.loads(out[out.find("{"):]) if "{" in out else {}

        for name in nodes:
            while not cli(name, "getinfo").get("id"):
                time.sleep(0.05)
        addr = cli("alice", "newaddr", "bech32")["bech32"]
        btc("generatetoaddress", "101", addr)
        while not any(o["status"] == "confirmed" for o in cli("alice", "listfunds").get("outputs", [])):
            time.sleep(0.1)
        bob = cli("bob", "getinfo")["id"]
        cli("alice", "connect", f"{bob}@127.0.0.1:{nodes['bob'][1]}")
        cli("alice", "fundchannel", bob, "1000000")
        btc("generatetoaddress", "6", addr)
        while not any(c["state"] == "CHANNELD_NORMAL" for c in cli("alice", "listpeerchannels").get("channels", [])):
            time.sleep(0.1)
        while not any(c["state"] == "CHANNELD_NORMAL" for c in cli("bob", "listpeerchannels").get("channels", [])):
            time.sleep(0.1)
        # keysend is deprecated from v26.06; xkeysend replaces it.
        method = "xkeysend" if "help" in cli("alice", "help", "xkeysend") else "keysend"
        for _ in range(3):
            r = cli("alice", "-k", method, f"destination={bob}", "amount_msat=10000")
            assert r.get("payment_preimage"), r
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            p.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
