# RS_SANITIZE=ON builds everything with AddressSanitizer and UndefinedBehaviorSanitizer.
# RS_TSAN=ON builds everything with ThreadSanitizer (the `tsan` preset); the two exclude
# each other. TSan reads tests/tsan.supp through TSAN_OPTIONS (the preset's test settings).
option(RS_SANITIZE "Build with ASan + UBSan" OFF)
option(RS_TSAN "Build with ThreadSanitizer" OFF)
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
