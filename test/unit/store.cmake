rmq_unit_test(test_msg SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_msg.c LIBS rmq_common TIMEOUT 60)
