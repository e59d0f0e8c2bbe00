#pragma once

#include "common/FileDescriptor.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace vmm {

// An epoll loop run by the VMM's I/O thread: device queues (ioeventfds),
// stdin and timers register a file descriptor and a callback. Callbacks run
// on the loop's thread, one at a time.
class EventLoop {
public:
    using Callback = std::function<void(uint32_t events)>;

    EventLoop();

    // Watches `fd` for `events` (EPOLLIN by default). `fd` stays owned by the caller.
    void add(int fd, Callback callback, uint32_t events = 0x001 /* EPOLLIN */);
    void remove(int fd);

    // Runs until stop() is called (from any thread).
    void run();
    void stop();

private:
    FileDescriptor m_epoll;
    FileDescriptor m_stop_event;
    std::atomic<bool> m_stopping { false };
    std::mutex m_mutex;
    std::unordered_map<int, std::shared_ptr<Callback>> m_callbacks;
};

}
