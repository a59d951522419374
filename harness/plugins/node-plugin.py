#!/usr/bin/env python3
"""cln-harness: what a node asks of the harness that lightningd has no
option for, answered through its hooks.

- accept_zero_conf (`zero_conf = true`): every v1 channel open is accepted
  with `mindepth` 0, the `openchannel` hook's only way to say so.
- hold_from_msat (`hold_htlcs_msat = N`): an incoming HTLC of at least N
  msat is never answered in `htlc_accepted`, as a hold invoice whose
  preimage never comes: it stays committed on both sides until it times
  out or its channel closes with it in flight. Smaller ones go on at once.
  `harness-release payment_hash` answers the held HTLCs of that payment
  (`continue`: lightningd settles them with its invoice), and every later
  one of it: after a restart lightningd replays an unanswered HTLC to the
  hook, and the release may come before the replay does.

The harness writes each node's settings into its copy. Written without
pyln-client (the machine running the harness need not have it): a plugin
is JSON-RPC 2.0 over stdin/stdout, one object per message.
"""
import json
import sys

# Replaced by the harness when it writes this file (crate::plugins).
SETTINGS = {"accept_zero_conf": False, "hold_from_msat": None}


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


# Held `htlc_accepted` requests by payment hash, and the hashes released.
held = {}
released = set()


def release(request):
    params = request.get("params", {})
    payment_hash = params[0] if isinstance(params, list) else params.get("payment_hash")
    released.add(payment_hash)
    waiting = held.pop(payment_hash, [])
    for hook in waiting:
        answer(hook, {"result": "continue"})
    answer(request, {"released": len(waiting)})


def hooks():
    names = []
    if SETTINGS["accept_zero_conf"]:
        names.append("openchannel")
    if SETTINGS["hold_from_msat"] is not None:
        names.append("htlc_accepted")
    return [{"name": n} for n in names]


for request in messages(sys.stdin):
    method = request.get("method")
    if method == "getmanifest":
        answer(request, {
            "options": [],
            "rpcmethods": [{
                "name": "harness-release",
                "usage": "payment_hash",
                "description": "Let the held HTLCs of payment_hash go on, now and after a restart.",
            }] if SETTINGS["hold_from_msat"] is not None else [],
            "hooks": hooks(),
            "subscriptions": [],
            "dynamic": True,
        })
    elif method == "openchannel":
        answer(request, {"result": "continue", "mindepth": 0})
    elif method == "htlc_accepted":
        htlc = request.get("params", {}).get("htlc", {})
        payment_hash = htlc.get("payment_hash")
        small = msat(htlc.get("amount_msat", htlc.get("amount", 0))) < SETTINGS["hold_from_msat"]
        if small or payment_hash in released:
            answer(request, {"result": "continue"})
        else:
            held.setdefault(payment_hash, []).append(request)
    elif method == "harness-release":
        release(request)
    else:
        answer(request, {})
