# Transaction check-back, dead letters and DELETE_TOPIC cleanup through librmq against real
# mqnamesrv + mqbroker processes with shortened intervals (broker/txncheck.c, issue 10).
if(TARGET rmq_static AND TARGET mqbroker AND TARGET mqnamesrv)
  foreach(t 0120-sdk-txn-check 0121-sdk-dlq)
    if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/${t}.c)
      rmq_integration_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c LIBS rmq_static
                           DEPENDS mqnamesrv mqbroker TIMEOUT 300)
    endif()
  endforeach()
endif()
