rmq_unit_test(test_msg SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_msg.c LIBS rmq_common TIMEOUT 60)
rmq_unit_test(test_store SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store.c LIBS rmq_store TIMEOUT 120)
rmq_unit_test(test_store_crash SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store_crash.c LIBS rmq_store
              TIMEOUT 120)
rmq_unit_test(test_store_timer SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store_timer.c LIBS rmq_store
              TIMEOUT 60)
