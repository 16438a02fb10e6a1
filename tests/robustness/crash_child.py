"""The child process of test_crash_safety: ``chainrule train ...`` that SIGKILLs itself on cue.

    python crash_child.py train perceptron --out DIR ...      (the arguments of `chainrule`)

``CHAINRULE_TEST_KILL`` says where this process dies (nothing is installed when it is unset):

    step:N            at the start of the N-th optimizer step (mid-epoch, weights half-trained)
    write:N:F         in the N-th atomic file write (config.json, log.csv, then each epoch's
                      best.ckpt and last.ckpt, results.json, in the order the run writes them):
                      only the fraction F of the bytes reach the temporary file, which is
                      flushed and fsync'ed, then the process dies; the target is untouched
    replace:N:before  just before the N-th rename of a finished temporary file into place
    replace:N:after   just after it (e.g. best.ckpt renamed, last.ckpt not yet written)
    csv:N             halfway through writing the N-th row of log.csv

The hooks wrap ``os.fdopen``, ``os.replace``, ``Optimizer.step`` and ``CSVLog.append`` in this
process only, so the code under test is the real one (``serialization._atomic_write`` writes
through ``os.fdopen`` and renames with ``os.replace``). SIGKILL gives no chance to clean up, like
a crash of the process (the bytes written so far stay in the page cache).
"""
import csv
import io
import os
import signal
import sys


def _die():
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class _Counter:
    def __init__(self, n):
        self.n, self.seen = n, 0

    def hit(self):
        self.seen += 1
        return self.seen == self.n


class _DyingFile:
    """A binary file that writes only a fraction of what it is given, then kills the process."""

    def __init__(self, f, fraction):
        self._f, self._fraction = f, fraction

    def write(self, data):
        self._f.write(bytes(data[:int(len(data) * self._fraction)]))
        self._f.flush()
        os.fsync(self._f.fileno())
        _die()

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)


def install(plan):
    event, n, *rest = plan.split(":")
    counter = _Counter(int(n))
    if event == "step":
        from chainrule.optim.optimizer import Optimizer

        real_step = Optimizer.step

        def step(self, *args, **kwargs):
            if counter.hit():
                _die()
            return real_step(self, *args, **kwargs)

        Optimizer.step = step
    elif event == "write":
        fraction = float(rest[0])
        real_fdopen = os.fdopen

        def fdopen(fd, mode="r", *args, **kwargs):
            f = real_fdopen(fd, mode, *args, **kwargs)
            return _DyingFile(f, fraction) if "w" in mode and counter.hit() else f

        os.fdopen = fdopen
    elif event == "replace":
        when = rest[0]
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            hit = counter.hit()
            if hit and when == "before":
                _die()
            real_replace(src, dst, *args, **kwargs)
            if hit:
                _die()

        os.replace = replace
    elif event == "csv":
        from chainrule.train import logging as log_module

        real_append = log_module.CSVLog.append

        def append(self, record):
            if counter.hit():
                buf = io.StringIO()
                csv.DictWriter(buf, log_module.FIELDS, extrasaction="ignore").writerow(
                    log_module._row(record))
                with open(self.path, "a", newline="") as f:
                    f.write(buf.getvalue()[:len(buf.getvalue()) // 2])
                _die()
            real_append(self, record)

        log_module.CSVLog.append = append
    else:
        raise SystemExit(f"crash_child: unknown plan {plan!r}")


if __name__ == "__main__":
    if os.environ.get("CHAINRULE_TEST_KILL"):
        install(os.environ["CHAINRULE_TEST_KILL"])
    from chainrule.cli import main

    sys.exit(main(sys.argv[1:]))
