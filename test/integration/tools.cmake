# mqadmin / mqbench end to end against a real NameServer and broker.
if(TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin AND TARGET mqbench)
  rmq_integration_test(0300-mqadmin SOURCES ${CMAKE_CURRENT_LIST_DIR}/0300-mqadmin.c
                       LIBS rmq_static PkgConfig::JANSSON
                       DEPENDS mqnamesrv mqbroker mqadmin mqbench TIMEOUT 180)
endif()
