# Delayed-message delivery (broker/schedule.c): real mqnamesrv + mqbroker with short delay levels.
if(TARGET mqbroker AND TARGET mqnamesrv)
  rmq_integration_test(0205-broker-delay SOURCES ${CMAKE_CURRENT_LIST_DIR}/0205-broker-delay.c
                       LIBS rmq_remoting rmq_common Threads::Threads
                       DEPENDS mqnamesrv mqbroker TIMEOUT 120)
endif()
