# libFuzzer targets for common/: the stored-message decoder and the config parser.
# Built only with RMQ_FUZZ=ON and clang; each also runs as a bounded ctest (label "fuzz").
if(RMQ_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  set(_rmq_common_src ${CMAKE_SOURCE_DIR}/common/msg.c ${CMAKE_SOURCE_DIR}/common/buf.c
      ${CMAKE_SOURCE_DIR}/common/util.c ${CMAKE_SOURCE_DIR}/common/err.c
      ${CMAKE_SOURCE_DIR}/common/log.c ${CMAKE_SOURCE_DIR}/common/kvconf.c)
  foreach(t fuzz_msg fuzz_kvconf)
    add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.c ${_rmq_common_src})
    target_compile_options(${t} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${t} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${t} PRIVATE ZLIB::ZLIB Threads::Threads)
    add_dependencies(rmq_fuzz ${t})
    add_test(NAME ${t}_smoke COMMAND ${t} -max_total_time=30 -rss_limit_mb=1024
             -max_len=65536)
    set_tests_properties(${t}_smoke PROPERTIES LABELS fuzz TIMEOUT 120)
  endforeach()
endif()
