#include "common/cgroup/DeviceRules.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"

#include <cstring>
#include <fmt/format.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace vmm {

namespace {

constexpr DeviceRule default_rules[] = {
    { DeviceType::Character, 1, 3 },                 // null
    { DeviceType::Character, 1, 5 },                 // zero
    { DeviceType::Character, 1, 7 },                 // full
    { DeviceType::Character, 1, 8 },                 // random
    { DeviceType::Character, 1, 9 },                 // urandom
    { DeviceType::Character, 5, 0 },                 // tty
    { DeviceType::Character, 5, 2 },                 // ptmx
    { DeviceType::Character, 136, any_device_number }, // pts/N of the container's devpts
};

std::string format_number(int64_t number)
{
    return number == any_device_number ? std::string("*") : fmt::format("{}", number);
}

bpf_insn instruction(uint8_t code, uint8_t destination, uint8_t source, int16_t offset, int32_t immediate)
{
    bpf_insn result {};
    result.code = code;
    result.dst_reg = destination & 0xf;
    result.src_reg = source & 0xf;
    result.off = offset;
    result.imm = immediate;
    return result;
}

// The registers the program keeps the request in (r1 holds the context).
constexpr uint8_t context_register = 1;
constexpr uint8_t type_register = 2;
constexpr uint8_t major_register = 4;
constexpr uint8_t minor_register = 5;
constexpr uint8_t access_register = 3;
constexpr uint8_t scratch_register = 6;
constexpr uint8_t move_register_code = BPF_ALU64 | BPF_MOV | BPF_X;

bpf_insn load_context_word(uint8_t destination, int16_t offset)
{
    return instruction(BPF_LDX | BPF_MEM | BPF_W, destination, context_register, offset, 0);
}

bpf_insn return_value(int32_t value)
{
    return instruction(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, value);
}

bpf_insn exit_program()
{
    return instruction(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

}

std::span<DeviceRule const> default_device_rules()
{
    return default_rules;
}

std::string format_device_rule(DeviceRule const& rule)
{
    std::string access;
    if (rule.access & DeviceRead)
        access += 'r';
    if (rule.access & DeviceWrite)
        access += 'w';
    if (rule.access & DeviceMknod)
        access += 'm';
    if (rule.type == DeviceType::All)
        return fmt::format("a *:* {}", access);
    return fmt::format("{} {}:{} {}", static_cast<char>(rule.type), format_number(rule.major), format_number(rule.minor), access);
}

std::optional<uint8_t> parse_device_access(std::string_view letters)
{
    uint8_t access = 0;
    for (char letter : letters) {
        switch (letter) {
        case 'r':
            access |= DeviceRead;
            break;
        case 'w':
            access |= DeviceWrite;
            break;
        case 'm':
            access |= DeviceMknod;
            break;
        default:
            return std::nullopt;
        }
    }
    return access;
}

std::vector<bpf_insn> device_filter_program(std::span<DeviceRule const> rules)
{
    std::vector<bpf_insn> program;
    // access_type is (access << 16) | type. The kernel's access bits are
    // mknod 1, read 2, write 4.
    program.push_back(load_context_word(type_register, offsetof(bpf_cgroup_dev_ctx, access_type)));
    program.push_back(instruction(move_register_code, access_register, type_register, 0, 0));
    program.push_back(instruction(BPF_ALU64 | BPF_AND | BPF_K, type_register, 0, 0, 0xffff));
    program.push_back(instruction(BPF_ALU64 | BPF_RSH | BPF_K, access_register, 0, 0, 16));
    program.push_back(load_context_word(major_register, offsetof(bpf_cgroup_dev_ctx, major)));
    program.push_back(load_context_word(minor_register, offsetof(bpf_cgroup_dev_ctx, minor)));

    // A later rule overrides an earlier one: the last matching rule decides,
    // so the program tries them from the last one back.
    for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
        auto const& rule = *it;
        uint32_t kernel_access = 0;
        if (rule.access & DeviceMknod)
            kernel_access |= BPF_DEVCG_ACC_MKNOD;
        if (rule.access & DeviceRead)
            kernel_access |= BPF_DEVCG_ACC_READ;
        if (rule.access & DeviceWrite)
            kernel_access |= BPF_DEVCG_ACC_WRITE;
        std::vector<bpf_insn> tests;
        // Each test jumps to the end of the rule (patched below) on a mismatch.
        if (rule.type != DeviceType::All) {
            tests.push_back(instruction(BPF_JMP | BPF_JNE | BPF_K, type_register, 0, 0, rule.type == DeviceType::Block ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR));
            if (rule.major != any_device_number)
                tests.push_back(instruction(BPF_JMP | BPF_JNE | BPF_K, major_register, 0, 0, static_cast<int32_t>(rule.major)));
            if (rule.minor != any_device_number)
                tests.push_back(instruction(BPF_JMP | BPF_JNE | BPF_K, minor_register, 0, 0, static_cast<int32_t>(rule.minor)));
        }
        if (rule.effect == DeviceRuleEffect::Allow) {
            // Allowed only if every access asked for is one the rule covers.
            tests.push_back(instruction(move_register_code, scratch_register, access_register, 0, 0));
            tests.push_back(instruction(BPF_ALU64 | BPF_AND | BPF_K, scratch_register, 0, 0, static_cast<int32_t>(~kernel_access & 7)));
            tests.push_back(instruction(BPF_JMP | BPF_JNE | BPF_K, scratch_register, 0, 0, 0));
        } else {
            // Denied if any access asked for is one the rule covers.
            tests.push_back(instruction(move_register_code, scratch_register, access_register, 0, 0));
            tests.push_back(instruction(BPF_ALU64 | BPF_AND | BPF_K, scratch_register, 0, 0, static_cast<int32_t>(kernel_access)));
            tests.push_back(instruction(BPF_JMP | BPF_JEQ | BPF_K, scratch_register, 0, 0, 0));
        }
        for (size_t index = 0; index < tests.size(); ++index) {
            if (BPF_CLASS(tests[index].code) == BPF_JMP)
                tests[index].off = static_cast<int16_t>(tests.size() - index - 1 + 2);
            program.push_back(tests[index]);
        }
        program.push_back(return_value(rule.effect == DeviceRuleEffect::Allow ? 1 : 0));
        program.push_back(exit_program());
    }
    program.push_back(return_value(0));
    program.push_back(exit_program());
    return program;
}

void attach_device_filter(int cgroup_fd, std::span<DeviceRule const> rules, std::string const& cgroup_path)
{
    auto program = device_filter_program(rules);
    static char const license[] = "GPL";
    char log[4096] {};

    bpf_attr load {};
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = reinterpret_cast<uint64_t>(program.data());
    load.insn_cnt = static_cast<uint32_t>(program.size());
    load.license = reinterpret_cast<uint64_t>(license);
    load.log_buf = reinterpret_cast<uint64_t>(log);
    load.log_size = sizeof(log);
    load.log_level = 1;
    FileDescriptor program_fd(static_cast<int>(::syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load))));
    if (!program_fd.is_valid()) {
        int saved_errno = errno;
        auto message = describe_system_error("bpf BPF_PROG_LOAD", "(cgroup device filter)", saved_errno);
        if (log[0] != '\0')
            message += fmt::format(" (verifier: {})", std::string(log, ::strnlen(log, sizeof(log))));
        throw Error(message);
    }

    bpf_attr attach {};
    attach.target_fd = static_cast<uint32_t>(cgroup_fd);
    attach.attach_bpf_fd = static_cast<uint32_t>(program_fd.get());
    attach.attach_type = BPF_CGROUP_DEVICE;
    if (::syscall(SYS_bpf, BPF_PROG_ATTACH, &attach, sizeof(attach)) < 0)
        throw_system_error("bpf BPF_PROG_ATTACH (device filter)", cgroup_path);
}

}
