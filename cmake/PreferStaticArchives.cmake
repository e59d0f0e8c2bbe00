# vmm_prefer_static_archives(TARGET): links the static archive (libX.a) in
# place of each shared library (libX.so) of a pkg-config IMPORTED_TARGET
# where the distribution ships one (Debian does for libseccomp, liburing and
# libnl). Every `vmm` start, the container's included, otherwise pays for
# loading each shared library and for symbol lookups that walk all of them:
# on the development host that was about a fifth of a container start's CPU.
# Libraries without an archive stay shared, so a sysroot or distribution
# without the archives still builds.
function(vmm_prefer_static_archives target)
    get_target_property(libraries ${target} INTERFACE_LINK_LIBRARIES)
    if(NOT libraries)
        return()
    endif()
    set(chosen)
    foreach(library IN LISTS libraries)
        string(REGEX REPLACE "\\.so$" ".a" archive "${library}")
        if(NOT archive STREQUAL library AND EXISTS "${archive}")
            list(APPEND chosen "${archive}")
        else()
            list(APPEND chosen "${library}")
            vmm_note_linked_library("${library}")
        endif()
    endforeach()
    set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${chosen}")
endfunction()

# vmm_note_linked_library(LIBRARY): remembers a library `vmm` links that is
# not a static archive (the global property VMM_SHARED_LIBRARIES), which
# keeps cli/CMakeLists.txt from linking vmm as one static executable.
function(vmm_note_linked_library library)
    if(library MATCHES "\\.so(\\.|$)" OR (NOT library MATCHES "\\.a$" AND NOT library MATCHES "^-"))
        set_property(GLOBAL APPEND PROPERTY VMM_SHARED_LIBRARIES "${library}")
    endif()
endfunction()
