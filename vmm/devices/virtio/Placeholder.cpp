namespace vmm::virtio {}
