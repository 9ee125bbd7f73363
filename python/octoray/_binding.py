# SPDX-License-Identifier: MIT
"""_binding.py - liboctoray through ctypes: finding and checking the library, the structs of
include/octoray/octoray.h, and the few calls a Dask worker needs (a resident runtime, raw
deflate pieces with their chunk index, CNV classification, device counters) plus the framer
the client writes the gzip header and trailer with.

Layouts are checked, not trusted: every options struct that has an *_init() gets its
struct_size from the library, and a size that differs from ours means this module and the
library disagree about the header (an error naming both, never a silent misread).
"""
import ctypes
import errno
import os
import threading

# What this package needs: requests with raw framing, chunk_info and the framer (0.2).
NEED_VERSION = (0, 2, 0)

_c = ctypes
size_t = _c.c_size_t


class OctorayError(Exception):
    """A failure of liboctoray: `code` is the negative errno it returned, `origin` which side
    failed ("input", "output", "device" or None), str() the library's one-line message."""

    def __init__(self, message, code=-errno.EIO, origin=None):
        super().__init__(message, code, origin)
        self.message = message
        self.code = code
        self.origin = origin

    def __str__(self):
        return self.message


class LibraryError(OctorayError):
    """liboctoray is missing, cannot be loaded, or is older than this package needs."""

    def __init__(self, message):
        super().__init__(message, -errno.ENOENT, None)


# ---- the structs of octoray.h ---------------------------------------------------------------

PROGRESS_FN = _c.CFUNCTYPE(None, _c.c_void_p, _c.c_uint64, _c.c_uint64)
LOG_FN = _c.CFUNCTYPE(None, _c.c_void_p, _c.c_int, _c.c_char_p)
DONE_FN = _c.CFUNCTYPE(None, _c.c_void_p)


class RuntimeOpts(_c.Structure):
    _fields_ = [
        ("struct_size", size_t),
        ("devices", _c.c_char_p),
        ("chunk_size", size_t),
        ("read_depth", _c.c_uint),
        ("slots", _c.c_uint),
        ("max_tries", _c.c_uint),
        ("quarantine_after", _c.c_uint),
        ("verify", _c.c_int),
        ("watchdog_ms", _c.c_uint),
        ("fallback_cpu", _c.c_bool),
        ("log", LOG_FN),
        ("log_arg", _c.c_void_p),
        ("log_level", _c.c_int),
        ("cpus", _c.c_char_p),
        ("max_requests", _c.c_uint),
        ("inline_max", size_t),
        ("map_files", _c.c_bool),
    ]


FRAMING_GZIP, FRAMING_ZLIB, FRAMING_RAW = 0, 1, 2


class GzipOpts(_c.Structure):
    _fields_ = [
        ("struct_size", size_t),
        ("level", _c.c_int),
        ("independent", _c.c_bool),
        ("name", _c.c_char_p),
        ("mtime", _c.c_uint32),
        ("progress", PROGRESS_FN),
        ("progress_arg", _c.c_void_p),
        ("framing", _c.c_int),
        ("dict", _c.c_void_p),
        ("dict_len", size_t),
        ("unterminated", _c.c_bool),
        ("chunk_size", size_t),
        ("index", _c.c_bool),
    ]


CNV_CIFAR, CNV_RAW = 0, 1
CNV_TEXT, CNV_CSV, CNV_JSON, CNV_NONE = 0, 1, 2, 3
CIFAR_RECORD = 3073
RAW_IMAGE = 3072


class CnvOpts(_c.Structure):
    _fields_ = [
        ("struct_size", size_t),
        ("model_path", _c.c_char_p),
        ("weights_dir", _c.c_char_p),
        ("input", _c.c_int),
        ("format", _c.c_int),
        ("scores", _c.c_bool),
        ("header", _c.c_bool),
        ("batch", _c.c_uint),
        ("first_index", _c.c_uint64),
        ("progress", PROGRESS_FN),
        ("progress_arg", _c.c_void_p),
    ]


class CnvResult(_c.Structure):
    _fields_ = [
        ("struct_size", size_t),
        ("images", _c.c_uint64),
        ("labelled", _c.c_uint64),
        ("correct", _c.c_uint64),
        ("confusion", (_c.c_uint64 * 10) * 10),
        ("seconds", _c.c_double),
    ]


class DeviceInfo(_c.Structure):
    _fields_ = [
        ("struct_size", size_t),
        ("name", _c.c_char * 32),
        ("kind", _c.c_char * 16),
        ("location", _c.c_char * 64),
        ("numa_node", _c.c_int),
        ("cpuset", _c.c_char * 64),
        ("chunks", _c.c_uint64),
        ("bytes_in", _c.c_uint64),
        ("failures", _c.c_uint64),
        ("retries", _c.c_uint64),
        ("timeouts", _c.c_uint64),
        ("quarantined", _c.c_bool),
        ("reserve", _c.c_bool),
        ("busy_seconds", _c.c_double),
    ]


class ChunkInfo(_c.Structure):
    _fields_ = [("out_len", _c.c_uint32), ("in_len", _c.c_uint32), ("crc32", _c.c_uint32)]


# ory_gzip_framer_create's in_len for an input of unknown size: the index goes at the end.
UNKNOWN_SIZE = (1 << 64) - 1

CHUNK_INFO_SIZE = _c.sizeof(ChunkInfo)  # 12: the client receives them packed, as bytes

OP_DEFLATE, OP_INFLATE, OP_CRC32, OP_CNV = 1, 2, 3, 4
ORIGINS = {0: None, 1: "input", 2: "output", 3: "device"}


class Request(_c.Structure):
    _fields_ = [
        ("struct_size", size_t),
        ("op", _c.c_int),
        ("in_", _c.c_void_p),
        ("in_len", size_t),
        ("in_iov", _c.c_void_p),
        ("in_iovcnt", _c.c_uint),
        ("in_fd", _c.c_int),
        ("in_offset", _c.c_int64),
        ("out", _c.c_void_p),
        ("out_cap", size_t),
        ("out_fd", _c.c_int),
        ("gzip", _c.POINTER(GzipOpts)),
        ("gunzip", _c.c_void_p),
        ("cnv", _c.POINTER(CnvOpts)),
        ("cnv_classes", _c.c_void_p),
        ("cnv_scores", _c.c_void_p),
        ("cnv_result", _c.POINTER(CnvResult)),
        ("done", DONE_FN),
        ("cookie", _c.c_void_p),
        ("status", _c.c_int),
        ("origin", _c.c_int),
        ("bytes_in", _c.c_uint64),
        ("bytes_out", _c.c_uint64),
        ("crc32", _c.c_uint32),
        ("adler32", _c.c_uint32),
        ("chunks", _c.c_uint64),
        ("retries", _c.c_uint64),
        ("errmsg", _c.c_char * 256),
        ("chunk_info", _c.POINTER(ChunkInfo)),
        ("chunk_info_cap", _c.c_uint64),
        ("priv", _c.c_void_p),
    ]


# ---- loading ----------------------------------------------------------------------------------

_SONAME = "liboctoray.so.0"
_HERE = os.path.dirname(os.path.abspath(__file__))


def _candidates():
    """Where the library is looked for, in order: $OCTORAY_LIB, the build tree of a source
    checkout this package sits in (python/octoray -> build/), the path `cmake --install`
    recorded, then the system's loader."""
    env = os.environ.get("OCTORAY_LIB")
    if env:
        return [("$OCTORAY_LIB", env)]
    out = []
    tree = os.path.join(os.path.dirname(os.path.dirname(_HERE)), "build", _SONAME)
    if os.path.exists(tree):
        out.append(("the build tree", tree))
    try:
        from . import _installed  # written by cmake --install

        if os.path.exists(_installed.LIBRARY):
            out.append(("the install", _installed.LIBRARY))
    except ImportError:
        pass
    out.append(("the system loader", _SONAME))
    return out


def _version_tuple(text):
    parts = []
    for p in text.split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts + [0] * (3 - len(parts)))


def _declare(lib):
    """Argument and result types of every call used here."""
    P, V, I, U = _c.POINTER, _c.c_void_p, _c.c_int, _c.c_uint
    sig = {
        "ory_version": (_c.c_char_p, []),
        "ory_strerror": (_c.c_char_p, [I]),
        "ory_runtime_opts_init": (None, [P(RuntimeOpts)]),
        "ory_runtime_create": (I, [P(RuntimeOpts), P(V), _c.c_char_p, size_t]),
        "ory_runtime_destroy": (None, [V]),
        "ory_runtime_errmsg": (_c.c_char_p, [V]),
        "ory_runtime_error_origin": (I, [V]),
        "ory_runtime_device_count": (U, [V]),
        "ory_runtime_device_info": (I, [V, U, P(DeviceInfo)]),
        "ory_gzip_opts_init": (None, [P(GzipOpts)]),
        "ory_gzip_bound": (size_t, [V, size_t]),
        "ory_cnv_opts_init": (None, [P(CnvOpts)]),
        "ory_cnv_class_name": (_c.c_char_p, [U]),
        "ory_request_init": (None, [P(Request), I]),
        "ory_queue_create": (I, [V, P(V)]),
        "ory_queue_destroy": (None, [V]),
        "ory_queue_poll": (I, [V, P(P(Request)), U, I]),
        "ory_submit": (I, [V, V, P(Request)]),
        "ory_gzip_framer_create": (I, [P(GzipOpts), _c.c_uint64, P(V)]),
        "ory_gzip_framer_header": (V, [V, P(size_t)]),
        "ory_gzip_framer_add": (I, [V, _c.c_char_p, size_t]),
        "ory_gzip_framer_finish": (V, [V, P(size_t), P(V), P(size_t)]),
        "ory_gzip_framer_destroy": (None, [V]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args


def _check_layout(lib, path):
    """Our structs against the library's sizes (what *_init writes into struct_size)."""
    for struct, init in ((RuntimeOpts, lib.ory_runtime_opts_init),
                         (GzipOpts, lib.ory_gzip_opts_init),
                         (CnvOpts, lib.ory_cnv_opts_init)):
        s = struct()
        init(_c.byref(s))
        if s.struct_size != _c.sizeof(struct):
            raise LibraryError("%s: struct %s is %d bytes in the library, %d in the Python "
                               "binding: they were built from different octoray.h"
                               % (path, struct.__name__, s.struct_size, _c.sizeof(struct)))
    r = Request()
    lib.ory_request_init(_c.byref(r), OP_DEFLATE)
    if r.struct_size != _c.sizeof(Request):
        raise LibraryError("%s: struct ory_request is %d bytes in the library, %d in the Python "
                           "binding" % (path, r.struct_size, _c.sizeof(Request)))


class Library:
    """A loaded and checked liboctoray: `path`, `version` (the string the library reports) and
    `lib` (the ctypes handle). Use load(), which keeps one per process."""

    def __init__(self, path, lib, version):
        self.path = path
        self.lib = lib
        self.version = version


_loaded = None
_load_lock = threading.Lock()


def load():
    """The process's liboctoray, loaded on first use. Raises LibraryError naming where it
    looked, or the version found and the one needed."""
    global _loaded
    with _load_lock:
        if _loaded is not None:
            return _loaded
        tried = []
        lib = path = None
        for where, cand in _candidates():
            try:
                lib = _c.CDLL(cand)
                path = cand
                break
            except OSError as e:
                tried.append("%s (%s): %s" % (cand, where, e))
        if lib is None:
            raise LibraryError("liboctoray not found: " + "; ".join(tried) +
                               " (install it, or set OCTORAY_LIB to its path)")
        if path == _SONAME:  # name the file the loader picked
            path = _loaded_path(path)
        try:
            lib.ory_version.restype = _c.c_char_p
            version = lib.ory_version().decode()
        except AttributeError:
            raise LibraryError("%s is not liboctoray (no ory_version)" % path)
        if _version_tuple(version) < NEED_VERSION:
            raise LibraryError("liboctoray %s at %s is older than %s, which octoray-dask needs "
                               "(requests with raw framing and ory_gzip_framer)"
                               % (version, path, ".".join(map(str, NEED_VERSION))))
        try:
            _declare(lib)
        except AttributeError as e:
            raise LibraryError("liboctoray %s at %s lacks %s" % (version, path, e))
        _check_layout(lib, path)
        _loaded = Library(path, lib, version)
        return _loaded


def _loaded_path(soname):
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                if line.rstrip().endswith(soname) or "/liboctoray.so" in line:
                    return line.split()[-1]
    except OSError:
        pass
    return soname


def version():
    """The version string of the loaded library ("0.2.0")."""
    return load().version


def strerror(code):
    return load().lib.ory_strerror(code).decode(errors="replace")


def class_name(cls):
    """CIFAR-10 class name of `cls` (0..9)."""
    n = load().lib.ory_cnv_class_name(cls)
    return n.decode() if n else None


def _fail(msg, code, origin=None):
    return OctorayError(msg or strerror(code), code, origin)
