// libFuzzer target: the virtio-mmio transport with what sits behind it
// (virtqueues, virtio-blk read-write and read-only, virtio-console, and
// virtio-net on a socket pair that stands in for its TAP), driven
// the way a guest can: register accesses of any width at any offset, writes
// anywhere in guest memory, and passes of the I/O thread. Whatever the guest
// does must neither crash, hang, nor touch memory outside guest RAM
// (AddressSanitizer watches the last).
//
// The input is a program (see tests/fuzz/make-seeds, which writes seeds in
// this format): a sequence of operations, each an opcode byte, a device byte
// (which memory and input ignore) and its operands, little-endian; a program
// that runs out of bytes reads zeros.
//   0 write:   offset u16, width u8 (1, 2, 4, 8), value u64
//   1 read:    offset u16, width u8
//   2 memory:  address u32, length u8, then length + 1 bytes to store there
//   3 process: a pass of the I/O thread over the device's queues
//   4 notify:  for each queue N of the device, QueueNotify N, then the I/O
//              thread's eventfd handler of queue N
//   5 set up:  queue u8, size_log2 u8, features u64, base u32: the driver's
//              whole initialisation of one queue, laid out compactly from
//              base (descriptors, available ring, used ring 4-byte aligned)
//   6 input:   length u8, then length + 1 bytes of host console input
//   7 frame:   length u16, then that many bytes that the network backend
//              gives virtio-net as one frame (its virtio header first)
// Devices: 0 virtio-blk read-write with two queues (VIRTIO_BLK_F_MQ), 1
// virtio-blk read-only with one, 2 virtio-console,
// 3 virtio-net (queue 0 receives, queue 1 transmits).
// Addresses are taken modulo the guest memory size: all of it is reachable.
#include "vmm/devices/ConsoleOutput.h"
#include "vmm/devices/virtio/BlockDevice.h"
#include "vmm/devices/virtio/ConsoleDevice.h"
#include "vmm/devices/virtio/MmioRegisters.h"
#include "vmm/devices/virtio/MmioTransport.h"
#include "vmm/devices/virtio/NetDevice.h"
#include "tests/virtio/NetTestSupport.h"
#include "tests/virtio/QueueDriver.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

using namespace vmm;
using namespace vmm::virtio;

namespace {

constexpr uint64_t memory_size = 1 << 20;
// Larger than one pass's budget, so that a transfer can span passes; sparse.
constexpr uint64_t image_size = 12 << 20;
constexpr size_t max_operations = 512;
constexpr size_t device_count = 4;

FileDescriptor make_image()
{
    FileDescriptor image(memfd_create("virtio-fuzz", MFD_CLOEXEC));
    if (!image.is_valid() || ftruncate(image.get(), image_size) != 0)
        abort();
    return image;
}

// What lives across inputs: the images and the console's output.
struct Environment {
    Environment()
    {
        // VMM_FUZZ_LOG=1 shows the devices' messages, to check what a seed reaches.
        spdlog::set_level(std::getenv("VMM_FUZZ_LOG") ? spdlog::level::debug : spdlog::level::off);
        FileDescriptor null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
        if (!null.is_valid())
            abort();
        output = std::make_shared<ConsoleOutput>(null.get());
        null_output = std::move(null);
    }
    FileDescriptor read_write_image { make_image() };
    FileDescriptor read_only_image { make_image() };
    FileDescriptor null_output;
    std::shared_ptr<ConsoleOutput> output;
};

// A fresh machine for every input, so that each run starts from the same state.
struct Machine {
    explicit Machine(Environment& environment)
    {
        auto interrupts = std::make_shared<std::atomic<int>>(0);
        auto blk = [&](FileDescriptor const& image, BlockAccess access, uint16_t queues) {
            FileDescriptor copy(::fcntl(image.get(), F_DUPFD_CLOEXEC, 0));
            if (!copy.is_valid())
                abort();
            auto device = std::make_shared<BlockDevice>(std::move(copy), image_size, access, "fuzz", "blk fuzz", queues);
            return std::make_unique<MmioTransport>(memory, device, std::make_unique<testing::CountingInterrupt>(interrupts));
        };
        transports[0] = blk(environment.read_write_image, BlockAccess::ReadWrite, 2);
        transports[1] = blk(environment.read_only_image, BlockAccess::ReadOnly, 1);
        console = std::make_shared<ConsoleDevice>(environment.output);
        transports[2] = std::make_unique<MmioTransport>(memory, console, std::make_unique<testing::CountingInterrupt>(interrupts));
        net = std::make_shared<NetDevice>(net_backend, MacAddress { 2, 0, 0, 0, 0, 1 }, 1500);
        transports[3] = std::make_unique<MmioTransport>(memory, net, std::make_unique<testing::CountingInterrupt>(interrupts));
    }

    GuestMemory memory { GuestMemory::create_flat(memory_size) };
    std::shared_ptr<ConsoleDevice> console;
    std::shared_ptr<testing::SocketPairBackend> net_backend { std::make_shared<testing::SocketPairBackend>() };
    std::shared_ptr<NetDevice> net;
    std::array<std::unique_ptr<MmioTransport>, device_count> transports;
};

class Program {
public:
    Program(uint8_t const* data, size_t size)
        : m_data(data)
        , m_size(size)
    {
    }
    bool at_end() const { return m_position >= m_size; }
    template<typename T>
    T next()
    {
        T value {};
        size_t const count = std::min(sizeof(T), m_size - std::min(m_size, m_position));
        std::memcpy(&value, m_data + m_position, count);
        m_position += sizeof(T);
        return value;
    }
    // Up to `length` bytes of the program, fewer at its end.
    std::span<uint8_t const> bytes(size_t length)
    {
        size_t const start = std::min(m_size, m_position);
        size_t const count = std::min(length, m_size - start);
        m_position += length;
        return { m_data + start, count };
    }

private:
    uint8_t const* m_data;
    size_t m_size;
    size_t m_position { 0 };
};

void set_up_queue_from(MmioTransport& transport, Program& program)
{
    uint32_t const queue = program.next<uint8_t>() % 3;
    uint16_t const size = static_cast<uint16_t>(1u << (program.next<uint8_t>() % 10));
    uint64_t const features = program.next<uint64_t>();
    uint64_t const base = program.next<uint32_t>() % memory_size;
    uint64_t const available = base + 16ull * size;
    uint64_t const used = (available + 6 + 2ull * size + 3) & ~3ull;
    testing::negotiate(transport, features);
    testing::set_up_queue(transport, queue, size, base, available, used);
    testing::set_driver_ok(transport);
}

void run(Machine& machine, Program& program)
{
    for (size_t count = 0; count < max_operations && !program.at_end(); ++count) {
        uint8_t const opcode = program.next<uint8_t>() % 8;
        auto& transport = *machine.transports[program.next<uint8_t>() % device_count];
        switch (opcode) {
        case 0:
        case 1: {
            uint64_t const offset = program.next<uint16_t>() % 0x200;
            size_t const width = size_t(1) << (program.next<uint8_t>() % 4);
            std::array<uint8_t, 8> value {};
            if (opcode == 0) {
                auto const bytes = program.bytes(8);
                std::memcpy(value.data(), bytes.data(), bytes.size());
                transport.write(offset, { value.data(), width });
            } else {
                transport.read(offset, { value.data(), width });
            }
            break;
        }
        case 2: {
            uint64_t const address = program.next<uint32_t>() % memory_size;
            size_t const length = program.next<uint8_t>() + 1u;
            auto const bytes = program.bytes(length);
            auto const room = std::min<uint64_t>(bytes.size(), memory_size - address);
            machine.memory.write_bytes(address, bytes.first(room));
            break;
        }
        case 3:
            transport.process_queues();
            break;
        case 4:
            for (uint16_t queue = 0; queue < transport.queue_count(); ++queue) {
                testing::write_register(transport, VIRTIO_MMIO_QUEUE_NOTIFY, queue);
                transport.handle_notify_event(queue);
            }
            break;
        case 5:
            set_up_queue_from(transport, program);
            break;
        case 6: {
            size_t const length = program.next<uint8_t>() + 1u;
            machine.console->queue_input(program.bytes(length));
            machine.transports[2]->kick();
            break;
        }
        case 7: {
            size_t const length = program.next<uint16_t>();
            machine.net_backend->send_raw(program.bytes(length));
            machine.net->note_backend_readable();
            machine.transports[3]->process_queues();
            break;
        }
        }
    }
    // What the program left available is served, as the I/O thread would.
    for (auto& transport : machine.transports)
        transport->process_queues();
}

}

extern "C" int LLVMFuzzerTestOneInput(uint8_t const* data, size_t size)
{
    static Environment environment;
    Machine machine(environment);
    Program program(data, size);
    run(machine, program);
    return 0;
}
