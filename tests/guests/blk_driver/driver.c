/*
 * A virtio-blk driver that runs in guest user mode (CPL3), for
 * scripts/bench-blk: it sets up the first virtio-mmio device the way Linux's
 * virtio_mmio and virtio_blk do, then reads through the virtqueue with
 * requests kept in flight, polling the used ring. It prints a line when each
 * phase starts and ends; the host times the lines.
 *   Phase 1: sequential 128 KiB reads over the whole disk, several passes.
 *   Phase 2: random 4 KiB reads, 32 in flight.
 *   Phase 3: random 4 KiB reads, one at a time (latency).
 *   Phase 4: phase 3 again with an interrupt asked for each request.
 *   Phase 5, after a reset of the device: what one notification costs the
 * guest on this host, as three probes of a 4-byte MMIO write each: one KVM
 * takes in the host kernel (the IOAPIC's index register: the trap and
 * the instruction's emulation, nothing else), a QueueNotify through the
 * queue's ioeventfd (the same, plus waking the I/O thread, which finds the
 * device not running), and one that exits to vmm's vCPU thread (QueueSel:
 * the KVM_RUN round trip a device served on the vCPU thread would cost).
 * scripts/bench-blk prints them next to the time per request a figure needs.
 * With VIRTIO_BLK_F_MQ (vmm boot --cpus N gives N queues) it sets up every
 * queue (up to MAX_QUEUES) and runs phases 2 and 3 on all of them at once:
 * 32 in flight, or one, on each queue (as fio's numjobs=N), notifying each
 * queue with its own index; it prints "blk-driver: queues=N" first.
 * It notifies only when the device wants it (VIRTQ_USED_F_NO_NOTIFY clear:
 * a device that polls its queue sets it), as Linux's virtio_ring does.
 * It polls the used ring with interrupts off, so it sets
 * VRING_AVAIL_F_NO_INTERRUPT, as Linux does on a queue without a callback
 * (virtio_blk's poll queues); phase 4 clears it to show what an interrupt
 * per request costs the device (KVM keeps it pending: IF stays 0).
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
#define MAX_QUEUES 4u
#define FEATURE_MQ (1u << 12)

/* Guest memory the driver uses (identity mapped, below the 64 MiB a test VM has at least). */
#define RING_MEMORY 0x400000ul   /* 0x8000 per queue. */
#define BUFFER_MEMORY 0x800000ul /* Per queue, IN_FLIGHT buffers of 128 KiB: 4 MiB. */

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
#define AVAILABLE_NO_INTERRUPT 1u /* VRING_AVAIL_F_NO_INTERRUPT */

#define IOAPIC_INDEX 0xfec00000ul /* vmm::arch::ioapic_address: KVM's in-kernel IOAPIC (IOREGSEL). */
#define TRAPPED_PROBES 200000u
#define NOTIFY_PROBES 100000u
#define EXIT_PROBES 40000u

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

struct queue {
    struct descriptor *descriptors;
    volatile uint16_t *available;
    volatile uint16_t *used;
    struct request_header *headers;
    volatile uint8_t *statuses;
    uint64_t buffers;
    uint16_t next_available;
    uint16_t last_used;
};

static struct queue queues[MAX_QUEUES];
static uint32_t queue_count = 1;
static uint64_t capacity_sectors;

static void setup_queue(uint32_t index)
{
    struct queue *queue = &queues[index];
    uintptr_t const base = RING_MEMORY + 0x8000ul * index;
    queue->descriptors = (struct descriptor *)base;
    queue->available = (volatile uint16_t *)(base + 16 * QUEUE_SIZE);
    queue->used = (volatile uint16_t *)(base + 0x2000);
    queue->headers = (struct request_header *)(base + 0x4000);
    queue->statuses = (volatile uint8_t *)(base + 0x5000);
    queue->buffers = BUFFER_MEMORY + (uint64_t)index * IN_FLIGHT * SEQUENTIAL_BLOCK;
    queue->available[0] = AVAILABLE_NO_INTERRUPT;
    *mmio(VIRTIO_MMIO_QUEUE_SEL) = index;
    if (*mmio(VIRTIO_MMIO_QUEUE_NUM_MAX) < QUEUE_SIZE)
        finish(1, "queue too small");
    *mmio(VIRTIO_MMIO_QUEUE_NUM) = QUEUE_SIZE;
    *mmio(VIRTIO_MMIO_QUEUE_DESC_LOW) = (uint32_t)base;
    *mmio(VIRTIO_MMIO_QUEUE_DESC_HIGH) = 0;
    *mmio(VIRTIO_MMIO_QUEUE_AVAIL_LOW) = (uint32_t)(uintptr_t)queue->available;
    *mmio(VIRTIO_MMIO_QUEUE_AVAIL_HIGH) = 0;
    *mmio(VIRTIO_MMIO_QUEUE_USED_LOW) = (uint32_t)(uintptr_t)queue->used;
    *mmio(VIRTIO_MMIO_QUEUE_USED_HIGH) = 0;
    *mmio(VIRTIO_MMIO_QUEUE_READY) = 1;
}

static void setup_device(void)
{
    if (*mmio(VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC || *mmio(VIRTIO_MMIO_VERSION) != VIRTIO_MMIO_MODERN_VERSION || *mmio(VIRTIO_MMIO_DEVICE_ID) != 2)
        finish(1, "no modern virtio-blk device at 0xc0000000");
    *mmio(VIRTIO_MMIO_STATUS) = 0;
    *mmio(VIRTIO_MMIO_STATUS) = 1 | 2;          /* ACKNOWLEDGE | DRIVER */
    *mmio(VIRTIO_MMIO_DEVICE_FEATURES_SEL) = 0;
    uint32_t const multiqueue = *mmio(VIRTIO_MMIO_DEVICE_FEATURES) & FEATURE_MQ;
    *mmio(VIRTIO_MMIO_DRIVER_FEATURES_SEL) = 0; /* The low word of the features: VIRTIO_BLK_F_MQ if offered. */
    *mmio(VIRTIO_MMIO_DRIVER_FEATURES) = multiqueue;
    *mmio(VIRTIO_MMIO_DRIVER_FEATURES_SEL) = 1; /* The high word: VIRTIO_F_VERSION_1 (bit 32). */
    *mmio(VIRTIO_MMIO_DRIVER_FEATURES) = 1;
    *mmio(VIRTIO_MMIO_STATUS) = 1 | 2 | 8; /* FEATURES_OK */
    if (!(*mmio(VIRTIO_MMIO_STATUS) & 8))
        finish(1, "the device refused the features");
    if (multiqueue) {
        /* num_queues, a 16-bit field at offset 34 of the configuration. */
        queue_count = *mmio(VIRTIO_MMIO_CONFIG + 32) >> 16;
        if (queue_count == 0)
            finish(1, "VIRTIO_BLK_F_MQ with num_queues 0");
        if (queue_count > MAX_QUEUES)
            queue_count = MAX_QUEUES;
    }
    for (uint32_t index = 0; index < queue_count; ++index)
        setup_queue(index);
    *mmio(VIRTIO_MMIO_STATUS) = 1 | 2 | 8 | 4; /* DRIVER_OK */
    capacity_sectors = (uint64_t)*mmio(VIRTIO_MMIO_CONFIG) | (uint64_t)*mmio(VIRTIO_MMIO_CONFIG + 4) << 32;
    if (capacity_sectors < 2 * SEQUENTIAL_BLOCK / 512)
        finish(1, "disk too small");
}

/* Chain `slot` (0..IN_FLIGHT-1) of `queue` as a read of `length` bytes at `sector`. */
static void submit(struct queue *queue, uint32_t slot, uint64_t sector, uint32_t length)
{
    uint16_t head = (uint16_t)(slot * 3);
    queue->headers[slot].type = 0; /* VIRTIO_BLK_T_IN */
    queue->headers[slot].reserved = 0;
    queue->headers[slot].sector = sector;
    queue->descriptors[head] = (struct descriptor) { (uint64_t)(uintptr_t)&queue->headers[slot], sizeof(struct request_header), flag_next, (uint16_t)(head + 1) };
    queue->descriptors[head + 1] = (struct descriptor) { queue->buffers + (uint64_t)slot * SEQUENTIAL_BLOCK, length, flag_next | flag_write, (uint16_t)(head + 2) };
    queue->descriptors[head + 2] = (struct descriptor) { (uint64_t)(uintptr_t)&queue->statuses[slot], 1, flag_write, 0 };
    queue->available[2 + queue->next_available % QUEUE_SIZE] = head;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    queue->available[1] = ++queue->next_available;
}

static void notify(struct queue *queue)
{
    /* The index before the device's flag, as the device writes its flag before reading the index. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!(queue->used[0] & 1)) /* VIRTQ_USED_F_NO_NOTIFY */
        *mmio(VIRTIO_MMIO_QUEUE_NOTIFY) = (uint32_t)(queue - queues);
}

/* Takes one used element of `queue` if there is one: returns its slot, or -1. */
static int try_reap(struct queue *queue)
{
    if (*(volatile uint16_t *)&queue->used[1] == queue->last_used)
        return -1;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    volatile uint32_t *element = (volatile uint32_t *)((uintptr_t)queue->used + 4 + 8 * (queue->last_used % QUEUE_SIZE));
    uint32_t const slot = element[0] / 3;
    ++queue->last_used;
    if (queue->statuses[slot] != 0)
        finish(1, "request failed");
    return (int)slot;
}

/* Waits for one used element of `queue` and returns its slot. */
static uint32_t reap(struct queue *queue)
{
    int slot;
    while ((slot = try_reap(queue)) < 0)
        __asm__ volatile("pause");
    return (uint32_t)slot;
}

static uint64_t random_state = 0x2545f4914f6cdd1dull;
static uint64_t next_random(void)
{
    random_state ^= random_state << 13;
    random_state ^= random_state >> 7;
    random_state ^= random_state << 17;
    return random_state;
}

/* Random 4 KiB reads with `depth` in flight on every queue until `count` have completed in all. */
static void random_reads(uint64_t count, uint32_t depth)
{
    uint64_t const random_blocks = capacity_sectors / (RANDOM_BLOCK / 512);
    uint64_t submitted = 0;
    uint64_t done = 0;
    for (uint32_t index = 0; index < queue_count; ++index) {
        for (uint32_t slot = 0; slot < depth && submitted < count; ++slot, ++submitted)
            submit(&queues[index], slot, (next_random() % random_blocks) * (RANDOM_BLOCK / 512), RANDOM_BLOCK);
        notify(&queues[index]);
    }
    while (done < count) {
        for (uint32_t index = 0; index < queue_count; ++index) {
            struct queue *queue = &queues[index];
            int slot;
            int reaped = 0;
            while ((slot = try_reap(queue)) >= 0) {
                ++done;
                ++reaped;
                if (submitted < count) {
                    submit(queue, (uint32_t)slot, (next_random() % random_blocks) * (RANDOM_BLOCK / 512), RANDOM_BLOCK);
                    ++submitted;
                }
            }
            if (reaped)
                notify(queue);
        }
        __asm__ volatile("pause");
    }
}

/* Phase 5: `count` writes of 0 to `address`, timed by the host from the lines around them. */
static void probe(const char *name, volatile uint32_t *address, uint32_t count)
{
    print("blk-driver: ");
    print(name);
    print("-begin\n");
    for (uint32_t index = 0; index < count; ++index)
        *address = 0;
    print("blk-driver: ");
    print(name);
    print("-end exits=");
    print_number(count);
    print("\n");
}

void driver_main(void)
{
    setup_device();
    print("blk-driver: queues=");
    print_number(queue_count);
    print("\n");
    struct queue *first = &queues[0];
    uint64_t const sectors_per_block = SEQUENTIAL_BLOCK / 512;
    uint64_t const blocks = capacity_sectors / sectors_per_block;
    uint64_t const total = SEQUENTIAL_BYTES / SEQUENTIAL_BLOCK;

    /* Sequential reads go through queue 0 alone. */
    print("blk-driver: sequential-begin\n");
    uint64_t submitted = 0;
    for (uint32_t slot = 0; slot < IN_FLIGHT; ++slot)
        submit(first, slot, (submitted++ % blocks) * sectors_per_block, SEQUENTIAL_BLOCK);
    notify(first);
    for (uint64_t done = 0; done < total; ++done) {
        uint32_t slot = reap(first);
        if (submitted < total) {
            submit(first, slot, (submitted++ % blocks) * sectors_per_block, SEQUENTIAL_BLOCK);
            notify(first);
        }
    }
    print("blk-driver: sequential-end bytes=");
    print_number(total * SEQUENTIAL_BLOCK);
    print("\n");

    print("blk-driver: random-begin\n");
    random_reads(RANDOM_REQUESTS, IN_FLIGHT);
    print("blk-driver: random-end requests=");
    print_number(RANDOM_REQUESTS);
    print("\n");

    print("blk-driver: single-begin\n");
    random_reads(SINGLE_REQUESTS, 1);
    print("blk-driver: single-end requests=");
    print_number(SINGLE_REQUESTS);
    print("\n");

    for (uint32_t index = 0; index < queue_count; ++index)
        queues[index].available[0] = 0;
    print("blk-driver: interrupting-begin\n");
    random_reads(SINGLE_REQUESTS, 1);
    print("blk-driver: interrupting-end requests=");
    print_number(SINGLE_REQUESTS);
    print("\n");

    /* Last, so that the phases above run as they always did; after a reset,
       so that the I/O thread the ioeventfd probe wakes finds no queue work. */
    *mmio(VIRTIO_MMIO_STATUS) = 0;
    probe("trapped", (volatile uint32_t *)IOAPIC_INDEX, TRAPPED_PROBES);
    probe("ioeventfd", mmio(VIRTIO_MMIO_QUEUE_NOTIFY), NOTIFY_PROBES);
    probe("userspace", mmio(VIRTIO_MMIO_QUEUE_SEL), EXIT_PROBES);
    finish(0, 0);
}
