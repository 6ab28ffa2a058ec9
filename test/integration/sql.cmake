# SQL92 property filters with librmq against real mqnamesrv + mqbroker.
if(TARGET rmq_static AND TARGET mqbroker AND TARGET mqnamesrv)
  rmq_integration_test(0150-sdk-sql-filter SOURCES ${CMAKE_CURRENT_LIST_DIR}/0150-sdk-sql-filter.c
                       LIBS rmq_static DEPENDS mqnamesrv mqbroker TIMEOUT 300)
endif()
