#include "network/Lease.h"

#include "common/Error.h"
#include "network/Conntrack.h"
#include "network/PublishedPorts.h"

#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <set>
#include <sstream>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm::network {

namespace {

std::string leases_directory()
{
    return fmt::format("{}/leases", state_directory);
}

std::string bridge_directory(std::string const& bridge)
{
    return fmt::format("{}/{}", leases_directory(), bridge);
}

void make_directories(std::string const& path)
{
    std::error_code error;
    std::filesystem::create_directories(path, error);
    if (error)
        throw Error(fmt::format("mkdir {}: {}", path, error.message()));
}

// What a lease file says about its holder.
struct LeaseRecord {
    pid_t pid { 0 };
    std::optional<MacAddress> mac; // Absent from an older vmm's: the address's default.
    std::vector<PortMapping> ports;
};

LeaseRecord parse_record(std::string const& text)
{
    LeaseRecord record;
    std::istringstream lines(text);
    std::string key;
    while (lines >> key) {
        if (key == "pid") {
            lines >> record.pid;
        } else if (key == "mac") {
            std::string mac;
            lines >> mac;
            try {
                record.mac = MacAddress::parse(mac, "lease");
            } catch (Error const&) {
            }
        } else if (key == "publish") {
            std::string mapping;
            lines >> mapping;
            try {
                record.ports.push_back(PortMapping::parse(mapping));
            } catch (Error const&) {
                // A record vmm did not write; its other lines still count.
            }
        } else {
            std::string ignored;
            std::getline(lines, ignored);
        }
    }
    return record;
}

enum class Holder {
    Alive, // Its lock is held: the instance runs.
    Gone,  // Nobody holds it: the instance died without releasing it.
    Missing,
};

// Opens lease file `path` and tells whether its holder lives; with Gone,
// `fd` holds a shared lock, so that no instance can take the lease while
// the caller removes the file. The holder's lock is exclusive and a
// probe's is shared: two vmm probing a dead instance's lease at once (one
// sweeping, one looking for a free address) do not take each other for
// its holder, which left the lease and its rules to a later run.
Holder probe(std::string const& path, FileDescriptor& fd)
{
    fd = FileDescriptor(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (!fd.is_valid()) {
        if (errno == ENOENT)
            return Holder::Missing;
        throw_system_error("open", path);
    }
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0)
        return Holder::Gone;
    if (errno == EWOULDBLOCK)
        return Holder::Alive;
    throw_system_error("flock", path);
}

LeaseRecord read_record(int fd)
{
    std::string text;
    char buffer[512];
    ssize_t length;
    off_t offset = 0;
    while ((length = ::pread(fd, buffer, sizeof(buffer), offset)) > 0) {
        text.append(buffer, static_cast<size_t>(length));
        offset += length;
    }
    return parse_record(text);
}

// Every live lease of every bridge with its record, for the checks that
// are host-wide (published ports) or per bridge (addresses).
struct LiveLease {
    std::string bridge;
    std::string address;
    LeaseRecord record;
};

std::vector<LiveLease> live_lease_records()
{
    std::vector<LiveLease> leases;
    std::error_code error;
    for (auto const& bridge : std::filesystem::directory_iterator(leases_directory(), error)) {
        std::error_code inner_error;
        for (auto const& entry : std::filesystem::directory_iterator(bridge.path(), inner_error)) {
            FileDescriptor fd;
            if (probe(entry.path().string(), fd) == Holder::Alive)
                leases.push_back({ bridge.path().filename().string(), entry.path().filename().string(), read_record(fd.get()) });
        }
    }
    return leases;
}

void write_record(int fd, std::string const& path, std::string const& text)
{
    if (::ftruncate(fd, 0) < 0)
        throw_system_error("ftruncate", path);
    if (!write_all(fd, text.data(), text.size()))
        throw_system_error("write", path);
}

}

namespace {
thread_local unsigned network_lock_depth = 0;
}

NetworkLock::NetworkLock()
{
    if (network_lock_depth++ > 0)
        return;
    struct Undo {
        bool armed { true };
        ~Undo()
        {
            if (armed)
                --network_lock_depth;
        }
    } undo;
    make_directories(state_directory);
    auto const path = fmt::format("{}/lock", state_directory);
    m_fd = FileDescriptor::open(path, O_RDWR | O_CREAT, 0600);
    while (::flock(m_fd.get(), LOCK_EX) < 0) {
        if (errno != EINTR)
            throw_system_error("flock", path);
    }
    undo.armed = false;
}

NetworkLock::~NetworkLock()
{
    --network_lock_depth;
}

std::string rule_tag_for(std::string const& bridge, Ipv4Address address)
{
    return fmt::format("vmm:{}:{}", bridge, address.to_string());
}

std::string host_interface_name_for(Ipv4Address address)
{
    return fmt::format("vmm{:08x}", address.value);
}

Lease::Lease(std::string bridge, Ipv4Address address, MacAddress mac, std::string path, FileDescriptor fd)
    : m_bridge(std::move(bridge))
    , m_address(address)
    , m_mac(mac)
    , m_path(std::move(path))
    , m_fd(std::move(fd))
{
}

Lease::~Lease()
{
    if (!m_fd.is_valid())
        return;
    try {
        NetworkLock lock;
        release();
    } catch (Error const&) {
        release(); // Unserialised, but still not left behind.
    }
}

std::string Lease::host_interface_name() const
{
    return host_interface_name_for(m_address);
}

std::string Lease::rule_tag() const
{
    return rule_tag_for(m_bridge, m_address);
}

void Lease::release()
{
    if (!m_fd.is_valid())
        return;
    ::unlink(m_path.c_str());
    m_fd.reset();
    // The bridge's folder goes with its last lease (it fails while others remain).
    ::rmdir(bridge_directory(m_bridge).c_str());
}

Lease Lease::acquire(BridgeInfo const& bridge, InstanceKind kind, std::optional<Ipv4Address> fixed, std::optional<MacAddress> fixed_mac,
    std::vector<PortMapping> const& ports)
{
    auto const directory = bridge_directory(bridge.name);
    make_directories(directory);
    std::set<std::string> taken;
    // Two interfaces with one MAC on a bridge take turns in its forwarding
    // table, and each loses frames: a MAC in use is refused like an address.
    std::map<MacAddress, pid_t> taken_macs;
    if (bridge.mac)
        taken_macs.emplace(*bridge.mac, 0);
    for (auto const& lease : live_lease_records()) {
        for (auto const& mapping : ports) {
            for (auto const& other : lease.record.ports) {
                if (other.host_port == mapping.host_port && other.protocol == mapping.protocol)
                    throw Error(fmt::format("-p {}: host port {}/{} is already published by vmm (PID {})", mapping.to_string(), mapping.host_port,
                        mapping.protocol_name(), lease.record.pid));
            }
        }
        if (lease.bridge != bridge.name)
            continue;
        taken.insert(lease.address);
        if (auto const address = Ipv4Address::try_parse(lease.address))
            taken_macs.emplace(lease.record.mac.value_or(MacAddress::for_address(*address)), lease.record.pid);
    }
    auto const mac_in_use = [&](MacAddress mac) -> std::optional<std::string> {
        auto const found = taken_macs.find(mac);
        if (found == taken_macs.end())
            return std::nullopt;
        return found->second == 0 ? fmt::format("is {}'s own", bridge.name) : fmt::format("is in use by PID {}", found->second);
    };

    auto const& subnet = bridge.subnet;
    std::optional<Ipv4Address> chosen;
    if (fixed) {
        if (!subnet.contains(*fixed))
            throw Error(fmt::format("--ip {} is not in {}'s subnet {}", fixed->to_string(), bridge.name, subnet.to_string()));
        if (!subnet.can_lease(*fixed))
            throw Error(fmt::format("--ip {} is the network, gateway or broadcast address of {}", fixed->to_string(), subnet.to_string()));
        chosen = fixed;
    } else {
        for (auto address = subnet.first_lease(); address <= subnet.last_lease(); address.value++) {
            if (!taken.contains(address.to_string()) && (fixed_mac || !mac_in_use(MacAddress::for_address(address)))) {
                chosen = address;
                break;
            }
        }
        if (!chosen)
            throw Error(fmt::format("subnet {} of {} is exhausted: all {} addresses are leased", subnet.to_string(), bridge.name,
                subnet.last_lease().value - subnet.first_lease().value + 1));
    }
    auto const mac = fixed_mac.value_or(MacAddress::for_address(*chosen));
    // A taken address is refused below, naming its holder, before its MAC.
    if (auto const use = taken.contains(chosen->to_string()) ? std::nullopt : mac_in_use(mac)) {
        if (fixed_mac)
            throw Error(fmt::format("--mac {} {}", mac.to_string(), *use));
        throw Error(fmt::format("--ip {}: its MAC {} {} (give another with --mac)", chosen->to_string(), mac.to_string(), *use));
    }

    auto const path = fmt::format("{}/{}", directory, chosen->to_string());
    FileDescriptor fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.is_valid())
        throw_system_error("open", path);
    // A dead instance's file may be probed at this moment by another vmm
    // (a shared lock for microseconds): only a lock held for longer is a
    // live instance's.
    int attempts = 0;
    while (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK)
            throw_system_error("flock", path);
        if (++attempts == 50)
            throw Error(fmt::format("--ip {} is in use by PID {}", chosen->to_string(), read_record(fd.get()).pid));
        ::usleep(1000);
    }
    Lease lease(bridge.name, *chosen, mac, path, std::move(fd));
    std::string record = fmt::format("pid {}\nkind {}\ninterface {}\nmac {}\n", ::getpid(), kind == InstanceKind::Container ? "container" : "vm",
        lease.host_interface_name(), mac.to_string());
    for (auto const& mapping : ports)
        record += fmt::format("publish {}\n", mapping.to_string());
    try {
        write_record(lease.m_fd.get(), path, record);
    } catch (...) {
        lease.release();
        throw;
    }
    return lease;
}

void sweep_stale_leases_if_any()
{
    bool stale = false;
    std::error_code error;
    for (auto const& bridge : std::filesystem::directory_iterator(leases_directory(), error)) {
        std::error_code inner_error;
        for (auto const& entry : std::filesystem::directory_iterator(bridge.path(), inner_error)) {
            FileDescriptor fd;
            stale = stale || probe(entry.path().string(), fd) == Holder::Gone;
        }
    }
    if (stale) {
        NetworkLock lock;
        sweep_stale_leases();
    }
}

std::vector<Ipv4Address> live_leases(std::string const& bridge)
{
    std::vector<Ipv4Address> addresses;
    for (auto const& lease : live_lease_records()) {
        if (lease.bridge == bridge)
            addresses.push_back(Ipv4Address::parse(lease.address, "lease"));
    }
    return addresses;
}

void sweep_stale_leases()
{
    std::error_code error;
    for (auto const& bridge : std::filesystem::directory_iterator(leases_directory(), error)) {
        std::error_code inner_error;
        for (auto const& entry : std::filesystem::directory_iterator(bridge.path(), inner_error)) {
            FileDescriptor fd;
            auto const path = entry.path().string();
            if (probe(path, fd) != Holder::Gone)
                continue;
            auto const bridge_name = bridge.path().filename().string();
            Ipv4Address address;
            try {
                address = Ipv4Address::parse(entry.path().filename().string(), "lease");
            } catch (Error const&) {
                ::unlink(path.c_str());
                continue;
            }
            delete_instance_interface(host_interface_name_for(address));
            remove_tagged_rules(rule_tag_for(bridge_name, address));
            forget_connections_of(address);
            ::unlink(path.c_str());
        }
        ::rmdir(bridge.path().c_str()); // Only when it is empty.
    }
    // Rules whose lease file is gone (or not held) belong to nobody.
    for (auto const& tag : instance_rule_tags()) {
        auto const separator = tag.rfind(':');
        auto const path = fmt::format("{}/{}", bridge_directory(tag.substr(4, separator - 4)), tag.substr(separator + 1));
        FileDescriptor fd;
        if (probe(path, fd) != Holder::Alive)
            remove_tagged_rules(tag);
    }
    // A bridge whose last instance was killed keeps its NAT until here.
    for (auto const& bridge : bridges_with_nat()) {
        if (live_leases(bridge).empty())
            release_bridge(bridge);
    }
}

}
