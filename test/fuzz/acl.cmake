# libFuzzer target for the ACL file loader (remoting/acl.c, issue 11); RMQ_FUZZ=ON with clang.
if(RMQ_FUZZ AND CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_executable(fuzz_acl ${CMAKE_CURRENT_LIST_DIR}/fuzz_acl.c
                 ${CMAKE_SOURCE_DIR}/remoting/acl.c ${CMAKE_SOURCE_DIR}/remoting/cmd.c
                 ${CMAKE_SOURCE_DIR}/common/buf.c ${CMAKE_SOURCE_DIR}/common/util.c
                 ${CMAKE_SOURCE_DIR}/common/fjson.c ${CMAKE_SOURCE_DIR}/common/err.c
                 ${CMAKE_SOURCE_DIR}/common/log.c)
  target_compile_options(fuzz_acl PRIVATE -fsanitize=fuzzer,address,undefined
                         -fno-sanitize-recover=undefined)
  target_link_options(fuzz_acl PRIVATE -fsanitize=fuzzer,address,undefined
                      -fno-sanitize-recover=undefined)
  target_link_libraries(fuzz_acl PRIVATE ${MBEDCRYPTO_LIB} PkgConfig::YAML PkgConfig::JANSSON
                        PkgConfig::LIBUV ZLIB::ZLIB Threads::Threads m)
  add_dependencies(rmq_fuzz fuzz_acl)
  add_test(NAME fuzz_acl_smoke COMMAND fuzz_acl -max_total_time=30 -runs=100000000
           -rss_limit_mb=1024 -max_len=16384)
  set_tests_properties(fuzz_acl_smoke PROPERTIES LABELS fuzz TIMEOUT 120)
endif()
