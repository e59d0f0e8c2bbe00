#include "vmm/kvm/Statistics.h"

#include "common/Error.h"
#include "vmm/kvm/Kvm.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace vmm::kvm {

namespace {

// Reads `size` bytes at `offset`, all of them or an Error.
std::vector<uint8_t> read_exactly(int fd, uint64_t offset, size_t size, std::string const& subject)
{
    std::vector<uint8_t> bytes(size);
    size_t done = 0;
    while (done < size) {
        ssize_t const got = ::pread(fd, bytes.data() + done, size - done, static_cast<off_t>(offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            throw_system_error("pread", subject);
        if (got == 0)
            throw Error(fmt::format("{}: statistics end after {} of {} bytes", subject, done, size));
        done += static_cast<size_t>(got);
    }
    return bytes;
}

}

std::pair<std::vector<StatisticsFile::Counter>, uint64_t> StatisticsFile::parse(std::span<uint8_t const> bytes, std::string const& subject)
{
    kvm_stats_header header {};
    if (bytes.size() < sizeof(header))
        throw Error(fmt::format("{}: statistics header of {} bytes, not {}", subject, bytes.size(), sizeof(header)));
    std::memcpy(&header, bytes.data(), sizeof(header));
    uint64_t const descriptor_size = sizeof(kvm_stats_desc) + uint64_t(header.name_size);
    if (header.name_size == 0 || uint64_t(header.desc_offset) + descriptor_size * header.num_desc > bytes.size())
        throw Error(fmt::format("{}: {} statistics descriptors of {} bytes at {} are not within {} bytes", subject, header.num_desc,
            descriptor_size, header.desc_offset, bytes.size()));
    std::vector<Counter> counters;
    for (uint32_t index = 0; index < header.num_desc; ++index) {
        auto const* start = bytes.data() + header.desc_offset + index * descriptor_size;
        kvm_stats_desc descriptor {};
        std::memcpy(&descriptor, start, sizeof(descriptor));
        // Histograms and peaks say little in one line; instants (pages
        // mapped now) and cumulative counters do.
        uint32_t const type = descriptor.flags & KVM_STATS_TYPE_MASK;
        if ((type != KVM_STATS_TYPE_CUMULATIVE && type != KVM_STATS_TYPE_INSTANT) || descriptor.size != 1)
            continue;
        auto const* name = reinterpret_cast<char const*>(start + sizeof(kvm_stats_desc));
        counters.push_back({ std::string(name, strnlen(name, header.name_size)), descriptor.offset });
    }
    return { std::move(counters), header.data_offset };
}

std::optional<StatisticsFile> StatisticsFile::open(int fd, std::string const& subject)
{
    int const stats_fd = ::ioctl(fd, KVM_GET_STATS_FD, 0);
    if (stats_fd < 0) {
        spdlog::debug("{}: no KVM statistics (KVM_GET_STATS_FD: {})", subject, std::strerror(errno));
        return std::nullopt;
    }
    FileDescriptor file(stats_fd);
    kvm_stats_header header {};
    auto const header_bytes = read_exactly(file.get(), 0, sizeof(header), subject);
    std::memcpy(&header, header_bytes.data(), sizeof(header));
    // The header, the id and the descriptors come before the data block.
    auto const layout = read_exactly(file.get(), 0, header.data_offset, subject);
    auto [counters, data_offset] = parse(layout, subject);
    uint64_t data_size = 0;
    for (auto const& counter : counters)
        data_size = std::max<uint64_t>(data_size, counter.offset + sizeof(uint64_t));
    return StatisticsFile(std::move(file), subject, std::move(counters), data_offset, data_size);
}

std::vector<std::pair<std::string, uint64_t>> StatisticsFile::values() const
{
    auto const data = read_exactly(m_fd.get(), m_data_offset, m_data_size, m_subject);
    std::vector<std::pair<std::string, uint64_t>> values;
    for (auto const& counter : m_counters) {
        uint64_t value = 0;
        std::memcpy(&value, data.data() + counter.offset, sizeof(value));
        values.emplace_back(counter.name, value);
    }
    return values;
}

std::string describe_statistics(std::vector<std::pair<std::string, uint64_t>> const& values)
{
    std::string text;
    for (auto const& [name, value] : values) {
        if (value == 0)
            continue;
        text += fmt::format("{}{} {}", text.empty() ? "" : ", ", name, value);
    }
    return text.empty() ? "all zero" : text;
}

}
