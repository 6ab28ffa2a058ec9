# Broker managers (offset.c, subgroup.c, clients.c, admin.c): file and body formats.
if(TARGET rmq_broker_lib)
  rmq_unit_test(test_broker_mgr SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_mgr.c
                LIBS rmq_broker_lib TIMEOUT 60)
endif()
