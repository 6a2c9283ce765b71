#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz (docs/fuzzing.md): valid and
near-valid inputs of each protocol, in each target's input format. The
files are in the repository; run this again after changing a format or a
seed. Usage: python3 tests/fuzz/make_seeds.py"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def script(*lines):
    """A hub or eio script: one command per line."""
    return ("\n".join(lines) + "\n").encode()


HUB = {
    "rooms": script(
        "o0", "o1",
        'm0{"event":"join","data":{"room":"a"},"id":1}',
        'm1{"event":"join","data":{"room":"a"},"id":1}',
        'm0{"event":"send","data":{"room":"a","data":"hi"},"id":2}',
        'm1{"event":"broadcast","data":{"data":[1,2.5,null,true]}}',
        'm1{"event":"echo","data":{"x":"\\u00e9"},"id":9007199254740991}',
        'm0{"event":"leave","data":{"room":"a"},"id":3}',
        "c1", "w0"),
    "acks": script(
        "o0", "a0100", 'm0{"ack":1,"data":["ok"]}', "a050", "t060", "a0500",
        'm0{"ack":3,"data":[]}', 'm0{"ack":99}', "t01000", "a0100", "c0"),
    "malformed": script(
        "o2", 'm2{"event":"join"', 'm2{"event":"x","ack":1}', 'm2{"event":"connect"}',
        'm2[1,2]', 'm2{"event":"join","data":{"room":""}}',
        'm2{"event":"join","data":{"room":"aaaaaaaaaaaaaaaaaaaaaa"}}',
        'm2{"event":"nope","id":1}', 'm2{"event":"a","event":"b"}', 'm2{"event":"a","id":-1}',
        'm2{"event":"direct","data":{"to":"AAAAAAAAAAAAAAAAAAAA","data":1}}', "b2abc"),
    "failing": script(
        "o0", "o1", "o2",
        'm0{"event":"join","data":{"room":"r"}}', 'm1{"event":"join","data":{"room":"r"}}',
        'm2{"event":"join","data":{"room":"r"}}', "f1",
        'm0{"event":"send","data":{"room":"r","data":"x"}}',
        'm1{"event":"send","data":{"room":"r","data":"y"}}', "c1", "k2",
        'm2{"event":"leave","data":{"room":"r"}}', "a2100", "c2"),
    "limits": script(
        "o0roomname=x&a=%20",
        *['m0{"event":"join","data":{"room":"%s"}}' % r for r in "abcde"],
        "o1", *['m1{"event":"join","data":{"room":"%s"}}' % r for r in "fghij"],
        "o2", "o3", *['m%d{"event":"join","data":{"room":"a"}}' % i for i in (1, 2, 3)]),
}

EIO = {
    "connect": script(
        "o0EIO=4&transport=websocket&room=a", "t040", 't042["join","a"]', 't0421["join","b"]',
        't042["send","a","hi"]', "o1", "t140{}", 't142["join","a"]', 't142["broadcast",{"x":1}]',
        "t041", "t03", "c1"),
    "admin": script(
        "o0", 't040/admin,{"token":"t"}', 't042/admin,1["join","x"]',
        't042/admin,["send","x",[1,2]]', "o1", "t140/admin,", "t140/admin,{}",
        "t041/admin,", "t040"),
    "binary": script(
        "o0", "t040", 't042["join","a"]',
        't0451-["send","a",{"_placeholder":true,"num":0}]', "b0\x01\x02\x03",
        't0452-/admin,["x",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]',
        "b0ab", "b0cd", 't0461-5[{"_placeholder":true,"num":0}]', "b0z"),
    "heartbeat": script(
        "o0", "t040", "k01000", "t03", "k01000", "k0600", "o1", "k12000", "o2", "t240",
        "f2", 't242["echo","x"]', "k2100"),
    # Recovery on "/admin": the pid is the one the fixed random sequence
    # gives; resumed within the window, then too late.
    "recovery": script(
        "o0", 't040/admin,{"token":"t"}', 't042/admin,["join","x"]', 't042/admin,["send","x",1]',
        "c0", "o1", 't140/admin,{"token":"t","pid":"4TJFH76agiw8qxbJOhOE","offset":"3"}',
        't142/admin,["send","x",2]', "c1", "k02000", "o2",
        't240/admin,{"token":"t","pid":"4TJFH76agiw8qxbJOhOE","offset":"5"}'),
    "malformed": script(
        "o0", "t0x", "t04", "t042[", 't04{"a":1}', "t06", "t05", "t01", "o1", "t140",
        't142["connect"]', "t143[]", "t140/nope,", 't142/admin,["join","a"]', "b1raw",
        "t1" + "4" * 10, "o2", "t21"),
    "polling": script(
        "p0EIO=4&transport=polling&room=a", "P040\x1e42[\"join\",\"a\"]",
        "P0451-[\"send\",\"a\",{\"_placeholder\":true,\"num\":0}]\x1ebAQID", "o1", "t140",
        't142["join","a"]', "u02probe", "P042[\"send\",\"a\",1]", "u05", 't042["send","a",2]',
        "p2", "u22probe", "k21000", "P23", "a2", "u25", "p3", "u32probe", "k311000", "c3"),
    "v3": script(
        "p0EIO=3&transport=polling", "P01:2", "P012:42[\"join\",\"a\"]",
        "B0\x00\x02\xff40\x01\x03\xff\x04\x01\x02", "o1EIO=3&transport=websocket",
        't142["join","a"]', 't1451-["send","a",{"_placeholder":true,"num":0}]', "b1\x04\x09",
        "t12", "u02probe", "u05", "t02", "k01600", "p2EIO=3&b64=1", "P240/admin?token=x,"),
}

QUERY = {
    "eio": b"EIO=4&transport=websocket",
    "decoded": b"a=1&b=x%20y+z&name=Ana+B%C3%A9",
    "repeated": b"x=1&x=2&flag&&empty=",
    "bad-escape": b"a=%4",
    "bad-utf8": b"k%FF=v",
    "nul-key": b"a%00b=1",
    "no-name": b"=v",
    "empty": b"",
}


def masked(opcode, payload, fin=True, mask=b"\x01\x02\x03\x04"):
    """A client frame (masked, as RFC 6455 requires of clients)."""
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def upgrade(target):
    return ("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % target).encode()


SIO = "/socket.io/?EIO=4&transport=websocket"


def steps(*items):
    """ws steps: (conn, op, bytes) with bytes cut into pieces of <= 255."""
    out = b""
    for conn, op, data in items:
        if isinstance(data, int):
            out += bytes([op << 1 | conn, data])
            continue
        for i in range(0, max(len(data), 1), 255):
            piece = data[i:i + 255]
            out += bytes([op << 1 | conn, len(piece)]) + piece
    return out


def text(conn, s):
    return (conn, 0, masked(1, s.encode()))


WS = {
    "socketio": steps(
        (0, 0, upgrade(SIO)), text(0, "40"), text(0, '42["join","a"]'),
        text(0, '421["send","a","hi"]'), (0, 0, masked(9, b"p")), text(0, "3"),
        (0, 0, masked(8, b"\x03\xe8bye")), (0, 4, 0)),
    "json": steps(
        (1, 0, upgrade("/ws?name=b")), text(1, '{"event":"join","data":{"room":"a"},"id":1}'),
        (0, 0, upgrade("/ws")), text(0, '{"event":"join","data":{"room":"a"}}'),
        text(1, '{"event":"send","data":{"room":"a","data":"x"},"id":2}'),
        (0, 0, masked(8, b"")), (0, 4, 0), (1, 5, 0)),
    "split": steps(
        (0, 0, upgrade(SIO)[:20]), (0, 2, 10), (0, 0, upgrade(SIO)[20:]),
        (0, 0, masked(1, b"4", fin=False)), (0, 0, masked(0, b"0")),
        (0, 0, masked(1, b'42["echo",1]')[:3]), (0, 0, masked(1, b'42["echo",1]')[3:])),
    "refused": steps(
        (0, 0, upgrade("/nowhere")), (0, 4, 0),
        (1, 0, upgrade("/socket.io/?EIO=3&transport=polling")), (1, 6, 0)),
    "deadlines": steps(
        (0, 0, b"GET /ws HTTP/1.1\r\n"), (0, 2, 101), (1, 0, upgrade(SIO)), (1, 2, 30),
        (1, 2, 30), (0, 6, 0), (1, 0, masked(8, b"\x03\xe8")), (1, 2, 60)),
    "slow": steps(
        (0, 0, upgrade("/ws")), (1, 0, upgrade("/ws")), (1, 3, 0),
        text(0, '{"event":"join","data":{"room":"a"}}'),
        text(1, '{"event":"join","data":{"room":"a"}}'),
        *[text(0, '{"event":"send","data":{"room":"a","data":"%s"}}' % ("x" * 180))] * 24,
        (1, 7, 100), (1, 3, 0)),
    "binary": steps(
        (0, 0, upgrade(SIO)), text(0, "40"), text(0, '42["join","a"]'),
        text(0, '451-["send","a",{"_placeholder":true,"num":0}]'), (0, 0, masked(2, b"\x00\xff"))),
    "bad-frames": steps(
        (0, 0, upgrade("/ws")), (0, 0, b"\x81\x05hello"),
        (1, 0, upgrade("/ws")), (1, 0, b"\x81\xfe\xff\xff\x01\x02\x03\x04")),
}


def hsteps(*items):
    """http steps: (conn, op, bytes or a number) with bytes cut into pieces
    of <= 255; a number is the argument of a step that takes no bytes."""
    out = b""
    for conn, op, data in items:
        if isinstance(data, int):
            out += bytes([op << 2 | conn, data])
            continue
        for i in range(0, max(len(data), 1), 255):
            piece = data[i:i + 255]
            out += bytes([op << 2 | conn, len(piece)]) + piece
    return out


def req(method, target, headers="", body=b""):
    head = "%s %s HTTP/1.1\r\nHost: x\r\n%s" % (method, target, headers)
    if body or method == "POST":
        head += "Content-Length: %d\r\n" % len(body)
    return head.encode() + b"\r\n" + body


POLL = "/socket.io/?EIO=4&transport=polling"
PSID = POLL + "&sid=$S"
PLAIN = "/engine.io/?EIO=4&transport=polling"

HTTP = {
    "poll": hsteps(
        (0, 0, req("GET", POLL)), (0, 0, req("POST", PSID, body=b"40")), (0, 0, req("GET", PSID)),
        (0, 0, req("POST", PSID, body=b'42["join","a"]\x1e42["send","a","hi"]')), (0, 0, req("GET", PSID)),
        (0, 0, req("GET", PSID)), (0, 2, 20), (0, 0, req("POST", PSID, body=b"1"))),
    "pipelined": hsteps(
        (0, 0, req("GET", POLL)),
        (0, 0, req("POST", PSID, body=b"40") + req("GET", PSID) + req("GET", PSID) + req("POST", PSID, body=b"3")),
        (0, 2, 11)),
    "upgrade": hsteps(
        (0, 0, req("GET", POLL)), (0, 0, req("POST", PSID, body=b"40")), (0, 0, req("GET", PSID)),
        (0, 0, req("GET", PSID)), (1, 0, upgrade("/socket.io/?EIO=4&transport=websocket&sid=$S")),
        (1, 0, masked(1, b"2probe")), (1, 0, masked(1, b"5")), (0, 0, req("GET", PSID)),
        (1, 0, masked(1, b'42["join","b"]'))),
    "cors": hsteps(
        (0, 0, req("OPTIONS", POLL, "Origin: http://a\r\nAccess-Control-Request-Headers: content-type\r\n")),
        (0, 0, req("GET", POLL, "Origin: http://b\r\n")), (0, 0, req("GET", POLL, "Origin: http://c\r\n")),
        (1, 0, upgrade("/ws").replace(b"Host: x", b"Origin: http://c"))),
    "plain": hsteps(
        (0, 0, req("GET", PLAIN)), (0, 0, req("POST", PLAIN + "&sid=$S", body=b"4a\x1e4b\x1ebAQL/")),
        (0, 0, req("GET", PLAIN + "&sid=$S")), (1, 0, req("GET", "/engine.io/?EIO=3&transport=polling&b64=1"))),
    "overlap": hsteps(
        (0, 0, req("GET", POLL)), (0, 0, req("GET", PSID)), (1, 0, req("GET", PSID)),
        (2, 0, ("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n40" % PSID).encode()), (2, 4, 0)),
    "routes": hsteps(
        (0, 0, req("GET", "/r/a?b=1", "Accept: */*\r\n") + req("HEAD", "/r/a") + req("GET", "/h")),
        (0, 0, req("GET", "/r/a", 'If-None-Match: "e"\r\n')), (0, 0, req("GET", "/r/x")),
        (1, 0, req("DELETE", "/r/n", "Connection: close\r\n")), (2, 0, upgrade("/h"))),
    "bad": hsteps(
        (0, 1, b"GET / HTTP/9.9\r\n\r\n"), (1, 1, b"POST /socket.io/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        (2, 0, req("GET", POLL)[:30]), (2, 2, 110)),
}


def v3_text(*packets):
    """A v3 text payload: each packet behind its UTF-16 length."""
    return "".join("%d:%s" % (len(pk.encode("utf-16-le")) // 2, pk) for pk in packets).encode()


def v3_binary(*packets):
    """A v3 binary payload: text packets (str) and binary messages (bytes)."""
    out = b""
    for pk in packets:
        body = pk.encode() if isinstance(pk, str) else b"\x04" + pk
        out += bytes([0 if isinstance(pk, str) else 1]) + bytes(int(d) for d in str(len(body)))
        out += b"\xff" + body
    return out


PH = '{"_placeholder":true,"num":0}'
# First byte: the mode (fuzz_payload.c); then one POST body.
PAYLOAD = {
    "v4": b"\x00" + "\x1e".join(
        ["40", '42["join","a"]', '421["send","a","h\u00e9"]', "451-[\"send\",\"a\",%s]" % PH,
         "bAQID", "6", "3"]).encode(),
    "v4-twice": b"\x08" + b'40\x1e42["join","a"]',
    "v4-plain": b"\x04" + "\x1e".join(["4hello", "bAAE=", "4\u00e9\U0001F600", "b", "6"]).encode(),
    "v4-bad": b"\x00" + b"40\x1e\x1ebA=B",
    "v3-text": b"\x01" + v3_text('42["join","a"]', "2", '42["send","a","\U0001F600"]',
                                 "451-[\"send\",\"a\",%s]" % PH, "b4AQID", ""),
    "v3-binary": b"\x02" + v3_binary('42["join","a"]', "451-[\"send\",\"a\",%s]" % PH,
                                     b"\x01\x02", "2"),
    "v3-b64": b"\x03" + v3_text("40/admin?token=x,", "451-[\"send\",\"a\",%s]" % PH, "b4"),
    "v3-plain": b"\x06" + v3_binary("4hi", b"\x00\xff", "b4AQ==", "2"),
    "v3-bad": b"\x01" + b"02:40",
}


def token(claims, key=b"fuzz-key"):
    """A roomd token (examples/roomd/auth.h) for claims, signed with key."""
    import base64, hashlib, hmac
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
    payload = b64(claims)
    return payload + b"." + b64(hmac.new(key, payload, hashlib.sha256).digest())


GOOD_CLAIMS = b'{"userId":"42","name":"Ada","role":"TEACHER","exp":4102444800,"rooms":["math","pr:1","*"]}'
TOKEN = {
    "valid": b"T" + token(GOOD_CLAIMS),
    "minimal": b"T" + token(b'{"userId":"a","exp":4102444800,"rooms":[]}'),
    "expired": b"T" + token(b'{"userId":"a","exp":1,"rooms":["*"]}'),
    "unknown-claim": b"T" + token(b'{"userId":"a","exp":4102444800,"rooms":[],"admin":true}'),
    "other-key": b"T" + token(GOOD_CLAIMS, b"another key"),
    "padded": b"T" + token(GOOD_CLAIMS) + b"=",
    "no-dot": b"T" + token(GOOD_CLAIMS).replace(b".", b""),
    "claims": b"C" + GOOD_CLAIMS,
    "claims-dup": b'C{"userId":"a","userId":"b","exp":4102444800,"rooms":[]}',
    "claims-bounds": b'C{"userId":"' + b"u" * 128 + b'","role":"' + b"r" * 33 + b'","exp":4102444800,"rooms":[]}',
    "claims-rooms": b'C{"userId":"a","exp":4102444800,"rooms":[' + b",".join(b'"r%d"' % i for i in range(65)) + b"]}",
    "claims-types": b'C{"userId":1,"name":null,"exp":4102444800.5,"rooms":"*"}',
    "declared": b'D{"userId":"alice","name":"Alice"}',
    "declared-bad": b'D{"userId":"a\u0000b","name":""}',
    "declared-name-only": b'D{"name":"x"}',
}

STORAGE = {
    "sync-and-compact": script(
        "o0", "o1", "o2", "j0", "s0", "s00", "u0", "u0", "j1", "u0", "s1", "s17", "u1", "k0", "u1",
        "u0", "s10", "a0", "j2", "s2", "s20", "u2", "t1500", "u2", "c1", "s0", "k*", "l2", "x0",
        "t100"),
    "history": script(
        "o0", "o1", 'm0{"event":"join","data":"h1","id":1}', 'm1{"event":"join","data":"h1","id":1}',
        'm0{"event":"send","data":{"room":"h1","data":1}}',
        'm0{"event":"send","data":{"room":"h1","data":2}}',
        'm1{"event":"history","data":{"room":"h1","since":{"offset":1,"epoch":"x"}},"id":2}',
        'm1{"event":"history","data":{"room":"h1"},"id":3}',
        'm1{"event":"history","data":["h1",{"offset":0,"epoch":"AAAAAAAAAAAAAAAAAAAA"}]}',
        "t600", 'm1{"event":"history","data":{"room":"h1","since":{"offset":-3}},"id":4}'),
    "restart": script(
        "o0", "j0", "s0", "s00", "u0", "u0", "f0", "u0", "t1000", "f0", "t1000", "r0", "o1", "j1",
        "s1", "s10", "u1", "k1", "a0", "r0", "o2", "j2", "s2", "s20"),
    "failing-store": script(
        "o0", "j0", "s0", "s00", "u0", "f0", "t10", "u0", "s0", "t2000", "f0", "t10", "u0", "k0",
        "a0", "t1000"),
}


def varuint(n):
    """lib0's writeVarUint."""
    out = bytearray()
    while n > 0x7f:
        out.append(0x80 | (n & 0x7f))
        n >>= 7
    out.append(n)
    return bytes(out)


def yarr(b):
    """lib0's writeVarUint8Array (and writeVarString's bytes)."""
    return varuint(len(b)) + b


def ycmd(op, slot, data=None):
    """A fuzz_yjs command: op, slot, then a little-endian length and bytes."""
    out = bytes([op, slot])
    if data is not None:
        out += len(data).to_bytes(2, "little") + data
    return out


def awareness(*entries):
    """A y-websocket awareness message of (client, clock, JSON text)."""
    body = varuint(len(entries)) + b"".join(varuint(c) + varuint(k) + yarr(s) for c, k, s in entries)
    return b"\x01" + yarr(body)


Y_STEP1 = b"\x00\x00\x01\x00"
Y_STEP2_EMPTY = b"\x00\x01\x02\x00\x00"
Y_UPDATE = lambda b: b"\x00\x02" + yarr(b)
YJS = {
    "sync": ycmd(0, 0) + ycmd(0, 2) + ycmd(1, 0, Y_STEP2_EMPTY) + ycmd(1, 0, Y_UPDATE(b"\x01\x01abc"))
    + ycmd(1, 2, Y_STEP1) + ycmd(3, 2) + ycmd(1, 2, Y_UPDATE(b"x" * 40)) + ycmd(2, 0) + ycmd(2, 2),
    "stream": ycmd(0, 0) + b"".join(ycmd(1, 0, Y_UPDATE(bytes([i]) * 50)) for i in range(8))
    + ycmd(0, 2) + ycmd(3, 2) + ycmd(3, 2) + ycmd(1, 0, Y_UPDATE(b"live")) + ycmd(3, 2) + ycmd(3, 2)
    + ycmd(3, 2) + ycmd(3, 2),
    "compaction": ycmd(0, 0) + ycmd(0, 2) + ycmd(1, 0, Y_STEP2_EMPTY)
    + b"".join(ycmd(1, 2, Y_UPDATE(bytes([i]) * 90)) for i in range(6)) + ycmd(4, 0)
    + ycmd(1, 2, Y_UPDATE(b"race")) + ycmd(1, 0, b"\x00\x01" + yarr(b"snapshot" * 20)) + ycmd(0, 1),
    "awareness": ycmd(0, 0) + ycmd(0, 2)
    + ycmd(1, 0, awareness((7, 1, b'{"user":{"name":"Ada"},"cursor":null}')))
    + ycmd(1, 2, b"\x03") + ycmd(1, 2, awareness((7, 2, b'{"x":1}'), (8, 1, b"[1,2]")))
    + ycmd(1, 0, awareness((7, 3, b"null"))) + ycmd(4, 0) + ycmd(2, 2) + ycmd(2, 0),
    "malformed": ycmd(0, 0) + ycmd(1, 0, b"\x00\x03\x00") + ycmd(0, 0) + ycmd(1, 0, b"\x00\x02\x09\x01")
    + ycmd(0, 0) + ycmd(1, 0, awareness((1, 1, b"{not json")))
    + ycmd(0, 0) + ycmd(1, 0, b"\x80\x80\x80\x80\x80\x80\x80\x80\x01")
    + ycmd(0, 0) + ycmd(1, 0, b"\x01\x05\x09\x07\x01\x00") + ycmd(1, 0, b"\x02\x00\x01x\x09zz"),
    "decoder": ycmd(5, 0, Y_STEP1 + Y_UPDATE(b"ab") + awareness((1, 2, b"{}")) + b"\x03\x02\x00\x00"),
}


def fuzz_ids(n):
    """The ids of a hub's first n connections under fuzz_random() (tests/fuzz/fuzz.c):
    splitmix64 from 0, one output for the hub's seed, then 15 bytes per id."""
    import base64
    state, mask = 0, (1 << 64) - 1

    def draw(length):
        nonlocal state
        out = b""
        while length:
            state = (state + 0x9E3779B97F4A7C15) & mask
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
            z ^= z >> 31
            take = min(length, 8)
            out += z.to_bytes(8, "little")[:take]
            length -= take
        return out

    draw(8)
    return [base64.urlsafe_b64encode(draw(15)).decode() for _ in range(n)]


SDK = "__sails_io_sdk_version=1.2.1&__sails_io_sdk_platform=node&__sails_io_sdk_language=javascript"
SID = fuzz_ids(3)
SAILS = {
    "routes": script(
        "o0" + SDK, "o1" + SDK, "o2" + SDK,
        'm0{"event":"post","data":{"method":"post","url":"/joinFunRoom","headers":{},"data":{"roomName":"fun"}},"id":1}',
        'm1{"event":"post","data":{"method":"post","url":"/joinFunRoom/?roomName=fun","headers":{},"data":{}},"id":1}',
        'm2{"event":"post","data":{"method":"post","url":"/broadcast","headers":{},"data":{"roomName":"fun","event":"hello","data":{"x":1}}},"id":1}',
        'm2{"event":"post","data":{"method":"post","url":"/leaveRoom","headers":{},"data":{"socketId":"%s","roomName":"fun"}},"id":2}' % SID[1],
        'm2{"event":"post","data":{"url":"/broadcast","data":{"roomName":"fun"}}}',
        'm0{"event":"get","data":{"method":"get","url":"/socketId","headers":{},"data":{}},"id":3}',
        'm0{"event":"post","data":{"method":"post","url":"/leaveFunRoom","headers":{},"data":{"roomName":"fun"}},"id":4}',
        'm1{"event":"delete","data":{"method":"delete","url":"/nothing","headers":{},"data":{}},"id":2}',
        "c1",
        'm2{"event":"post","data":{"url":"/leaveRoom","data":{"socketId":"%s","roomName":"fun"}},"id":3}' % SID[1],
        "c0", "c2"),
    "bad-requests": script(
        "o0" + SDK,
        'm0{"event":"post","data":"garbage","id":1}',
        'm0{"event":"post","data":{"method":"post"},"id":2}',
        'm0{"event":"post","data":{"url":5},"id":3}',
        'm0{"event":"post","data":{"url":"/x","method":"get"},"id":4}',
        'm0{"event":"post","data":{"url":"/joinFunRoom","data":"x"},"id":5}',
        'm0{"event":"fetch","data":{"url":"/joinFunRoom"},"id":6}',
        'm0{"event":"post","data":{"url":"/joinFunRoom","data":{"roomName":""}},"id":7}',
        'm0{"event":"post","data":{"url":"/joinFunRoom","data":{"roomName":"aaaaaaaaaaaaaaaaaaaaaa"}},"id":8}',
        'm0{"event":"post","data":{"url":"/broadcast","data":{"roomName":"r","event":"connect"}},"id":9}',
        'm0{"event":"post","data":{"url":"http://h:1/joinFunRoom?roomName=%zz#x"},"id":10}',
        'm0{"event":"get","data":{"nourl":1}}', "k0",
        'm0{"event":"get","data":{"url":"/socketId"},"id":11}'),
    "utf8-cut": script(
        "o0" + SDK,
        'm0{"event":"post","data":"' + "\u00e9" * 150 + '","id":1}',
        'm0{"event":"' + "\u20ac" * 40 + '","data":{"url":"/x"},"id":2}'),
    "old-sdk": script(
        "o0", "o1__sails_io_sdk_version=0.10.5", "o2__sails_io_sdk_version=v1.0.0-rc.1",
        'm0{"event":"get","data":{"url":"/socketId"},"id":1}',
        'm1{"event":"get","data":{"url":"/socketId"},"id":1}',
        'm2{"event":"get","data":{"url":"/socketId"},"id":1}'),
    "limits": script(
        "o0" + SDK, "o1" + SDK, "o2" + SDK, "o3" + SDK,
        *['m%d{"event":"post","data":{"url":"/joinFunRoom","data":{"roomName":"r"}},"id":1}' % i for i in range(4)],
        *['m0{"event":"post","data":{"url":"/joinFunRoom","data":{"roomName":"r%d"}},"id":%d}' % (i, i + 2) for i in range(6)]),
}


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


write("hub", HUB)
write("eio", EIO)
write("query", QUERY)
write("ws", WS)
write("http", HTTP)
write("payload", PAYLOAD)
write("token", TOKEN)
write("yjs", YJS)
write("storage", STORAGE)
write("sails", SAILS)
# Request paths for roomd --static (examples/roomd/static_path.c).
write("static_path", {
    "index": b"/index.html", "nested": b"/a//b/c.js/", "root": b"/",
    "dotdot": b"/../etc/passwd", "encoded-dotdot": b"/%2e%2E/secret", "encoded-slash": b"/a%2fb",
    "encoded-backslash": b"/a%5c..%5cb", "hidden": b"/.git/config", "nul": b"/a%00b",
    "bad-escape": b"/%zz", "space": b"/a%20b.txt", "utf8": b"/caf%C3%A9.html",
})


# roomd's room storage messages between nodes (lib/redis/storage.c):
# msgpack [uid, {"type", "nsp": "roomd-storage"}, room, ...].
def mp_str(t):
    b = t.encode()
    return (bytes([0xa0 | len(b)]) if len(b) < 32 else bytes([0xd9, len(b)])) + b


def mp_bin(b):
    return (bytes([0xc4, len(b)]) if len(b) < 256 else bytes([0xc5, len(b) >> 8, len(b) & 255])) + b


def mp_uint(n):
    return bytes([n]) if n < 128 else bytes([0xcc, n])


def st_msg(kind, room, *rest):
    head = bytes([0x82]) + mp_str("type") + mp_uint(kind) + mp_str("nsp") + mp_str("roomd-storage")
    return bytes([0x90 | (3 + len(rest))]) + mp_str("a1b2c3d4e5f6") + head + mp_str(room) + b"".join(rest)


def entries(*updates):
    return b"".join(len(u).to_bytes(4, "big") + u for u in updates)


REDIS_STORAGE = {
    "update": st_msg(120, "doc", mp_bin(b"\x01\x02\x03")),
    "relay-awareness": st_msg(121, "doc", mp_bin(bytes([1, 10, 1, 7, 1, 6]) + b'{"x":1}')),
    "fetch": st_msg(122, "doc", mp_str("a1b2c3d4e5f6-s1"), mp_uint(0)),
    "fetch-after-outage": st_msg(122, "doc", mp_str("a1b2c3d4e5f6-s2"), mp_uint(1)),
    "log": st_msg(123, "doc", mp_str("a1b2c3d4e5f6-s1"), mp_uint(0), mp_uint(7),
                  mp_bin(entries(b"one", b"", b"three" * 60))),
    "log-none": st_msg(123, "doc", mp_str("a1b2c3d4e5f6-s1"), mp_uint(3), mp_uint(1), mp_bin(b"")),
    "log-cut-entry": st_msg(123, "doc", mp_str("x-s2"), mp_uint(1), mp_uint(0),
                            mp_bin(entries(b"whole") + b"\x00\x00\x01\x00part")),
    "wrong-nsp": st_msg(120, "doc", mp_bin(b"x")).replace(b"roomd-storage", b"roomd-storagX"),
    "broadcast-like": bytes([0x93]) + mp_str("uid") + bytes([0x81]) + mp_str("type") + mp_uint(2) + bytes([0x80]),
    "entries-only": entries(b"a", b"bc", b"def"),
}
write("redis_storage", REDIS_STORAGE)
