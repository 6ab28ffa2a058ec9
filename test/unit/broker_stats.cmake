# statsAll's counters (broker/admin_stats.c): windows, roll-over, names and keys.
if(TARGET rmq_broker_lib)
  rmq_unit_test(test_broker_stats SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_stats.c
                LIBS rmq_broker_lib TIMEOUT 30)
endif()
