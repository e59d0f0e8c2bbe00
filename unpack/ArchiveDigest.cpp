#include "unpack/ArchiveDigest.h"

#include "common/Error.h"
#include "common/FileDescriptor.h"

#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <memory>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace vmm {

namespace {

constexpr size_t digest_text_length = 64;
constexpr time_t racy_seconds = 1;

std::string sha256_of(int fd, std::string const& path)
{
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1)
        throw Error("EVP_DigestInit_ex (sha256): failed");
    std::vector<char> buffer(1 << 20);
    for (off_t offset = 0;;) {
        ssize_t length = ::pread(fd, buffer.data(), buffer.size(), offset);
        if (length < 0 && errno == EINTR)
            continue;
        if (length < 0)
            throw_system_error("read", path);
        if (length == 0)
            break;
        EVP_DigestUpdate(context.get(), buffer.data(), static_cast<size_t>(length));
        offset += length;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_length = 0;
    EVP_DigestFinal_ex(context.get(), digest, &digest_length);
    std::string text;
    for (unsigned int index = 0; index < digest_length; ++index)
        text += fmt::format("{:02x}", digest[index]);
    return text;
}

bool is_digest_text(std::string_view text)
{
    return text.size() == digest_text_length && text.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

// The memo's content, or "" where there is none (or it is not a digest).
std::string read_memo(std::filesystem::path const& path)
{
    FileDescriptor file(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!file.is_valid())
        return {};
    char text[digest_text_length + 1] {};
    auto length = ::read(file.get(), text, sizeof(text));
    if (length != static_cast<ssize_t>(digest_text_length) || !is_digest_text({ text, digest_text_length }))
        return {};
    return { text, digest_text_length };
}

// Written through a temporary file and a rename, so that a concurrent
// reader sees the whole digest or none. A memo that cannot be written only
// costs the next start its hashing again.
void write_memo(std::filesystem::path const& path, std::string const& digest)
{
    auto temporary = fmt::format("{}.{}", path.string(), ::getpid());
    FileDescriptor file(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!file.is_valid())
        return;
    bool const written = write_all(file.get(), digest.data(), digest.size());
    file.reset();
    if (!written || ::rename(temporary.c_str(), path.c_str()) < 0)
        ::unlink(temporary.c_str());
}

void remove_memos_of_gone_trees(std::filesystem::path const& memos, std::filesystem::path const& trees)
{
    std::error_code error;
    for (auto const& entry : std::filesystem::directory_iterator(memos, error)) {
        auto digest = read_memo(entry.path());
        if (digest.empty() || !std::filesystem::exists(trees / digest, error))
            ::unlink(entry.path().c_str());
    }
}

}

std::string archive_digest(int fd, std::string const& archive_path, std::filesystem::path const& trees)
{
    struct stat status {};
    if (::fstat(fd, &status) < 0)
        throw_system_error("fstat", archive_path);
    auto const memos = trees / ".digests";
    auto const memo = memos
        / fmt::format("{:x}-{:x}-{:x}-{}.{:09}-{}.{:09}", status.st_dev, status.st_ino, status.st_size, status.st_mtim.tv_sec, status.st_mtim.tv_nsec,
            status.st_ctim.tv_sec, status.st_ctim.tv_nsec);
    // Taken only while its tree is there: a memo outliving its tree would
    // be harmless, but then hashing again costs nothing extra anyway.
    if (auto digest = read_memo(memo); !digest.empty() && std::filesystem::is_directory(trees / digest))
        return digest;
    auto digest = sha256_of(fd, archive_path);
    // File times tick at the kernel's clock granularity (milliseconds): a
    // file changed within the tick of the change time seen here would keep
    // it. So only a file unchanged for a second gets a memo, as git treats
    // an index entry as racy until its time has passed.
    timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);
    bool const settled = now.tv_sec - status.st_ctim.tv_sec > racy_seconds;
    if (settled && (::mkdir(memos.c_str(), 0700) == 0 || errno == EEXIST)) {
        remove_memos_of_gone_trees(memos, trees);
        write_memo(memo, digest);
    }
    return digest;
}

}
