#!/usr/bin/env python3
"""An OTLP/HTTP receiver for the tests: not a mock of our encoder, an independent decoder.

Protobuf bodies are decoded by Google's `protoc --decode_raw` (Debian protobuf-compiler), and
every field it reports is checked against the OTLP schema below (field numbers and wire types
from opentelemetry-proto's trace.proto, logs.proto, common.proto, resource.proto): an unknown
field number or a wrong wire type is an error. JSON bodies are parsed by Python's json and
checked against the OTLP/JSON rules (lowerCamelCase names, ids as lowercase hex, enums as
integers, 64-bit integers as decimal strings). Both are then written in one canonical form, the
OTLP/JSON shape, one JSON line per request, so the tests check either protocol the same way.

Usage: otlp_receiver.py --out FILE [--responses SCRIPT] [--listen-when PATH]
  prints "PORT <n>" on stdout once bound to 127.0.0.1 on a port the kernel chose.
  SCRIPT: "traces=429,200;logs=200" -- the statuses to answer in turn per path (the last one
    repeats). A status may be "503:1" (with Retry-After: 1), "200@0.4" (answered 0.4 s after
    the request was decoded: a slow collector), "hang" (no answer for 30 s), or "close" (the
    connection is closed without an answer).
  --listen-when PATH: the port is bound but refuses connections until PATH exists ("the
    collector is down, then comes up").
  Exits when stdin is closed or on SIGTERM.
"""
import argparse
import gzip
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# ------------------------------------------------------------------------------------------
# The schema: message -> {field number: (json name, kind, message type or None, repeated)}.
# kinds: varint, fixed32, fixed64, bytes (ids), string, message.

KV = {1: ("key", "string", None, False), 2: ("value", "message", "AnyValue", False)}
SCHEMA = {
    "ExportTraceServiceRequest": {1: ("resourceSpans", "message", "ResourceSpans", True)},
    "ExportLogsServiceRequest": {1: ("resourceLogs", "message", "ResourceLogs", True)},
    "ResourceSpans": {1: ("resource", "message", "Resource", False),
                      2: ("scopeSpans", "message", "ScopeSpans", True),
                      3: ("schemaUrl", "string", None, False)},
    "ResourceLogs": {1: ("resource", "message", "Resource", False),
                     2: ("scopeLogs", "message", "ScopeLogs", True),
                     3: ("schemaUrl", "string", None, False)},
    "Resource": {1: ("attributes", "message", "KeyValue", True),
                 2: ("droppedAttributesCount", "varint", None, False)},
    "ScopeSpans": {1: ("scope", "message", "InstrumentationScope", False),
                   2: ("spans", "message", "Span", True),
                   3: ("schemaUrl", "string", None, False)},
    "ScopeLogs": {1: ("scope", "message", "InstrumentationScope", False),
                  2: ("logRecords", "message", "LogRecord", True),
                  3: ("schemaUrl", "string", None, False)},
    "InstrumentationScope": {1: ("name", "string", None, False),
                             2: ("version", "string", None, False),
                             3: ("attributes", "message", "KeyValue", True),
                             4: ("droppedAttributesCount", "varint", None, False)},
    "Span": {1: ("traceId", "bytes", 16, False), 2: ("spanId", "bytes", 8, False),
             3: ("traceState", "string", None, False), 4: ("parentSpanId", "bytes", 8, False),
             5: ("name", "string", None, False), 6: ("kind", "varint", None, False),
             7: ("startTimeUnixNano", "fixed64", None, False),
             8: ("endTimeUnixNano", "fixed64", None, False),
             9: ("attributes", "message", "KeyValue", True),
             10: ("droppedAttributesCount", "varint", None, False),
             11: ("events", "message", "Event", True),
             12: ("droppedEventsCount", "varint", None, False),
             13: ("links", "message", "Link", True),
             14: ("droppedLinksCount", "varint", None, False),
             15: ("status", "message", "Status", False), 16: ("flags", "fixed32", None, False)},
    "Event": {1: ("timeUnixNano", "fixed64", None, False), 2: ("name", "string", None, False),
              3: ("attributes", "message", "KeyValue", True),
              4: ("droppedAttributesCount", "varint", None, False)},
    "Link": {1: ("traceId", "bytes", 16, False), 2: ("spanId", "bytes", 8, False),
             3: ("traceState", "string", None, False),
             4: ("attributes", "message", "KeyValue", True),
             5: ("droppedAttributesCount", "varint", None, False),
             6: ("flags", "fixed32", None, False)},
    "Status": {2: ("message", "string", None, False), 3: ("code", "varint", None, False)},
    "KeyValue": KV,
    "AnyValue": {1: ("stringValue", "string", None, False), 2: ("boolValue", "varint", None, False),
                 3: ("intValue", "varint", None, False), 4: ("doubleValue", "fixed64", None, False),
                 5: ("arrayValue", "message", "ArrayValue", False),
                 6: ("kvlistValue", "message", "KeyValueList", False),
                 7: ("bytesValue", "string", None, False)},
    "ArrayValue": {1: ("values", "message", "AnyValue", True)},
    "KeyValueList": {1: ("values", "message", "KeyValue", True)},
    "LogRecord": {1: ("timeUnixNano", "fixed64", None, False),
                  2: ("severityNumber", "varint", None, False),
                  3: ("severityText", "string", None, False), 5: ("body", "message", "AnyValue", False),
                  6: ("attributes", "message", "KeyValue", True),
                  7: ("droppedAttributesCount", "varint", None, False),
                  8: ("flags", "fixed32", None, False), 9: ("traceId", "bytes", 16, False),
                  10: ("spanId", "bytes", 8, False),
                  11: ("observedTimeUnixNano", "fixed64", None, False),
                  12: ("eventName", "string", None, False)},
}
# JSON names whose values are int64/uint64/fixed64 (decimal strings in OTLP/JSON).
INT64_NAMES = {"startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "observedTimeUnixNano",
               "intValue"}
ENUM_NAMES = {"kind", "code", "severityNumber"}

# ------------------------------------------------------------------------------------------
# decode_raw's text back into a tree: [(field, value)] where value is int (varint), ("fixed32",
# int), ("fixed64", int), bytes, or a nested list (a message or a group: decode_raw prints both
# as "N {").

ESCAPES = {"n": 10, "r": 13, "t": 9, '"': 34, "'": 39, "\\": 92, "a": 7, "b": 8, "f": 12, "v": 11,
           "?": 63}


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        n = s[i + 1]
        if n in "01234567":
            j = i + 1
            while j < len(s) and j < i + 4 and s[j] in "01234567":
                j += 1
            out.append(int(s[i + 1:j], 8))
            i = j
        elif n == "x":
            j = i + 2
            while j < len(s) and j < i + 4 and s[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(s[i + 2:j], 16))
            i = j
        else:
            out.append(ESCAPES[n])
            i += 2
    return bytes(out)


LINE = re.compile(r'^\s*(\d+)(?:: (.*)| \{)$')


def parse_raw(text):
    stack = [[]]
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.strip() == "}":
            node = stack.pop()
            stack[-1][-1] = (stack[-1][-1][0], node)
            continue
        m = LINE.match(line)
        if not m:
            raise ValueError("unexpected decode_raw line: %r" % line)
        field = int(m.group(1))
        if m.group(2) is None:
            stack[-1].append((field, None))
            stack.append([])
            continue
        v = m.group(2)
        if v.startswith('"'):
            value = unescape(v[1:-1])
        elif v.startswith("0x"):
            value = ("fixed64" if len(v) == 18 else "fixed32", int(v, 16))
        else:
            value = int(v)
        stack[-1].append((field, value))
    if len(stack) != 1:
        raise ValueError("unbalanced decode_raw output")
    return stack[0]


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def reencode(tree):
    """A nested tree back to bytes (for bytes/string fields decode_raw parsed as messages)."""
    out = bytearray()
    for field, value in tree:
        if isinstance(value, int):
            out += varint(field << 3) + varint(value)
        elif isinstance(value, tuple):
            kind, n = value
            if kind == "fixed64":
                out += varint(field << 3 | 1) + struct.pack("<Q", n)
            else:
                out += varint(field << 3 | 5) + struct.pack("<I", n)
        elif isinstance(value, bytes):
            out += varint(field << 3 | 2) + varint(len(value)) + value
        else:
            inner = reencode(value)
            out += varint(field << 3 | 2) + varint(len(inner)) + inner
    return bytes(out)


def convert(tree, mtype, errors, path):
    """A decode_raw tree of message type mtype into the OTLP/JSON shape, checking every field."""
    schema = SCHEMA[mtype]
    out = {}
    for field, value in tree:
        where = "%s.%d" % (path, field)
        if field not in schema:
            errors.append("%s: field %d is not in %s" % (where, field, mtype))
            continue
        name, kind, sub, repeated = schema[field]
        if kind == "varint":
            if not isinstance(value, int):
                errors.append("%s (%s): expected a varint, got %r" % (where, name, value))
                continue
            v = value
            if name == "intValue":
                v = v - (1 << 64) if v >= 1 << 63 else v
                v = str(v)
            elif name == "boolValue":
                v = bool(v)
        elif kind in ("fixed32", "fixed64"):
            if not (isinstance(value, tuple) and value[0] == kind):
                errors.append("%s (%s): expected %s, got %r" % (where, name, kind, value))
                continue
            v = value[1]
            if name == "doubleValue":
                v = struct.unpack("<d", struct.pack("<Q", v))[0]
            elif kind == "fixed64":
                v = str(v)
        elif kind in ("bytes", "string"):
            if isinstance(value, list):
                raw = reencode(value)  # decode_raw took the bytes for a message
            elif isinstance(value, bytes):
                raw = value
            else:
                errors.append("%s (%s): expected length-delimited, got %r" % (where, name, value))
                continue
            if kind == "bytes":
                if len(raw) != sub:
                    # Only possible for bytes decode_raw parsed as a message with a non-canonical
                    # varint (an id such as ...80 00...): the exact bytes are found in the body.
                    exact = exact_bytes(field, sub, value)
                    v = exact.hex() if exact is not None else "raw:" + repr(value)
                else:
                    v = raw.hex()
            else:
                try:
                    v = raw.decode("utf-8")
                except UnicodeDecodeError:
                    errors.append("%s (%s): a string field is not valid UTF-8" % (where, name))
                    continue
        else:  # message
            if isinstance(value, bytes):
                value = parse_raw_bytes(value, errors, where) if value else []
            if not isinstance(value, list):
                errors.append("%s (%s): expected a message, got %r" % (where, name, value))
                continue
            v = convert(value, sub, errors, where)
        if repeated:
            out.setdefault(name, []).append(v)
        else:
            if name in out:
                errors.append("%s (%s): a singular field appears twice" % (where, name))
            out[name] = v
    return out


def parse_raw_bytes(b, errors, where):
    """An empty-looking nested message decode_raw printed as a string (e.g. an empty Status)."""
    r = subprocess.run(["protoc", "--decode_raw"], input=b, capture_output=True)
    if r.returncode != 0:
        errors.append("%s: not a message" % where)
        return []
    return parse_raw(r.stdout.decode("utf-8", "replace"))


# The body being converted, per request thread (the server takes requests at once): where
# exact_bytes looks.
converting = threading.local()


def exact_bytes(field, size, tree):
    """The size bytes of a field the body holds that decode_raw reads as tree, or None: every
    place where the field's tag and length are followed by size bytes is tried."""
    body = converting.body
    prefix = varint(field << 3 | 2) + varint(size)
    want = top_fields(tree)
    at = body.find(prefix)
    while at >= 0:
        candidate = body[at + len(prefix):at + len(prefix) + size]
        # protoc is asked only of bytes whose first level reads as the tree's does (a body holds
        # thousands of ids: a process for each would stall the receiver).
        walked = walk_top(candidate) if len(candidate) == size else None
        if walked is not None and (walked == "groups" or walked == want) and \
                parse_raw_bytes(candidate, [], "") == tree:
            return candidate
        at = body.find(prefix, at + 1)
    return None


def top_fields(tree):
    """A decode_raw tree's first level as walk_top gives it."""
    out = []
    for field, value in tree:
        if isinstance(value, int):
            out.append((field, value))
        elif isinstance(value, tuple):
            out.append((field, value[0]))
        else:
            out.append((field, "length-delimited"))  # bytes, a message or a group
    return out


def walk_top(b):
    """The fields of b's first level, varints by value (however many bytes they take), or None
    when b is not a message, or "groups" when it holds one (then only protoc can tell)."""

    def read_varint(i):
        n = shift = 0
        while i < len(b) and shift < 70:
            n |= (b[i] & 0x7F) << shift
            shift += 7
            i += 1
            if not b[i - 1] & 0x80:
                return n, i
        return None, i

    out, i = [], 0
    while i < len(b):
        tag, i = read_varint(i)
        if tag is None or tag >> 3 == 0:
            return None
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            value, i = read_varint(i)
            if value is None:
                return None
            out.append((field, value))
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
            out.append((field, "fixed64" if wire == 1 else "fixed32"))
        elif wire == 2:
            n, i = read_varint(i)
            if n is None:
                return None
            i += n
            out.append((field, "length-delimited"))
        elif wire in (3, 4):
            return "groups"
        else:
            return None
        if i > len(b):
            return None
    return out


def decode_protobuf(body, mtype, errors):
    converting.body = body
    r = subprocess.run(["protoc", "--decode_raw"], input=body, capture_output=True)
    if r.returncode != 0:
        errors.append("protoc --decode_raw failed: " + r.stderr.decode("utf-8", "replace").strip())
        return None
    return convert(parse_raw(r.stdout.decode("utf-8", "replace")), mtype, errors, mtype)


# ------------------------------------------------------------------------------------------
# OTLP/JSON checks.

HEX = re.compile(r"^[0-9a-f]*$")
JSON_SCHEMA = {m: {f[0]: f for f in fields.values()} for m, fields in SCHEMA.items()}


def check_json(obj, mtype, errors, path):
    if not isinstance(obj, dict):
        errors.append("%s: expected an object" % path)
        return
    schema = JSON_SCHEMA[mtype]
    for key, value in obj.items():
        where = path + "." + key
        if key not in schema:
            errors.append("%s: unknown field of %s" % (where, mtype))
            continue
        name, kind, sub, repeated = schema[key]
        items = value if repeated else [value]
        if repeated and not isinstance(value, list):
            errors.append("%s: expected an array" % where)
            continue
        for item in items:
            if kind == "message":
                check_json(item, sub, errors, where)
            elif kind == "bytes":
                if not (isinstance(item, str) and HEX.match(item) and len(item) == 2 * sub):
                    errors.append("%s: expected %d lowercase hex digits, got %r" % (where, 2 * sub, item))
            elif kind == "string":
                if not isinstance(item, str):
                    errors.append("%s: expected a string" % where)
            elif name in INT64_NAMES:
                if not (isinstance(item, str) and re.match(r"^-?\d+$", item)):
                    errors.append("%s: a 64-bit integer must be a decimal string, got %r" % (where, item))
            elif name in ENUM_NAMES:
                if not isinstance(item, int) or isinstance(item, bool):
                    errors.append("%s: an enum must be an integer, got %r" % (where, item))
            elif name == "boolValue":
                if not isinstance(item, bool):
                    errors.append("%s: expected a boolean" % where)
            elif name == "doubleValue":
                if not (isinstance(item, (int, float)) or item in ("NaN", "Infinity", "-Infinity")):
                    errors.append("%s: expected a number" % where)
            elif kind in ("varint", "fixed32"):
                if not isinstance(item, int) or isinstance(item, bool):
                    errors.append("%s: expected an integer, got %r" % (where, item))


# ------------------------------------------------------------------------------------------
# The server.

class State:
    def __init__(self, out, script):
        self.out = out
        self.lock = threading.Lock()
        self.script = script
        self.count = {}
        self.stopping = threading.Event()


def parse_script(text):
    script = {}
    for part in filter(None, (text or "").split(";")):
        path, _, statuses = part.partition("=")
        script["/v1/" + path.strip()] = [s.strip() for s in statuses.split(",") if s.strip()]
    return script


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_POST(self):
        st = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with st.lock:
            n = st.count.get(self.path, 0)
            st.count[self.path] = n + 1
            steps = st.script.get(self.path, [])
            action = steps[min(n, len(steps) - 1)] if steps else "200"
        record = {"path": self.path, "n": n, "action": action,
                  "content_type": self.headers.get("Content-Type"),
                  "content_encoding": self.headers.get("Content-Encoding"),
                  "user_agent": self.headers.get("User-Agent"),
                  "x_test": self.headers.get("X-Test"), "t": time.time()}
        errors = []
        if self.headers.get("Content-Encoding") == "gzip":
            try:
                body = gzip.decompress(body)
            except OSError as e:
                errors.append("bad gzip: %s" % e)
        record["size"] = len(body)
        mtype = {"/v1/traces": "ExportTraceServiceRequest",
                 "/v1/logs": "ExportLogsServiceRequest"}.get(self.path)
        decoded = None
        if mtype is None:
            errors.append("unexpected path")
        elif record["content_type"] == "application/x-protobuf":
            decoded = decode_protobuf(body, mtype, errors)
        elif record["content_type"] == "application/json":
            try:
                decoded = json.loads(body.decode("utf-8"))
                check_json(decoded, mtype, errors, mtype)
            except (UnicodeDecodeError, ValueError) as e:
                errors.append("bad JSON: %s" % e)
        else:
            errors.append("unexpected content type %r" % record["content_type"])
        record["errors"] = errors
        record["body"] = decoded
        if action == "hang":
            st.stopping.wait(30)
            self.close_connection = True
            return
        if action == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            self.write_record(record)
            return
        action, _, delay = action.partition("@")
        if delay:
            time.sleep(float(delay))
        status, _, retry_after = action.partition(":")
        record["status"] = int(status)
        self.write_record(record)
        payload = b"{}"
        self.send_response(int(status))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.end_headers()
        self.wfile.write(payload)

    def write_record(self, record):
        st = self.server.state
        with st.lock:
            st.out.write(json.dumps(record) + "\n")
            st.out.flush()


def self_test():
    """The decoding of ids that decode_raw reads as messages: exit status 0 when right."""

    def ld(field, b):
        return varint(field << 3 | 2) + varint(len(b)) + b

    # A trace id that is also a message with non-canonical varints (field 1 = 0 as 80 00): its
    # re-encoding is two bytes short, so the exact bytes must come from the body.
    # A value other than 0 (81 00 for 1), and a nested message's length padded (8b 00).
    ids = ["08800010011801200128013001388000", "08810010011801200128013001388100",
           "0a8b0008011001180120012881013001"]
    for trace_id in map(bytes.fromhex, ids):
        span = ld(1, trace_id) + ld(2, bytes.fromhex("0102030405060708")) + ld(5, b"x")
        errors = []
        out = decode_protobuf(ld(1, ld(2, ld(2, span))), "ExportTraceServiceRequest", errors)
        got = out["resourceSpans"][0]["scopeSpans"][0]["spans"][0] if out else None
        want = {"traceId": trace_id.hex(), "spanId": "0102030405060708", "name": "x"}
        if errors or got != want:
            print("self-test: got %r, errors %r; want %r" % (got, errors, want))
            return 1
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--responses", default="")
    ap.add_argument("--listen-when")
    args = ap.parse_args()
    out = open(args.out, "a", buffering=1)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
    server.daemon_threads = True
    server.allow_reuse_address = True
    server.server_bind()
    server.state = State(out, parse_script(args.responses))
    if not args.listen_when:
        server.server_activate()  # listening before the port is announced
    print("PORT %d" % server.server_address[1], flush=True)

    def stop(*_):
        server.state.stopping.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=lambda: (sys.stdin.read(), stop()), daemon=True).start()
    if args.listen_when:
        # Bound but not listening: connections are refused, as when the collector is down.
        while not os.path.exists(args.listen_when) and not server.state.stopping.is_set():
            time.sleep(0.02)
        server.server_activate()
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
