"""How much to run: repetitions and workload sizes for --quick and full runs.
The nested host (everything emulated by QEMU TCG) gets smaller sizes; its
baseline runs the same sizes as its guests, so its ratios stay fair."""


class Plan:
    def __init__(self, quick):
        self.mode = "quick" if quick else "full"
        if quick:
            self.true_rounds, self.bench_rounds = 5, 1
            self.bench = {"syscalls": 200000, "spawns": 20, "cpu": 20000000, "file-mib": 4}
            self.nested_true_rounds, self.nested_bench_rounds = 1, 1
            self.nested_bench = {"syscalls": 20000, "spawns": 5, "cpu": 5000000, "file-mib": 2}
            self.nested_timeout = 270  # With the network rows (four servers, each booted or started in L1).
        else:
            self.true_rounds, self.bench_rounds = 20, 5
            self.bench = {"syscalls": 1000000, "spawns": 200, "cpu": 200000000, "file-mib": 32}
            self.nested_true_rounds, self.nested_bench_rounds = 3, 2
            self.nested_bench = {"syscalls": 100000, "spawns": 20, "cpu": 20000000, "file-mib": 8}
            self.nested_timeout = 720
        self.run_timeout = 120

    @staticmethod
    def bench_command(sizes):
        command = ["/usr/bin/workload", "bench"]
        for option, value in sizes.items():
            command += [f"--{option}", str(value)]
        return command + ["--dir", "/var/tmp"]
