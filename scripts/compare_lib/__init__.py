"""scripts/compare: runs the same rootfs and workloads as a microVM, as
containers and on the host, and writes report.json, report.md and PNG plots.

Modules: metrics (what is measured), schema (report.json's shape), parse
(the workload program's output lines), hostinfo (virtualization, PVM, cgroups),
runner (the subjects), markdown and plots (the report)."""
