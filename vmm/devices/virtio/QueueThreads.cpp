#include "vmm/devices/virtio/QueueThreads.h"

#include "common/Error.h"

#include <fmt/format.h>
#include <pthread.h>

namespace vmm::virtio {

EventLoop& QueueThreads::add(std::string name)
{
    m_threads.push_back(std::make_unique<Thread>(std::move(name), std::make_unique<EventLoop>(), std::thread()));
    return *m_threads.back()->loop;
}

void QueueThreads::start(std::function<void()> prologue, std::function<void(std::string const&)> failure)
{
    for (auto& owned : m_threads) {
        auto& entry = *owned;
        if (entry.thread.joinable())
            continue;
        entry.thread = std::thread([&entry, prologue, failure] {
            // The name shows in top -H and /proc/PID/task (15 characters at most).
            ::pthread_setname_np(::pthread_self(), entry.name.substr(0, 15).c_str());
            try {
                prologue();
                entry.loop->run();
            } catch (Error const& error) {
                failure(fmt::format("{}: {}", entry.name, error.what()));
            }
        });
    }
}

void QueueThreads::stop()
{
    for (auto& entry : m_threads)
        entry->loop->stop();
    for (auto& entry : m_threads) {
        if (entry->thread.joinable())
            entry->thread.join();
    }
}

}
