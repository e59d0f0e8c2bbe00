#include "container/InitProgram.h"

#include "guest/EmbeddedInit.h"
#include "common/Error.h"

#include <cerrno>
#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vmm::container {

namespace {

// MFD_EXEC (Linux 6.3): executable even where vm.memfd_noexec makes memfds
// noexec by default. Older kernels refuse the flag, and need none.
constexpr unsigned memfd_executable = 0x0010U;

}

FileDescriptor create_empty_init_program()
{
    FileDescriptor program(::memfd_create("vmm-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | memfd_executable));
    if (!program.is_valid() && errno == EINVAL)
        program = FileDescriptor(::memfd_create("vmm-init", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!program.is_valid())
        throw_system_error("memfd_create", "vmm-init");
    return program;
}

void fill_and_seal_init_program(int program_fd)
{
    auto image = embedded_init();
    if (!write_all(program_fd, image.data(), image.size()))
        throw_system_error("write", "vmm-init (memfd)");
    if (::fcntl(program_fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
        throw_system_error("fcntl F_ADD_SEALS", "vmm-init (memfd)");
}

void execute_init_program(int program_fd, char* const* argv, char* const* envp)
{
    ::syscall(SYS_execveat, program_fd, "", argv, envp, AT_EMPTY_PATH);
}

}
