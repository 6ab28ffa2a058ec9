rmq_unit_test(test_remoting SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_remoting.c LIBS rmq_remoting
              TIMEOUT 120)
rmq_unit_test(test_tls SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tls.c LIBS rmq_remoting TIMEOUT 120)
target_compile_definitions(test_tls PRIVATE
                           RMQ_TLS_CERTS_SCRIPT="${CMAKE_SOURCE_DIR}/test/integration/tls-certs.sh")
rmq_unit_test(test_decode_block SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_decode_block.c
              LIBS rmq_remoting)
