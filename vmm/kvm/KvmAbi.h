#pragma once

// Include this instead of <linux/kvm.h>. Debian 12's linux-libc-dev (6.1)
// declares flexible arrays through __DECLARE_FLEX_ARRAY, whose empty member
// struct has size 1 in C++: kvm_cpuid2 and kvm_msrs then get a different
// size and entry offset than the kernel's, and the ioctl numbers derived
// from their size (KVM_GET_SUPPORTED_CPUID, KVM_SET_CPUID2, KVM_SET_MSRS)
// change too. Declaring the arrays as GNU zero-length arrays restores the C
// layout. Later kernels fixed the macro for C++.
#include <cstddef>
#include <linux/stddef.h>
#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]
#include <linux/kvm.h>

#if defined(__x86_64__)
static_assert(sizeof(kvm_cpuid2) == 8 && offsetof(kvm_cpuid2, entries) == 8, "kvm_cpuid2 must have the kernel's layout");
static_assert(sizeof(kvm_msrs) == 8 && offsetof(kvm_msrs, entries) == 8, "kvm_msrs must have the kernel's layout");
#endif
