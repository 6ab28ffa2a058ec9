# mqnamesrv over the wire (needs the remoting library and the binary).
if(TARGET mqnamesrv AND TARGET rmq_remoting)
  rmq_integration_test(0001-namesrv SOURCES ${CMAKE_CURRENT_LIST_DIR}/0001-namesrv.c
    LIBS rmq_remoting rmq_common DEPENDS mqnamesrv TIMEOUT 120)
endif()

# A live registration belongs to its connection and host (raw frames from 127.0.0.1 and
# 127.0.0.2).
if(TARGET mqnamesrv AND TARGET rmq_remoting)
  rmq_integration_test(0002-namesrv-owner SOURCES ${CMAKE_CURRENT_LIST_DIR}/0002-namesrv-owner.c
    LIBS rmq_remoting rmq_common DEPENDS mqnamesrv TIMEOUT 120)
endif()
