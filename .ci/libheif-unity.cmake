# Included by CMake at the end of libheif's project() call, in CI only
# (.ci/cmake-O1.cmake sets CMAKE_PROJECT_libheif_INCLUDE). It makes libheif a
# unity build: its ~100 C++ files are compiled 16 to a translation unit, so
# the standard library's and libheif's own headers are parsed once per batch
# instead of once per file. libheif's compile is mostly that parsing (no -O
# level changes it): 194 s of CPU per file, 66 s in batches
# (docs/development.md "CI" has the command).
#
# Deferred to the end of the top directory, when the heif target exists.
# The files left out define the same file-local names as another file (the
# plugins' plugin_name and kSuccess, the NAL unit constants of
# plugins/nalu_utils.h, overlay.cc's and tiled.cc's writevec); if a libheif
# update adds such a clash, the build fails with "redefinition of" and the
# file goes on this list.
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _retrace_libheif_unity)
function(_retrace_libheif_unity)
  get_target_property(sources heif SOURCES)
  get_target_property(dir heif SOURCE_DIR)
  set(alone "")
  foreach(source IN LISTS sources)
    if(source MATCHES "plugins/|codecs/(avc|hevc|vvc)_(enc|dec)|image-items/overlay")
      if(NOT IS_ABSOLUTE "${source}")
        set(source "${dir}/${source}")
      endif()
      list(APPEND alone "${source}")
    endif()
  endforeach()
  set_source_files_properties(${alone} TARGET_DIRECTORY heif
    PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  set_target_properties(heif PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 16)
endfunction()
