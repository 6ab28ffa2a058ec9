# Broker managers (offset.c, subgroup.c, clients.c, admin.c): file and body formats.
if(TARGET rmq_broker_lib)
  rmq_unit_test(test_broker_mgr SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_broker_mgr.c
                LIBS rmq_broker_lib TIMEOUT 60)
  # broker.h includes store.h, whose comment once held "config/*.json"
  target_compile_options(test_broker_mgr PRIVATE -Wno-comment)
endif()
