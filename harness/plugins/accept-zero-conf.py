#!/usr/bin/env python3
"""cln-harness: accept every v1 channel open with mindepth 0 (zero-conf).

A node declared `zero_conf = true` runs this plugin: lightningd has no
option for it, only the `openchannel` hook's `mindepth`. Written without
pyln-client (the machine running the harness need not have it): a plugin
is JSON-RPC 2.0 over stdin/stdout, one object per message.
"""
import json
import sys

HOOK_ANSWERS = {
    "openchannel": {"result": "continue", "mindepth": 0},
}


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


for request in messages(sys.stdin):
    method = request.get("method")
    if method == "getmanifest":
        answer(request, {
            "options": [],
            "rpcmethods": [],
            "hooks": [{"name": name} for name in HOOK_ANSWERS],
            "subscriptions": [],
            "dynamic": True,
        })
    elif method == "init":
        answer(request, {})
    elif method in HOOK_ANSWERS:
        answer(request, HOOK_ANSWERS[method])
    else:
        answer(request, {})
