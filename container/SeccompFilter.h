#pragma once

#include "common/Error.h"

#include <cstring>
#include <fmt/format.h>
#include <seccomp.h>
#include <string_view>

namespace vmm::container {

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

private:
    scmp_filter_ctx m_context;
};

// libseccomp returns -errno; this names the step that failed.
inline void check_seccomp(int result, std::string_view what)
{
    if (result < 0)
        throw Error(fmt::format("seccomp {}: {}", what, std::strerror(-result)));
}

}
