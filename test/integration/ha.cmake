# Replication integration tests (issue 9): real NameServer, master and slave processes, raw
# frames; 0221 puts the fault proxy between master and slave.
if(TARGET mqbroker AND TARGET mqnamesrv)
  foreach(t 0220-ha-sync-kill9 0222-ha-roles-sync 0223-ha-async)
    rmq_integration_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c
                         LIBS rmq_remoting rmq_common Threads::Threads
                         DEPENDS mqnamesrv mqbroker TIMEOUT 180)
    set_property(TEST ${t} APPEND PROPERTY LABELS ha)
  endforeach()
  foreach(t 0221-ha-sync-stall 0224-ha-late-slave)
    rmq_integration_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c
                         LIBS rmq_fault_proxy rmq_remoting rmq_common Threads::Threads
                         DEPENDS mqnamesrv mqbroker TIMEOUT 180)
    set_property(TEST ${t} APPEND PROPERTY LABELS ha)
  endforeach()
endif()
