#pragma once

namespace vmm::cli {

// Whether this invocation is the OCI runtime: `vmm oci ...`, or vmm called
// as vmm-runc (the name podman and containerd are given).
bool is_oci_invocation(int argc, char** argv);

// Runs runc's command line: global flags, then create, start, state, kill,
// delete, run, exec, ps, list, pause, resume, update, features or spec.
int run_oci_command(int argc, char** argv);

}
