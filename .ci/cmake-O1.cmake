# CMake toolchain file for CI only: .ci/run exports CMAKE_TOOLCHAIN_FILE, which
# cmake-rs (the build scripts of libheif-sys and turbojpeg-sys) passes on to
# cmake. The dev profile builds dependencies at opt-level 2, so cmake-rs asks
# for CMAKE_BUILD_TYPE=Release, that is -O3, for C code the tests then run on a
# few small pictures. At -O1 libjpeg-turbo takes about a third less CPU to
# compile and libheif about a quarter less (its C++ is mostly parsing, which
# no -O level changes); docs/development.md "CI" has the figures.
#
# The cache entries themselves, not CMAKE_<LANG>_FLAGS_RELEASE_INIT: GCC's
# defaults (Modules/Compiler/GNU.cmake) append " -O3 -DNDEBUG" to the _INIT
# value, and the last -O on a command line wins. cmake-rs drops -O flags from
# CFLAGS/CXXFLAGS, so the environment cannot do it either.
set(CMAKE_C_FLAGS_RELEASE "-O1 -DNDEBUG" CACHE STRING "")
set(CMAKE_CXX_FLAGS_RELEASE "-O1 -DNDEBUG" CACHE STRING "")

# libheif as a unity build (the file says why); only libheif's project() runs it.
set(CMAKE_PROJECT_libheif_INCLUDE "${CMAKE_CURRENT_LIST_DIR}/libheif-unity.cmake")
