namespace vmm::x86_64 {}
