# libFuzzer target for the NameServer's body decoders (namesrv/route.c, common/fjson.c). Built only
# with RMQ_FUZZ=ON and clang; also a bounded ctest (label "fuzz").
if(RMQ_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz_ns_body ${CMAKE_CURRENT_LIST_DIR}/fuzz_ns_body.c
                 ${CMAKE_SOURCE_DIR}/namesrv/route.c ${CMAKE_SOURCE_DIR}/common/fjson.c
                 ${CMAKE_SOURCE_DIR}/common/map.c ${CMAKE_SOURCE_DIR}/common/buf.c
                 ${CMAKE_SOURCE_DIR}/common/util.c ${CMAKE_SOURCE_DIR}/common/err.c
                 ${CMAKE_SOURCE_DIR}/common/log.c)
  target_compile_options(fuzz_ns_body PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_ns_body PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_ns_body PRIVATE PkgConfig::JANSSON ZLIB::ZLIB Threads::Threads)
  if(TARGET rmq_fuzz)
    add_dependencies(rmq_fuzz fuzz_ns_body)
  endif()
  add_test(NAME fuzz_ns_body_smoke COMMAND fuzz_ns_body -max_total_time=30 -rss_limit_mb=1024
           -max_len=65536)
  set_tests_properties(fuzz_ns_body_smoke PROPERTIES LABELS fuzz TIMEOUT 120)
endif()
