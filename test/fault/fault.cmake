# Fault injection for the fault and replication tests: a TCP fault proxy (fault_proxy.h) that
# tests link, and its own test.
add_library(rmq_fault_proxy STATIC ${CMAKE_CURRENT_LIST_DIR}/fault_proxy.c)
target_include_directories(rmq_fault_proxy PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(rmq_fault_proxy PUBLIC PkgConfig::LIBUV Threads::Threads)

rmq_unit_test(test_fault_proxy SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_fault_proxy.c
              LIBS rmq_fault_proxy)
set_property(TEST test_fault_proxy APPEND PROPERTY LABELS fault)

# kill -9 loops, 20 kills per flush mode, with an independent reader (fault_kill9.c).
rmq_integration_test(fault-kill9 SOURCES ${CMAKE_CURRENT_LIST_DIR}/fault_kill9.c
                     LIBS rmq_remoting rmq_common Threads::Threads DEPENDS mqnamesrv mqbroker
                     TIMEOUT 600)
set_property(TEST fault-kill9 APPEND PROPERTY LABELS fault)

# The broker's registration path through the fault proxy: stall, reset, refuse, black-hole
# (fault_net_ns.c).
rmq_integration_test(fault-net-namesrv SOURCES ${CMAKE_CURRENT_LIST_DIR}/fault_net_ns.c
                     LIBS rmq_fault_proxy rmq_remoting rmq_common DEPENDS mqnamesrv mqbroker
                     TIMEOUT 300)
set_property(TEST fault-net-namesrv APPEND PROPERTY LABELS fault)

# A librmq producer and pull consumer through the fault proxy: delay, stall, black-hole, reset,
# corruption (fault_net_client.c).
rmq_integration_test(fault-net-client SOURCES ${CMAKE_CURRENT_LIST_DIR}/fault_net_client.c
                     LIBS rmq_fault_proxy rmq_static rmq_remoting rmq_common
                     DEPENDS mqnamesrv mqbroker TIMEOUT 300)
set_property(TEST fault-net-client APPEND PROPERTY LABELS fault)

# netfuzz (tools/netfuzz.c) against a NameServer and a broker for 20 s while a legitimate
# producer sends (fault_netfuzz.c); RMQ_NETFUZZ_SECONDS=N for a longer run.
rmq_integration_test(fault-netfuzz SOURCES ${CMAKE_CURRENT_LIST_DIR}/fault_netfuzz.c
                     LIBS rmq_static rmq_remoting rmq_common
                     DEPENDS mqnamesrv mqbroker netfuzz TIMEOUT 300)
set_property(TEST fault-netfuzz APPEND PROPERTY LABELS fault)
