# HA transport (broker/ha.c): wire bytes, scripted peers over sockets, loopback replication.
if(TARGET rmq_broker_lib)
  rmq_unit_test(test_ha SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ha.c
                LIBS rmq_broker_lib rmq_fault_proxy TIMEOUT 120)
endif()
