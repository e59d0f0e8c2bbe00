#pragma once

/*
 * The register window of virtio-mmio version 2 (virtio-v1.1 section 4.2.2),
 * for both sides: the device (MmioTransport.cpp) and the drivers the tests
 * run (tests/virtio/QueueDriver.h, the fuzzer, and the freestanding C driver
 * in tests/guests/blk_driver). Plain C, so that the guest-mode driver can
 * include it. The names are those of Linux's <linux/virtio_mmio.h>, which
 * declares them as macros: include one or the other, never both.
 */

#ifdef __cplusplus
namespace vmm::virtio {
#endif

/* Offsets in the window; every register is 32 bits wide. */
enum VirtioMmioRegister {
    VIRTIO_MMIO_MAGIC_VALUE = 0x000,
    VIRTIO_MMIO_VERSION = 0x004,
    VIRTIO_MMIO_DEVICE_ID = 0x008,
    VIRTIO_MMIO_VENDOR_ID = 0x00c,
    VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
    VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
    VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
    VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
    VIRTIO_MMIO_QUEUE_SEL = 0x030,
    VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
    VIRTIO_MMIO_QUEUE_NUM = 0x038,
    VIRTIO_MMIO_QUEUE_READY = 0x044,
    VIRTIO_MMIO_QUEUE_NOTIFY = 0x050,
    VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
    VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
    VIRTIO_MMIO_STATUS = 0x070,
    VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
    VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
    VIRTIO_MMIO_QUEUE_AVAIL_LOW = 0x090, /* The driver area. */
    VIRTIO_MMIO_QUEUE_AVAIL_HIGH = 0x094,
    VIRTIO_MMIO_QUEUE_USED_LOW = 0x0a0, /* The device area. */
    VIRTIO_MMIO_QUEUE_USED_HIGH = 0x0a4,
    VIRTIO_MMIO_SHM_LEN_LOW = 0x0b0,
    VIRTIO_MMIO_SHM_BASE_HIGH = 0x0bc,
    VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
    VIRTIO_MMIO_CONFIG = 0x100, /* The device's configuration space starts here. */
};

/* What MagicValue and Version read. */
enum VirtioMmioIdentity {
    VIRTIO_MMIO_MAGIC = 0x74726976, /* "virt", little-endian. */
    VIRTIO_MMIO_MODERN_VERSION = 2,
};

#ifdef __cplusplus
}
#endif
