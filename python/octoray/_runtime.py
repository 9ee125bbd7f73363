# SPDX-License-Identifier: MIT
"""_runtime.py - a resident liboctoray runtime (Runtime) and the gzip framer (GzipFramer).

A Runtime's calls block the calling thread until the library is done, without the GIL (ctypes
releases it around every foreign call), so several Python threads may use one runtime at once,
as the C API allows. close() must not overlap any other call.
"""
import ctypes
import errno
import mmap
import os
import threading
import time
from collections import namedtuple

from . import _binding as B

_c = ctypes

# What deflate() returns: `data`, the raw deflate pieces (a memoryview, unterminated: they
# concatenate with other ranges' pieces); `chunks`, the packed ory_chunk_info of every chunk
# (12 bytes each: out_len, in_len, crc32, little-endian), for ory_gzip_framer_add; `crc32` of
# the input; `bytes_in` consumed; `retries`, chunks a device had failed first.
Pieces = namedtuple("Pieces", "data chunks crc32 bytes_in retries")

# What cnv() returns: `text`, the lines (bytes) as octoray-run cnv writes them; `result`, the
# counts (a dict: images, labelled, correct, confusion as 10 lists of 10, seconds).
CnvLines = namedtuple("CnvLines", "text result")


class _Buffer:
    """Output memory: an anonymous mapping, so the worst-case bound costs only the pages the
    library writes (bytearray would zero all of it first)."""

    def __init__(self, size):
        self.map = mmap.mmap(-1, max(size, 1))
        self.addr = _c.addressof(_c.c_char.from_buffer(self.map))

    def view(self, n):
        return memoryview(self.map)[:n]


def _in_address(data):
    """Address of `data` (bytes, bytearray, memoryview, mmap) without copying it, and an object
    that keeps it alive."""
    if isinstance(data, bytes):
        return _c.cast(_c.c_char_p(data), _c.c_void_p).value, data
    mv = memoryview(data).cast("B")
    if len(mv) == 0:
        return None, mv
    if mv.readonly:  # e.g. a view of bytes: take the bytes once
        b = mv.tobytes()
        return _c.cast(_c.c_char_p(b), _c.c_void_p).value, b
    return _c.addressof(_c.c_char.from_buffer(mv)), mv


def _set_input(req, fd, offset, length, data, keep):
    """Point req at `data` (kept alive in `keep`), or at `length` bytes of fd from offset (None:
    to the end of the file); return the input's length."""
    if data is not None:
        req.in_, d_keep = _in_address(data)
        req.in_len = len(memoryview(data).cast("B"))
        keep.append(d_keep)
        return req.in_len
    if length is None:
        length = max(os.fstat(fd).st_size - offset, 0)
    req.in_fd = fd
    req.in_offset = offset
    req.in_len = length
    if length == 0:  # in_len 0 means "to the end" for a file: give it no bytes
        req.in_fd = -1
        req.in_ = None
    return length


class Runtime:
    """One liboctoray runtime: its devices (spec as octoray-run's --devices; None: "all"), its
    chunk size (the largest a request may use; default 1 MiB), verification (None: the
    library's default, "all" or "none"), CPUs for the CPU workers ("2-5"). Creating it opens the
    devices and may take seconds; raise OctorayError with the library's reason."""

    def __init__(self, devices=None, chunk_size=None, verify=None, cpus=None,
                 fallback_cpu=True):
        L = B.load()
        self._lib = L.lib
        self.library = L
        o = B.RuntimeOpts()
        self._lib.ory_runtime_opts_init(_c.byref(o))
        self._devices_b = devices.encode() if devices else None
        self._cpus_b = cpus.encode() if cpus else None
        o.devices = self._devices_b
        if chunk_size:
            o.chunk_size = chunk_size
        if verify is not None:
            o.verify = {"auto": 0, "all": 1, "none": 2}[verify]
        o.cpus = self._cpus_b
        o.fallback_cpu = fallback_cpu
        rt = _c.c_void_p()
        err = _c.create_string_buffer(256)
        rc = self._lib.ory_runtime_create(_c.byref(o), _c.byref(rt), err, len(err))
        if rc < 0:
            raise B._fail("--devices %s: %s" % (devices or "all",
                                                 err.value.decode(errors="replace")
                                                 or B.strerror(rc)), rc)
        self._rt = rt
        self.devices_spec = devices or "all"
        self.chunk_size = o.chunk_size
        self._closed = False

    # -- lifetime --------------------------------------------------------------------------
    def close(self):
        """Destroy the runtime (cancels whatever is in flight). Idempotent."""
        if not self._closed:
            self._closed = True
            self._lib.ory_runtime_destroy(self._rt)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- requests --------------------------------------------------------------------------
    def _run(self, req):
        """Submit req and wait for it; raise OctorayError on failure."""
        q = _c.c_void_p()
        rc = self._lib.ory_queue_create(self._rt, _c.byref(q))
        if rc < 0:
            raise B._fail("completion queue: " + B.strerror(rc), rc)
        try:
            while True:
                rc = self._lib.ory_submit(self._rt, q, _c.byref(req))
                if rc != -errno.EAGAIN:
                    break
                time.sleep(0.001)  # max_requests in flight: wait for one to complete
            if rc < 0:
                raise B._fail(req.errmsg.decode(errors="replace"), rc)
            out = (_c.POINTER(B.Request) * 1)()
            while self._lib.ory_queue_poll(q, out, 1, -1) < 1:
                pass
        finally:
            self._lib.ory_queue_destroy(q)
        if req.status < 0:
            raise B._fail(req.errmsg.decode(errors="replace"), req.status,
                          B.ORIGINS.get(req.origin))

    def gzip_bound(self, in_len):
        return self._lib.ory_gzip_bound(self._rt, in_len)

    def deflate(self, fd=None, offset=0, length=None, data=None, level=6, chunk_size=0,
                independent=True, dictionary=None, member=None):
        """Compress `length` bytes of file descriptor `fd` from `offset` (None: to the end), or
        the bytes of `data`, into raw deflate pieces exactly as one host's gzip job compresses
        those chunks: chunk_size as that job's (0: the runtime's), each chunk ending
        byte-aligned in a non-final block, no final block. With independent=False at levels
        1-3 the first chunk is primed with `dictionary` (the 32 KiB of input before `offset`)
        and later chunks with the input before them. With member=(name, mtime) `data` is instead
        the whole gzip member one host writes for an input of that name (None: none) and time,
        and `chunks` is empty. Returns Pieces."""
        g = B.GzipOpts()
        self._lib.ory_gzip_opts_init(_c.byref(g))
        g.level = level
        g.independent = independent
        keep = []
        g.framing = B.FRAMING_RAW if member is None else B.FRAMING_GZIP
        g.unterminated = member is None
        g.chunk_size = chunk_size
        g.index = member is not None
        name = b""
        if member is not None:
            name = member[0].encode() if isinstance(member[0], str) else (member[0] or b"")
            g.name = name or None
            g.mtime = member[1]
            keep.append(name)
        if dictionary and not independent and level <= 3:
            g.dict, d_keep = _in_address(dictionary)
            g.dict_len = len(dictionary)
            keep.append(d_keep)
        req = B.Request()
        self._lib.ory_request_init(_c.byref(req), B.OP_DEFLATE)
        in_len = _set_input(req, fd, offset, length, data, keep)
        chunk = chunk_size or self.chunk_size
        cap = in_len // chunk + 2
        infos = (B.ChunkInfo * cap)()
        req.chunk_info = infos
        req.chunk_info_cap = cap
        out = _Buffer(self.gzip_bound(in_len) + len(name) + 1)
        req.out = out.addr
        req.out_cap = len(out.map)
        req.gzip = _c.pointer(g)
        self._run(req)
        n = req.chunks if member is None else 0
        packed = bytes(memoryview(infos).cast("B")[:n * B.CHUNK_INFO_SIZE])
        return Pieces(out.view(req.bytes_out), packed, req.crc32, req.bytes_in, req.retries)

    def cnv(self, fd=None, offset=0, length=None, data=None, raw=False, fmt=B.CNV_TEXT,
            scores=False, header=False, batch=256, first_index=0, model_path=None,
            weights_dir=None):
        """Classify the CIFAR-10 records (raw=False) or raw NHWC images of `length` bytes of
        `fd` from `offset`, or of `data`, and return CnvLines: the lines octoray-run cnv writes
        for them, numbered from first_index."""
        o = B.CnvOpts()
        self._lib.ory_cnv_opts_init(_c.byref(o))
        keep = [model_path and model_path.encode(), weights_dir and weights_dir.encode()]
        o.model_path = keep[0] or None
        o.weights_dir = keep[1] or None
        o.input = B.CNV_RAW if raw else B.CNV_CIFAR
        o.format = fmt
        o.scores = scores
        o.header = header
        o.batch = batch
        o.first_index = first_index
        res = B.CnvResult()
        res.struct_size = _c.sizeof(B.CnvResult)
        req = B.Request()
        self._lib.ory_request_init(_c.byref(req), B.OP_CNV)
        in_len = _set_input(req, fd, offset, length, data, keep)
        stride = B.RAW_IMAGE if raw else B.CIFAR_RECORD
        # a line: index, class, name, label, ten scores; and the CSV header
        out = _Buffer((in_len // stride + 1) * 160 + 256)
        req.out = out.addr
        req.out_cap = len(out.map)
        req.cnv = _c.pointer(o)
        req.cnv_result = _c.pointer(res)
        self._run(req)
        result = {
            "images": res.images, "labelled": res.labelled, "correct": res.correct,
            "confusion": [list(row) for row in res.confusion], "seconds": res.seconds,
        }
        return CnvLines(bytes(out.view(req.bytes_out)), result)

    # -- devices ---------------------------------------------------------------------------
    def devices(self):
        """Each device's description and counters since the runtime was created (dicts)."""
        out = []
        for i in range(self._lib.ory_runtime_device_count(self._rt)):
            d = B.DeviceInfo()
            d.struct_size = _c.sizeof(B.DeviceInfo)
            if self._lib.ory_runtime_device_info(self._rt, i, _c.byref(d)) < 0:
                continue
            out.append({
                "name": d.name.decode(), "kind": d.kind.decode(),
                "location": d.location.decode(), "numa_node": d.numa_node,
                "cpuset": d.cpuset.decode(), "chunks": d.chunks, "bytes_in": d.bytes_in,
                "failures": d.failures, "retries": d.retries, "timeouts": d.timeouts,
                "quarantined": d.quarantined, "reserve": d.reserve,
                "busy_seconds": d.busy_seconds,
            })
        return out


class GzipFramer:
    """The gzip header, trailer and chunk index around pieces compressed elsewhere
    (ory_gzip_framer): header(), then add() each range's chunk infos in input order, then
    finish() -> (tail, header_again): write `tail` after the last piece and, when header_again
    is not None, write it over the first bytes. Options are the single-host job's: level,
    name (the input's basename; None stores none), mtime, independent, index, chunk_size,
    in_len (the input's size). One thread at a time."""

    def __init__(self, in_len, chunk_size, level=6, name=None, mtime=0, independent=True,
                 index=True):
        self._lib = B.load().lib
        g = B.GzipOpts()
        self._lib.ory_gzip_opts_init(_c.byref(g))
        g.level = level
        g.independent = independent
        self._name = name.encode() if isinstance(name, str) else name
        g.name = self._name
        g.mtime = mtime
        g.framing = B.FRAMING_GZIP
        g.chunk_size = chunk_size
        g.index = index
        f = _c.c_void_p()
        rc = self._lib.ory_gzip_framer_create(_c.byref(g), in_len, _c.byref(f))
        if rc < 0:
            raise B._fail("gzip framer: " + B.strerror(rc), rc)
        self._f = f
        self._lock = threading.Lock()

    def header(self):
        n = _c.c_size_t()
        p = self._lib.ory_gzip_framer_header(self._f, _c.byref(n))
        return _c.string_at(p, n.value)

    def add(self, chunks):
        """chunks: packed ory_chunk_info entries (Pieces.chunks)."""
        chunks = bytes(chunks)
        if len(chunks) % B.CHUNK_INFO_SIZE:
            raise ValueError("chunk infos are %d bytes each" % B.CHUNK_INFO_SIZE)
        rc = self._lib.ory_gzip_framer_add(self._f, chunks, len(chunks) // B.CHUNK_INFO_SIZE)
        if rc < 0:
            raise B._fail("gzip framer: " + B.strerror(rc), rc)

    def finish(self):
        n = _c.c_size_t()
        h = _c.c_void_p()
        hn = _c.c_size_t()
        p = self._lib.ory_gzip_framer_finish(self._f, _c.byref(n), _c.byref(h), _c.byref(hn))
        if not p:
            raise B._fail("gzip framer: out of memory", -errno.ENOMEM)
        tail = _c.string_at(p, n.value)
        head = _c.string_at(h.value, hn.value) if hn.value else None
        return tail, head

    def close(self):
        if self._f:
            self._lib.ory_gzip_framer_destroy(self._f)
            self._f = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
