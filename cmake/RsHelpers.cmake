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
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  # Defaults for tests/support/test_paths.h; the environment (RS_SHARED_DIR, RS_BIN_DIR,
  # RINGSERVE_FIXTURES, RINGSERVE_MODELS) overrides them at run time.
  target_compile_definitions(${name} PRIVATE
    RS_DEFAULT_SHARED_DIR="${RS_SHARED_DIR}" RS_DEFAULT_BIN_DIR="${CMAKE_BINARY_DIR}/bin")
  gtest_discover_tests(${name}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    DISCOVERY_TIMEOUT 60)
endfunction()

function(rs_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter)
endfunction()

set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
