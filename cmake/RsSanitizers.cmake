# RS_SANITIZE=ON builds everything with AddressSanitizer and UndefinedBehaviorSanitizer.
# RS_TSAN=ON builds everything with ThreadSanitizer (the `tsan` preset); the two exclude
# each other. TSan reads tests/tsan.supp through TSAN_OPTIONS (the preset's test settings).
option(RS_SANITIZE "Build with ASan + UBSan" OFF)
option(RS_TSAN "Build with ThreadSanitizer" OFF)
# RS_FUZZ=ON (the `fuzz` preset, clang only): our libraries get libFuzzer's coverage hooks
# plus ASan + UBSan (-fsanitize=fuzzer-no-link,...); fuzz/ adds the targets, which link
# -fsanitize=fuzzer. docs/FUZZING.md.
option(RS_FUZZ "Build the libFuzzer targets (fuzz/) with ASan + UBSan; clang only" OFF)
if(RS_FUZZ AND (RS_SANITIZE OR RS_TSAN))
  message(FATAL_ERROR "RS_FUZZ brings its own ASan + UBSan: leave RS_SANITIZE and RS_TSAN off")
endif()
if(RS_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "RS_FUZZ needs clang++ (libFuzzer): use `cmake --preset fuzz`")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(RS_SANITIZE AND RS_TSAN)
  message(FATAL_ERROR "RS_SANITIZE (ASan + UBSan) and RS_TSAN (ThreadSanitizer) exclude each other")
endif()
if(RS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(RS_TSAN)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()
