# 5.x timer messages (broker/timer.c, store/timer.c): real mqnamesrv + mqbroker, raw frames and librmq.
if(TARGET mqbroker AND TARGET mqnamesrv)
  rmq_integration_test(0206-broker-timer SOURCES ${CMAKE_CURRENT_LIST_DIR}/0206-broker-timer.c
                       LIBS rmq_remoting rmq_common Threads::Threads
                       DEPENDS mqnamesrv mqbroker TIMEOUT 180)
  if(TARGET rmq_static)
    rmq_integration_test(0104-sdk-timer SOURCES ${CMAKE_CURRENT_LIST_DIR}/0104-sdk-timer.c
                         LIBS rmq_static DEPENDS mqnamesrv mqbroker TIMEOUT 180)
  endif()
endif()
