# Broker integration tests: real mqnamesrv + mqbroker processes driven over the wire.
if(TARGET mqbroker AND TARGET mqnamesrv)
  foreach(t 0200-broker-produce-consume)
    rmq_integration_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c
                         LIBS rmq_remoting rmq_common Threads::Threads
                         DEPENDS mqnamesrv mqbroker TIMEOUT 300)
  endforeach()
endif()
