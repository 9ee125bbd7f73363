# SPDX-License-Identifier: MIT
"""jobs.py - octoray-dask's two jobs on a cluster: gzip (one gzip member, byte-identical to
`octoray-run gzip` on one host with the same level, chunk size and device kind) and cnv (the
lines of `octoray-run cnv`, in input order).

gzip: the client frames, the workers compress. The header, the CRC-32 combined from each
chunk's, ISIZE and the chunk index come from liboctoray's framer (ory_gzip_framer), fed with
every range's chunk entries in input order; the pieces between are raw deflate, unterminated,
of exactly the chunks one host cuts (ranges start on chunk boundaries), primed with the 32 KiB
before each range at levels 1-3 with --primed, as the single host primes every chunk. An input
of one chunk at levels 4-9 is one worker's whole member instead: one host ends it in
libdeflate's own final block, where framed pieces end in an empty one.
"""
import os
import stat
import sys
import time
import uuid

import octoray

from .ranges import JobError, OutFile, RangeRunner, StdoutSink
from .worker import cnv_range, deflate_range

MiB = 1 << 20


def _open_input(path):
    try:
        st = os.stat(path)
    except OSError as e:
        raise JobError("%s: %s" % (path, e.strerror))
    if stat.S_ISDIR(st.st_mode):
        raise JobError("%s: is a directory" % path)
    if not stat.S_ISREG(st.st_mode):
        raise JobError("%s: not a regular file (the workers read ranges of it)" % path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise JobError("%s: %s" % (path, e.strerror))
    return fd, st


def _pread(fd, n, off):
    parts = []
    while n > 0:
        b = os.pread(fd, n, off)
        if not b:
            raise JobError("input shrank while it was read (at byte %d)" % off)
        parts.append(b)
        n -= len(b)
        off += len(b)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _submitter(client, fn, job, scatter, fd, dict_bytes, token):
    """submit(r, workers, attempt) for RangeRunner: r is (index, offset, length, *extra)."""

    def submit(r, workers, attempt):
        i, off, ln = r[0], r[1], r[2]
        key = "octoray-%s-%s-%d-%d" % (fn.__name__, token, i, attempt)
        where = dict(workers=workers, allow_other_workers=False) if workers else {}
        if not scatter:
            return client.submit(fn, job, off, ln, *r[3:], key=key, pure=False, **where), None
        d = min(off, dict_bytes)
        payload = _pread(fd, d + ln, off - d)
        # to the workers directly; the task then runs where its bytes are
        [sf] = client.scatter([payload], direct=True, hash=False, workers=workers)
        del payload
        fut = client.submit(fn, job, off, ln, *r[3:], payload=sf, key=key, pure=False, **where)
        return fut, sf

    return submit


def _worker_report(cl, before, after, per_worker):
    """' HOST/ADDR: cpu0=N sim0=M chunks, X MB' per worker (counters of this job)."""
    parts = []
    for addr in sorted(set(after) | set(per_worker)):
        devs = after.get(addr)
        line = addr
        if isinstance(devs, list):
            old = {d["name"]: d for d in (before.get(addr) or []) if isinstance(before.get(addr),
                                                                                list)}
            cnt = []
            for d in devs:
                o = old.get(d["name"])
                n = d["chunks"] - (o["chunks"] if o and o["chunks"] <= d["chunks"] else 0)
                if d["reserve"] and not n:
                    continue
                f = d["failures"] - (o["failures"] if o and o["failures"] <= d["failures"]
                                     else 0)
                cnt.append("%s=%d%s" % (d["name"], n, "(failed %d)" % f if f else ""))
            line += " " + " ".join(cnt) + " chunks"
        w = per_worker.get(addr)
        if w:
            line += ", %d ranges, %.1f MB" % (w[0], w[1] / 1e6)
        parts.append(line)
    return parts


class Exists(Exception):
    """The output exists and -f was not given: a warning (status 2), as gzip's."""


class GzipJob:
    """`octoray-dask gzip`: the input opened and the output's temporary file made before any
    cluster is started (a wrong name fails at once), then run(cl)."""

    def __init__(self, args, err):
        self.args = args
        self.err = err
        self.path = args.file
        self.fd, self.st = _open_input(self.path)
        self.chunk_size = args.blocksize * 1024
        if args.stdout:
            if args.output:
                self.close()
                raise JobError("-c and -o: give one output")
            if os.isatty(1) and not args.force:
                self.close()
                raise JobError("compressed data not written to a terminal (-f writes it)")
            self.out_path = "(stdout)"
            self.of = StdoutSink()
            return
        self.out_path = args.output or self.path + ".gz"
        try:
            self.of = OutFile(self.out_path, args.force)
        except FileExistsError:
            self.close()
            raise Exists("%s already exists; not overwritten (-f overwrites)" % self.out_path)
        except OSError as e:
            self.close()
            raise JobError("%s: %s" % (self.out_path, e.strerror))

    def close(self):
        if getattr(self, "of", None) is not None:
            self.of.abort()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def run(self, cl):
        """Returns the exit status."""
        return _gzip(cl, self.args, self.err, self.path, self.fd, self.st, self.of,
                     self.out_path)


def _gzip(cl, args, err, path, fd, st, of, out_path):
    chunk = args.blocksize * 1024
    rng = max(chunk, int(args.range * MiB) // chunk * chunk)
    size = st.st_size
    level = args.level
    independent = not args.primed
    # as octoray-run gzip: the basename and the file's time unless -n / -T
    name = None if args.no_name else os.path.basename(path)
    mtime = 0 if args.no_time else int(st.st_mtime) & 0xFFFFFFFF
    # As ory_gzip_fd: output it cannot write again (a pipe) gets the index in members at the
    # end, which the framer does for an input of unknown size; one chunk needs no index.
    in_len = size if of.rewritable or size <= chunk else octoray.UNKNOWN_SIZE
    # ory_gzip_fd treats --primed at levels 4-9 (libdeflate: no dictionary) as independent
    framer = octoray.GzipFramer(in_len, chunk, level=level, name=name, mtime=mtime,
                                independent=independent or level > 3, index=True)
    job = dict(path=os.path.abspath(path), size=size, mtime=int(st.st_mtime),
               rt=cl.rtopts, level=level, chunk_size=chunk, independent=independent)
    # One host ends an input of one chunk in libdeflate's final block at levels 4-9 (no empty
    # block after it), which pieces framed here cannot: one worker writes it whole.
    whole = level > 3 and 0 < size <= chunk
    if whole:
        job["member"] = (name, mtime)
    nranges = -(-size // rng)
    ranges = ((i, i * rng, min(rng, size - i * rng)) for i in range(nranges))
    submit = _submitter(cl.client, deflate_range, job, args.scatter, fd,
                        32768 if (not independent and level <= 3) else 0, uuid.uuid4().hex[:8])
    window = args.window or 2 * max(1, cl.nthreads())
    runner = RangeRunner(cl.client, ranges, submit,
                         lambda r: "range %d (bytes %d..%d of %s)" % (r[0], r[1], r[1] + r[2],
                                                                       path),
                         window, timeout=args.timeout)
    before = cl.counters() if args.verbose else {}
    per_worker = {}
    t0 = time.monotonic()
    with of:
        total = 0
        if not whole:
            of.write(framer.header())
            total = len(framer.header())
        for chunks, data, info in runner:
            of.write(data)
            framer.add(chunks)
            total += len(data)
            w = per_worker.setdefault(info["worker"], [0, 0])
            w[0] += 1
            w[1] += info["bytes_in"]
        if not whole:
            tail, head = framer.finish()
            of.write(tail)
            total += len(tail)
            if head:
                of.pwrite(head, 0)
        of.commit(st)
    secs = time.monotonic() - t0
    framer.close()
    status = 0
    now = os.stat(path)
    if now.st_size != st.st_size or now.st_mtime_ns != st.st_mtime_ns:
        err("%s: file %schanged while zipping"
            % (path, "size " if now.st_size != st.st_size else ""))
        status = 2
    if args.verbose:
        after = cl.counters()
        saved = 100.0 * (1 - total / size) if size else 0.0
        print("%s:\t%5.1f%% -- created %s" % (path, saved, out_path), file=sys.stderr)
        print("%s: %.1f MB/s, ratio %.4f (%d -> %d bytes), %.3f s, %d ranges of %d bytes, "
              "%d workers, %d retried%s" % (
                  path, size / secs / 1e6 if secs > 0 else 0, total / size if size else 0,
                  size, total, secs, nranges, rng, len(cl.workers()), runner.resubmits,
                  ", scatter" if args.scatter else ", shared path"), file=sys.stderr)
        for line in _worker_report(cl, before, after, per_worker):
            print("  " + line, file=sys.stderr)
    return status


# ---- cnv ----------------------------------------------------------------------------------------

FORMATS = {"text": octoray.CNV_TEXT, "csv": octoray.CNV_CSV, "json": octoray.CNV_JSON,
           "none": octoray.CNV_NONE}


class CnvJob:
    """`octoray-dask cnv`: inputs checked and the output's temporary file made before any
    cluster is started, then run(cl)."""

    def __init__(self, args, err):
        self.args = args
        self.err = err
        self.raw = args.raw
        self.stride = octoray.RAW_IMAGE if args.raw else octoray.CIFAR_RECORD
        kind = "images" if args.raw else "CIFAR-10 records"
        # as octoray-run cnv: the runtime's chunks hold a batch, and at least 1 MiB
        self.chunk_size = max(1 << 20, (args.batch * octoray.CIFAR_RECORD + 1023) // 1024 * 1024)
        self.inputs = []
        self.of = None
        try:
            for p in args.inputs:
                if p.lower().endswith(".ppm") or p == "-":
                    raise JobError("%s: octoray-dask cnv reads CIFAR-10 or raw files (PPM "
                                   "images and stdin: octoray-run cnv)" % p)
                fd, st = _open_input(p)
                self.inputs.append((p, fd, st))
                if st.st_size % self.stride:
                    raise JobError("%s: input size %d is not a whole number of %d-byte %s"
                                   % (p, st.st_size, self.stride, kind))
            if args.output:
                try:
                    self.of = OutFile(args.output, args.force)
                except FileExistsError:
                    raise JobError("%s already exists; not overwritten" % args.output)
                except OSError as e:
                    raise JobError("%s: %s" % (args.output, e.strerror))
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.of is not None:
            self.of.abort()
        for _, fd, _ in self.inputs:
            os.close(fd)
        self.inputs = []

    def run(self, cl):
        """Returns the exit status."""
        return _cnv(cl, self.args, self.inputs, self.of, self.stride, self.chunk_size)


def _cnv(cl, args, inputs, of, stride, chunk):
    raw = args.raw
    fmt = FORMATS[args.format]
    batch = args.batch
    per_range = max(1, -(-args.range_images // batch)) * batch
    model = os.path.abspath(args.model) if args.model else None
    weights = os.path.abspath(args.weights) if args.weights else None
    out = of if of is not None else _Stdout()
    summary = sys.stdout if fmt == octoray.CNV_TEXT and not args.output else sys.stderr
    counts = {"images": 0, "labelled": 0, "correct": 0,
              "confusion": [[0] * 10 for _ in range(10)]}
    before = cl.counters() if args.verbose else {}
    per_worker = {}
    t0 = time.monotonic()
    token = uuid.uuid4().hex[:8]
    try:
        if fmt == octoray.CNV_CSV:  # one header for the whole run, as octoray-run's
            out.write(("index,class,name%s%s\n" % (
                "" if raw else ",label",
                ",s0,s1,s2,s3,s4,s5,s6,s7,s8,s9" if args.verbose else "")).encode())
        for p, fd, st in inputs:
            job = dict(path=os.path.abspath(p), size=st.st_size, mtime=int(st.st_mtime),
                       rt=cl.rtopts, chunk_size=chunk, raw=raw, format=fmt,
                       scores=args.verbose, header=False, batch=batch, model_path=model,
                       weights_dir=weights)
            step = per_range * stride
            first = counts["images"]
            ranges = ((i, off, min(step, st.st_size - off), first + off // stride)
                      for i, off in enumerate(range(0, st.st_size, step)))
            submit = _submitter(cl.client, cnv_range, job, args.scatter, fd, 0, token)
            window = args.window or 2 * max(1, cl.nthreads())
            runner = RangeRunner(cl.client, ranges, submit,
                                 lambda r, p=p: "range %d (images %d..%d of %s)" % (
                                     r[0], r[1] // stride, (r[1] + r[2]) // stride, p),
                                 window, timeout=args.timeout)
            for text, res, info in runner:
                out.write(text)
                for k in ("images", "labelled", "correct"):
                    counts[k] += res[k]
                for a in range(10):
                    for b in range(10):
                        counts["confusion"][a][b] += res["confusion"][a][b]
                w = per_worker.setdefault(info["worker"], [0, 0])
                w[0] += 1
                w[1] += info["bytes_in"]
        if of is not None:
            of.commit()
        else:
            out.flush()
    finally:
        if of is not None and not of.done:
            of.abort()
    secs = time.monotonic() - t0
    if counts["labelled"]:
        print("accuracy %.2f%% (%d of %d)" % (100.0 * counts["correct"] / counts["labelled"],
                                              counts["correct"], counts["labelled"]),
              file=summary)
    if args.verbose:
        if counts["labelled"]:
            names = [octoray.class_name(i) for i in range(10)]
            print("confusion (rows: label, columns: predicted)", file=summary)
            print("%10s" % "" + "".join(" %5.5s" % n for n in names), file=summary)
            for a in range(10):
                print("%10s" % names[a] + "".join(" %5d" % c for c in counts["confusion"][a]),
                      file=summary)
        summary.flush()
        after = cl.counters()
        print("%d images in %.3f s: %.0f images/s, %d workers" % (
            counts["images"], secs, counts["images"] / secs if secs > 0 else 0,
            len(cl.workers())), file=sys.stderr)
        for line in _worker_report(cl, before, after, per_worker):
            print("  " + line, file=sys.stderr)
    return 0


class _Stdout:
    def write(self, data):
        sys.stdout.flush()
        sys.stdout.buffer.write(data)

    def flush(self):
        sys.stdout.buffer.flush()
