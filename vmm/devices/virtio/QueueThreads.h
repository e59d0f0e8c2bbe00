#pragma once

#include "common/EventLoop.h"

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace vmm::virtio {

// I/O threads of their own for device queues (virtio-blk's second and later
// queues): each thread runs one EventLoop that watches one queue's
// notification eventfd, so that queues fed by different vCPUs are served on
// different host CPUs at the same time. The machine adds loops while it
// sets devices up, starts the threads once it is ready to run, and stops
// them before the devices and guest memory go away.
class QueueThreads {
public:
    QueueThreads() = default;
    QueueThreads(QueueThreads const&) = delete;
    QueueThreads& operator=(QueueThreads const&) = delete;
    ~QueueThreads() { stop(); }

    // The event loop of a new thread (not running until start()).
    EventLoop& add(std::string name);
    size_t size() const { return m_threads.size(); }

    // Starts every thread. Each runs `prologue` first (its seccomp filter);
    // an exception there or from the loop ends that thread and goes to
    // `failure` with its message (the machine stops).
    void start(std::function<void()> prologue, std::function<void(std::string const&)> failure);
    // Stops the loops and joins their threads.
    void stop();

private:
    struct Thread {
        std::string name;
        std::unique_ptr<EventLoop> loop;
        std::thread thread;
    };
    std::vector<std::unique_ptr<Thread>> m_threads;
};

}
