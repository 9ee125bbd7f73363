# SPDX-License-Identifier: MIT
"""cluster.py - the client's connection to Dask for octoray-dask: a scheduler given by address
(workers started by hand on each host) or a local cluster of N worker processes (--local), and
the checks made before a job: every worker imports octoray, loads a liboctoray new enough and
opens its devices; then the worker plugin that keeps each worker's runtime.
"""
import logging
import os

from .ranges import JobError
from .worker import OctorayPlugin, RangeError, device_counters, probe


class Cluster:
    """A Dask client for octoray-dask, and the local cluster when it made one. close() ends
    both."""

    def __init__(self, scheduler=None, local=None, rtopts=None, timeout=30.0, verbose=False):
        import dask
        from distributed import Client

        self.cluster = None
        self.rtopts = rtopts or {}
        self.timeout = timeout
        if not verbose:  # Dask's own warnings (a worker restarting...) only with -v
            for name in ("distributed", "tornado"):
                logging.getLogger(name).setLevel(logging.ERROR)
        # results come from the workers straight to the client, not through the scheduler
        dask.config.set({"distributed.comm.timeouts.connect": "%ds" % max(1, int(timeout))})
        if local:
            from distributed import LocalCluster

            # One thread per worker: the runtime spreads a range over the host's devices, and
            # a second thread would only make the window's results wait on each other.
            self.cluster = LocalCluster(n_workers=local, threads_per_worker=1, processes=True,
                                        memory_limit=0, host="127.0.0.1",
                                        dashboard_address=None,
                                        # its HTTP server (health, metrics) would otherwise
                                        # take port 8787 on every interface
                                        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                        silence_logs=logging.WARNING if verbose
                                        else logging.ERROR)
            try:
                self.client = Client(self.cluster, direct_to_workers=True)
            except BaseException:
                self.cluster.close()
                raise
            self.address = self.cluster.scheduler_address
        else:
            self.address = scheduler
            try:
                self.client = Client(scheduler, timeout=timeout, direct_to_workers=True)
            except (OSError, TimeoutError) as e:
                raise JobError("cannot reach the Dask scheduler at %s within %g s: %s"
                               % (scheduler, timeout, _one_line(e)))
            except ValueError as e:  # a malformed address
                raise JobError("scheduler address %s: %s" % (scheduler, _one_line(e)))
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (OSError, TimeoutError):
            self.close()
            raise JobError("no worker joined the scheduler at %s within %g s (start one per "
                           "host: dask-worker %s --nthreads 1)"
                           % (self.address, timeout, self.address))

    def workers(self):
        return sorted(self.client.scheduler_info().get("workers", {}))

    def nthreads(self):
        return sum(self.client.nthreads().values())

    def prepare(self, chunk_size):
        """Check every worker (one line per bad one in the error) and register the plugin that
        creates each worker's runtime, on the workers there are and on those that join later.
        Returns {address: probe info}."""
        res = self.client.run(probe, self.rtopts, chunk_size, on_error="return")
        hosts = {a: w.get("host", "?") for a, w in
                 self.client.scheduler_info().get("workers", {}).items()}
        bad = []
        for addr in sorted(res):
            r = res[addr]
            if isinstance(r, RangeError):
                bad.append(str(r))
            elif isinstance(r, BaseException):
                why = _one_line(r)
                if isinstance(r, ImportError) or "No module named" in why:
                    why = ("cannot import octoray's worker code (%s): install the octoray "
                           "Python package there (cmake --install) or set PYTHONPATH" % why)
                else:
                    why = "%s: %s" % (type(r).__name__, why)
                bad.append("worker %s (%s): %s" % (addr, hosts.get(addr, "?"), why))
        if bad:
            raise JobError("\n".join(bad))
        self.client.register_worker_plugin(OctorayPlugin(self.rtopts, chunk_size),
                                           name="octoray")
        return res

    def counters(self):
        """{worker: [device dicts]} of every worker's runtime now."""
        try:
            return self.client.run(device_counters, on_error="return")
        except Exception:
            return {}

    def close(self):
        try:
            self.client.close()
        except Exception:
            pass
        if self.cluster is not None:
            try:
                self.cluster.close()
            except Exception:
                pass


def _one_line(e):
    s = str(e) or type(e).__name__
    return " ".join(s.split())


def default_scheduler():
    """Dask's own setting (DASK_SCHEDULER_ADDRESS), if any."""
    return os.environ.get("DASK_SCHEDULER_ADDRESS")
