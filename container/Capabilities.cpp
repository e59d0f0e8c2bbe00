#include "container/Capabilities.h"

#include "common/Error.h"

#include <bit>
#include <cerrno>
#include <cstdio>
#include <fmt/format.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vmm::container {

namespace {

constexpr int default_capability_list[] = {
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_FSETID,
    CAP_FOWNER,
    CAP_MKNOD,
    CAP_NET_RAW,
    CAP_SETGID,
    CAP_SETUID,
    CAP_SETFCAP,
    CAP_SETPCAP,
    CAP_NET_BIND_SERVICE,
    CAP_SYS_CHROOT,
    CAP_KILL,
    CAP_AUDIT_WRITE,
};

struct CapabilityName {
    char const* name;
    int number;
};

constexpr CapabilityName capability_names[] = {
    { "CAP_CHOWN", 0 }, { "CAP_DAC_OVERRIDE", 1 }, { "CAP_DAC_READ_SEARCH", 2 }, { "CAP_FOWNER", 3 },
    { "CAP_FSETID", 4 }, { "CAP_KILL", 5 }, { "CAP_SETGID", 6 }, { "CAP_SETUID", 7 },
    { "CAP_SETPCAP", 8 }, { "CAP_LINUX_IMMUTABLE", 9 }, { "CAP_NET_BIND_SERVICE", 10 }, { "CAP_NET_BROADCAST", 11 },
    { "CAP_NET_ADMIN", 12 }, { "CAP_NET_RAW", 13 }, { "CAP_IPC_LOCK", 14 }, { "CAP_IPC_OWNER", 15 },
    { "CAP_SYS_MODULE", 16 }, { "CAP_SYS_RAWIO", 17 }, { "CAP_SYS_CHROOT", 18 }, { "CAP_SYS_PTRACE", 19 },
    { "CAP_SYS_PACCT", 20 }, { "CAP_SYS_ADMIN", 21 }, { "CAP_SYS_BOOT", 22 }, { "CAP_SYS_NICE", 23 },
    { "CAP_SYS_RESOURCE", 24 }, { "CAP_SYS_TIME", 25 }, { "CAP_SYS_TTY_CONFIG", 26 }, { "CAP_MKNOD", 27 },
    { "CAP_LEASE", 28 }, { "CAP_AUDIT_WRITE", 29 }, { "CAP_AUDIT_CONTROL", 30 }, { "CAP_SETFCAP", 31 },
    { "CAP_MAC_OVERRIDE", 32 }, { "CAP_MAC_ADMIN", 33 }, { "CAP_SYSLOG", 34 }, { "CAP_WAKE_ALARM", 35 },
    { "CAP_BLOCK_SUSPEND", 36 }, { "CAP_AUDIT_READ", 37 }, { "CAP_PERFMON", 38 }, { "CAP_BPF", 39 },
    { "CAP_CHECKPOINT_RESTORE", 40 },
};

}

std::optional<int> capability_from_name(std::string_view name)
{
    std::string upper;
    if (!name.starts_with("CAP_") && !name.starts_with("cap_"))
        upper = "CAP_";
    for (char character : name)
        upper += static_cast<char>(character >= 'a' && character <= 'z' ? character - 'a' + 'A' : character);
    for (auto const& entry : capability_names) {
        if (upper == entry.name)
            return entry.number;
    }
    return std::nullopt;
}

std::string capability_name(int capability)
{
    for (auto const& entry : capability_names) {
        if (entry.number == capability)
            return entry.name;
    }
    return fmt::format("CAP_{}", capability);
}

int last_capability()
{
    static int last = [] {
        FILE* file = std::fopen("/proc/sys/kernel/cap_last_cap", "re");
        int value = CAP_LAST_CAP;
        if (file) {
            if (std::fscanf(file, "%d", &value) != 1)
                value = CAP_LAST_CAP;
            std::fclose(file);
        }
        return value;
    }();
    return last;
}

void limit_bounding_set(uint64_t bounding)
{
    // Dropping one that is not in the set already succeeds, so nothing is
    // read first; the bounding set ends at the kernel's last capability,
    // where PR_CAPBSET_DROP starts failing with EINVAL.
    for (int capability = 0; capability < 64; ++capability) {
        if (bounding & (uint64_t(1) << capability))
            continue;
        if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break;
            throw_system_error("prctl PR_CAPBSET_DROP", capability_name(capability));
        }
    }
}

void apply_capability_sets(CapabilitySets const& sets)
{
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        throw_system_error("prctl PR_CAP_AMBIENT_CLEAR_ALL");

    __user_cap_header_struct header { _LINUX_CAPABILITY_VERSION_3, 0 };
    __user_cap_data_struct data[2] {};
    for (int word = 0; word < 2; ++word) {
        data[word].effective = static_cast<uint32_t>(sets.effective >> (32 * word));
        data[word].permitted = static_cast<uint32_t>(sets.permitted >> (32 * word));
        data[word].inheritable = static_cast<uint32_t>(sets.inheritable >> (32 * word));
    }
    if (::syscall(SYS_capset, &header, data) < 0)
        throw_system_error("capset");
    // The kernel raises an ambient capability only if it is permitted and
    // inheritable; others are left out, as runc does. Only the set's own
    // bits are visited (the configuration refused any past the kernel's
    // last), so a start without ambient capabilities reads nothing.
    for (uint64_t raised = sets.ambient & sets.permitted & sets.inheritable; raised != 0; raised &= raised - 1) {
        int const capability = std::countr_zero(raised);
        if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability, 0, 0) < 0)
            throw_system_error("prctl PR_CAP_AMBIENT_RAISE", capability_name(capability));
    }
}

uint64_t default_capabilities(DeviceCreation device_creation)
{
    uint64_t set = 0;
    for (int capability : default_capability_list)
        set |= uint64_t(1) << capability;
    if (device_creation == DeviceCreation::Denied)
        set &= ~(uint64_t(1) << CAP_MKNOD);
    return set;
}

void drop_capabilities(DeviceCreation device_creation)
{
    uint64_t const keep = default_capabilities(device_creation);
    limit_bounding_set(keep);
    apply_capability_sets({ keep, keep, keep, 0, 0 });
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        throw_system_error("prctl PR_SET_NO_NEW_PRIVS");
}

}
