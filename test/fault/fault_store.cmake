# Store-damage matrix (issue 12): unit-level on the store, tiny segments, temp dirs.
rmq_unit_test(fault_store_damage SOURCES ${CMAKE_CURRENT_LIST_DIR}/fault_store_damage.c
              LIBS rmq_store TIMEOUT 120)
target_include_directories(fault_store_damage PRIVATE ${CMAKE_SOURCE_DIR})
set_property(TEST fault_store_damage APPEND PROPERTY LABELS fault)

# The length-field and truncated-segment cases through a real mqbroker restart.
if(TARGET mqbroker AND TARGET mqnamesrv)
  rmq_integration_test(fault-broker-damage SOURCES ${CMAKE_CURRENT_LIST_DIR}/fault_broker_damage.c
                       LIBS rmq_remoting rmq_common Threads::Threads DEPENDS mqnamesrv mqbroker
                       TIMEOUT 120)
  set_property(TEST fault-broker-damage APPEND PROPERTY LABELS fault)
endif()

# Disk full on a loop-mounted ext4 through a real mqbroker (skips where it cannot mount).
if(TARGET mqbroker AND TARGET mqnamesrv)
  rmq_integration_test(fault-diskfull SOURCES ${CMAKE_CURRENT_LIST_DIR}/fault_diskfull.c
                       LIBS rmq_remoting rmq_common Threads::Threads DEPENDS mqnamesrv mqbroker
                       TIMEOUT 120)
  set_property(TEST fault-diskfull APPEND PROPERTY LABELS fault)
endif()
add_dependencies(fault_store_damage store_check)
