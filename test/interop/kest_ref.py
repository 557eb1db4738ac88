#!/usr/bin/python3
"""An independent implementation of the public Kest v0.3.0 wire format, written from the spec
(docs/spec.md sections 1, 2 and 4), not from the TypeScript code. Standard library plus the Debian
package python3-cryptography (Ed25519).

  kest_ref.py selftest                      RFC 8785 number/string vectors against this JCS
  kest_ref.py make OUT_DIR                  writes OUT_DIR/passport.json (3 entries, with a fan-in)
                                            and OUT_DIR/jwks.json (keys anchored per principal)
  kest_ref.py verify PASSPORT JWKS [--sanitizer PRINCIPAL ...]
                                            checks JWS + alg, canonical payload, links, anchored
                                            Ed25519 signatures, taints and trust; prints a JSON
                                            report; exit 0 valid, 1 invalid
"""
import base64
import hashlib
import json
import math
import os
import struct
import sys
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

B64URL_ALPHABET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
ORIGIN_TRUST = {"system": 100, "internal": 100, "verified_rag": 90, "third_party_api": 60,
                "user_input": 40, "internet": 10, "llm": 0}
UNKNOWN_ORIGIN = 10
FIELDS = ["schema_version", "runtime", "entry_id", "operation", "classification", "trust_score",
          "parent_ids", "added_taints", "removed_taints", "taints", "labels", "policy_context",
          "environment", "otel_context", "metadata", "content_hash", "input_hash", "timestamp_ms"]


class Invalid(Exception):
    def __init__(self, index, reason):
        super().__init__(reason)
        self.index = index
        self.reason = reason


# ---- RFC 8785 (JCS) -------------------------------------------------------------------------

def es_number(x):
    """ECMAScript Number::toString for a finite double (RFC 8785 section 3.2.2.3)."""
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        raise ValueError("non-finite number")
    if x == 0:
        return "0"
    if x < 0:
        return "-" + es_number(-x)
    text = repr(float(x))  # shortest round-trip digits, like ECMAScript
    mant, _, exp = text.partition("e")
    ip, _, fp = mant.partition(".")
    all_digits = ip + fp
    lead = len(all_digits) - len(all_digits.lstrip("0"))
    digits = all_digits.lstrip("0").rstrip("0")
    n = len(ip) + (int(exp) if exp else 0) - lead  # value = 0.digits * 10^n
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    return digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def jcs_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\f\n\r\t":
            out.append({"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif c < 0x20:
            out.append("\\u%04x" % c)
        elif 0xD800 <= c <= 0xDFFF:
            raise ValueError("lone surrogate")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def jcs(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v) if abs(v) < 2 ** 53 else es_number(float(v))
    if isinstance(v, float):
        return es_number(v)
    if isinstance(v, str):
        return jcs_string(v)
    if isinstance(v, list):
        return "[" + ",".join(jcs(x) for x in v) + "]"
    if isinstance(v, dict):
        # Property order: by UTF-16 code units (RFC 8785 section 3.2.3), not by code points.
        keys = sorted(v, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(jcs_string(k) + ":" + jcs(v[k]) for k in keys) + "}"
    raise ValueError("not JSON: %r" % (v,))


# ---- base64url, hashes, ids, keys ----------------------------------------------------------------

def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text):
    if not set(text) <= B64URL_ALPHABET or len(text) % 4 == 1:
        raise ValueError("not base64url")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64e(data) != text:
        raise ValueError("non-canonical base64url")
    return data


def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def uuid7():
    ms = int(time.time() * 1000)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    h = "%032x" % value
    return "-".join([h[:8], h[8:12], h[12:16], h[16:20], h[20:]])


def public_jwk(private_key, principal):
    raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = b64e(raw)
    # RFC 7638 thumbprint: required members, lexicographic order, no whitespace.
    kid = b64e(hashlib.sha256(('{"crv":"Ed25519","kty":"OKP","x":"%s"}' % x).encode()).digest())
    return {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig", "principal": principal}


def sign_entry(private_key, kid, payload):
    header = b64e(json.dumps({"alg": "EdDSA", "typ": "JWS", "kid": kid}, separators=(",", ":")).encode())
    body = b64e(jcs(payload).encode("utf-8"))
    signing_input = header + "." + body
    return signing_input + "." + b64e(private_key.sign(signing_input.encode("ascii")))


# ---- trust and taints (section 4) -----------------------------------------------------------

def utf16_sorted(values):
    return sorted(values, key=lambda s: s.encode("utf-16-be"))


def compute_taints(parent_taints, added, removed):
    result = set()
    for taints in parent_taints:
        result |= set(taints)
    result |= set(added)
    result -= set(removed)
    return utf16_sorted(result)


def origin(source_type, root):
    if source_type is None:
        return UNKNOWN_ORIGIN if root else 100
    return ORIGIN_TRUST.get(source_type, UNKNOWN_ORIGIN)


def hop_trust(parent_scores, source_type, override, added):
    if "failed_execution" in added:
        return 0
    if override is not None:
        return max(0, min(100, override))
    if not parent_scores:
        return origin(source_type, True)
    return (min(parent_scores) * origin(source_type, False)) // 100


# ---- make --------------------------------------------------------------------------------

def make(out_dir):
    principals = ["spiffe://py.kest/ingest", "spiffe://py.kest/rag"]
    keys = {p: Ed25519PrivateKey.generate() for p in principals}
    jwks = {"keys": [public_jwk(keys[p], p) for p in principals]}
    kids = {k["principal"]: k["kid"] for k in jwks["keys"]}
    trace = os.urandom(16).hex()
    entries, hashes, payloads = [], [], []

    def hop(principal, operation, parents, source_type, added):
        parent_payloads = [payloads[i] for i in parents]
        labels = {
            "principal": principal,
            "trace_id": trace,
            "kest.source_type": source_type,
            "kest.identity": json.dumps({"user": "alice@example.com", "agent": "py-agent", "task": "t-1"}),
            "note": "caf\u00e9 \u20ac \U0001F600",  # non-ASCII values are signed as raw UTF-8
            "\ufb33": "sorts after the emoji key in UTF-16 order",
            "\U0001F600": "emoji key",
        }
        payload = {
            "schema_version": "0.3.0",
            "runtime": {"name": "kest-python", "version": "0.3.0"},
            "entry_id": uuid7(),
            "operation": operation,
            "classification": "data",
            "trust_score": hop_trust([p["trust_score"] for p in parent_payloads], source_type, None, added),
            "parent_ids": [hashes[i] for i in parents] if parents else ["0"],
            "added_taints": added,
            "removed_taints": [],
            "taints": compute_taints([p["taints"] for p in parent_payloads], added, []),
            "labels": labels,
            "policy_context": {"enterprise_policies": ["baseline"], "platform_policies": [], "app_policies": [],
                               "function_policies": ["fn"], "deviations": []},
            "environment": {"host": "py"},
            "otel_context": {},
            "metadata": {"ratio": 0.000001, "big": 1e21, "third": 1 / 3, "neg": -2.5, "n": 7},
            "content_hash": hashlib.sha256(jcs({"result": operation}).encode()).hexdigest(),
            "input_hash": "",
            "timestamp_ms": int(time.time() * 1000),
        }
        jws = sign_entry(keys[principal], kids[principal], payload)
        entries.append(jws)
        hashes.append(sha256_hex(jws))
        payloads.append(payload)

    hop(principals[0], "ingest", [], "user_input", ["pii"])             # 40, [pii]
    hop(principals[1], "retrieve", [0], "verified_rag", ["web"])        # floor(40*90/100) = 36
    hop(principals[0], "answer", [0, 1], "internal", [])                # fan-in: min(40,36) = 36
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "passport.json"), "w", encoding="utf-8") as f:
        json.dump(entries, f)
    with open(os.path.join(out_dir, "jwks.json"), "w", encoding="utf-8") as f:
        json.dump(jwks, f)
    print(json.dumps({"entries": len(entries), "tip": hashes[-1], "trust": payloads[-1]["trust_score"],
                      "taints": payloads[-1]["taints"]}))


# ---- verify ------------------------------------------------------------------------------

def load_jwks(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    anchored = {}
    for k in doc["keys"]:
        if k.get("kty") != "OKP" or k.get("crv") != "Ed25519" or "d" in k:
            raise ValueError("this verifier anchors public Ed25519 keys only")
        key = Ed25519PublicKey.from_public_bytes(b64d(k["x"]))
        anchored.setdefault(k["principal"], []).append((k.get("kid"), key))
    return anchored


def verify(passport_path, jwks_path, sanitizers):
    with open(passport_path, encoding="utf-8") as f:
        doc = json.load(f)
    if isinstance(doc, dict) and list(doc) == ["entries"]:
        doc = doc["entries"]
    if not isinstance(doc, list):
        raise Invalid(-1, "passport is not a JSON array")
    anchored = load_jwks(jwks_path)
    index_of, payloads = {}, []
    for i, jws in enumerate(doc):
        if not isinstance(jws, str) or jws.count(".") != 2:
            raise Invalid(i, "not a compact JWS")
        h64, p64, s64 = jws.split(".")
        try:
            header = json.loads(b64d(h64))
            payload_bytes = b64d(p64)
            signature = b64d(s64)
            payload = json.loads(payload_bytes.decode("utf-8"))
        except ValueError as err:
            raise Invalid(i, "malformed: %s" % err)
        if not isinstance(header, dict) or header.get("alg") != "EdDSA" or len(signature) != 64:
            raise Invalid(i, "alg not allowed here (EdDSA with a 64-byte signature only)")
        if not isinstance(payload, dict) or sorted(payload) != sorted(FIELDS):
            raise Invalid(i, "payload does not have exactly the entry fields")
        if jcs(payload).encode("utf-8") != payload_bytes:
            raise Invalid(i, "payload bytes are not the RFC 8785 canonical form")
        principal = payload["labels"].get("principal")
        candidates = anchored.get(principal)
        if not candidates:
            raise Invalid(i, "unknown principal %s" % principal)
        kid = header.get("kid")
        keys = [k for (kk, k) in candidates if kid is None or kk == kid]
        if len(keys) != 1:
            raise Invalid(i, "no single anchored key for %s kid %s" % (principal, kid))
        try:
            keys[0].verify(signature, (h64 + "." + p64).encode("ascii"))
        except InvalidSignature:
            raise Invalid(i, "bad signature")
        if payload["parent_ids"] == ["0"]:
            if i != 0:
                raise Invalid(i, "root not first")
            parents = []
        else:
            parents = []
            for h in payload["parent_ids"]:
                if h not in index_of:
                    raise Invalid(i, "broken link")
                parents.append(payloads[index_of[h]])
        labels = payload["labels"]
        added, removed = payload["added_taints"], payload["removed_taints"]
        expected_taints = compute_taints([p["taints"] for p in parents], added, removed)
        if payload["taints"] != expected_taints:
            raise Invalid(i, "taints %r != %r" % (payload["taints"], expected_taints))
        inherited = set(added)
        for p in parents:
            inherited |= set(p["taints"])
        override = labels.get("kest.trust_override")
        override = int(override) if override is not None else None
        scores = [p["trust_score"] for p in parents]
        expected = hop_trust(scores, labels.get("kest.source_type"), override, added)
        if payload["trust_score"] != expected:
            raise Invalid(i, "trust %s != %s" % (payload["trust_score"], expected))
        computed = hop_trust(scores, labels.get("kest.source_type"), None, added)
        if (expected > computed or inherited & set(removed)) and principal not in sanitizers:
            raise Invalid(i, "override or taint removal by a non-sanitizer")
        h = sha256_hex(jws)
        if h in index_of:
            raise Invalid(i, "duplicate entry")
        index_of[h] = i
        payloads.append(payload)
    tip = payloads[-1] if payloads else None
    return {"valid": True, "entries": len(payloads), "trust": tip["trust_score"] if tip else None,
            "taints": tip["taints"] if tip else [], "tip": sha256_hex(doc[-1]) if doc else None,
            "runtimes": sorted({p["runtime"]["name"] for p in payloads})}


def selftest():
    vectors = {
        "0000000000000000": "0", "8000000000000000": "0", "0000000000000001": "5e-324",
        "8000000000000001": "-5e-324", "7fefffffffffffff": "1.7976931348623157e+308",
        "4340000000000000": "9007199254740992", "4430000000000000": "295147905179352830000",
        "44b52d02c7e14af5": "9.999999999999997e+22", "44b52d02c7e14af6": "1e+23",
        "444b1ae4d6e2ef50": "1e+21", "444b1ae4d6e2ef4f": "999999999999999900000",
        "3eb0c6f7a0b5ed8c": "9.999999999999997e-7", "3eb0c6f7a0b5ed8d": "0.000001",
        "41b3de4355555553": "333333333.3333332", "becbf647612f3696": "-0.0000033333333333333333",
        "43143ff3c1cb0959": "1424953923781206.2",
    }
    for hexbits, text in vectors.items():
        got = jcs(struct.unpack(">d", bytes.fromhex(hexbits))[0])
        assert got == text, (hexbits, got, text)
    sample = json.loads('{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],'
                        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}')
    expected = ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
                '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')
    assert jcs(sample) == expected, jcs(sample)
    assert jcs({"z": 3, "a": 1, "m": 2}) == '{"a":1,"m":2,"z":3}'  # TC-10
    print("selftest ok")


def main(argv):
    if len(argv) >= 2 and argv[1] == "selftest":
        selftest()
        return 0
    if len(argv) == 3 and argv[1] == "make":
        make(argv[2])
        return 0
    if len(argv) >= 4 and argv[1] == "verify":
        sanitizers = set()
        rest = argv[4:]
        while rest[:1] == ["--sanitizer"] and len(rest) >= 2:
            sanitizers.add(rest[1])
            rest = rest[2:]
        try:
            print(json.dumps(verify(argv[2], argv[3], sanitizers)))
            return 0
        except Invalid as err:
            print(json.dumps({"valid": False, "index": err.index, "reason": err.reason}))
            return 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
