# ACL 1.0, the NameServer ACL and the safe admin surface (issue 11) against real servers.
if(TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin AND TARGET rmq_broker_lib)
  rmq_integration_test(0500-acl SOURCES ${CMAKE_CURRENT_LIST_DIR}/0500-acl.c
    LIBS rmq_broker_lib rmq_static rmq_remoting rmq_common
    DEPENDS mqnamesrv mqbroker mqadmin TIMEOUT 300)
endif()
