#!/usr/bin/python3
"""Writes passports, baggage headers and span exports shaped like the Python reference runtime's,
from the facts listed in issue 15 and docs/interop.md (never from its code: its licence is
PolyForm Shield). Standard library plus Debian's python3-cryptography. Uses the independent spec
implementation next to it (kest_ref.py) for RFC 8785 and base64url.

  kest_reference_shape.py OUT_DIR [--clock-offset-s S]
                                      writes jwks.json, ref3.json, ref6.json, headers.json,
                                      bad.json, spans.sqlite, spans.json, otlp-request.pb,
                                      otlp-collector.pb; prints a summary. --clock-offset-s
                                      signs as if the clock were S seconds off (-600: stale tips)
Reference facts reproduced: no kest.source_type; a root of unknown origin has trust 100 (internet
10); trust and taints over *all* earlier entries; taints in set order, added_taints may repeat;
kid = principal; runtime kest-python; no labels.trace_id; null deviation fields; inline baggage
raw (json.dumps: quotes, ", " separators); _z = zlib level 1 + urlsafe base64 with padding; both
members past 4096 bytes; SQLite table spans(id, trace_id, name, start_time, end_time, attributes);
spans over OTLP/gRPC: the same spans as OTLP protobuf, encoded here by hand from the field numbers of
opentelemetry-proto (an encoder independent of the protobufjs one the audit decodes with) — one
ExportTraceServiceRequest (what its exporter sends), and the collector file exporter's
`format: proto` (one TracesData per trace, each after its 4-byte big-endian length).
"""
import base64
import hashlib
import json
import os
import sqlite3
import struct
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kest_ref import b64e, jcs, public_jwk, sha256_hex, uuid7  # noqa: E402

from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

PRINCIPALS = ["spiffe://ref.kest/gateway", "spiffe://ref.kest/agent", "spiffe://ref.kest/tool"]
CLOCK_OFFSET_MS = 0


def ordered_set(items):
    """Python set iteration order is arbitrary: reproduce "not sorted" deterministically."""
    seen = []
    for t in items:
        if t not in seen:
            seen.append(t)
    return list(reversed(seen))


class Chain:
    def __init__(self, keys):
        self.keys = keys
        self.jws, self.hashes, self.payloads = [], [], []

    def hop(self, principal, op, parents, added, origin=None, trust=None, taints=None, key=None,
            parent_ids=None, alg="EdDSA", filler=""):
        earlier = self.payloads
        if trust is None:
            if not parents:
                trust = 10 if origin == "internet" else 100
            else:
                trust = min(p["trust_score"] for p in earlier)
                if origin == "internet":
                    trust = min(trust, 10)
        if taints is None:
            union = [t for p in earlier for t in p["taints"]] + added
            taints = ordered_set(union)
        payload = {
            "schema_version": "0.3.0",
            "runtime": {"name": "kest-python", "version": "0.3.0"},
            "entry_id": uuid7(),
            "operation": op,
            "classification": "data",
            "trust_score": trust,
            "parent_ids": parent_ids or ([self.hashes[i] for i in parents] if parents else ["0"]),
            "added_taints": added,
            "removed_taints": [],
            "taints": taints,
            "labels": {"principal": principal},
            "policy_context": {"enterprise_policies": [], "platform_policies": [], "app_policies": [],
                               "function_policies": [op],
                               "deviations": [{"policy": op, "tier": "app", "reason": None, "approver": None}]},
            "environment": {},
            "otel_context": {},
            "metadata": {"filler": filler} if filler else None,
            "content_hash": "",
            "input_hash": "",
            "timestamp_ms": int(time.time() * 1000) + CLOCK_OFFSET_MS,
        }
        header = b64e(json.dumps({"alg": alg, "typ": "JWS", "kid": principal}, separators=(",", ":")).encode())
        signing_input = header + "." + b64e(jcs(payload).encode("utf-8"))
        signer = key or self.keys[principal]
        if isinstance(signer, ec.EllipticCurvePrivateKey):
            sig = signer.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))  # DER
        else:
            sig = signer.sign(signing_input.encode("ascii"))
        jws = signing_input + "." + b64e(sig)
        self.jws.append(jws)
        self.hashes.append(sha256_hex(jws))
        self.payloads.append(payload)
        return self


def header_for(jws_list):
    raw = json.dumps(jws_list)  # ", " separators, no percent-encoding
    z = base64.urlsafe_b64encode(zlib.compress(raw.encode(), 1)).decode()  # padded
    tip = sha256_hex(jws_list[-1])
    members = []
    if len("kest.passport=" + raw) <= 4096:
        members.append("kest.passport=" + raw)
    else:
        members += ["kest.passport=" + raw, "kest.passport_z=" + z]
    members.append("kest.chain_tip=" + tip)
    return {"inline": ",".join(members), "z": "kest.passport_z=%s,kest.chain_tip=%s" % (z, tip),
            "both": "kest.passport=%s,kest.passport_z=%s,kest.chain_tip=%s" % (raw, z, tip)}


def main(out):
    os.makedirs(out, exist_ok=True)
    keys = {p: Ed25519PrivateKey.generate() for p in PRINCIPALS}
    spire = ec.generate_private_key(ec.SECP256R1())
    spire_principal = "spiffe://ref.kest/spire-signed"
    jwks = {"keys": [public_jwk(keys[p], p) for p in PRINCIPALS]}
    nums = spire.public_key().public_numbers()
    jwks["keys"].append({"kty": "EC", "crv": "P-256", "x": b64e(nums.x.to_bytes(32, "big")),
                         "y": b64e(nums.y.to_bytes(32, "big")), "kid": "spire", "principal": spire_principal})
    g, a, t = PRINCIPALS

    ref3 = Chain(keys).hop(g, "ingest", [], ["pii", "pii"]).hop(a, "plan", [0], ["llm"]) \
        .hop(t, "act", [1], [])
    # Fan-out then fan-in; entry 3 has only parent 0 but the reference adds entry 2's taints and
    # lowers to the minimum over all earlier entries.
    filler = ""
    ref6 = Chain(keys).hop(g, "ingest", [], [], filler=filler) \
        .hop(a, "search", [0], ["web", "web"], origin="internet", filler=filler) \
        .hop(t, "summarize", [1], ["llm"], filler=filler) \
        .hop(a, "lookup", [0], [], filler=filler) \
        .hop(t, "merge", [2, 3], [], filler=filler) \
        .hop(g, "answer", [4], [], filler=filler)

    def bad(kind):
        c = Chain(keys).hop(g, "ingest", [], ["pii"]).hop(a, "search", [0], ["web"], origin="internet")
        if kind == "inflated":
            c.hop(t, "act", [1], [], trust=100)
        elif kind == "dropped":
            c.hop(t, "act", [1], [], taints=["web"])
        elif kind == "foreign":
            c.hop(t, "act", [1], [], key=Ed25519PrivateKey.generate())
        elif kind == "der_eddsa":
            c.hop(spire_principal, "act", [1], [], key=spire)
        elif kind == "invented":
            c.hop(t, "act", [1], [], taints=["web", "pii", "clean"])
        elif kind == "broken_link":
            c.hop(t, "act", [1], [], parent_ids=[sha256_hex("elsewhere")])
        return c.jws

    kinds = ["inflated", "dropped", "invented", "foreign", "der_eddsa", "broken_link"]
    files = {
        "jwks.json": jwks,
        "ref3.json": ref3.jws,
        "ref6.json": ref6.jws,
        "headers.json": {"ref3": header_for(ref3.jws), "ref6": header_for(ref6.jws)},
        "bad.json": {k: bad(k) for k in kinds},
    }
    for name, value in files.items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(value, f)
    write_exports(out, {"ref3": ref3, "ref6": ref6})
    print(json.dumps({"ref3": len(ref3.jws), "ref6": len(ref6.jws),
                      "ref6_inline_bytes": len("kest.passport=" + json.dumps(ref6.jws))}))


def span_rows(traces):
    rows = []
    for trace_name, chain in traces.items():
        trace_id = hashlib.sha256(trace_name.encode()).hexdigest()[:32]
        for i, (jws, p) in enumerate(zip(chain.jws, chain.payloads)):
            start = p["timestamp_ms"] * 1_000_000 + i
            attrs = {"kest.signature": jws, "kest.entry_id": p["entry_id"], "kest.chain_tip": sha256_hex(jws),
                     "kest.principal": p["labels"]["principal"], "kest.trust_score": p["trust_score"],
                     "kest.policy_ids": p["policy_context"]["function_policies"], "kest.allowed": True}
            rows.append((trace_id, "%016x" % (len(rows) + 1), "kest.verified." + p["operation"], start,
                         start + 1000, attrs))
    return rows


def write_exports(out, traces):
    rows = span_rows(traces)
    path = os.path.join(out, "spans.sqlite")
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE spans (id TEXT PRIMARY KEY, trace_id TEXT, name TEXT, start_time INTEGER, "
               "end_time INTEGER, attributes TEXT)")
    db.executemany("INSERT INTO spans VALUES (?, ?, ?, ?, ?, ?)",
                   [(sid, tid, name, s, e, json.dumps(attrs)) for tid, sid, name, s, e, attrs in rows])
    db.commit()
    db.close()
    doc = [{"name": name, "context": {"trace_id": "0x" + tid, "span_id": "0x" + sid},
            "parent_id": None, "start_time": s, "end_time": e, "attributes": attrs,
            "instrumentation_scope": {"name": "kest.core.framework.decorators"}}
           for tid, sid, name, s, e, attrs in rows]
    with open(os.path.join(out, "spans.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
    write_otlp(out, rows)


# ---- OTLP protobuf, by hand (wire types: 0 varint, 1 fixed64, 2 length-delimited) ----

def varint(n):
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, wire, payload):
    tag = varint((num << 3) | wire)
    return tag + (varint(len(payload)) + payload if wire == 2 else payload)


def text(num, s):
    return field(num, 2, s.encode("utf-8"))


def any_value(v):  # common.v1.AnyValue
    if isinstance(v, bool):
        return field(2, 0, varint(int(v)))
    if isinstance(v, int):
        return field(3, 0, varint(v & 0xFFFFFFFFFFFFFFFF))
    if isinstance(v, float):
        return field(4, 1, struct.pack("<d", v))
    if isinstance(v, str):
        return text(1, v)
    if isinstance(v, list):  # ArrayValue { repeated AnyValue values = 1 }
        return field(5, 2, b"".join(field(1, 2, any_value(x)) for x in v))
    raise TypeError(v)


def key_value(k, v):  # common.v1.KeyValue
    return text(1, k) + field(2, 2, any_value(v))


def otlp_span(tid, sid, name, start, end, attrs):  # trace.v1.Span
    return (field(1, 2, bytes.fromhex(tid)) + field(2, 2, bytes.fromhex(sid)) + text(5, name)
            + field(6, 0, varint(1)) + field(7, 1, struct.pack("<Q", start))
            + field(8, 1, struct.pack("<Q", end))
            + b"".join(field(9, 2, key_value(k, v)) for k, v in attrs.items()))


def resource_spans(rows):  # trace.v1.ResourceSpans with one ScopeSpans
    resource = field(1, 2, key_value("service.name", "ref-agent"))
    scope = text(1, "kest.core.framework.decorators") + text(2, "0.3.0")
    spans = b"".join(field(2, 2, otlp_span(*r)) for r in rows)
    return field(1, 2, resource) + field(2, 2, field(1, 2, scope) + spans)


def write_otlp(out, rows):
    # ExportTraceServiceRequest and TracesData: both `repeated ResourceSpans resource_spans = 1`.
    with open(os.path.join(out, "otlp-request.pb"), "wb") as f:
        f.write(field(1, 2, resource_spans(rows)))
    with open(os.path.join(out, "otlp-collector.pb"), "wb") as f:
        for tid in dict.fromkeys(r[0] for r in rows):
            message = field(1, 2, resource_spans([r for r in rows if r[0] == tid]))
            f.write(struct.pack(">I", len(message)) + message)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[2] == "--clock-offset-s":
        CLOCK_OFFSET_MS = int(float(sys.argv[3]) * 1000)
    elif len(sys.argv) != 2:
        sys.exit("usage: kest_reference_shape.py OUT_DIR [--clock-offset-s SECONDS]")
    main(sys.argv[1])
