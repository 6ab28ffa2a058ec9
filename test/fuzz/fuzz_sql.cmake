# libFuzzer target for the SQL92 filter (broker/filter_sql.c, compiled in with the fuzzer's
# instrumentation; msg.c for the record helper it links). Built only with RMQ_FUZZ=ON and
# clang; also a bounded ctest (label "fuzz").
if(RMQ_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz_sql ${CMAKE_CURRENT_LIST_DIR}/fuzz_sql.c ${CMAKE_SOURCE_DIR}/broker/filter_sql.c
                 ${CMAKE_SOURCE_DIR}/common/msg.c ${CMAKE_SOURCE_DIR}/common/buf.c
                 ${CMAKE_SOURCE_DIR}/common/util.c ${CMAKE_SOURCE_DIR}/common/err.c
                 ${CMAKE_SOURCE_DIR}/common/log.c)
  target_compile_options(fuzz_sql PRIVATE -fsanitize=fuzzer,address,undefined
                         -fno-sanitize-recover=undefined)
  target_link_options(fuzz_sql PRIVATE -fsanitize=fuzzer,address,undefined
                      -fno-sanitize-recover=undefined)
  target_link_libraries(fuzz_sql PRIVATE ZLIB::ZLIB Threads::Threads m)
  add_dependencies(rmq_fuzz fuzz_sql)
  add_test(NAME fuzz_sql_smoke COMMAND fuzz_sql -max_total_time=30 -rss_limit_mb=1024
           -max_len=4096)
  set_tests_properties(fuzz_sql_smoke PROPERTIES LABELS fuzz TIMEOUT 120)
endif()
