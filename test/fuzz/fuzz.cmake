# libFuzzer target for the remoting frame codec (remoting/frame.c, cmd.c). Built only with
# RMQ_FUZZ=ON and clang; the codec sources are compiled into the target with the fuzzer's
# instrumentation, so no library needs fuzzer flags. Also a bounded ctest (label "fuzz").
if(RMQ_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz_frame ${CMAKE_CURRENT_LIST_DIR}/fuzz_frame.c
                 ${CMAKE_SOURCE_DIR}/remoting/frame.c ${CMAKE_SOURCE_DIR}/remoting/cmd.c
                 ${CMAKE_SOURCE_DIR}/common/buf.c ${CMAKE_SOURCE_DIR}/common/util.c
                 ${CMAKE_SOURCE_DIR}/common/fjson.c ${CMAKE_SOURCE_DIR}/common/err.c
                 ${CMAKE_SOURCE_DIR}/common/log.c)
  target_compile_options(fuzz_frame PRIVATE -fsanitize=fuzzer,address,undefined
                         -fno-sanitize-recover=undefined)
  target_link_options(fuzz_frame PRIVATE -fsanitize=fuzzer,address,undefined
                      -fno-sanitize-recover=undefined)
  target_link_libraries(fuzz_frame PRIVATE PkgConfig::JANSSON PkgConfig::LIBUV ZLIB::ZLIB
                        Threads::Threads m)
  add_dependencies(rmq_fuzz fuzz_frame)
  add_test(NAME fuzz_frame_smoke COMMAND fuzz_frame -max_total_time=30 -runs=100000000
           -rss_limit_mb=1024 -max_len=65536)
  set_tests_properties(fuzz_frame_smoke PROPERTIES LABELS fuzz TIMEOUT 120)
endif()
