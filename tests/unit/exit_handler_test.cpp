// The exit dispatch fed made-up kvm_run exits, as KVM would fill them in:
// no /dev/kvm needed.
#include "vmm/machine/ExitHandler.h"

#include <array>
#include <cstring>
#include <gtest/gtest.h>

using namespace vmm;

namespace {

// Records every access and answers reads with a fixed byte.
class Recorder final : public Device {
public:
    struct Access {
        uint64_t offset;
        std::vector<uint8_t> data;
    };

    std::string name() const override { return "recorder"; }
    void read(uint64_t offset, std::span<uint8_t> data) override
    {
        m_reads.push_back({ offset, {} });
        std::memset(data.data(), 0x5a, data.size());
    }
    void write(uint64_t offset, std::span<uint8_t const> data) override { m_writes.push_back({ offset, { data.begin(), data.end() } }); }

    std::vector<Access> m_reads;
    std::vector<Access> m_writes;
};

constexpr uint64_t recorder_port = 0x3f8;
constexpr uint64_t recorder_mmio = 0xd000'0000;
constexpr uint64_t guest_rip = 0x1234'5678;

// One vCPU's kvm_run page, with room after the structure for the data of
// PIO exits, where KVM puts it.
class ExitHandlerTest : public ::testing::Test {
protected:
    ExitHandlerTest()
    {
        m_io_bus.add(recorder_port, 8, m_recorder);
        m_mmio_bus.add(recorder_mmio, 0x1000, m_recorder);
    }

    kvm_run& run() { return *reinterpret_cast<kvm_run*>(m_page.data()); }
    uint8_t* io_data() { return m_page.data() + sizeof(kvm_run); }

    void make_io_exit(uint8_t direction, uint16_t port, uint8_t size, uint32_t count)
    {
        run().exit_reason = KVM_EXIT_IO;
        run().io.direction = direction;
        run().io.port = port;
        run().io.size = size;
        run().io.count = count;
        run().io.data_offset = sizeof(kvm_run);
    }

    void make_emulation_failure(std::initializer_list<uint8_t> bytes)
    {
        run().exit_reason = KVM_EXIT_INTERNAL_ERROR;
        auto& failure = run().emulation_failure;
        failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
        failure.ndata = 4;
        failure.flags = KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES;
        failure.insn_size = static_cast<uint8_t>(bytes.size());
        std::copy(bytes.begin(), bytes.end(), failure.insn_bytes);
    }

    ExitAction dispatch(HostKind host = HostKind::HardwareVirtualization)
    {
        ExitContext const context {
            .vcpu_index = 2,
            .host_kind = host,
            .io_bus = m_io_bus,
            .mmio_bus = m_mmio_bus,
            .guest_log = m_log,
            .read_rip = [this] {
                ++m_rip_reads;
                return guest_rip;
            },
        };
        return handle_exit(run(), context);
    }

    static exit_action::Stop expect_stop(ExitAction const& action)
    {
        auto const* stop = std::get_if<exit_action::Stop>(&action);
        if (!stop) {
            ADD_FAILURE() << "expected a Stop action, got alternative " << action.index();
            return { StopReason::Running, -1, {} };
        }
        return *stop;
    }

    static InstructionCompletion expect_completion(ExitAction const& action)
    {
        auto const* complete = std::get_if<exit_action::CompleteInstruction>(&action);
        if (!complete) {
            ADD_FAILURE() << "expected a CompleteInstruction action, got alternative " << action.index();
            return {};
        }
        return complete->completion;
    }

    alignas(kvm_run) std::array<uint8_t, 4096> m_page {};
    Bus m_io_bus;
    Bus m_mmio_bus;
    RateLimitedLog m_log;
    std::shared_ptr<Recorder> m_recorder { std::make_shared<Recorder>() };
    int m_rip_reads { 0 };
};

}

TEST_F(ExitHandlerTest, PioOutWritesEveryRepeatedAccessToTheBus)
{
    make_io_exit(KVM_EXIT_IO_OUT, recorder_port + 1, 2, 2);
    uint8_t const bytes[] = { 0x11, 0x22, 0x33, 0x44 };
    std::memcpy(io_data(), bytes, sizeof(bytes));
    EXPECT_TRUE(std::holds_alternative<exit_action::Resume>(dispatch()));
    ASSERT_EQ(m_recorder->m_writes.size(), 2u);
    EXPECT_EQ(m_recorder->m_writes[0].offset, 1u);
    EXPECT_EQ(m_recorder->m_writes[0].data, (std::vector<uint8_t> { 0x11, 0x22 }));
    EXPECT_EQ(m_recorder->m_writes[1].data, (std::vector<uint8_t> { 0x33, 0x44 }));
    EXPECT_EQ(m_rip_reads, 0) << "a PIO exit must not cost a KVM_GET_REGS";
}

TEST_F(ExitHandlerTest, PioInLeavesTheDataInTheRunPage)
{
    make_io_exit(KVM_EXIT_IO_IN, recorder_port, 1, 3);
    EXPECT_TRUE(std::holds_alternative<exit_action::Resume>(dispatch()));
    EXPECT_EQ(m_recorder->m_reads.size(), 3u);
    EXPECT_EQ(io_data()[0], 0x5a);
    EXPECT_EQ(io_data()[2], 0x5a);
    EXPECT_EQ(io_data()[3], 0x00) << "only count * size bytes are the guest's";
}

TEST_F(ExitHandlerTest, UnclaimedPortReadsAllOnesAndResumes)
{
    make_io_exit(KVM_EXIT_IO_IN, 0x80, 4, 1);
    EXPECT_TRUE(std::holds_alternative<exit_action::Resume>(dispatch()));
    EXPECT_EQ(std::vector<uint8_t>(io_data(), io_data() + 4), (std::vector<uint8_t> { 0xff, 0xff, 0xff, 0xff }));
    EXPECT_TRUE(m_recorder->m_reads.empty());
}

TEST_F(ExitHandlerTest, MmioWriteAndReadGoToTheBus)
{
    run().exit_reason = KVM_EXIT_MMIO;
    run().mmio.phys_addr = recorder_mmio + 0x70;
    run().mmio.len = 4;
    run().mmio.is_write = 1;
    uint8_t const bytes[] = { 1, 2, 3, 4 };
    std::memcpy(run().mmio.data, bytes, sizeof(bytes));
    EXPECT_TRUE(std::holds_alternative<exit_action::Resume>(dispatch()));
    ASSERT_EQ(m_recorder->m_writes.size(), 1u);
    EXPECT_EQ(m_recorder->m_writes[0].offset, 0x70u);
    EXPECT_EQ(m_recorder->m_writes[0].data, (std::vector<uint8_t> { 1, 2, 3, 4 }));

    run().mmio.is_write = 0;
    run().mmio.len = 2;
    std::memset(run().mmio.data, 0, sizeof(run().mmio.data));
    EXPECT_TRUE(std::holds_alternative<exit_action::Resume>(dispatch()));
    ASSERT_EQ(m_recorder->m_reads.size(), 1u);
    EXPECT_EQ(run().mmio.data[0], 0x5a);
    EXPECT_EQ(run().mmio.data[1], 0x5a);
    EXPECT_EQ(run().mmio.data[2], 0x00) << "a 2-byte read fills 2 bytes";
}

TEST_F(ExitHandlerTest, MmioLengthBeyondTheDataFieldIsClamped)
{
    run().exit_reason = KVM_EXIT_MMIO;
    run().mmio.phys_addr = recorder_mmio;
    run().mmio.len = 64;
    run().mmio.is_write = 1;
    EXPECT_TRUE(std::holds_alternative<exit_action::Resume>(dispatch()));
    ASSERT_EQ(m_recorder->m_writes.size(), 1u);
    EXPECT_EQ(m_recorder->m_writes[0].data.size(), sizeof(run().mmio.data));
}

TEST_F(ExitHandlerTest, UnclaimedMmioReadsAllOnes)
{
    run().exit_reason = KVM_EXIT_MMIO;
    run().mmio.phys_addr = 0xfee0'0000;
    run().mmio.len = 1;
    run().mmio.is_write = 0;
    EXPECT_TRUE(std::holds_alternative<exit_action::Resume>(dispatch()));
    EXPECT_EQ(run().mmio.data[0], 0xff);
}

TEST_F(ExitHandlerTest, HaltStopsWithAFailureNamingTheVcpu)
{
    run().exit_reason = KVM_EXIT_HLT;
    auto const stop = expect_stop(dispatch());
    EXPECT_EQ(stop.reason, StopReason::Failure);
    EXPECT_EQ(stop.exit_status, 1);
    EXPECT_EQ(stop.message, "vCPU 2: halted with interrupts that can never arrive");
}

TEST_F(ExitHandlerTest, ShutdownIsATripleFaultAndSystemEventAReset)
{
    run().exit_reason = KVM_EXIT_SHUTDOWN;
    auto const shutdown = expect_stop(dispatch());
    EXPECT_EQ(shutdown.reason, StopReason::TripleFault);
    EXPECT_EQ(shutdown.exit_status, 1);

    run().exit_reason = KVM_EXIT_SYSTEM_EVENT;
    auto const reset = expect_stop(dispatch());
    EXPECT_EQ(reset.reason, StopReason::GuestReset);
    EXPECT_EQ(reset.exit_status, 0);
}

TEST_F(ExitHandlerTest, InterruptedRunsResume)
{
    for (uint32_t reason : { KVM_EXIT_INTR, KVM_EXIT_IRQ_WINDOW_OPEN }) {
        run().exit_reason = reason;
        EXPECT_TRUE(std::holds_alternative<exit_action::Resume>(dispatch())) << "exit reason " << reason;
    }
}

TEST_F(ExitHandlerTest, FailedEntryNamesTheHardwareReason)
{
    run().exit_reason = KVM_EXIT_FAIL_ENTRY;
    run().fail_entry.hardware_entry_failure_reason = 0x21;
    auto const stop = expect_stop(dispatch());
    EXPECT_EQ(stop.reason, StopReason::Failure);
    EXPECT_EQ(stop.message, "vCPU 2: KVM could not enter the guest (hardware reason 0x21)");
}

TEST_F(ExitHandlerTest, UnknownExitReasonStops)
{
    run().exit_reason = 4242;
    auto const stop = expect_stop(dispatch());
    EXPECT_EQ(stop.reason, StopReason::Failure);
    EXPECT_EQ(stop.message, "vCPU 2: unexpected KVM exit reason 4242");
}

TEST_F(ExitHandlerTest, Int3OnAPvmHostBecomesABreakpointAfterTheInstruction)
{
    make_emulation_failure({ 0xcc });
    auto const completion = expect_completion(dispatch(HostKind::Pvm));
    EXPECT_EQ(completion.length, 1);
    EXPECT_EQ(completion.exception_vector, std::optional<uint8_t>(3)) << "#BP";
}

TEST_F(ExitHandlerTest, FwaitOnAPvmHostIsSteppedOver)
{
    make_emulation_failure({ 0x9b });
    auto const completion = expect_completion(dispatch(HostKind::Pvm));
    EXPECT_EQ(completion.length, 1);
    EXPECT_FALSE(completion.exception_vector.has_value());
}

TEST_F(ExitHandlerTest, Int3IsCompletedOnlyOnAPvmHost)
{
    make_emulation_failure({ 0xcc });
    auto const stop = expect_stop(dispatch(HostKind::HardwareVirtualization));
    EXPECT_EQ(stop.reason, StopReason::Failure);
    EXPECT_EQ(stop.message, "vCPU 2: KVM cannot emulate the instruction at RIP 0x12345678 (bytes: cc)");
    EXPECT_EQ(m_rip_reads, 1);
}

TEST_F(ExitHandlerTest, UnemulatedInstructionStopsWithItsBytesAndThePvmNote)
{
    make_emulation_failure({ 0x0f, 0xae, 0x2f }); // xrstor (%rdi)
    auto const stop = expect_stop(dispatch(HostKind::Pvm));
    EXPECT_EQ(stop.reason, StopReason::Failure);
    EXPECT_EQ(stop.exit_status, 1);
    EXPECT_EQ(stop.message, "vCPU 2: KVM cannot emulate the instruction at RIP 0x12345678 (bytes: 0f ae 2f) "
                            "[PVM host: guest code at CPL0 is emulated]");
}

TEST_F(ExitHandlerTest, EmulationFailureWithoutInstructionBytesSaysSo)
{
    make_emulation_failure({ 0xcc });
    run().emulation_failure.flags = 0;
    auto const stop = expect_stop(dispatch(HostKind::Pvm));
    EXPECT_EQ(stop.message, "vCPU 2: KVM cannot emulate the instruction at RIP 0x12345678 (bytes: unknown) "
                            "[PVM host: guest code at CPL0 is emulated]")
        << "without the bytes, nothing is completed";
}

TEST_F(ExitHandlerTest, OtherInternalErrorsNameTheSuberror)
{
    run().exit_reason = KVM_EXIT_INTERNAL_ERROR;
    run().internal.suberror = KVM_INTERNAL_ERROR_SIMUL_EX;
    auto const stop = expect_stop(dispatch());
    EXPECT_EQ(stop.reason, StopReason::Failure);
    EXPECT_EQ(stop.message, "vCPU 2: KVM internal error, suberror 2 at RIP 0x12345678");
}
