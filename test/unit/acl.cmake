rmq_unit_test(test_acl SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_acl.c LIBS rmq_remoting TIMEOUT 60)
