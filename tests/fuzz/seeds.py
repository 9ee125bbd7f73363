#!/usr/bin/python3
# seeds.py - seed corpora for the fuzz harnesses, made from the repository's test data:
#   tests/fuzz/seeds.py SOURCE_DIR BUILD_DIR OUT_DIR   (OUT_DIR/<harness>/ for each harness)
# Small files only; the one large seed is the real CNV model (the only valid .orym there is).
import gzip
import os
import struct
import sys
import zlib

src, build, out = sys.argv[1:4]


def put(harness, name, data):
    d = os.path.join(out, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def member(data, name=None, comment=None, extra=None, hcrc=False, level=6):
    """A gzip member with the optional header fields RFC 1952 allows."""
    flg = (2 if hcrc else 0) | (4 if extra is not None else 0) | (8 if name else 0)
    flg |= 16 if comment else 0
    h = bytes([0x1F, 0x8B, 8, flg]) + struct.pack("<I", 42) + bytes([0, 3])
    if extra is not None:
        h += struct.pack("<H", len(extra)) + extra
    if name:
        h += name + b"\0"
    if comment:
        h += comment + b"\0"
    if hcrc:
        h += struct.pack("<H", zlib.crc32(h) & 0xFFFF)
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = c.compress(data) + c.flush()
    return h + body + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)


text = b"the chunk device runtime of and a compress octoray gzip card to in order\n" * 20
rand = bytes((i * 7919 + 13) % 251 for i in range(1500))

# gunzip: the member shapes GNU gzip reads
put("gunzip", "plain", gzip.compress(text, mtime=0))
put("gunzip", "name", member(text, name=b"file.txt"))
put("gunzip", "all-fields-hcrc", member(text, name=b"n", comment=b"c", extra=b"AB\2\0xy", hcrc=True))
put("gunzip", "stored", member(rand, level=0))
put("gunzip", "two-members", member(text[:300]) + member(rand[:200], name=b"b"))
put("gunzip", "zero-padding", member(text[:100]) + bytes(64))
put("gunzip", "garbage", member(text[:100]) + b"garbage")
put("gunzip", "empty-member", member(b""))
put("gunzip", "truncated", member(text)[:-5])

# gzip: 5 parameter bytes (level, device set, chunk size, repeats, seed), then data
for i, (p, data) in enumerate([(b"\x00\x00\x00\x00\x00", text), (b"\x05\x02\x01\x03\x01", rand),
                               (b"\x88\x03\x00\x10\x02", text[:700]), (b"\x02\x01\x02\x3f\x00", bytes(200))]):
    put("gzip", "seed%d" % i, p + data)

# deflate_scan: byte 0 picks libdeflate's level, then bytes that are also tried as raw deflate
def raw(data, level, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    return c.compress(data) + c.flush()


put("deflate_scan", "text-l6", b"\x06" + text)
put("deflate_scan", "raw-dynamic", b"\x09" + raw(text, 6))
put("deflate_scan", "raw-fixed", b"\x01" + raw(text[:300], 6, zlib.Z_FIXED))
put("deflate_scan", "raw-stored", b"\x00" + raw(rand[:500], 0))

# orym: byte 0 steers (1: seal the CRC), then the file
orym = open(os.path.join(src, "apps/cnv/models/cnv-w1a1.orym"), "rb").read()
put("orym", "model", b"\x00" + orym)
put("orym", "header", b"\x01" + orym[:48])
put("orym", "from-file", b"\x02" + orym[:4096])

# bnnpynq: records {file, u16 length, bytes} over an all-zero folder
put("bnnpynq", "zeros", b"")
put("bnnpynq", "thres", bytes([1]) + struct.pack("<H", 64 * 8 // 16) + struct.pack("<4q", 5, -3, 100, 0))
put("bnnpynq", "weights", bytes([0]) + struct.pack("<H", 32) + bytes([7, 0, 0, 0, 0, 0, 0, 0]) * 4)
put("bnnpynq", "stray", bytes([200]) + struct.pack("<H", 8) + bytes(8))

# cnv_input: byte 0 mode (0 CIFAR, 1 raw, 2 PPM | format << 2 | scores 0x10), byte 1 batch
deer = open(os.path.join(src, "../shared/data/cnv/deer.bin"), "rb").read()
put("cnv_input", "cifar", b"\x00\x00" + deer)
put("cnv_input", "cifar-csv-scores", b"\x14\x01" + deer + deer)
put("cnv_input", "raw", b"\x01\x02" + deer[1:])
put("cnv_input", "ppm", b"\x02\x00" + b"P6\n# deer\n32 32\n255\n" + deer[1:])

# ini: byte 0 (even: sim, odd: xrt), then the file
for f in ("sim-u50.ini",):
    put("ini", f, b"\x00" + open(os.path.join(src, "configs", f), "rb").read())
for f in ("u50.ini", "u50x2.ini"):
    put("ini", f, b"\x01" + open(os.path.join(src, "configs", f), "rb").read())

# spec: device specs without hardware
for i, s in enumerate(["cpu", "cpu:2", "sim:2?mbps=0,latency_us=5", "fault:cpu:1?fail=0.1,seed=3",
                       "cpu:1+sim:1?ratio=0.5+fault:sim:2?corrupt=0.2", "all", "sim?slots=4"]):
    put("spec", "spec%d" % i, s.encode())

# xclbin: the test designs the build makes
xdir = os.path.join(build, "xclbin")
if os.path.isdir(xdir):
    for f in sorted(os.listdir(xdir)):
        put("xclbin", f, open(os.path.join(xdir, f), "rb").read())

# index: level, chunk size and place, the original's length / 64, a content seed, then damages
# (where u16, XOR masks). One undamaged file per shape, and a few with damage in the header or
# at the end, where the index lives.
for lvl, flags, blocks in ((1, 0, 2000), (6, 1, 3000), (9, 2, 1500), (3, 3, 4095), (6, 0, 1)):
    base = bytes([lvl, flags]) + blocks.to_bytes(2, "little") + b"\x01\x02\x03\x04"
    put("index", f"l{lvl}-f{flags}-n{blocks}", base)
    put("index", f"l{lvl}-f{flags}-n{blocks}-head", base + b"\x20\x00\x01\x00")
    put("index", f"l{lvl}-f{flags}-n{blocks}-tail", base + b"\x10\x40\x80\x00")

# Inputs that once failed a harness (tests/fuzz/regressions/<harness>/): every run starts with
# them, so a finding that comes back fails the CI step.
reg = os.path.join(src, "tests", "fuzz", "regressions")
for harness in sorted(os.listdir(reg)) if os.path.isdir(reg) else []:
    for name in sorted(os.listdir(os.path.join(reg, harness))):
        with open(os.path.join(reg, harness, name), "rb") as f:
            put(harness, "regression-" + name, f.read())
