#pragma once

#include "container/ContainerSpec.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vmm::oci {

// A bundle's config.json, read and checked: the engine's spec, the JSON it
// came from (kept in the state directory, so that later commands see the
// config as it was at create) and the annotations for `state`.
struct BundleConfig {
    container::ContainerSpec spec;
    nlohmann::json json;
};

// Reads BUNDLE/config.json (runtime-spec 1.0 or 1.1) into a spec. Errors
// are one line naming the bundle and the field: a missing file, invalid
// JSON, an unsupported ociVersion, a relative root.path that leaves the
// bundle (also through a symlink), and anything unknown that changes
// security (a namespace type, a seccomp action, an rlimit). Fields vmm
// does not support but that change no security are warned about (spdlog).
BundleConfig read_bundle_config(std::string const& bundle);

// The spec of a config already read (the copy in the state directory).
container::ContainerSpec spec_from_config(nlohmann::json const& config, std::string const& bundle);
// Only its hooks: what start and delete need, also once root.path is gone.
container::HooksSpec hooks_from_config(nlohmann::json const& config);

// process.* of a config (or of exec's --process file) into `process`.
void read_process(nlohmann::json const& json, container::ProcessSpec& process);

// linux.resources into cgroup limits (update --resources uses it too).
void read_resources(nlohmann::json const& json, container::ContainerSpec& spec);

// linux.seccomp into the engine's translated form.
container::SeccompSpec read_seccomp(nlohmann::json const& json);

}
