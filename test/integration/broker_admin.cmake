# mqbroker's offset, query, client and admin requests (broker/offset.c, clients.c, admin.c).
if(TARGET mqbroker AND TARGET mqnamesrv AND TARGET rmq_broker_lib)
  foreach(t 0210-broker-offsets-queries 0211-broker-clients-reset)
    if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/${t}.c)
      rmq_integration_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c
        LIBS rmq_broker_lib rmq_remoting rmq_common DEPENDS mqnamesrv mqbroker TIMEOUT 180)
    endif()
  endforeach()
endif()
