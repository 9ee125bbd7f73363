# SPDX-License-Identifier: MIT
"""ranges.py - the client's side of a job: ranges of the input run on the cluster in a bounded
window and come back in input order (RangeRunner), and the output: a file written under a
temporary name, synced and renamed into place (OutFile), or standard output (StdoutSink).

How a job runs. The input is cut into ranges of a fixed size (a multiple of the chunk size,
independent of the number of workers, so the chunks are exactly those one host would cut).
At most `window` ranges are in flight; the client waits for the oldest, writes it, and starts
the next, so its memory holds about one range whatever the input's size, and the workers hold
the results not yet fetched (each at most its share of the window).

Failures. A worker that dies takes its running and finished-but-unfetched ranges with it; the
scheduler runs them again on the other workers (Dask's allowed-failures: a range that killed
three workers fails the job). Scattered bytes die with their worker too: the range then comes
back cancelled and is read and sent again. A range that fails on a worker (RangeError) runs
again on the workers that have not failed it; when none is left, the job fails naming every
worker's reason. A file missing or different on a worker fails the job at once: retrying
elsewhere would hide a broken shared file system.
"""
import collections
import os
import stat
import sys
import tempfile
import time

from .worker import RangeError


class JobError(Exception):
    """The job failed; str() is the one-line reason (without the program's name)."""


class _Slot:
    __slots__ = ("r", "fut", "deps", "failed", "cancels", "worker")

    def __init__(self, r):
        self.r = r
        self.fut = None
        self.deps = None        # scattered input, held until the range is done
        self.failed = {}        # worker address -> its reason
        self.cancels = 0
        self.worker = None      # where the client sent its bytes (--scatter)


class RangeRunner:
    """Run ranges on `client` and yield their results in order.

    ranges: a sequence of range descriptions (anything; `describe(r)` names one in errors).
    submit(r, workers, attempt) -> (future, deps): start range r, restricted to `workers`
    (None: any), with a key unique to the attempt; deps are futures to keep until it ends.
    window: ranges in flight. timeout: seconds without any worker before the job fails."""

    def __init__(self, client, ranges, submit, describe, window, timeout=60.0):
        self.client = client
        self.ranges = ranges
        self.submit = submit
        self.describe = describe
        self.window = max(1, window)
        self.timeout = timeout
        self.resubmits = 0
        self.attempts = 0

    def _workers(self):
        return set(self.client.scheduler_info().get("workers", {}))

    def _start(self, slot, workers=None):
        """Submit slot's range; a worker lost while its bytes were being sent (--scatter) is
        left out of the next try."""
        for tries in range(10):
            self.attempts += 1
            try:
                slot.fut, slot.deps = self.submit(slot.r, workers, self.attempts)
                return
            except OSError as e:  # CommClosedError is one
                last = e
                time.sleep(0.2 * (tries + 1))
                alive = self._workers()
                workers = sorted(alive & set(workers)) if workers else None
                if workers == []:
                    workers = sorted(alive - set(slot.failed)) or None
        raise JobError("%s: could not be sent to a worker: %s" % (self.describe(slot.r), last))

    def _retry(self, slot, err):
        """After a RangeError: run the range again on a worker that has not failed it."""
        slot.failed[err.worker] = str(err)
        alive = self._workers()
        allowed = sorted(alive - set(slot.failed))
        if not allowed:
            why = "; ".join(slot.failed.values())
            raise JobError("%s failed on every worker: %s" % (self.describe(slot.r), why))
        self.resubmits += 1
        self._start(slot, allowed)

    def _result(self, slot):
        from distributed import CancelledError
        from distributed.scheduler import KilledWorker

        no_workers_since = None
        while True:
            try:
                return slot.fut.result(timeout=1.0)
            except TimeoutError:
                if self._workers():
                    no_workers_since = None
                elif no_workers_since is None:
                    no_workers_since = time.monotonic()
                elif time.monotonic() - no_workers_since > self.timeout:
                    raise JobError("no worker left for %.0f s (waiting for %s)"
                                   % (self.timeout, self.describe(slot.r)))
            except RangeError as e:
                if e.kind in ("missing", "changed"):
                    raise JobError(str(e))
                self._retry(slot, e)
            except KilledWorker as e:
                raise JobError("%s: the workers running it died %s times (last: %s)"
                               % (self.describe(slot.r), e.args[2] if len(e.args) > 2 else "",
                                  getattr(e.args[1], "address", e.args[1])
                                  if len(e.args) > 1 else "?"))
            except CancelledError:
                # its scattered input died with a worker (or the scheduler forgot it): again
                slot.cancels += 1
                if slot.cancels > 5:
                    raise JobError("%s was cancelled %d times (workers lost?)"
                                   % (self.describe(slot.r), slot.cancels))
                self.resubmits += 1
                self._start(slot, sorted(self._workers() - set(slot.failed)) or None)
            except JobError:
                raise
            except (ImportError, AttributeError) as e:
                raise JobError("%s: a worker cannot run octoray's tasks: %s: %s (is the "
                               "octoray Python package installed there?)"
                               % (self.describe(slot.r), type(e).__name__, e))

    def __iter__(self):
        pending = collections.deque()
        it = iter(self.ranges)
        more = True
        try:
            while True:
                while more and len(pending) < self.window:
                    try:
                        r = next(it)
                    except StopIteration:
                        more = False
                        break
                    slot = _Slot(r)
                    self._start(slot)
                    pending.append(slot)
                if not pending:
                    return
                slot = pending[0]
                res = self._result(slot)
                pending.popleft()
                slot.fut.release()
                slot.fut = slot.deps = None
                yield res
        finally:
            for slot in pending:  # an error, or the caller stopped: let the cluster go
                if slot.fut is not None:
                    slot.fut.cancel()


class OutFile:
    """An output file written as `.NAME.XXXXXX` in its directory, then synced and renamed to
    NAME by commit(); abort() (or leaving a `with` block by an exception) removes it. An
    existing NAME is kept unless `force`."""

    def __init__(self, path, force=False):
        self.path = path
        self.force = force
        if not force and os.path.lexists(path):
            raise FileExistsError(path)
        d, b = os.path.split(path)
        self.fd, self.tmp = tempfile.mkstemp(prefix="." + b + ".", dir=d or ".")
        self.done = False
        self.rewritable = True

    def write(self, data):
        mv = memoryview(data).cast("B")
        while len(mv):
            n = os.write(self.fd, mv)
            mv = mv[n:]

    def pwrite(self, data, offset):
        mv = memoryview(data).cast("B")
        while len(mv):
            n = os.pwrite(self.fd, mv, offset)
            mv = mv[n:]
            offset += n

    def commit(self, src=None):
        """Sync and rename into place; with `src` (the input's stat) its owner, mode and times,
        as gzip keeps them."""
        if src is not None:
            try:
                os.fchown(self.fd, src.st_uid, src.st_gid)
            except PermissionError:
                pass
            os.fchmod(self.fd, src.st_mode & 0o777)
            os.utime(self.fd, ns=(src.st_atime_ns, src.st_mtime_ns))
        else:
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(self.fd, 0o666 & ~mask)
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1
        if self.force:
            os.replace(self.tmp, self.path)
        else:
            try:  # no replacing a file that appeared meanwhile
                os.link(self.tmp, self.path)
                os.unlink(self.tmp)
            except FileExistsError:
                raise
            except OSError:  # no hard links here: check, then rename
                if os.path.lexists(self.path):
                    raise FileExistsError(self.path)
                os.rename(self.tmp, self.path)
        self.done = True
        dfd = os.open(os.path.dirname(self.path) or ".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def abort(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if not self.done:
            try:
                os.unlink(self.tmp)
            except FileNotFoundError:
                pass
            self.done = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None or not self.done:
            self.abort()


class StdoutSink:
    """Standard output, with OutFile's methods. `rewritable` when it is a regular file we can
    write at an offset of (the header is then written again over its first bytes, as
    octoray-run -c does); a pipe gets the index at the end instead. Nothing can be taken back
    on failure, as with octoray-run -c."""

    def __init__(self):
        sys.stdout.flush()
        self.fd = sys.stdout.fileno()
        self.done = False
        st = os.fstat(self.fd)
        try:
            self.start = os.lseek(self.fd, 0, os.SEEK_CUR) if stat.S_ISREG(st.st_mode) else -1
        except OSError:
            self.start = -1
        self.rewritable = self.start >= 0

    write = OutFile.write

    def pwrite(self, data, offset):
        OutFile.pwrite(self, data, self.start + offset)

    def commit(self, src=None):
        self.done = True

    def abort(self):
        self.done = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.done = True
