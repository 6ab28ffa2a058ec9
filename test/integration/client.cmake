# librmq integration tests. 0100-sdk-scripted needs no server processes (a scripted peer in the
# test); the others run against real mqnamesrv + mqbroker through the harness.
if(TARGET rmq_static)
  rmq_integration_test(0100-sdk-scripted
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/0100-sdk-scripted.c LIBS rmq_static TIMEOUT 120)
  if(TARGET mqbroker AND TARGET mqnamesrv)
    foreach(t 0101-sdk-basic 0102-sdk-advanced 0105-sdk-batch-handoff 0106-sdk-async-retry
            0107-sdk-pipelined-pulls 0108-sdk-pool-blocking)
      if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/${t}.c)
        rmq_integration_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c LIBS rmq_static
                             DEPENDS mqnamesrv mqbroker TIMEOUT 300)
      endif()
    endforeach()
  endif()
endif()
