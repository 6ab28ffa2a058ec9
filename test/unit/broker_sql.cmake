# SQL92 property filters (broker/filter_sql): the case table from RocketMQ's semantics.
if(TARGET rmq_broker_lib)
  rmq_unit_test(test_broker_sql SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_sql.c
                LIBS rmq_broker_lib TIMEOUT 60)
endif()
