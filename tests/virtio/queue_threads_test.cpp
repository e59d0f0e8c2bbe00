// QueueThreads: the I/O threads of device queues after the first.
#include "common/Error.h"
#include "common/FileDescriptor.h"
#include "tests/support/WaitFor.h"
#include "vmm/devices/virtio/QueueThreads.h"

#include <atomic>
#include <chrono>
#include <gtest/gtest.h>
#include <mutex>
#include <sys/eventfd.h>
#include <thread>
#include <unistd.h>

using namespace vmm;
using namespace vmm::virtio;
using namespace std::chrono_literals;
using vmm::testing::wait_for;

namespace {

TEST(QueueThreads, EachLoopRunsOnItsOwnThreadAfterItsPrologue)
{
    QueueThreads threads;
    FileDescriptor events[2] { FileDescriptor(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), FileDescriptor(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) };
    std::mutex mutex;
    std::thread::id served_on[2];
    std::atomic<int> prologues { 0 };
    std::atomic<int> served { 0 };
    for (int index = 0; index < 2; ++index) {
        threads.add("test-q" + std::to_string(index)).add(events[index].get(), [&, index](uint32_t) {
            uint64_t count = 0;
            [[maybe_unused]] auto bytes = ::read(events[index].get(), &count, sizeof(count));
            std::lock_guard lock(mutex);
            served_on[index] = std::this_thread::get_id();
            ++served;
        });
    }
    EXPECT_EQ(threads.size(), 2u);
    uint64_t const one = 1;
    ASSERT_EQ(::write(events[0].get(), &one, sizeof(one)), 8);
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(served.load(), 0) << "a loop ran before start()";
    threads.start([&] { ++prologues; }, [](std::string const& message) { ADD_FAILURE() << message; });
    ASSERT_EQ(::write(events[1].get(), &one, sizeof(one)), 8);
    ASSERT_TRUE(wait_for([&] { return served.load() == 2; }));
    EXPECT_EQ(prologues.load(), 2);
    std::lock_guard lock(mutex);
    EXPECT_NE(served_on[0], served_on[1]);
    EXPECT_NE(served_on[0], std::this_thread::get_id());
    EXPECT_NE(served_on[1], std::this_thread::get_id());
}

TEST(QueueThreads, AFailingPrologueIsReportedWithTheThreadsName)
{
    QueueThreads threads;
    threads.add("test-q1");
    std::mutex mutex;
    std::string reported;
    threads.start([] { throw Error("seccomp: refused"); }, [&](std::string const& message) {
        std::lock_guard lock(mutex);
        reported = message;
    });
    ASSERT_TRUE(wait_for([&] {
        std::lock_guard lock(mutex);
        return !reported.empty();
    }));
    std::lock_guard lock(mutex);
    EXPECT_EQ(reported, "test-q1: seccomp: refused");
}

TEST(QueueThreads, StopEndsTheLoopsAndJoins)
{
    auto threads = std::make_unique<QueueThreads>();
    threads->add("test-q1");
    threads->add("test-q2");
    threads->start([] { }, [](std::string const& message) { ADD_FAILURE() << message; });
    auto const begun = std::chrono::steady_clock::now();
    threads->stop();
    threads.reset(); // Stopping again (the destructor) is harmless.
    EXPECT_LT(std::chrono::steady_clock::now() - begun, 5s);
}

}
