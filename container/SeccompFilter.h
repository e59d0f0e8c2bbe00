#pragma once

#include "common/Error.h"
#include "common/FileDescriptor.h"

#include <cstring>
#include <linux/filter.h>
#include <fmt/format.h>
#include <seccomp.h>
#include <string_view>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace vmm::container {

// libseccomp returns -errno; this names the step that failed.
inline void check_seccomp(int result, std::string_view what)
{
    if (result < 0)
        throw Error(fmt::format("seccomp {}: {}", what, std::strerror(-result)));
}

// A libseccomp filter being built, released when it goes out of scope. Both
// the built-in profile (compiled at build time) and a config's profile
// (translated at run time) are assembled in one.
class SeccompFilter {
public:
    explicit SeccompFilter(uint32_t default_action)
        : m_context(seccomp_init(default_action))
    {
        if (!m_context)
            throw Error("seccomp_init: the default action was refused");
    }
    ~SeccompFilter() { seccomp_release(m_context); }
    SeccompFilter(SeccompFilter const&) = delete;
    SeccompFilter& operator=(SeccompFilter const&) = delete;

    scmp_filter_ctx get() const { return m_context; }

    // The finished filter as a BPF program. libseccomp 2.5 exports only to a
    // file descriptor, so it goes through a memfd.
    std::vector<sock_filter> export_program() const
    {
        FileDescriptor memory(::memfd_create("vmm-seccomp", MFD_CLOEXEC));
        if (!memory.is_valid())
            throw_system_error("memfd_create", "(seccomp program)");
        check_seccomp(seccomp_export_bpf(m_context, memory.get()), "export");
        off_t const size = ::lseek(memory.get(), 0, SEEK_CUR);
        if (size <= 0 || size % sizeof(sock_filter) != 0)
            throw Error("seccomp export: unexpected program size");
        std::vector<sock_filter> program(static_cast<size_t>(size) / sizeof(sock_filter));
        if (::pread(memory.get(), program.data(), static_cast<size_t>(size), 0) != size)
            throw_system_error("read", "(seccomp program)");
        return program;
    }

private:
    scmp_filter_ctx m_context;
};

}
