#include "oci/Log.h"

#include "common/Error.h"

#include <cstdio>
#include <ctime>
#include <fmt/format.h>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace vmm::oci {

namespace {

char const* level_name(spdlog::level::level_enum level)
{
    switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
        return "debug";
    case spdlog::level::info:
        return "info";
    case spdlog::level::warn:
        return "warning";
    default:
        return "error";
    }
}

class LogFileSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    LogFileSink(std::FILE* file, LogFormat format)
        : m_file(file)
        , m_format(format)
    {
    }
    ~LogFileSink() override { std::fclose(m_file); }

protected:
    void sink_it_(spdlog::details::log_msg const& message) override
    {
        std::string text(message.payload.data(), message.payload.size());
        std::string line;
        if (m_format == LogFormat::Json)
            line = nlohmann::json { { "level", level_name(message.level) }, { "msg", text }, { "time", rfc3339_now() } }.dump() + "\n";
        else
            line = fmt::format("time=\"{}\" level={} msg=\"{}\"\n", rfc3339_now(), level_name(message.level), text);
        std::fwrite(line.data(), 1, line.size(), m_file);
        std::fflush(m_file);
    }
    void flush_() override { std::fflush(m_file); }

private:
    std::FILE* m_file;
    LogFormat m_format;
};

}

void set_up_logging(std::string const& file, LogFormat format, bool debug)
{
    auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    console->set_pattern("vmm: %v");
    std::vector<spdlog::sink_ptr> sinks { console };
    if (!file.empty()) {
        std::FILE* log = std::fopen(file.c_str(), "ae");
        if (!log)
            throw_system_error("open", fmt::format("{} (--log)", file));
        sinks.push_back(std::make_shared<LogFileSink>(log, format));
    }
    auto logger = std::make_shared<spdlog::logger>("vmm", sinks.begin(), sinks.end());
    logger->set_level(debug ? spdlog::level::debug : spdlog::level::warn);
    spdlog::set_default_logger(logger);
}

void log_error(std::string const& message)
{
    // One line per error, as callers read it: a message built from the
    // kernel's own (a mount's fs-context log) may hold line breaks.
    std::string line;
    for (size_t index = 0; index < message.size(); ++index) {
        char const character = message[index];
        if (character != '\n' && character != '\r') {
            line += character;
            continue;
        }
        // Breaks between lines become "; "; one that ends the message or
        // a parenthesis ("(tmpfs: Unknown parameter 'x'\n)") goes.
        auto const next = message.find_first_not_of("\r\n", index);
        if (next != std::string::npos && message[next] != ')' && !line.empty() && !line.ends_with("; "))
            line += "; ";
    }
    spdlog::error("{}", line);
}

std::string rfc3339_now()
{
    timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);
    tm utc {};
    ::gmtime_r(&now.tv_sec, &utc);
    char buffer[64];
    std::strftime(buffer, sizeof(buffer), "%Y-%m-%dT%H:%M:%S", &utc);
    return fmt::format("{}.{:09d}Z", buffer, now.tv_nsec);
}

}
