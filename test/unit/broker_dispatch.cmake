# The broker's request table: routes, permissions, per-code counters, request ownership.
if(TARGET rmq_broker_lib)
  rmq_unit_test(test_broker_dispatch SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_dispatch.c
                LIBS rmq_broker_lib TIMEOUT 30)
endif()
if(TARGET rmq_broker_lib)
  rmq_unit_test(test_dispatch_clock SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_dispatch_clock.c
                LIBS rmq_broker_lib TIMEOUT 30)
endif()
