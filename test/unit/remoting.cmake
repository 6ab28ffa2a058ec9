rmq_unit_test(test_remoting SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_remoting.c LIBS rmq_remoting
              TIMEOUT 120)
