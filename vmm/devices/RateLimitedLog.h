#pragma once

#include <chrono>
#include <cstdint>
#include <fmt/format.h>
#include <mutex>
#include <spdlog/spdlog.h>
#include <utility>

namespace vmm {

// Log messages a guest can trigger (a bad register write, a failing request)
// go through one of these, so that a guest repeating a mistake cannot flood
// the host's log: at most `burst` messages per `interval`; the rest are
// counted, and the count is reported with the next message let through.
// Thread-safe.
class RateLimitedLog {
public:
    using Clock = std::chrono::steady_clock;

    explicit RateLimitedLog(uint32_t burst = 10, Clock::duration interval = std::chrono::seconds(60))
        : m_burst(burst)
        , m_interval(interval)
    {
    }

    template<typename... Args>
    void log(spdlog::level::level_enum level, fmt::format_string<Args...> format, Args&&... args)
    {
        if (!spdlog::should_log(level))
            return;
        uint64_t suppressed = 0;
        if (!admit(suppressed))
            return;
        auto const message = fmt::format(format, std::forward<Args>(args)...);
        if (suppressed > 0)
            spdlog::log(level, "{} ({} similar messages suppressed)", message, suppressed);
        else
            spdlog::log(level, "{}", message);
    }

    template<typename... Args>
    void warn(fmt::format_string<Args...> format, Args&&... args)
    {
        log(spdlog::level::warn, format, std::forward<Args>(args)...);
    }

    template<typename... Args>
    void debug(fmt::format_string<Args...> format, Args&&... args)
    {
        log(spdlog::level::debug, format, std::forward<Args>(args)...);
    }

    // Messages dropped so far (tests).
    uint64_t suppressed_total() const
    {
        std::lock_guard lock(m_mutex);
        return m_suppressed_total;
    }

private:
    // Whether a message may go out now; if so, `suppressed` is the count
    // held back since the last one that did.
    bool admit(uint64_t& suppressed)
    {
        std::lock_guard lock(m_mutex);
        auto const now = Clock::now();
        if (m_sent_in_window == 0 || now - m_window_start >= m_interval) {
            m_window_start = now;
            m_sent_in_window = 0;
        }
        if (m_sent_in_window >= m_burst) {
            ++m_suppressed;
            ++m_suppressed_total;
            return false;
        }
        ++m_sent_in_window;
        suppressed = std::exchange(m_suppressed, 0);
        return true;
    }

    uint32_t m_burst;
    Clock::duration m_interval;
    mutable std::mutex m_mutex;
    Clock::time_point m_window_start {};
    uint32_t m_sent_in_window { 0 };
    uint64_t m_suppressed { 0 };
    uint64_t m_suppressed_total { 0 };
};

}
