# TLS between real processes (issue 11): certificates made at test time by tls-certs.sh.
if(TARGET rmq_static AND TARGET mqbroker AND TARGET mqnamesrv)
  rmq_integration_test(0500-tls SOURCES ${CMAKE_CURRENT_LIST_DIR}/0500-tls.c LIBS rmq_static
                       DEPENDS mqnamesrv mqbroker TIMEOUT 300)
  target_compile_definitions(0500-tls PRIVATE
                             RMQ_TLS_CERTS_SCRIPT="${CMAKE_CURRENT_LIST_DIR}/tls-certs.sh")
  set_property(TEST 0500-tls APPEND PROPERTY LABELS tls)
endif()
