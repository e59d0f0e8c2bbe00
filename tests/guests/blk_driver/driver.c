/*
 * A virtio-blk driver that runs in guest user mode (CPL3), for
 * scripts/bench-blk: it sets up the first virtio-mmio device the way Linux's
 * virtio_mmio and virtio_blk do, then reads through the virtqueue with
 * requests kept in flight, polling the used ring. It prints a line when each
 * phase starts and ends; the host times the lines.
 *   Phase 1: sequential 128 KiB reads over the whole disk, several passes.
 *   Phase 2: random 4 KiB reads, 32 in flight.
 *   Phase 3: random 4 KiB reads, one at a time (latency).
 * It notifies only when the device wants it (VIRTQ_USED_F_NO_NOTIFY clear:
 * a device that polls its queue sets it), as Linux's virtio_ring does.
 * The guest then reports exit status 0 (or 1 on a device error).
 */
#include "vmm/devices/virtio/MmioRegisters.h"

#include <stdint.h>

#define MMIO_BASE 0xc0000000ul
#define QUEUE_SIZE 256u
#define IN_FLIGHT 32u
#define SEQUENTIAL_BLOCK (128u * 1024u)
#define RANDOM_BLOCK 4096u
#define RANDOM_REQUESTS 200000u
#define SINGLE_REQUESTS 50000u
#define SEQUENTIAL_BYTES (1024ull * 1024 * 1024)

/* Guest memory the driver uses (identity mapped, below the 64 MiB a test VM has at least). */
#define RING_MEMORY 0x400000ul
#define BUFFER_MEMORY 0x800000ul /* IN_FLIGHT buffers of 128 KiB: 4 MiB. */

struct descriptor {
    uint64_t address;
    uint32_t length;
    uint16_t flags;
    uint16_t next;
};

struct request_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

enum { flag_next = 1, flag_write = 2 };

static volatile uint32_t *mmio(uint32_t offset) { return (volatile uint32_t *)(MMIO_BASE + offset); }
static void outb(uint16_t port, uint8_t value) { __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port)); }

static void print(const char *text)
{
    while (*text)
        outb(0x3f8, (uint8_t)*text++);
}

static void print_number(uint64_t value)
{
    char digits[24];
    int count = 0;
    do {
        digits[count++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (count)
        outb(0x3f8, (uint8_t)digits[--count]);
}

static __attribute__((noreturn)) void finish(uint8_t status, const char *why)
{
    if (why) {
        print("blk-driver: ");
        print(why);
        print("\n");
    }
    outb(0xf4, status);
    for (;;)
        ;
}

static struct descriptor *descriptors = (struct descriptor *)RING_MEMORY;
static volatile uint16_t *available = (volatile uint16_t *)(RING_MEMORY + 16 * QUEUE_SIZE);
static volatile uint16_t *used = (volatile uint16_t *)(RING_MEMORY + 0x2000);
static struct request_header *headers = (struct request_header *)(RING_MEMORY + 0x4000);
static volatile uint8_t *statuses = (volatile uint8_t *)(RING_MEMORY + 0x5000);

static uint16_t next_available;
static uint16_t last_used;
static uint64_t capacity_sectors;

static void setup_device(void)
{
    if (*mmio(VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC || *mmio(VIRTIO_MMIO_VERSION) != VIRTIO_MMIO_MODERN_VERSION || *mmio(VIRTIO_MMIO_DEVICE_ID) != 2)
        finish(1, "no modern virtio-blk device at 0xc0000000");
    *mmio(VIRTIO_MMIO_STATUS) = 0;
    *mmio(VIRTIO_MMIO_STATUS) = 1 | 2;          /* ACKNOWLEDGE | DRIVER */
    *mmio(VIRTIO_MMIO_DRIVER_FEATURES_SEL) = 0; /* The low word of the features... */
    *mmio(VIRTIO_MMIO_DRIVER_FEATURES) = 0;     /* ...nothing from it. */
    *mmio(VIRTIO_MMIO_DRIVER_FEATURES_SEL) = 1; /* The high word: VIRTIO_F_VERSION_1 (bit 32). */
    *mmio(VIRTIO_MMIO_DRIVER_FEATURES) = 1;
    *mmio(VIRTIO_MMIO_STATUS) = 1 | 2 | 8; /* FEATURES_OK */
    if (!(*mmio(VIRTIO_MMIO_STATUS) & 8))
        finish(1, "the device refused the features");
    *mmio(VIRTIO_MMIO_QUEUE_SEL) = 0;
    if (*mmio(VIRTIO_MMIO_QUEUE_NUM_MAX) < QUEUE_SIZE)
        finish(1, "queue too small");
    *mmio(VIRTIO_MMIO_QUEUE_NUM) = QUEUE_SIZE;
    *mmio(VIRTIO_MMIO_QUEUE_DESC_LOW) = (uint32_t)RING_MEMORY;
    *mmio(VIRTIO_MMIO_QUEUE_DESC_HIGH) = 0;
    *mmio(VIRTIO_MMIO_QUEUE_AVAIL_LOW) = (uint32_t)(uintptr_t)available;
    *mmio(VIRTIO_MMIO_QUEUE_AVAIL_HIGH) = 0;
    *mmio(VIRTIO_MMIO_QUEUE_USED_LOW) = (uint32_t)(uintptr_t)used;
    *mmio(VIRTIO_MMIO_QUEUE_USED_HIGH) = 0;
    *mmio(VIRTIO_MMIO_QUEUE_READY) = 1;
    *mmio(VIRTIO_MMIO_STATUS) = 1 | 2 | 8 | 4; /* DRIVER_OK */
    capacity_sectors = (uint64_t)*mmio(VIRTIO_MMIO_CONFIG) | (uint64_t)*mmio(VIRTIO_MMIO_CONFIG + 4) << 32;
    if (capacity_sectors < 2 * SEQUENTIAL_BLOCK / 512)
        finish(1, "disk too small");
}

/* Chain `slot` (0..IN_FLIGHT-1) as a read of `length` bytes at `sector`. */
static void submit(uint32_t slot, uint64_t sector, uint32_t length)
{
    uint16_t head = (uint16_t)(slot * 3);
    headers[slot].type = 0; /* VIRTIO_BLK_T_IN */
    headers[slot].reserved = 0;
    headers[slot].sector = sector;
    descriptors[head] = (struct descriptor) { (uint64_t)(uintptr_t)&headers[slot], sizeof(struct request_header), flag_next, (uint16_t)(head + 1) };
    descriptors[head + 1] = (struct descriptor) { BUFFER_MEMORY + (uint64_t)slot * SEQUENTIAL_BLOCK, length, flag_next | flag_write, (uint16_t)(head + 2) };
    descriptors[head + 2] = (struct descriptor) { (uint64_t)(uintptr_t)&statuses[slot], 1, flag_write, 0 };
    available[2 + next_available % QUEUE_SIZE] = head;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    available[1] = ++next_available;
}

static void notify(void)
{
    /* The index before the device's flag, as the device writes its flag before reading the index. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!(used[0] & 1)) /* VIRTQ_USED_F_NO_NOTIFY */
        *mmio(VIRTIO_MMIO_QUEUE_NOTIFY) = 0;
}

/* Waits for one used element and returns its slot. */
static uint32_t reap(void)
{
    while (*(volatile uint16_t *)&used[1] == last_used)
        __asm__ volatile("pause");
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    volatile uint32_t *element = (volatile uint32_t *)((uintptr_t)used + 4 + 8 * (last_used % QUEUE_SIZE));
    uint32_t const slot = element[0] / 3;
    ++last_used;
    if (statuses[slot] != 0)
        finish(1, "request failed");
    return slot;
}

static uint64_t random_state = 0x2545f4914f6cdd1dull;
static uint64_t next_random(void)
{
    random_state ^= random_state << 13;
    random_state ^= random_state >> 7;
    random_state ^= random_state << 17;
    return random_state;
}

void driver_main(void)
{
    setup_device();
    uint64_t const sectors_per_block = SEQUENTIAL_BLOCK / 512;
    uint64_t const blocks = capacity_sectors / sectors_per_block;
    uint64_t const total = SEQUENTIAL_BYTES / SEQUENTIAL_BLOCK;

    print("blk-driver: sequential-begin\n");
    uint64_t submitted = 0;
    for (uint32_t slot = 0; slot < IN_FLIGHT; ++slot)
        submit(slot, (submitted++ % blocks) * sectors_per_block, SEQUENTIAL_BLOCK);
    notify();
    for (uint64_t done = 0; done < total; ++done) {
        uint32_t slot = reap();
        if (submitted < total) {
            submit(slot, (submitted++ % blocks) * sectors_per_block, SEQUENTIAL_BLOCK);
            notify();
        }
    }
    print("blk-driver: sequential-end bytes=");
    print_number(total * SEQUENTIAL_BLOCK);
    print("\n");

    uint64_t const random_blocks = capacity_sectors / (RANDOM_BLOCK / 512);
    print("blk-driver: random-begin\n");
    submitted = 0;
    for (uint32_t slot = 0; slot < IN_FLIGHT; ++slot, ++submitted)
        submit(slot, (next_random() % random_blocks) * (RANDOM_BLOCK / 512), RANDOM_BLOCK);
    notify();
    for (uint64_t done = 0; done < RANDOM_REQUESTS; ++done) {
        uint32_t slot = reap();
        if (submitted < RANDOM_REQUESTS) {
            submit(slot, (next_random() % random_blocks) * (RANDOM_BLOCK / 512), RANDOM_BLOCK);
            ++submitted;
            notify();
        }
    }
    print("blk-driver: random-end requests=");
    print_number(RANDOM_REQUESTS);
    print("\n");

    print("blk-driver: single-begin\n");
    for (uint64_t done = 0; done < SINGLE_REQUESTS; ++done) {
        submit(0, (next_random() % random_blocks) * (RANDOM_BLOCK / 512), RANDOM_BLOCK);
        notify();
        reap();
    }
    print("blk-driver: single-end requests=");
    print_number(SINGLE_REQUESTS);
    print("\n");
    finish(0, 0);
}
