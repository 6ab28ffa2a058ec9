# SQL92 property filters with librmq against real mqnamesrv + mqbroker.
if(TARGET rmq_static AND TARGET mqbroker AND TARGET mqnamesrv)
  rmq_integration_test(0150-sdk-sql-filter SOURCES ${CMAKE_CURRENT_LIST_DIR}/0150-sdk-sql-filter.c
                       LIBS rmq_static DEPENDS mqnamesrv mqbroker TIMEOUT 300)
endif()
# SQL92 on the wire as the Java 4.9.8 client sends it (sockets + jansson, not our codec).
if(TARGET mqbroker AND TARGET mqnamesrv)
  rmq_integration_test(0401-wire-sql92 SOURCES ${CMAKE_CURRENT_LIST_DIR}/0401-wire-sql92.c
                       LIBS PkgConfig::JANSSON DEPENDS mqnamesrv mqbroker TIMEOUT 120)
endif()
