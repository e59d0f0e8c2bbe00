// The container's init program: guest/init in a memfd that the parent fills
// and seals while the child sets up. What the child then executes must be
// the whole program, and nothing may change it afterwards (CVE-2019-5736).

#include "common/FileDescriptor.h"
#include "container/InitProgram.h"
#include "guest/EmbeddedInit.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace vmm;
using namespace vmm::container;

namespace {

off_t size_of(int fd)
{
    struct stat status { };
    EXPECT_EQ(::fstat(fd, &status), 0) << std::strerror(errno);
    return status.st_size;
}

TEST(InitProgram, IsEmptyUntilFilledThenTheEmbeddedInitSealed)
{
    auto program = create_empty_init_program();
    ASSERT_TRUE(program.is_valid());
    EXPECT_EQ(size_of(program.get()), 0);
    EXPECT_EQ(::fcntl(program.get(), F_GET_SEALS) & F_SEAL_WRITE, 0) << "sealed before it was filled";

    fill_and_seal_init_program(program.get());
    auto const image = embedded_init();
    ASSERT_EQ(size_of(program.get()), static_cast<off_t>(image.size()));
    std::string contents(image.size(), '\0');
    ASSERT_EQ(::pread(program.get(), contents.data(), contents.size(), 0), static_cast<ssize_t>(contents.size()));
    EXPECT_TRUE(std::equal(contents.begin(), contents.end(), reinterpret_cast<char const*>(image.data()))) << "the memfd is not guest/init";

    int const seals = ::fcntl(program.get(), F_GET_SEALS);
    for (int seal : { F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_WRITE })
        EXPECT_NE(seals & seal, 0) << "seal " << seal << " is missing";
    char const byte = 0;
    EXPECT_EQ(::pwrite(program.get(), &byte, 1, 0), -1);
    EXPECT_EQ(errno, EPERM);
    EXPECT_EQ(::ftruncate(program.get(), 0), -1);
    EXPECT_EQ(errno, EPERM);
}

}
