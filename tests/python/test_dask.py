#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""test_dask.py - octoray-dask end to end on local Dask clusters: byte identity with
octoray-run gzip (sizes around a chunk, levels 1, 6, 9, --primed), scatter against shared
path, CNV lines, a worker killed in the middle of a job, and the error cases of issue 12.

    OCTORAY_BUILD=build /usr/bin/python3 tests/python/test_dask.py [-v] [TestName...]

Each worker runs --devices cpu:1 (or a slowed fault:cpu, whose bytes are the CPU's), so the
three worker processes of the shared cluster fit a 2-core host. Dask spawns its workers by
importing this file again: everything runs under the __main__ guard or in tests.
"""
import gzip
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("OCTORAY_BUILD", os.path.join(ROOT, "build")))
LIB = os.path.join(BUILD, "liboctoray.so.0")
RUN = os.path.join(BUILD, "octoray-run")
DASK = os.path.join(ROOT, "tools", "octoray-dask", "octoray-dask")
SHARED = os.path.join(ROOT, "..", "shared", "data", "cnv")
PY = "/usr/bin/python3"

os.environ["OCTORAY_LIB"] = LIB  # the workers inherit it
sys.path.insert(0, os.path.join(ROOT, "python"))

KiB, MiB = 1024, 1 << 20
state = {}


def run(*argv, check=True, timeout=120, env=None):
    p = subprocess.run(list(argv), capture_output=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise AssertionError("%s: exit %d\n%s" % (" ".join(argv), p.returncode,
                                                  p.stderr.decode(errors="replace")))
    return p


def sample(n, seed):
    """n bytes of text-like data with runs and noise: compresses, but not trivially."""
    rnd = random.Random(seed)
    words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9)))
             for _ in range(500)]
    out = bytearray()
    while len(out) < n:
        if rnd.random() < 0.05:
            out += rnd.randbytes(rnd.randint(1, 4000))
        else:
            out += b" ".join(rnd.choice(words) for _ in range(rnd.randint(5, 40))) + b"\n"
    return bytes(out[:n])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setUpModule():
    from distributed import Client, LocalCluster

    for path in (LIB, RUN):
        if not os.path.exists(path):
            raise unittest.SkipTest("%s not built (OCTORAY_BUILD=%s)" % (path, BUILD))
    state["dir"] = tempfile.mkdtemp(prefix="octoray-dask-test.")
    state["cluster"] = LocalCluster(n_workers=3, threads_per_worker=1, processes=True,
                                    memory_limit=0, host="127.0.0.1", dashboard_address=None,
                                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                    silence_logs=logging.CRITICAL)
    state["client"] = Client(state["cluster"])
    state["addr"] = state["cluster"].scheduler_address


def tearDownModule():
    if "client" in state:
        state["client"].close()
        state["cluster"].close()
    if "dir" in state:
        shutil.rmtree(state["dir"], ignore_errors=True)


def path(name):
    return os.path.join(state["dir"], name)


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)
    return path(name)


def reference(src, *opts, devices="cpu:1"):
    """octoray-run gzip's output for src with opts."""
    out = src + ".ref%d.gz" % random.getrandbits(32)
    run(RUN, "gzip", "--devices", devices, "-k", "-f", *opts, src, "-o", out)
    with open(out, "rb") as f:
        data = f.read()
    os.unlink(out)
    return data


def dask_gzip(src, *opts, scheduler=None, devices="cpu:1", check=True):
    out = src + ".dask%d.gz" % random.getrandbits(32)
    argv = [PY, DASK, "gzip", "--scheduler", scheduler or state["addr"], "-f"]
    if devices:
        argv += ["--devices", devices]
    p = run(*argv, *opts, src, "-o", out, check=check)
    data = None
    if os.path.exists(out):
        with open(out, "rb") as f:
            data = f.read()
        os.unlink(out)
    return p, data


class Gzip(unittest.TestCase):
    def assertIdentical(self, src, opts, dask_opts=(), scatter=False):
        with open(src, "rb") as f:
            plain = f.read()
        ref = reference(src, *opts)
        p, got = dask_gzip(src, *opts, *dask_opts, *(["--scatter"] if scatter else []))
        self.assertEqual(gzip.decompress(got), plain, "does not gunzip to the input")
        self.assertEqual(got, ref, "differs from octoray-run gzip %s" % " ".join(opts))

    def test_files_around_one_chunk_equal_octoray_run_byte_for_byte(self):
        data = sample(70 * KiB, 1)
        for n in (0, 1, 32 * KiB - 1, 32 * KiB, 32 * KiB + 1, 64 * KiB + 1):
            with self.subTest(size=n):
                src = write("around%d" % n, data[:n])
                # ranges of two chunks: a file of 64 KiB + 1 has two ranges
                self.assertIdentical(src, ["-6", "-b", "32"], ["--range", "0.0625"])

    def test_several_mib_at_level_1_equal_octoray_run(self):
        src = write("six-mib", sample(6 * MiB + 12345, 2))
        self.assertIdentical(src, ["-1", "-b", "64"], ["--range", "1"])

    def test_several_mib_at_level_9_with_the_index_in_the_header_equal_octoray_run(self):
        # 32 KiB chunks over 200 KiB ranges (rounded down to 6 chunks): ranges do not align
        # with MiB, and the name is left out (-n)
        src = write("three-mib", sample(3 * MiB + 7, 3))
        self.assertIdentical(src, ["-9", "-b", "32", "-n"], ["--range", "0.2"])

    def test_primed_chunks_get_the_32_kib_before_their_range(self):
        src = write("primed", sample(2 * MiB + 99, 4))
        self.assertIdentical(src, ["-1", "--primed", "-b", "32"], ["--range", "0.125"])
        self.assertIdentical(src, ["-3", "--primed", "-b", "32"], ["--range", "0.125"],
                             scatter=True)

    def test_a_pipe_gets_the_index_at_the_end_as_octoray_run_c_writes_it(self):
        src = write("piped", sample(1 * MiB + 5, 11))
        for size in (1 * MiB + 5, 1000):  # several chunks: index members; one: none
            with self.subTest(size=size):
                with open(src, "r+b") as f:
                    f.truncate(size)
                shell = "%s gzip --devices cpu:1 -b 64 -c '%s' | cat" % (RUN, src)
                ref = run("sh", "-c", shell).stdout
                shell = ("%s %s gzip --scheduler %s --devices cpu:1 -b 64 --range 0.25 -c '%s' "
                         "| cat" % (PY, DASK, state["addr"], src))
                got = run("sh", "-c", shell).stdout
                self.assertEqual(got, ref)
                if size > 64 * KiB:
                    self.assertEqual(got[-14:-10], b"ORYX", "no index members at the end")

    def test_scatter_and_shared_path_give_the_same_bytes(self):
        src = write("modes", sample(3 * MiB, 5))
        _, shared = dask_gzip(src, "-6", "-b", "128", "--range", "0.5")
        _, scattered = dask_gzip(src, "-6", "-b", "128", "--range", "0.5", "--scatter")
        self.assertEqual(shared, scattered)
        with open(src, "rb") as f:
            self.assertEqual(gzip.decompress(shared), f.read())

    def test_an_existing_output_is_kept_without_f(self):
        src = write("keep", b"data")
        out = write("keep.gz", b"old")
        p = run(PY, DASK, "gzip", "--scheduler", state["addr"], src, check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"already exists", p.stderr)
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"old")


def cifar_batch():
    """The CIFAR-10 test batch of ../shared if present, else 300 synthetic records."""
    real = os.path.join(SHARED, "test_batch.bin")
    if os.path.exists(real):
        return real
    rnd = random.Random(6)
    return write("synthetic.bin", b"".join(bytes([rnd.randrange(10)]) + rnd.randbytes(3072)
                                           for _ in range(300)))


class Cnv(unittest.TestCase):
    def test_lines_equal_octoray_run_cnv(self):
        batch = cifar_batch()
        for opts in ([], ["--format", "csv", "-v"], ["--format", "json"]):
            with self.subTest(opts=opts):
                ref = run(RUN, "cnv", "--devices", "cpu:1", "--batch", "50", *opts, batch)
                got = run(PY, DASK, "cnv", "--scheduler", state["addr"], "--devices", "cpu:1",
                          "--batch", "50", "--range-images", "120", *opts, batch)
                self.assertEqual(got.stdout, ref.stdout)

    def test_scattered_images_and_indices_continue_across_inputs(self):
        batch = cifar_batch()
        ref = run(RUN, "cnv", "--devices", "cpu:1", batch, batch)
        got = run(PY, DASK, "cnv", "--scheduler", state["addr"], "--devices", "cpu:1",
                  "--range-images", "200", "--scatter", batch, batch)
        self.assertEqual(got.stdout, ref.stdout)


class KilledWorker(unittest.TestCase):
    """A worker process killed (SIGKILL, by pid) while the job runs: its ranges run again
    elsewhere and the output is still exact. Chunks take 40 ms more on a fault:cpu device, so
    the job lasts seconds; the bytes are the CPU's, as octoray-run --devices cpu:1 writes."""

    def kill_mid_job(self, *opts):
        client = state["client"]
        src = write("kill", sample(6 * MiB, 7))
        ref = reference(src, "-6", "-b", "64")
        out = path("kill.out.gz")
        argv = [PY, DASK, "gzip", "--scheduler", state["addr"], "-f", "-6", "-b", "64",
                "--range", "0.5", "--devices", "fault:cpu?slow=1,slow_ms=40", "-v", *opts, src,
                "-o", out]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        pids = client.run(os.getpid)
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            # mid-job: some output written (a temporary file beside OUT) and a range running
            tmp = [f for f in os.listdir(state["dir"]) if f.startswith(".kill.out.gz.")]
            written = tmp and os.path.getsize(path(tmp[0])) > 64 * KiB
            busy = [w for w, keys in client.processing().items()
                    if any("deflate_range" in k for k in keys)]
            if written and busy:
                victim = busy[0]
            else:
                time.sleep(0.05)
        self.assertIsNotNone(victim, "the job ended before a worker could be killed")
        os.kill(pids[victim], signal.SIGKILL)
        self.assertIsNone(proc.poll(), "the job had ended when the worker was killed")
        stdout, stderr = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, stderr.decode(errors="replace"))
        with open(out, "rb") as f:
            got = f.read()
        self.assertEqual(got, ref)
        if os.environ.get("OCTORAY_TEST_SHOW"):
            sys.stderr.write(stderr.decode())
        client.wait_for_workers(3, timeout=60)  # the nanny restarts it

    def test_a_killed_worker_leaves_the_output_exact(self):
        self.kill_mid_job()

    def test_a_killed_worker_loses_its_scattered_bytes_and_they_are_sent_again(self):
        self.kill_mid_job("--scatter")


class Errors(unittest.TestCase):
    def test_an_unreachable_scheduler_fails_within_the_timeout(self):
        src = write("unreach", b"x")
        t0 = time.monotonic()
        p = run(PY, DASK, "gzip", "--scheduler", "tcp://127.0.0.1:%d" % free_port(),
                "--timeout", "2", src, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertLess(time.monotonic() - t0, 20)
        lines = p.stderr.decode().strip().splitlines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("cannot reach the Dask scheduler", lines[0])
        self.assertFalse(os.path.exists(src + ".gz"))

    def test_a_range_failing_on_every_worker_names_each_worker(self):
        src = write("allfail", sample(300 * KiB, 8))
        p, data = dask_gzip(src, "--fallback", "none", devices="fault:cpu?fail=1", check=False)
        self.assertEqual(p.returncode, 1)
        err = p.stderr.decode()
        self.assertIn("failed on every worker", err)
        for w in state["client"].scheduler_info()["workers"]:
            self.assertIn(w, err)
        self.assertIsNone(data)
        self.assertEqual([f for f in os.listdir(state["dir"]) if f.startswith(".allfail")], [])

    def test_a_missing_input_fails_before_any_cluster(self):
        p = run(PY, DASK, "gzip", "--scheduler", "tcp://127.0.0.1:1", path("nothing"),
                check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"nothing: No such file or directory", p.stderr)


class OtherWorkers(unittest.TestCase):
    """Clusters of hand-started workers (dask-worker), each with its own environment."""

    def setUp(self):
        from distributed import Client, LocalCluster

        self.cluster = LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None,
                                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                    silence_logs=logging.CRITICAL)
        self.client = Client(self.cluster)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.client.close()
        self.cluster.close()

    def worker(self, name, env=None, prefix=(), pythonpath=True):
        e = dict(os.environ)
        e.pop("PYTHONPATH", None)
        if pythonpath:
            e["PYTHONPATH"] = os.path.join(ROOT, "python")
        e.update(env or {})
        argv = list(prefix) + ["/usr/bin/dask-worker", self.cluster.scheduler_address,
                               "--nthreads", "1", "--no-nanny", "--no-dashboard",
                               "--memory-limit", "0", "--name", name]
        self.procs.append(subprocess.Popen(argv, env=e, cwd="/", stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))

    def wait_workers(self, n):
        self.client.wait_for_workers(n, timeout=60)
        return {w["name"]: a for a, w in self.client.scheduler_info()["workers"].items()}

    def test_workers_without_a_usable_library_are_named(self):
        old = path("liboctoray-old.so")
        src = write("old.c", b'const char *ory_version(void) { return "0.1.0"; }\n')
        run("cc", "-shared", "-fPIC", "-o", old, src)
        self.worker("nolib", {"OCTORAY_LIB": "/nonexistent/liboctoray.so.0"})
        self.worker("old", {"OCTORAY_LIB": old})
        # a worker that cannot import octoray, unless an install makes it importable anyway
        e = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        nopkg = subprocess.run([PY, "-c", "import octoray"], cwd="/", env=e,
                               capture_output=True).returncode != 0
        if nopkg:
            self.worker("nopkg", pythonpath=False)
        names = self.wait_workers(3 if nopkg else 2)
        p, data = dask_gzip(write("nolib-in", b"abc"), scheduler=self.cluster.scheduler_address,
                            check=False)
        self.assertEqual(p.returncode, 1)
        err = p.stderr.decode().splitlines()
        by = {n: [ln for ln in err if names[n] in ln] for n in names}
        self.assertTrue(any("liboctoray not found" in ln for ln in by["nolib"]), err)
        self.assertTrue(any("0.1.0" in ln and "older than 0.2.0" in ln for ln in by["old"]), err)
        if nopkg:
            self.assertTrue(any("cannot import octoray" in ln for ln in by["nopkg"]), err)
        self.assertIsNone(data)

    def test_a_worker_that_cannot_see_the_file_is_named_and_scatter_serves_it(self):
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            self.skipTest("needs root and unshare(1) to hide the file from one worker")
        hidden = tempfile.mkdtemp(prefix="octoray-hidden.")
        try:
            probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                                    "mount -t tmpfs none '%s'" % hidden], capture_output=True)
            if probe.returncode != 0:
                self.skipTest("cannot unshare the mount namespace here: %s"
                              % probe.stderr.decode().strip())
            src = os.path.join(hidden, "input")
            with open(src, "wb") as f:
                f.write(sample(1 * MiB, 9))
            # the worker's own mount namespace has an empty tmpfs over the input's directory
            self.worker("blind", prefix=["unshare", "-m", "--propagation", "private", "sh",
                                         "-c", "mount -t tmpfs none '%s' && exec \"$@\""
                                         % hidden, "sh"])
            names = self.wait_workers(1)
            p, data = dask_gzip(src, scheduler=self.cluster.scheduler_address, check=False)
            self.assertEqual(p.returncode, 1)
            err = p.stderr.decode()
            self.assertIn(names["blind"], err)
            self.assertIn("no such file on this host", err)
            self.assertIn("--scatter", err)
            p, data = dask_gzip(src, "--scatter", scheduler=self.cluster.scheduler_address)
            self.assertEqual(data, reference(src))
        finally:
            shutil.rmtree(hidden, ignore_errors=True)

    def test_a_host_with_cards_and_one_with_cpus_serve_one_job(self):
        self.worker("cards", {"OCTORAY_DEVICES": "sim:2?mbps=0"})
        self.worker("cpus", {"OCTORAY_DEVICES": "cpu:1"})
        names = self.wait_workers(2)
        src = write("mixed", sample(4 * MiB, 10))
        p, data = dask_gzip(src, "-v", "-b", "64", "--range", "0.25",
                            scheduler=self.cluster.scheduler_address, devices=None)
        with open(src, "rb") as f:
            self.assertEqual(gzip.decompress(data), f.read())
        err = p.stderr.decode()
        # each worker's line lists its own devices: sim cards on one, a CPU worker on the other
        self.assertRegex(err, r"%s sim0=\d+ sim1=\d+" % names["cards"])
        self.assertRegex(err, r"%s cpu0=\d+" % names["cpus"])


if __name__ == "__main__":
    unittest.main()
