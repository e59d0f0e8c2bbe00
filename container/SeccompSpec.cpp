#include "container/SeccompSpec.h"

#include "container/SeccompFilter.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"

#include <cstring>
#include <fmt/format.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <unistd.h>

namespace vmm::container {

std::vector<sock_filter> compile_seccomp_spec(SeccompSpec const& spec)
{
    SeccompFilter filter(spec.default_action);
    for (auto const& name : spec.architectures) {
        auto architecture = seccomp_arch_resolve_name(name.c_str());
        if (architecture == 0)
            throw Error(fmt::format("seccomp: architecture '{}' is unknown to libseccomp", name));
        int result = seccomp_arch_add(filter.get(), architecture);
        if (result != -EEXIST)
            check_seccomp(result, fmt::format("architecture {}", name));
    }
    if (spec.log)
        check_seccomp(seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_LOG, 1), "log flag");
    for (auto const& rule : spec.syscalls) {
        // A rule whose action is the default one adds nothing (and libseccomp refuses it).
        if (rule.action == spec.default_action)
            continue;
        std::vector<scmp_arg_cmp> comparisons;
        for (auto const& argument : rule.arguments)
            comparisons.push_back({ argument.index, static_cast<scmp_compare>(argument.operation), argument.value, argument.value_two });
        for (auto const& name : rule.names) {
            int number = seccomp_syscall_resolve_name(name.c_str());
            if (number == __NR_SCMP_ERROR)
                continue;
            int result = seccomp_rule_add_array(filter.get(), rule.action, number, static_cast<unsigned>(comparisons.size()), comparisons.data());
            // Several comparisons of one argument need one rule each (runc's way).
            if (result == -EINVAL && comparisons.size() > 1) {
                for (auto const& comparison : comparisons)
                    check_seccomp(seccomp_rule_add_array(filter.get(), rule.action, number, 1, &comparison), name);
                continue;
            }
            check_seccomp(result, name);
        }
    }
    return filter.export_program();
}

}
