# SPDX-License-Identifier: MIT
"""cli.py - `octoray-dask`: octoray's jobs across several hosts on Dask, each host using all of
its local devices through liboctoray. Exit status as octoray-run's: 0 ok, 1 error, 2 warning.

    octoray-dask gzip [--scheduler ADDR | --local N] [--devices SPEC] [-1..-9] [-b KiB]
                      [--range MiB] [--scatter] [--primed] [-n|-N] [-T] [-f] [-v] FILE
                      [-o OUT | -c]
    octoray-dask cnv  [--scheduler ADDR | --local N] [--devices SPEC] [--raw] [--batch N]
                      [--format text|csv|json|none] [--model FILE|--weights DIR] [--scatter]
                      [-o FILE] [-f] [-v] INPUT...
"""
import argparse
import signal
import sys

PROG = "octoray-dask"


def _err(msg):
    for line in str(msg).splitlines() or [""]:
        print("%s: %s" % (PROG, line), file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and status 1, as octoray-run
        _err("%s (see %s --help)" % (message, self.prog))
        sys.exit(1)


def _positive(kind, lo=1, hi=None, conv=int):
    def parse(s):
        try:
            v = conv(s)
        except ValueError:
            raise argparse.ArgumentTypeError("invalid %s '%s'" % (kind, s))
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError("invalid %s '%s' (%s .. %s)"
                                             % (kind, s, lo, hi if hi is not None else "-"))
        return v
    return parse


class _NameTime(argparse.Action):
    def __call__(self, parser, ns, values, option_string=None):
        no_name, no_time = self.const
        if no_name is not None:
            ns.no_name = no_name
        ns.no_time = no_time


def _common(p):
    g = p.add_argument_group("cluster")
    x = g.add_mutually_exclusive_group()
    x.add_argument("--scheduler", metavar="ADDR",
                   help="the Dask scheduler (tcp://HOST:8786); default $DASK_SCHEDULER_ADDRESS")
    x.add_argument("--local", metavar="N", type=_positive("worker count", 1, 256),
                   help="start N local worker processes (one thread each) for this job")
    g.add_argument("--devices", metavar="SPEC",
                   help="devices of every worker, as octoray-run's --devices (default: each "
                        "worker's $OCTORAY_DEVICES, else all)")
    g.add_argument("--verify", dest="verify", action="store_const", const="all",
                   help="check every chunk before writing it (default: all but CPU workers)")
    g.add_argument("--no-verify", dest="verify", action="store_const", const="none",
                   help="check no chunk")
    g.add_argument("--fallback", choices=("cpu", "none"), default="cpu",
                   help="cpu (default): CPU workers finish a range when no other device of "
                        "the worker is left; none: fail the range there instead")
    g.add_argument("--scatter", action="store_true",
                   help="send each range's bytes from the client (default: workers read it "
                        "from the same path, on a shared file system)")
    g.add_argument("--window", metavar="N", type=_positive("window"),
                   help="ranges in flight (default: twice the workers' threads)")
    g.add_argument("--timeout", metavar="S", type=_positive("timeout", 0.1, conv=float),
                   default=30.0,
                   help="seconds to reach the scheduler and find a worker (default 30)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="MB/s, ratio, and what each worker and device did")
    p.add_argument("-q", "--quiet", action="store_true", help="no warnings")


def _parser():
    p = _Parser(prog=PROG, description="octoray's jobs across the hosts of a Dask cluster, "
                "each host using all of its devices through liboctoray.")
    p.add_argument("-V", "--version", action="store_true", help="versions of octoray and Dask")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND", parser_class=_Parser)

    g = sub.add_parser("gzip", help="compress FILE into one gzip member, byte-identical to "
                       "octoray-run gzip on one host (same level, -b and device kind)")
    _common(g)
    for n in range(1, 10):
        g.add_argument("-%d" % n, dest="level", action="store_const", const=n,
                       help=argparse.SUPPRESS)
    g.add_argument("--fast", dest="level", action="store_const", const=1, help="-1")
    g.add_argument("--best", dest="level", action="store_const", const=9, help="-9")
    g.add_argument("-b", "--blocksize", metavar="KiB", default=1024,
                   type=_positive("block size", 32, 65536),
                   help="chunk size in KiB (default 1024, 32 .. 65536), as octoray-run's -b")
    g.add_argument("--range", metavar="MiB", default=64.0, type=_positive("range", 0.03125,
                                                                            conv=float),
                   help="input per task (default 64), rounded down to whole chunks")
    g.add_argument("-i", "--independent", dest="primed", action="store_false",
                   help="independent chunks with an index (the default)")
    g.add_argument("--primed", dest="primed", action="store_true",
                   help="levels 1-3: prime each chunk with the 32 KiB before it (no index)")
    # as octoray-run (and gzip): -n and -N set both, -T the time only; the last one wins
    g.add_argument("-n", "--no-name", action=_NameTime, nargs=0, const=(True, True),
                   help="store no name and no time in the header")
    g.add_argument("-N", "--name", action=_NameTime, nargs=0, const=(False, False),
                   help="store the name and time (the default)")
    g.add_argument("-T", "--no-time", action=_NameTime, nargs=0, const=(None, True),
                   help="store no time")
    g.add_argument("-o", "--output", metavar="OUT", help="output (default FILE.gz)")
    g.add_argument("-c", "--stdout", action="store_true",
                   help="write to standard output (a pipe gets the index at the end, as "
                        "octoray-run -c)")
    g.add_argument("-k", "--keep", action="store_true",
                   help="accepted: the input is always kept")
    g.add_argument("file", metavar="FILE")
    g.set_defaults(level=6, primed=False, no_name=False, no_time=False)

    c = sub.add_parser("cnv", help="classify CIFAR-10 images with CNV-W1A1: the lines of "
                       "octoray-run cnv, in input order")
    _common(c)
    c.add_argument("--raw", action="store_true", help="inputs are raw NHWC uint8 images")
    c.add_argument("--batch", metavar="N", type=_positive("batch", 1, 21845), default=256,
                   help="images per chunk (default 256)")
    c.add_argument("--range-images", metavar="N", type=_positive("range"), default=4096,
                   help="images per task (default 4096, rounded up to whole batches)")
    c.add_argument("--format", choices=("text", "csv", "json", "none"), default="text")
    m = c.add_mutually_exclusive_group()
    m.add_argument("--model", metavar="FILE", help=".orym model (the same path on every "
                   "host; default: the built-in CNV-W1A1)")
    m.add_argument("--weights", metavar="DIR", help="a BNN-PYNQ cnvW1A1 parameter folder")
    c.add_argument("-o", "--output", metavar="FILE", help="write the lines to FILE")
    c.add_argument("inputs", metavar="INPUT", nargs="+")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.version:
        import distributed

        import octoray
        try:
            lib = "liboctoray %s (%s)" % (octoray.version(), octoray.load().path)
        except octoray.LibraryError as e:
            lib = str(e)
        print("octoray-dask %s, %s, dask.distributed %s"
              % (".".join(map(str, octoray.NEED_VERSION)), lib, distributed.__version__))
        return 0
    if not args.cmd:
        _parser().print_usage(sys.stderr)
        return 1

    def terminated(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGHUP, terminated)
    err = (lambda m: None) if args.quiet else _err

    import octoray
    from .cluster import Cluster, default_scheduler
    from .jobs import CnvJob, Exists, GzipJob
    from .ranges import JobError

    scheduler = args.scheduler or (None if args.local else default_scheduler())
    if not scheduler and not args.local:
        _err("no cluster: give --scheduler ADDR (or set DASK_SCHEDULER_ADDRESS), or --local N")
        return 1
    try:
        octoray.load()  # the client frames the output with the library's framer
    except octoray.LibraryError as e:
        _err(e)
        return 1
    cl = job = None
    try:
        # local mistakes (a missing input, an existing output) before any cluster
        job = GzipJob(args, err) if args.cmd == "gzip" else CnvJob(args, err)
        rtopts = {"devices": args.devices, "verify": args.verify,
                  "fallback": args.fallback == "cpu"}
        cl = Cluster(scheduler=scheduler, local=args.local, rtopts=rtopts,
                     timeout=args.timeout, verbose=args.verbose)
        cl.prepare(job.chunk_size)
        return job.run(cl)
    except Exists as e:
        err(e)
        return 2
    except (JobError, octoray.OctorayError) as e:
        _err(e)
        return 1
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    finally:
        if job is not None:
            job.close()
        if cl is not None:
            cl.close()
