# Request-reply and the SDK's answers to broker-initiated requests (0104): librmq against real
# mqnamesrv + mqbroker, raw Java-shaped frames, and mqadmin's consumerStatus / consumerProgress
# -s / queryMsgById -g -d run as processes.
if(TARGET rmq_static AND TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin)
  rmq_integration_test(0104-sdk-request-reply
                       SOURCES ${CMAKE_CURRENT_LIST_DIR}/0104-sdk-request-reply.c
                       LIBS rmq_static PkgConfig::JANSSON
                       DEPENDS mqnamesrv mqbroker mqadmin TIMEOUT 300)
endif()
