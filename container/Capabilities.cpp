#include "container/Capabilities.h"

#include "common/Error.h"

#include <cerrno>
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
    // The bounding set ends at the kernel's last capability, where
    // PR_CAPBSET_READ starts failing with EINVAL.
    for (int capability = 0; capability < 64; ++capability) {
        int present = ::prctl(PR_CAPBSET_READ, capability, 0, 0, 0);
        if (present < 0)
            break;
        if (present == 1 && !(keep & (uint64_t(1) << capability))) {
            if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) < 0)
                throw_system_error("prctl PR_CAPBSET_DROP", fmt::format("capability {}", capability));
        }
    }
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        throw_system_error("prctl PR_CAP_AMBIENT_CLEAR_ALL");

    __user_cap_header_struct header { _LINUX_CAPABILITY_VERSION_3, 0 };
    __user_cap_data_struct data[2] {};
    for (int word = 0; word < 2; ++word) {
        auto bits = static_cast<uint32_t>(keep >> (32 * word));
        data[word].effective = bits;
        data[word].permitted = bits;
        data[word].inheritable = 0;
    }
    if (::syscall(SYS_capset, &header, data) < 0)
        throw_system_error("capset");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        throw_system_error("prctl PR_SET_NO_NEW_PRIVS");
}

}
