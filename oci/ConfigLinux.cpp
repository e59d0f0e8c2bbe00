// linux.resources and linux.seccomp of config.json (also update's
// --resources file).

#include "oci/Config.h"

#include "common/Error.h"
#include "oci/ConfigFields.h"

#include <cctype>
#include <cerrno>
#include <fmt/format.h>
#include <seccomp.h>
#include <spdlog/spdlog.h>

namespace vmm::oci {

using container::ContainerSpec;
using nlohmann::json;

namespace {

uint32_t seccomp_action(std::string const& name, std::optional<uint32_t> errno_return)
{
    if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD")
        return SCMP_ACT_KILL_THREAD;
    if (name == "SCMP_ACT_KILL_PROCESS")
        return SCMP_ACT_KILL_PROCESS;
    if (name == "SCMP_ACT_TRAP")
        return SCMP_ACT_TRAP;
    if (name == "SCMP_ACT_ERRNO")
        return SCMP_ACT_ERRNO(errno_return.value_or(EPERM));
    if (name == "SCMP_ACT_TRACE")
        return SCMP_ACT_TRACE(errno_return.value_or(EPERM));
    if (name == "SCMP_ACT_ALLOW")
        return SCMP_ACT_ALLOW;
    if (name == "SCMP_ACT_LOG")
        return SCMP_ACT_LOG;
    if (name == "SCMP_ACT_NOTIFY")
        throw Error("config.json: linux.seccomp: action SCMP_ACT_NOTIFY (a seccomp listener) is not supported");
    throw Error(fmt::format("config.json: linux.seccomp: unknown action '{}'", name));
}

int seccomp_operator(std::string const& name)
{
    constexpr std::pair<char const*, int> operators[] = {
        { "SCMP_CMP_NE", 1 }, { "SCMP_CMP_LT", 2 }, { "SCMP_CMP_LE", 3 }, { "SCMP_CMP_EQ", 4 },
        { "SCMP_CMP_GE", 5 }, { "SCMP_CMP_GT", 6 }, { "SCMP_CMP_MASKED_EQ", 7 },
    };
    for (auto const& [operator_name, value] : operators) {
        if (name == operator_name)
            return value;
    }
    throw Error(fmt::format("config.json: linux.seccomp: unknown operator '{}'", name));
}

}

void read_resources(json const& resources, ContainerSpec& spec)
{
    auto& limits = spec.resources;
    auto memory = get_object(resources, "memory", "linux.resources");
    // -1 is no limit (update uses it to lift one), 0 none given, as in runc.
    if (auto limit = get<int64_t>(memory, "limit", 0, "linux.resources.memory"); limit > 0)
        limits.memory_bytes = static_cast<uint64_t>(limit);
    else if (limit == -1)
        limits.memory_bytes = vmm::unlimited_limit;
    else if (limit < 0)
        throw Error(fmt::format("config.json: linux.resources.memory.limit {} is not a size (-1: no limit)", limit));
    if (auto reservation = get<int64_t>(memory, "reservation", 0, "linux.resources.memory"); reservation > 0)
        limits.memory_reservation = static_cast<uint64_t>(reservation);
    if (memory.contains("swap") && !memory["swap"].is_null())
        limits.memory_swap = get<int64_t>(memory, "swap", -1, "linux.resources.memory");
    for (auto const* key : { "kernel", "kernelTCP", "swappiness", "disableOOMKiller", "useHierarchy", "checkBeforeUpdate" }) {
        if (memory.contains(key))
            spdlog::warn("config.json: linux.resources.memory.{} is not supported and is ignored", key);
    }
    auto cpu = get_object(resources, "cpu", "linux.resources");
    if (auto shares = get<uint64_t>(cpu, "shares", 0, "linux.resources.cpu"); shares > 0)
        limits.cpu_shares = shares;
    if (auto quota = get<int64_t>(cpu, "quota", 0, "linux.resources.cpu"); quota != 0)
        limits.cpu_quota_us = quota;
    if (auto period = get<uint64_t>(cpu, "period", 0, "linux.resources.cpu"); period > 0)
        limits.cpu_period_us = period;
    for (auto const* key : { "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle" }) {
        if (cpu.contains(key) && !(cpu[key].is_string() && cpu[key].get<std::string>().empty()))
            spdlog::warn("config.json: linux.resources.cpu.{} is not supported and is ignored", key);
    }
    auto pids = get_object(resources, "pids", "linux.resources");
    // Negative: no limit ("max"), as runc writes it; 0: none given.
    if (auto limit = get<int64_t>(pids, "limit", 0, "linux.resources.pids"); limit > 0)
        limits.pids = static_cast<uint64_t>(limit);
    else if (limit < 0)
        limits.pids = vmm::unlimited_limit;
    auto block_io = get_object(resources, "blockIO", "linux.resources");
    if (auto weight = get<uint16_t>(block_io, "weight", 0, "linux.resources.blockIO"); weight > 0)
        limits.blkio_weight = weight;
    for (auto const& [key, value] : block_io.items()) {
        if (key != "weight")
            spdlog::warn("config.json: linux.resources.blockIO.{} is not supported and is ignored", key);
    }
    for (auto const* key : { "hugepageLimits", "network", "rdma", "unified" }) {
        if (resources.contains(key) && !resources[key].empty())
            spdlog::warn("config.json: linux.resources.{} is not supported and is ignored", key);
    }
    if (resources.contains("devices") && !resources["devices"].is_null()) {
        spec.device_rules.clear();
        for (auto const& rule : get_object_array(resources, "devices", "linux.resources")) {
            vmm::DeviceRule device_rule { vmm::DeviceType::All, vmm::any_device_number, vmm::any_device_number };
            auto type = get<std::string>(rule, "type", "a", "linux.resources.devices");
            if (type == "c" || type == "u")
                device_rule.type = vmm::DeviceType::Character;
            else if (type == "b")
                device_rule.type = vmm::DeviceType::Block;
            else if (type != "a")
                throw Error(fmt::format("config.json: linux.resources.devices: unknown type '{}'", type));
            device_rule.major = get<int64_t>(rule, "major", vmm::any_device_number, "linux.resources.devices");
            device_rule.minor = get<int64_t>(rule, "minor", vmm::any_device_number, "linux.resources.devices");
            auto access = vmm::parse_device_access(get<std::string>(rule, "access", "rwm", "linux.resources.devices"));
            if (!access)
                throw Error(fmt::format("config.json: linux.resources.devices: access '{}' is not made of r, w and m", get<std::string>(rule, "access", "", "")));
            device_rule.access = *access;
            device_rule.effect = get<bool>(rule, "allow", false, "linux.resources.devices") ? vmm::DeviceRuleEffect::Allow : vmm::DeviceRuleEffect::Deny;
            spec.device_rules.push_back(device_rule);
        }
    }
}

container::SeccompSpec read_seccomp(json const& seccomp)
{
    container::SeccompSpec result;
    std::optional<uint32_t> default_errno;
    if (seccomp.contains("defaultErrnoRet"))
        default_errno = get<uint32_t>(seccomp, "defaultErrnoRet", EPERM, "linux.seccomp");
    result.default_action = seccomp_action(get<std::string>(seccomp, "defaultAction", "", "linux.seccomp"), default_errno);
    for (auto const& architecture : get<std::vector<std::string>>(seccomp, "architectures", {}, "linux.seccomp")) {
        std::string name = architecture;
        if (name.starts_with("SCMP_ARCH_"))
            name = name.substr(10);
        for (auto& character : name)
            character = static_cast<char>(std::tolower(static_cast<unsigned char>(character)));
        result.architectures.push_back(name);
    }
    for (auto const& flag : get<std::vector<std::string>>(seccomp, "flags", {}, "linux.seccomp")) {
        if (flag == "SECCOMP_FILTER_FLAG_LOG")
            result.log = true;
        else if (flag != "SECCOMP_FILTER_FLAG_SPEC_ALLOW" && flag != "SECCOMP_FILTER_FLAG_TSYNC")
            throw Error(fmt::format("config.json: linux.seccomp: unknown flag '{}'", flag));
    }
    if (!get<std::string>(seccomp, "listenerPath", "", "linux.seccomp").empty())
        throw Error("config.json: linux.seccomp.listenerPath (a seccomp listener) is not supported");
    for (auto const& rule : get_object_array(seccomp, "syscalls", "linux.seccomp")) {
        container::SeccompSyscallSpec syscall;
        syscall.names = get<std::vector<std::string>>(rule, "names", {}, "linux.seccomp.syscalls");
        std::optional<uint32_t> errno_return;
        if (rule.contains("errnoRet"))
            errno_return = get<uint32_t>(rule, "errnoRet", EPERM, "linux.seccomp.syscalls");
        syscall.action = seccomp_action(get<std::string>(rule, "action", "", "linux.seccomp.syscalls"), errno_return);
        for (auto const& argument : get_object_array(rule, "args", "linux.seccomp.syscalls")) {
            auto index = get<unsigned>(argument, "index", 0, "linux.seccomp.syscalls.args");
            if (index > 5)
                throw Error(fmt::format("config.json: linux.seccomp: argument index {} is not 0-5", index));
            syscall.arguments.push_back({ index, get<uint64_t>(argument, "value", 0, "linux.seccomp.syscalls.args"),
                get<uint64_t>(argument, "valueTwo", 0, "linux.seccomp.syscalls.args"), seccomp_operator(get<std::string>(argument, "op", "", "linux.seccomp.syscalls.args")) });
        }
        result.syscalls.push_back(std::move(syscall));
    }
    return result;
}

}
