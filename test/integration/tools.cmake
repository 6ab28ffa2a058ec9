# mqadmin / mqbench end to end against a real NameServer and broker.
if(TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin AND TARGET mqbench)
  rmq_integration_test(0300-mqadmin SOURCES ${CMAKE_CURRENT_LIST_DIR}/0300-mqadmin.c
                       LIBS rmq_static PkgConfig::JANSSON
                       DEPENDS mqnamesrv mqbroker mqadmin mqbench TIMEOUT 180)
endif()

# Operator signals and flags (issue 13): SIGHUP log reopen under load, logFile-only, --version.
if(TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin AND TARGET mqbench AND TARGET store_check)
  rmq_integration_test(0301-ops-signals SOURCES ${CMAKE_CURRENT_LIST_DIR}/0301-ops-signals.c
                       LIBS rmq_static Threads::Threads
                       DEPENDS mqnamesrv mqbroker mqadmin mqbench store_check TIMEOUT 240)
endif()

# mqadmin as a new operator meets it (issue 13): -h, hints, offline reset/progress, ids.
if(TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin)
  rmq_integration_test(0302-mqadmin-firsthour
                       SOURCES ${CMAKE_CURRENT_LIST_DIR}/0302-mqadmin-firsthour.c
                       LIBS rmq_static DEPENDS mqnamesrv mqbroker mqadmin TIMEOUT 180)
endif()

# mqadmin statistics, message printing, send probes and housekeeping (issue 13).
if(TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin)
  rmq_integration_test(0303-mqadmin-stats SOURCES ${CMAKE_CURRENT_LIST_DIR}/0303-mqadmin-stats.c
                       LIBS rmq_static PkgConfig::JANSSON Threads::Threads
                       DEPENDS mqnamesrv mqbroker mqadmin TIMEOUT 240)
endif()

# mqadmin part B (issue 13): groups, perms, NameServer KV/config on two NameServers, and every
# name of RocketMQ 4.9.8's command list answering.
if(TARGET mqbroker AND TARGET mqnamesrv AND TARGET mqadmin)
  rmq_integration_test(0304-mqadmin-groups SOURCES ${CMAKE_CURRENT_LIST_DIR}/0304-mqadmin-groups.c
                       LIBS rmq_static PkgConfig::JANSSON DEPENDS mqnamesrv mqbroker mqadmin
                       TIMEOUT 240)
endif()
