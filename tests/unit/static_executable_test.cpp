#include <elf.h>
#include <fstream>
#include <gtest/gtest.h>
#include <vector>

// vmm is linked as one static, position-independent executable where every
// library it links is an archive (cli/CMakeLists.txt): a start maps no
// shared library and looks up no symbol, and ASLR still places it.
TEST(StaticExecutable, VmmNeedsNoLoaderAndIsStillPositionIndependent)
{
#ifndef VMM_STATIC_PIE
    GTEST_SKIP() << "this build links vmm to libc.so: a library it needs is shared only here (cmake's output names it)";
#endif
    std::ifstream file(VMM_BUILD_DIR "/vmm", std::ios::binary);
    ASSERT_TRUE(file) << "build vmm first";
    Elf64_Ehdr header {};
    ASSERT_TRUE(file.read(reinterpret_cast<char*>(&header), sizeof(header)));
    ASSERT_EQ(std::string(reinterpret_cast<char const*>(header.e_ident), 4), "\x7f" "ELF");
    EXPECT_EQ(header.e_type, ET_DYN) << "a static executable without -pie loses ASLR";
    std::vector<Elf64_Phdr> segments(header.e_phnum);
    file.seekg(static_cast<std::streamoff>(header.e_phoff));
    ASSERT_TRUE(file.read(reinterpret_cast<char*>(segments.data()), static_cast<std::streamsize>(segments.size() * sizeof(Elf64_Phdr))));
    bool has_loader = false;
    bool has_relro = false;
    for (auto const& segment : segments) {
        has_loader = has_loader || segment.p_type == PT_INTERP;
        has_relro = has_relro || segment.p_type == PT_GNU_RELRO;
    }
    EXPECT_FALSE(has_loader) << "vmm names a dynamic loader (PT_INTERP): it is linked to shared libraries";
    EXPECT_TRUE(has_relro) << "vmm's relocated data is not made read-only (-z relro)";
}
