"""Where scripts/compare writes its report. The directory is checked before
anything is measured (prepare), and report.json, report.md and the plots are
written into a staging directory inside it, then moved into place together
(publish) with SIGINT, SIGTERM and SIGHUP held back meanwhile, so that the
directory holds either the whole previous report or the whole new one. Plots
of metrics the new report no longer has are removed with the move."""

import os
import shutil
import signal
import tempfile

STAGING_PREFIX = ".compare-staging-"


class OutputError(Exception):
    """The output directory cannot be used; the message is one line."""


def _reason(error):
    return error.strerror or str(error)


def prepare(directory):
    """Makes DIRECTORY (and missing parents) and checks that a file can be
    written there. Returns the directories it made, deepest first, for
    remove_made() when the run ends without a report."""
    path = os.path.abspath(directory)
    missing = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = os.path.dirname(probe)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise OutputError(f"{directory} is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        remove_made(missing)
        raise OutputError(f"cannot create {directory}: {_reason(error)}") from None
    try:
        descriptor, test_file = tempfile.mkstemp(prefix=".compare-write-test-", dir=path)
        os.close(descriptor)
        os.unlink(test_file)
    except OSError as error:
        remove_made(missing)
        raise OutputError(f"cannot write into {directory}: {_reason(error)}") from None
    return missing


def remove_made(made):
    """Removes the directories prepare() made, where they are still empty."""
    for path in made:
        try:
            os.rmdir(path)
        except OSError:
            return


class _HeldSignals:
    """Holds SIGINT, SIGTERM and SIGHUP back while in the `with` block and
    raises the first that came once it ends (main thread only)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __enter__(self):
        self.received = []
        self.previous = {number: signal.signal(number, lambda number, _frame: self.received.append(number))
                         for number in self.SIGNALS}
        return self

    def __exit__(self, *_):
        for number, handler in self.previous.items():
            signal.signal(number, handler)
        if self.received:
            signal.raise_signal(self.received[0])
        return False


def publish(directory, write, stale_names=()):
    """Calls write(staging), which writes the report's files into the
    staging directory and returns their names, then moves them into
    DIRECTORY and removes the files of `stale_names` that were not written
    this time. Returns the paths in DIRECTORY. Raises OutputError (one line)
    when a file cannot be written; the staging directory never stays."""
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=directory)
    try:
        try:
            names = list(write(staging))
        except OSError as error:
            where = error.filename or directory
            raise OutputError(f"cannot write {os.path.join(directory, os.path.basename(where))}: "
                              f"{_reason(error)}") from None
        with _HeldSignals():
            try:
                for name in names:
                    os.replace(os.path.join(staging, name), os.path.join(directory, name))
                for name in set(stale_names) - set(names):
                    try:
                        os.unlink(os.path.join(directory, name))
                    except FileNotFoundError:
                        pass
            except OSError as error:
                raise OutputError(f"cannot move the report into {directory}: {_reason(error)}") from None
        return [os.path.join(directory, name) for name in names]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
