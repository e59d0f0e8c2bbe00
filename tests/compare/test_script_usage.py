"""The command lines of the benchmark and build scripts: --help prints a
usage and exits 0, an unknown option or a bad count is one line on stderr
and exit status 2, before anything is installed, built or measured. None of
these runs measures, builds or needs root."""

import os
import subprocess
import sys
import tempfile
import unittest

PROJECT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def run(script, *arguments, env=None, python=False):
    command = [os.path.join(PROJECT, script), *arguments]
    if python:
        command.insert(0, sys.executable)
    # From a directory of its own, so that a path taken from an argument
    # would show up there.
    with tempfile.TemporaryDirectory(prefix="script-usage-test-") as directory:
        result = subprocess.run(command, cwd=directory, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=120, env=env)
        result.left = os.listdir(directory)
    return result


class ScriptUsageTest(unittest.TestCase):
    PYTHON_SCRIPTS = {"scripts/bench-oci", "scripts/bench-container", "scripts/bench-vmm"}

    def call(self, script, *arguments):
        return run(script, *arguments, python=script in self.PYTHON_SCRIPTS)

    def assert_usage_error(self, script, *arguments):
        result = self.call(script, *arguments)
        self.assertEqual(result.returncode, 2, f"{script} {arguments}: {result.stdout}{result.stderr}")
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, f"{script} {arguments}: {result.stderr}")
        self.assertNotIn("Traceback", result.stderr)
        self.assertEqual(result.left, [], f"{script} {arguments} made {result.left}")

    def test_help(self):
        for script in ("scripts/bench-oci", "scripts/bench-container", "scripts/bench-vmm", "scripts/bench-fsync",
                       "scripts/bench-blk", "scripts/demo", "scripts/build-aarch64", "scripts/aarch64-sysroot",
                       "guest/build-kernel", "guest/build-rootfs", "scripts/nested-kvm"):
            for option in ("--help", "-h"):
                result = self.call(script, option)
                self.assertEqual(result.returncode, 0, f"{script} {option}: {result.stderr}")
                self.assertIn(f"{script} ", result.stdout, f"{script} {option}")
                self.assertEqual(result.left, [], f"{script} {option} made {result.left}")

    def test_unknown_options(self):
        for script in ("scripts/bench-oci", "scripts/bench-container", "scripts/bench-vmm", "scripts/bench-fsync",
                       "scripts/bench-blk", "scripts/demo", "scripts/build-aarch64", "scripts/aarch64-sysroot",
                       "guest/build-kernel", "guest/build-rootfs"):
            self.assert_usage_error(script, "--no-such-option")
        self.assert_usage_error("scripts/bench-oci", "--rounds", "3")
        self.assert_usage_error("guest/build-kernel", "build", "--help-me")

    def test_bad_counts(self):
        for count in ("abc", "1.5", "0", "-2"):
            self.assert_usage_error("scripts/bench-oci", "build", count)
            self.assert_usage_error("scripts/bench-container", "build", count)
            self.assert_usage_error("scripts/bench-vmm", "--runs", count)
            self.assert_usage_error("scripts/bench-fsync", "--rounds", count)

    def test_options_without_their_value(self):
        for option in ("--rounds", "--build-dir", "--mib"):
            self.assert_usage_error("scripts/bench-fsync", option)

    def test_demo_takes_a_command_only_after_the_separator(self):
        self.assert_usage_error("scripts/demo", "echo", "hi")
        self.assert_usage_error("scripts/demo", "--")

    def test_too_many_arguments(self):
        self.assert_usage_error("scripts/bench-oci", "a", "1", "b")
        self.assert_usage_error("scripts/build-aarch64", "a", "b")
        self.assert_usage_error("guest/build-rootfs", "a", "b", "c")


class NestedKvmQemuTest(unittest.TestCase):
    """scripts/nested-kvm when QEMU ends before L1 starts: 125 with QEMU's
    own message (needs the outer kernel in BUILD_DIR/nested, as a
    nested-kvm run leaves it)."""

    def test_qemu_that_fails_at_once(self):
        build = os.environ.get("VMM_BUILD_DIR", os.path.join(PROJECT, "build"))
        if not os.path.exists(os.path.join(build, "nested", "vmlinuz")):
            self.skipTest(f"no outer kernel in {build}/nested (a scripts/nested-kvm run fetches it)")
        with tempfile.TemporaryDirectory(prefix="nested-kvm-qemu-test-") as directory:
            qemu = os.path.join(directory, "qemu")
            with open(qemu, "w") as file:
                file.write("#!/bin/sh\necho 'qemu: could not load kernel' >&2\nexit 1\n")
            os.chmod(qemu, 0o755)
            environment = dict(os.environ, VMM_NESTED_QEMU=qemu, VMM_BUILD_DIR=build, TMPDIR=directory)
            result = run("scripts/nested-kvm", "--", "true", env=environment)
            self.assertEqual(result.returncode, 125, result.stderr)
            self.assertIn("exited with status 1 before L1 started", result.stderr)
            self.assertIn("qemu: could not load kernel", result.stderr)
            self.assertNotIn("No such file", result.stderr)
            self.assertEqual(sorted(os.listdir(directory)), ["qemu"])


if __name__ == "__main__":
    unittest.main()
