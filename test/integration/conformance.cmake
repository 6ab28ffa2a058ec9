# Wire conformance (0400): stock RocketMQ clients' conversations replayed byte by byte against
# real mqnamesrv + mqbroker processes. Independent of our remoting codec on purpose: only the
# harness, jansson and zlib.
if(TARGET mqbroker AND TARGET mqnamesrv)
  rmq_integration_test(0400-wire-conformance
                       SOURCES ${CMAKE_CURRENT_LIST_DIR}/0400-wire-conformance.c
                       LIBS PkgConfig::JANSSON ZLIB::ZLIB
                       DEPENDS mqnamesrv mqbroker TIMEOUT 300)
  # Request text is built with snprintf into fixed buffers sized for these conversations.
  if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
    target_compile_options(0400-wire-conformance PRIVATE -Wno-format-truncation)
  endif()
endif()
