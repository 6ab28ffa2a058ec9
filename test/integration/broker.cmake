# Broker integration tests: real mqnamesrv + mqbroker processes driven over the wire.
if(TARGET mqbroker AND TARGET mqnamesrv)
  foreach(t 0200-broker-produce-consume 0201-broker-longpoll 0202-broker-crash 0203-broker-badinput
            0204-broker-special)
    rmq_integration_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c
                         LIBS rmq_remoting rmq_common Threads::Threads
                         DEPENDS mqnamesrv mqbroker TIMEOUT 300)
  endforeach()
endif()
