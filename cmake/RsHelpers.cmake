# RS_UNITY_BUILD=ON (set by the presets in CMakePresets.json, so CI and scripts/test.sh): the
# header-heavy targets compile as unity sources (rs_unity_build below), and each test folder
# (tests/unit/<area>, tests/integration, tests/model) becomes ONE test binary. This roughly
# halves a fresh build's CPU time. OFF (a plain `cmake -S . -B build/x`): one source per
# object and one test binary per test file, which rebuilds least on an incremental edit.
option(RS_UNITY_BUILD "Unity-build heavy targets and one test binary per test folder" OFF)

# rs_unity_build(TARGET [BATCH_SIZE n]): with RS_UNITY_BUILD, compile TARGET's sources
# n at a time (default 8; 0 = all in one) as unity sources. Sources that clash with others
# (same-named internal helpers) opt out with the SKIP_UNITY_BUILD_INCLUSION source property.
function(rs_unity_build target)
  cmake_parse_arguments(ARG "" "BATCH_SIZE" "" ${ARGN})
  if(NOT RS_UNITY_BUILD)
    return()
  endif()
  if(NOT DEFINED ARG_BATCH_SIZE)
    set(ARG_BATCH_SIZE 8)
  endif()
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${ARG_BATCH_SIZE})
endfunction()

# rs_add_library(NAME SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# One library per concept: PUBLIC include/, PRIVATE src/. Never global include paths.
function(rs_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name}
    PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  rs_set_warnings(${name})
endfunction()

# rs_add_executable(NAME SOURCES ... DEPS ...)
function(rs_add_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  rs_set_warnings(${name})
  if(NOT RS_BUILD_PROGRAMS)  # defined, but built only on request (e.g. the sanitizer CI build)
    set_target_properties(${name} PROPERTIES EXCLUDE_FROM_ALL TRUE)
  endif()
endfunction()

# rs_add_test(NAME SOURCES ... DEPS ... LABELS ...): a GoogleTest binary registered with CTest.
function(rs_add_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  rs_set_warnings(${name})
  # Test code itself needs no heavy optimization (the libraries under test keep the build
  # type's flags); -O1 roughly halves the compile time of the GoogleTest-heavy sources.
  target_compile_options(${name} PRIVATE -O1)
  # Tests build messages with designated initializers, leaving optional fields default.
  target_compile_options(${name} PRIVATE -Wno-missing-field-initializers)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  # Defaults for tests/support/test_paths.h; the environment (RS_SHARED_DIR, RS_BIN_DIR,
  # RINGSERVE_FIXTURES, RINGSERVE_MODELS) overrides them at run time.
  target_compile_definitions(${name} PRIVATE
    RS_DEFAULT_SHARED_DIR="${RS_SHARED_DIR}" RS_DEFAULT_BIN_DIR="${CMAKE_BINARY_DIR}/bin"
    RS_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()

function(rs_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
endfunction()

set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
