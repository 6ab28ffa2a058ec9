# librmq against a two-master two-slave cluster (issue 9): producer fail-over, consumption from a
# slave and back to the master.
if(TARGET rmq_static AND TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin
   AND EXISTS ${CMAKE_CURRENT_LIST_DIR}/0103-sdk-ha.c)
  rmq_integration_test(0103-sdk-ha SOURCES ${CMAKE_CURRENT_LIST_DIR}/0103-sdk-ha.c
                       LIBS rmq_static PkgConfig::JANSSON DEPENDS mqnamesrv mqbroker mqadmin TIMEOUT 300)
endif()
