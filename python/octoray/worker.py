# SPDX-License-Identifier: MIT
"""worker.py - what runs inside a Dask worker for octoray-dask: one resident liboctoray runtime
per worker process (created by OctorayPlugin, kept across tasks), and the tasks: compress a
range of a file to raw deflate pieces, classify a range of CIFAR-10 records.

A range reaches the worker either as a path, offset and length (shared-path mode: every host
sees the same file, as clusters' shared file systems give) or as the bytes themselves
(--scatter, sent by the client). The file's size and mtime travel with the range, so a host
that sees another file under the same name fails the range instead of compressing it.

Failures come back as RangeError, naming this worker and its host, with a kind that tells the
client what to do: "missing" and "changed" (the file here is absent or not the client's:
retrying elsewhere would hide a setup mistake) fail the job at once; "library" (liboctoray
absent or too old here) and "failed" (the runtime failed the range) take this worker out of
the range's choices and the range runs elsewhere.
"""
import asyncio
import errno
import os
import socket
import threading

try:
    from distributed import WorkerPlugin, get_worker
except ImportError:  # the binding works without Dask; only the tasks need it
    WorkerPlugin = object

    def get_worker():
        raise RuntimeError("not in a Dask worker")

PLUGIN_NAME = "octoray"


class RangeError(Exception):
    """A range (or the set-up of a worker) failed on one worker. args: (kind, worker, host,
    message); str(): "worker ADDR (HOST): message"."""

    def __init__(self, kind, worker, host, message):
        super().__init__(kind, worker, host, message)

    kind = property(lambda self: self.args[0])
    worker = property(lambda self: self.args[1])
    host = property(lambda self: self.args[2])
    message = property(lambda self: self.args[3])

    def __str__(self):
        return "worker %s (%s): %s" % (self.worker, self.host, self.message)


def _whoami():
    try:
        addr = get_worker().address
    except Exception:
        addr = "pid %d" % os.getpid()
    return addr, socket.gethostname()


def _raise(kind, message):
    addr, host = _whoami()
    raise RangeError(kind, addr, host, message)


# ---- the runtime of this process --------------------------------------------------------------
#
# One runtime per worker process, shared by its task threads (the C API allows any number of
# concurrent requests). A job that needs another device spec or a larger chunk size replaces
# it; the old one is destroyed once no task uses it any more (destroy must not overlap a call).

_lock = threading.Lock()
_rt = None          # the current runtime
_users = {}         # runtime -> tasks using it
_retired = []       # replaced runtimes still in use


def resolve_devices(devices):
    """The spec a worker uses: the client's --devices, else this host's $OCTORAY_DEVICES, else
    "all"."""
    return devices or os.environ.get("OCTORAY_DEVICES") or "all"


def _settings(rtopts):
    """(devices, verify, fallback) of a job's runtime options (a dict, or a spec, or None)."""
    if not isinstance(rtopts, dict):
        rtopts = {"devices": rtopts}
    return (resolve_devices(rtopts.get("devices")), rtopts.get("verify"),
            rtopts.get("fallback", True))


def acquire_runtime(rtopts, chunk_size):
    """This process's runtime, fit for `rtopts` (devices: the client's --devices or None;
    verify: None, "all" or "none"; fallback: CPU workers finish what no device could) and
    chunks of `chunk_size` bytes, created on first use. Pair with release_runtime(). Raises
    RangeError ("library" or "failed")."""
    global _rt
    import octoray

    want = _settings(rtopts)
    with _lock:
        rt = _rt
        if rt is None or rt.settings != want or rt.chunk_size < (chunk_size or 0):
            spec, verify, fallback = want
            try:
                new = octoray.Runtime(devices=spec, chunk_size=max(chunk_size or 0, 1 << 20),
                                      verify=verify, fallback_cpu=fallback)
            except octoray.LibraryError as e:
                _raise("library", str(e))
            except octoray.OctorayError as e:
                _raise("failed", "runtime: %s" % e)
            new.settings = want
            if rt is not None:
                if _users.get(rt):
                    _retired.append(rt)
                else:
                    _users.pop(rt, None)
                    rt.close()
            _rt = rt = new
        _users[rt] = _users.get(rt, 0) + 1
        return rt


def release_runtime(rt):
    with _lock:
        _users[rt] -= 1
        if rt in _retired and not _users[rt]:
            _retired.remove(rt)
            del _users[rt]
            rt.close()


def close_runtime():
    """Destroy this process's runtime (when no task uses it)."""
    global _rt
    with _lock:
        rt, _rt = _rt, None
        if rt is not None and not _users.get(rt):
            _users.pop(rt, None)
            rt.close()


class OctorayPlugin(WorkerPlugin):
    """Creates the worker's runtime when the worker starts (or when the client registers the
    plugin), so that a missing library or device shows before the first range, and destroys it
    when the worker stops."""

    name = PLUGIN_NAME

    def __init__(self, rtopts=None, chunk_size=None):
        self.rtopts = rtopts
        self.chunk_size = chunk_size
        self.error = None

    async def setup(self, worker):
        loop = asyncio.get_running_loop()
        try:  # opening cards may take seconds: not on the worker's event loop
            rt = await loop.run_in_executor(None, acquire_runtime, self.rtopts,
                                            self.chunk_size)
            release_runtime(rt)
        except RangeError as e:
            self.error = e  # the tasks raise it again (and the client names the worker)

    def teardown(self, worker):
        close_runtime()


async def probe(rtopts=None, chunk_size=None):
    """Run on every worker by the client before a job: this worker's host, library and
    devices, or a RangeError naming what is wrong here."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, _probe, rtopts, chunk_size)


def _probe(rtopts, chunk_size):
    rt = acquire_runtime(rtopts, chunk_size)
    try:
        addr, host = _whoami()
        return {"worker": addr, "host": host, "pid": os.getpid(),
                "library": rt.library.path, "version": rt.library.version,
                "spec": rt.devices_spec, "devices": rt.devices()}
    finally:
        release_runtime(rt)


def device_counters():
    """The devices of this worker's runtime and their counters (empty before it exists)."""
    with _lock:
        rt = _rt
        return rt.devices() if rt is not None else []


# ---- the tasks ------------------------------------------------------------------------------

def _open_checked(src):
    """Open the shared file of a range and check it is the client's (size and mtime)."""
    path = src["path"]
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        _raise("missing", "%s: no such file on this host (shared-path mode reads the input "
                          "from the same path on every worker; use --scatter to send it)" % path)
    except OSError as e:
        _raise("missing", "%s: %s (use --scatter to send the input from the client)"
               % (path, e.strerror))
    st = os.fstat(fd)
    if st.st_size != src["size"] or int(st.st_mtime) != src["mtime"]:
        os.close(fd)
        _raise("changed", "%s here has size %d and mtime %d, the client's has %d and %d: not "
                          "the same file (use --scatter, or fix the shared file system)"
               % (path, st.st_size, int(st.st_mtime), src["size"], src["mtime"]))
    return fd


def _pread_all(fd, n, offset):
    parts = []
    while n > 0:
        b = os.pread(fd, n, offset)
        if not b:
            break
        parts.append(b)
        n -= len(b)
        offset += len(b)
    return b"".join(parts)


def deflate_range(job, offset, length, payload=None):
    """Compress bytes [offset, offset + length) of the job's input to raw deflate pieces.

    job: dict of path, size, mtime (shared-path), rt (runtime options), level, chunk_size,
    independent.
    payload (--scatter): the bytes, preceded by the 32 KiB of dictionary when job["dict"] says
    so. job["member"] = (name, mtime): the whole gzip member instead (an input of one
    chunk). Returns (chunk infos, pieces, stats): the packed ory_chunk_info entries, a memoryview
    of the pieces, and a dict (worker, host, bytes_in, retries)."""
    import octoray

    rt = acquire_runtime(job["rt"], job["chunk_size"])
    fd = -1
    try:
        primed = not job["independent"] and job["level"] <= 3 and offset > 0
        dictionary = None
        if payload is not None:
            mv = memoryview(payload).cast("B")
            dlen = min(offset, 32768) if primed else 0
            dictionary = mv[:dlen] if dlen else None
            data = mv[dlen:] if dlen else mv
            if len(data) != length:
                _raise("failed", "range at %d: got %d bytes, expected %d" % (offset, len(data),
                                                                            length))
            p = rt.deflate(data=data, level=job["level"], chunk_size=job["chunk_size"],
                           independent=job["independent"], dictionary=dictionary,
                           member=job.get("member"))
        else:
            fd = _open_checked(job)
            if primed:
                dictionary = _pread_all(fd, min(offset, 32768), offset - min(offset, 32768))
            p = rt.deflate(fd=fd, offset=offset, length=length, level=job["level"],
                           chunk_size=job["chunk_size"], independent=job["independent"],
                           dictionary=dictionary, member=job.get("member"))
        if p.bytes_in != length:
            _raise("changed", "%s: read %d bytes at offset %d, expected %d: the file changed"
                   % (job.get("path", "input"), p.bytes_in, offset, length))
    except octoray.OctorayError as e:
        _raise("failed", "range at %d: %s" % (offset, e))
    finally:
        if fd >= 0:
            os.close(fd)
        release_runtime(rt)
    addr, host = _whoami()
    return p.chunks, p.data, {"worker": addr, "host": host, "bytes_in": p.bytes_in,
                              "retries": p.retries}


def cnv_range(job, offset, length, first_index, payload=None):
    """Classify the records in bytes [offset, offset + length) of the job's input; the lines
    are numbered from first_index. job: path, size, mtime, rt (runtime options), chunk_size,
    raw, format, scores, header (CSV header before the lines), batch, model_path, weights_dir.
    Returns (lines, counts, stats)."""
    import octoray

    rt = acquire_runtime(job["rt"], job["chunk_size"])
    fd = -1
    try:
        kw = dict(raw=job["raw"], fmt=job["format"], scores=job["scores"],
                  header=job["header"] and offset == 0, batch=job["batch"],
                  first_index=first_index, model_path=job.get("model_path"),
                  weights_dir=job.get("weights_dir"))
        if payload is not None:
            r = rt.cnv(data=payload, **kw)
        else:
            fd = _open_checked(job)
            r = rt.cnv(fd=fd, offset=offset, length=length, **kw)
        stride = octoray.RAW_IMAGE if job["raw"] else octoray.CIFAR_RECORD
        if r.result["images"] != length // stride:
            _raise("changed", "%s: classified %d images at offset %d, expected %d: the file "
                              "changed" % (job.get("path", "input"), r.result["images"], offset,
                                           length // stride))
    except octoray.OctorayError as e:
        kind = "failed"
        if e.code in (-errno.ENOENT, -errno.EBADMSG) and (job.get("model_path") or
                                                          job.get("weights_dir")):
            kind = "missing"  # the model is read on the worker: the same on every host
        _raise(kind, "range at %d: %s" % (offset, e))
    finally:
        if fd >= 0:
            os.close(fd)
        release_runtime(rt)
    addr, host = _whoami()
    return r.text, r.result, {"worker": addr, "host": host, "bytes_in": length}

