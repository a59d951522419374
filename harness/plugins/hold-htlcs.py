#!/usr/bin/env python3
"""cln-harness: hold every incoming HTLC of at least HOLD_FROM_MSAT msat.

A node declared `hold_htlcs_msat = N` runs this plugin. It never answers
lightningd's `htlc_accepted` hook for such an HTLC, as a hold invoice
whose preimage never comes: the HTLC stays committed on both sides until
it times out, or the channel closes with it in flight. Smaller HTLCs go
on at once. Written without pyln-client, like accept-zero-conf.py.
"""
import json
import sys

HOLD_FROM_MSAT = 0  # replaced by the harness when it writes this file


def messages(stream):
    decoder = json.JSONDecoder()
    buf = ""
    for chunk in iter(lambda: stream.readline(), ""):
        buf += chunk
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            try:
                obj, end = decoder.raw_decode(buf)
            except ValueError:
                break
            buf = buf[end:]
            yield obj


def answer(request, result):
    if "id" not in request:
        return
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}) + "\n\n")
    sys.stdout.flush()


def msat(value):
    # An integer from v24.11 on; "123msat" before.
    if isinstance(value, str):
        return int(value.removesuffix("msat"))
    return int(value)


for request in messages(sys.stdin):
    method = request.get("method")
    if method == "getmanifest":
        answer(request, {
            "options": [],
            "rpcmethods": [],
            "hooks": [{"name": "htlc_accepted"}],
            "subscriptions": [],
            "dynamic": True,
        })
    elif method == "init":
        answer(request, {})
    elif method == "htlc_accepted":
        htlc = request.get("params", {}).get("htlc", {})
        if msat(htlc.get("amount_msat", htlc.get("amount", 0))) < HOLD_FROM_MSAT:
            answer(request, {"result": "continue"})
    else:
        answer(request, {})
