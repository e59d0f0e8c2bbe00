#pragma once

// Polls a condition another thread makes true, for tests that drive a
// device thread: true as soon as it holds, false if it still does not
// after `limit`.

#include <chrono>
#include <thread>

namespace vmm::testing {

template<typename Predicate>
bool wait_for(Predicate predicate, std::chrono::milliseconds limit = std::chrono::seconds(5))
{
    auto const deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (predicate())
            return true;
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return predicate();
}

}
