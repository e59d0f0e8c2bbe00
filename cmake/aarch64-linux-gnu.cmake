# Cross-builds vmm for arm64 hosts with Debian's cross toolchain
# (g++-aarch64-linux-gnu) and the arm64 libraries that scripts/aarch64-sysroot
# unpacks (by default into build-aarch64/sysroot):
#   scripts/aarch64-sysroot
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
#   cmake --build build-aarch64 --target vmm init
# vmm is linked against the arm64 shared libraries of the sysroot (Debian
# ships no static libnftables); scripts/nested-kvm-arm64 carries them with
# it. Programs the build runs (the seccomp compilers) and the tests run under
# qemu-aarch64 (Debian qemu-user) where the build host is not arm64.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)

get_filename_component(vmm_source_dir "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(VMM_AARCH64_SYSROOT "${vmm_source_dir}/build-aarch64/sysroot" CACHE PATH "arm64 libraries unpacked by scripts/aarch64-sysroot")
if(NOT EXISTS "${VMM_AARCH64_SYSROOT}/usr/include/libfdt.h")
    message(FATAL_ERROR "${VMM_AARCH64_SYSROOT} lacks the arm64 libraries: run scripts/aarch64-sysroot first")
endif()

# The cross compiler's own C library stays where Debian put it
# (/usr/aarch64-linux-gnu); the libraries are found in the unpacked sysroot.
set(CMAKE_FIND_ROOT_PATH "${VMM_AARCH64_SYSROOT}" /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
include_directories(SYSTEM "${VMM_AARCH64_SYSROOT}/usr/include" "${VMM_AARCH64_SYSROOT}/usr/include/aarch64-linux-gnu")
set(ENV{PKG_CONFIG_LIBDIR} "${VMM_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${VMM_AARCH64_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${VMM_AARCH64_SYSROOT}")
set(ENV{PKG_CONFIG_PATH} "")

find_program(VMM_QEMU_AARCH64 qemu-aarch64)
if(VMM_QEMU_AARCH64)
    # The arm64 loader and C library from the cross toolchain, the other
    # libraries from the sysroot.
    set(CMAKE_CROSSCOMPILING_EMULATOR env QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
        "LD_LIBRARY_PATH=${VMM_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu" "${VMM_QEMU_AARCH64}")
endif()
