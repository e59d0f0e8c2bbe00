// vmm boot --net bridge end to end, on the nested SVM host (scripts/nested-kvm
// --network, which loads tun, vhost_net, bridge, veth and nf_tables in L1):
// tests/nested/vm_network_l1.sh runs there and prints "check ..." lines.
// One L1 boot covers vhost-net and the user-space path: TCP echo VM -> L1
// and L1 -> VM, a published port, VM <-> container on the same bridge, no
// TAP or lease left after each VM, and the sweep after a SIGKILL.
#include "tests/support/NestedHost.h"

#include <filesystem>
#include <gtest/gtest.h>
#include <regex>

using vmm::testing::guest_build_is_complete;
using vmm::testing::nested_unavailable_status;
using vmm::testing::run_nested;
using vmm::testing::run_process;

namespace {

// The text after "check NAME: " (or "check NAME "), or "(missing)".
std::string check(std::string const& output, std::string const& name)
{
    for (auto const& prefix : { "check " + name + ": ", "check " + name + " " }) {
        auto const position = output.find(prefix);
        if (position == std::string::npos)
            continue;
        auto const start = position + prefix.size();
        return output.substr(start, output.find('\n', start) - start);
    }
    return "(missing)";
}

bool is_round_trip(std::string const& text)
{
    return std::regex_search(text, std::regex("workload-result rr_median_us=[0-9.]+ rr_p99_us=[0-9.]+ rr_count=200"));
}

}

TEST(NestedVmNetwork, TcpBothWaysPublishedPortAndContainerOnTheSameBridgeWithVhostAndUserSpace)
{
    ASSERT_TRUE(guest_build_is_complete());
    auto const tar = std::filesystem::temp_directory_path() / ("vmm-vm-network-rootfs-" + std::to_string(getpid()) + ".tar");
    auto const packed = run_process({ "tar", "-cf", tar.string(), "-C", VMM_BUILD_DIR "/guest/rootfs", "." });
    ASSERT_EQ(packed.exit_status, 0) << packed.output;
    auto const result = run_nested({ .options = { "--network", "--file", VMM_SOURCE_DIR "/tests/nested/vm_network_l1.sh:/vm_network_l1.sh",
                                         "--file", tar.string() + ":/rootfs.tar" },
        .command = { "sh", "/vm_network_l1.sh" },
        .timeout_seconds = 500 });
    std::filesystem::remove(tar);
    if (result.exit_status == nested_unavailable_status)
        GTEST_SKIP() << "nested SVM KVM host unavailable: " << result.output;
    auto const& output = result.output;
    ASSERT_EQ(result.exit_status, 0) << output;
    for (std::string backend : { "vhost", "user" }) {
        SCOPED_TRACE(backend);
        EXPECT_EQ(check(output, backend + " eth0"), "1500 10.88.0.10/16") << output;
        EXPECT_EQ(check(output, backend + " resolv"), "nameserver 192.0.2.53 nameserver 198.51.100.53 read-only")
            << "L1's IPv4 name servers, read-only at /etc/resolv.conf:\n" << output;
        EXPECT_NE(check(output, backend + " backend").find(backend == "vhost" ? "(vhost-net)" : "VMM_NET_BACKEND=user"), std::string::npos) << output;
        // 200 one-byte round trips each: connect and echo in every direction.
        for (std::string direction : { "vm-to-host", "host-to-vm", "published", "vm-to-container", "container-to-vm" })
            EXPECT_TRUE(is_round_trip(check(output, backend + " " + direction))) << direction << ":\n" << output;
        EXPECT_EQ(check(output, backend + " vm-status"), "0") << output;
        EXPECT_EQ(check(output, backend + " host-server-status"), "0") << output;
        EXPECT_EQ(check(output, backend + " container-server-status"), "0") << output;
        EXPECT_EQ(check(output, backend + " leftovers"), "taps=0 leases=0") << "the VM's TAP and lease are gone after it:\n" << output;
    }
    EXPECT_EQ(check(output, "killed"), "taps=0 leases=1") << "a VM killed with its keeper leaves its lease (its TAP goes with it):\n" << output;
    EXPECT_EQ(check(output, "after-sweep"), "status=0 taps=0 leases=0") << "the next VM sweeps it:\n" << output;
    EXPECT_EQ(check(output, "jailed"), "status=0 warnings=0 cgroups=0 taps=0 leases=0") << "a jailed VM with vhost-net leaves nothing:\n" << output;
}
